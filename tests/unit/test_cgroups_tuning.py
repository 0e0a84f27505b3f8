"""cpuset, CFS period/quota, swappiness, OOM killer and block I/O limits as cgroup writes."""

from stackrun.plan.model import BlkioPlan, Limits
from stackrun.runtime.cgroups import tuning
from stackrun.runtime.cgroups.limits import Write, v1_writes, v2_writes

DEVICES = {"/dev/sda": "8:0", "/dev/vdb": "254:16"}
BLKIO = BlkioPlan(
    weight=300,
    weight_device=(("/dev/sda", 400),),
    read_bps=(("/dev/vdb", 12 << 20),),
    write_bps=(("/dev/vdb", 1 << 20),),
    read_iops=(("/dev/sda", 120),),
    write_iops=(("/dev/vdb", 30),),
)


def test_cpu_period_and_quota_follow_docker():
    assert v1_writes(Limits(cpu_period=50_000, cpu_quota=25_000), 0, False) == [
        Write("cpu", "cpu.cfs_period_us", "50000"),
        Write("cpu", "cpu.cfs_quota_us", "25000"),
    ]
    assert [w.value for w in v2_writes(Limits(cpus=0.5, cpu_period=20_000))] == ["10000 20000"]
    assert [w.value for w in v2_writes(Limits(cpu_quota=-1))] == ["max 100000"]


def test_v1_tuning_writes_cpuset_memory_and_blkio_with_bfq():
    limits = Limits(cpuset="0-1", swappiness=10, oom_kill_disable=True, blkio=BLKIO)
    writes = tuning.v1_writes(limits, DEVICES.__getitem__, lambda name: True)
    assert writes == [
        Write("cpuset", "cpuset.cpus", "0-1"),
        Write("memory", "memory.swappiness", "10"),
        Write("memory", "memory.oom_control", "1"),
        Write("blkio", "blkio.bfq.weight", "300"),
        Write("blkio", "blkio.bfq.weight_device", "8:0 400"),
        Write("blkio", "blkio.throttle.read_bps_device", "254:16 12582912"),
        Write("blkio", "blkio.throttle.write_bps_device", "254:16 1048576"),
        Write("blkio", "blkio.throttle.read_iops_device", "8:0 120"),
        Write("blkio", "blkio.throttle.write_iops_device", "254:16 30"),
    ]
    assert tuning.v1_hierarchies(limits) == ("cpuset", "blkio")


def test_v1_weight_without_bfq_uses_the_cfq_files():
    cfq = lambda name: name == "blkio.weight"  # noqa: E731
    writes = tuning.v1_writes(Limits(blkio=BLKIO), DEVICES.__getitem__, cfq)
    assert writes[:2] == [
        Write("blkio", "blkio.weight", "300"),
        Write("blkio", "blkio.weight_device", "8:0 400"),
    ]


def test_a_weight_without_any_weight_file_is_discarded_and_the_throttles_kept():
    """A kernel with neither BFQ nor CFQ (nor v2's io.weight): Docker discards the weight."""
    for writes in (
        tuning.v1_writes(Limits(blkio=BLKIO), DEVICES.__getitem__, lambda name: False),
        tuning.v2_writes(Limits(blkio=BLKIO), DEVICES.__getitem__, lambda name: False),
    ):
        assert writes and all("weight" not in w.file for w in writes)
        assert all(w.file.startswith(("blkio.throttle.", "io.max")) for w in writes)


def test_v2_tuning_combines_the_limits_of_a_device_in_io_max():
    limits = Limits(cpuset="2", swappiness=10, oom_kill_disable=True, blkio=BLKIO)
    writes = tuning.v2_writes(limits, DEVICES.__getitem__, lambda name: name == "io.weight")
    assert writes == [
        Write("cpuset", "cpuset.cpus", "2"),
        Write("io", "io.weight", f"default {tuning.io_weight(300)}"),
        Write("io", "io.weight", f"8:0 {tuning.io_weight(400)}"),
        Write("io", "io.max", "254:16 rbps=12582912 wbps=1048576 wiops=30"),
        Write("io", "io.max", "8:0 riops=120"),
    ]
    bfq = tuning.v2_writes(Limits(blkio=BLKIO), DEVICES.__getitem__, lambda name: True)
    assert bfq[:2] == [
        Write("io", "io.bfq.weight", "default 300"),
        Write("io", "io.bfq.weight", "8:0 400"),
    ]


def test_io_weight_maps_the_ends_of_the_range():
    assert (tuning.io_weight(10), tuning.io_weight(500), tuning.io_weight(1000)) == (1, 4950, 10000)


def test_device_number_of_a_block_device_and_refusal_of_anything_else(tmp_path):
    import os
    import stat

    import pytest

    from stackrun.errors import RuntimeFailure

    disks = [f"/dev/{d}" for d in os.listdir("/sys/block")]
    disk = next(p for p in disks if os.path.exists(p) and stat.S_ISBLK(os.stat(p).st_mode))
    rdev = os.stat(disk).st_rdev
    assert tuning.device_number(disk) == f"{os.major(rdev)}:{os.minor(rdev)}"
    with pytest.raises(RuntimeFailure, match="not a block device"):
        tuning.device_number(str(tmp_path))
