"""Limits -> cgroup writes: Docker's semantics and the kernel's ordering rules, no I/O."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackrun.errors import RuntimeFailure
from stackrun.plan.model import Limits
from stackrun.runtime.cgroups.base import UNLIMITED_V1
from stackrun.runtime.cgroups.limits import (
    Write,
    cpu_quota_us,
    cpu_weight,
    memory_swap_total,
    v1_memory_writes,
    v1_writes,
    v2_writes,
)

MiB = 1 << 20


def test_cpu_weight_maps_dockers_range_and_default_onto_v2s():
    assert cpu_weight(2) == 1
    assert cpu_weight(1024) == 100  # the default stays the default
    assert cpu_weight(262144) == 10000
    assert (cpu_weight(0), cpu_weight(1), cpu_weight(10**9)) == (1, 1, 10000)
    # log2(512) = 9: 10 ** ((81 + 1125) / 612 - 7 / 34) = 58.2 -> 59; log2(2048) = 11 -> 173.2
    assert cpu_weight(512) == 59 and cpu_weight(2048) == 174


@given(st.integers(2, 262143))
def test_cpu_weight_is_monotonic_and_in_range(shares):
    assert 1 <= cpu_weight(shares) <= cpu_weight(shares + 1) <= 10000


def test_cpu_quota_is_cpus_times_the_period_with_the_kernels_minimum():
    assert cpu_quota_us(1.5) == 150_000
    assert cpu_quota_us(0.25) == 25_000
    assert cpu_quota_us(0.001) == 1_000


def test_memory_swap_follows_docker():
    assert memory_swap_total(Limits(memory=100)) == 200  # unset: as much swap as memory
    assert memory_swap_total(Limits(memory=100, memory_swap=100)) == 100  # no swap
    assert memory_swap_total(Limits(memory=100, memory_swap=-1)) == -1
    assert memory_swap_total(Limits()) is None
    with pytest.raises(RuntimeFailure, match="at least mem_limit"):
        memory_swap_total(Limits(memory=100, memory_swap=50))
    with pytest.raises(RuntimeFailure, match="needs mem_limit"):
        memory_swap_total(Limits(memory_swap=50))


def test_v1_writes_every_limit():
    limits = Limits(
        memory=256 * MiB,
        memory_swap=512 * MiB,
        memory_reservation=128 * MiB,
        cpus=1.5,
        cpu_shares=512,
        pids=100,
    )
    assert v1_writes(limits, UNLIMITED_V1, memsw=True) == [
        Write("memory", "memory.soft_limit_in_bytes", str(128 * MiB)),
        Write("memory", "memory.limit_in_bytes", str(256 * MiB)),
        Write("memory", "memory.memsw.limit_in_bytes", str(512 * MiB)),
        Write("cpu", "cpu.shares", "512"),
        Write("cpu", "cpu.cfs_period_us", "100000"),
        Write("cpu", "cpu.cfs_quota_us", "150000"),
        Write("pids", "pids.max", "100"),
    ]


def test_v1_skips_memsw_without_swap_accounting_and_unset_limits():
    assert v1_writes(Limits(memory=MiB), UNLIMITED_V1, memsw=False) == [
        Write("memory", "memory.limit_in_bytes", str(MiB))
    ]
    assert v1_writes(Limits(), UNLIMITED_V1, memsw=True) == []
    assert v1_writes(Limits(pids=-1, cpu_shares=1), UNLIMITED_V1, True) == [
        Write("cpu", "cpu.shares", "2"),
        Write("pids", "pids.max", "max"),
    ]


def test_v1_memory_order_raising_sets_memsw_first_and_lowering_memory_first():
    raising = v1_memory_writes(Limits(memory=400, memory_swap=400), 100, memsw=True)
    assert [w.file for w in raising] == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    lowering = v1_memory_writes(Limits(memory=50, memory_swap=100), 200, memsw=True)
    assert [w.file for w in lowering] == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]


@given(
    current_memory=st.integers(1, 10**6),
    current_extra_swap=st.integers(0, 10**6),
    memory=st.integers(1, 10**6),
    extra_swap=st.one_of(st.none(), st.just(-1), st.integers(0, 10**6)),
)
def test_v1_memory_order_never_breaks_the_kernels_rule(
    current_memory, current_extra_swap, memory, extra_swap
):
    """Replay the writes on the kernel's rule: memory.limit <= memsw.limit at all times."""
    swap = extra_swap if extra_swap in (None, -1) else memory + extra_swap
    state = {
        "memory.limit_in_bytes": current_memory,
        "memory.memsw.limit_in_bytes": current_memory + current_extra_swap,
    }
    for write in v1_memory_writes(Limits(memory=memory, memory_swap=swap), current_memory, True):
        value = int(write.value)
        state[write.file] = UNLIMITED_V1 if value == -1 else value
        assert state["memory.limit_in_bytes"] <= state["memory.memsw.limit_in_bytes"]
    assert state["memory.limit_in_bytes"] == memory


def test_v2_writes_every_limit_naming_its_controller():
    limits = Limits(
        memory=256 * MiB,
        memory_swap=384 * MiB,
        memory_reservation=64 * MiB,
        cpus=0.5,
        cpu_shares=1024,
        pids=50,
    )
    assert v2_writes(limits) == [
        Write("memory", "memory.low", str(64 * MiB)),
        Write("memory", "memory.max", str(256 * MiB)),
        Write("memory", "memory.swap.max", str(128 * MiB)),  # memswap - mem
        Write("cpu", "cpu.weight", "100"),
        Write("cpu", "cpu.max", "50000 100000"),
        Write("pids", "pids.max", "50"),
    ]


def test_v2_swap_values():
    def swap(limits):
        return [w.value for w in v2_writes(limits) if w.file == "memory.swap.max"]

    assert swap(Limits(memory=100)) == ["100"]
    assert swap(Limits(memory=100, memory_swap=-1)) == ["max"]
    assert swap(Limits(memory=100, memory_swap=100)) == ["0"]
    assert swap(Limits(pids=3)) == []
