"""A service's filesystem on the real kernel: kernel filesystems, /dev, /tmp, /etc files,
volumes, tmpfs, read_only, rootfs, and targets that try to escape.

Services run on the host's root unless a test builds a `rootfs:` skeleton: empty
directories, merged-/usr symlinks (bin -> usr/bin…), its own /etc/passwd, and the
host's /usr bound read-only as a volume, so /usr/bin/python3 and /bin/sh work in it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from pathlib import Path

import pytest

from stackrun import dirs
from stackrun.errors import RuntimeFailure
from stackrun.plan.model import Mount
from stackrun.runtime import instance
from stackrun.runtime.mounts import DEVICES, MASKED_PATHS, READONLY_PATHS
from tests.helpers import inservice
from tests.helpers.plans import DOCKER_CAPS
from tests.helpers.spawning import PYTHON

DEV_ENTRIES = {
    "null",
    "zero",
    "full",
    "random",
    "urandom",
    "tty",
    "fd",
    "stdin",
    "stdout",
    "stderr",
    "ptmx",
    "pts",
    "shm",
    "mqueue",
}


def sh(spawner, script: str, **fields) -> tuple[int, str]:
    started = spawner.start(spawner.plan(argv=("/bin/sh", "-c", script), **fields))
    output = started.read_all().decode()
    return started.wait(), output


def host_mount_points() -> set[str]:
    return {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}


@pytest.fixture
def host_dir(project):
    """A directory on the host's root outside /tmp, /var/tmp and /run (which services on
    the host's root see as fresh tmpfs)."""
    path = Path("/var/cache") / f"stackrun-test-{project.name}-{uuid.uuid4().hex[:6]}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path)


# ---------------------------------------------------------------- kernel filesystems, /dev


def test_proc_is_fresh_with_dockers_masks_and_read_only_paths(spawner):
    mounts = spawner.probe()["mounts"]
    assert mounts["/proc"]["fstype"] == "proc"
    for path in MASKED_PATHS:
        if os.path.exists(path):  # the kernel's, seen from the host: a tmpfs, or /dev/null
            kind = "tmpfs" if os.path.isdir(path) else "devtmpfs"
            assert path in mounts and mounts[path]["fstype"] == kind, path
    assert "ro" in mounts["/proc/acpi"]["options"]  # a masked directory: empty, read-only
    for path in filter(os.path.exists, READONLY_PATHS):
        assert "ro" in mounts[path]["options"], path
    code, output = sh(spawner, "wc -c < /proc/keys; echo 1 > /proc/sys/vm/drop_caches")
    assert output.splitlines()[0] == "0"
    assert "Read-only file system" in output and code != 0


def test_sys_is_a_read_only_sysfs_of_the_services_network(spawner):
    mounts = spawner.probe()["mounts"]
    assert mounts["/sys"]["fstype"] == "sysfs" and "ro" in mounts["/sys"]["options"]
    assert "/sys/fs/cgroup" not in mounts  # the host's submounts are gone, not just hidden
    code, output = sh(spawner, "ls /sys/class/net")
    assert (code, output.split()) == (0, ["lo"])


def test_dev_is_minimal_and_private(spawner):
    code, output = sh(spawner, "ls -A /dev; echo x > /dev/null && head -c 4 /dev/zero | wc -c")
    lines = output.split()
    assert code == 0
    assert set(lines[:-1]) == DEV_ENTRIES
    assert lines[-1] == "4"
    mounts = spawner.probe()["mounts"]
    assert mounts["/dev"]["fstype"] == "tmpfs" and "nodev" in mounts["/dev"]["options"]
    assert mounts["/dev/pts"]["fstype"] == "devpts"
    assert (
        mounts["/dev/shm"]["fstype"] == "tmpfs" and "size=65536k" in mounts["/dev/shm"]["options"]
    )
    assert mounts["/dev/mqueue"]["fstype"] == "mqueue"
    # the host's devtmpfs shows only as the standard nodes bound in (and masks: /dev/null)
    bound = {p for p, m in mounts.items() if m["fstype"] == "devtmpfs" and p.startswith("/dev")}
    assert bound == {f"/dev/{name}" for name, _major, _minor in DEVICES}


def test_a_node_made_in_dev_cannot_be_opened(spawner):
    # CAP_MKNOD given back, as the host's root: mknod works, the nodev mount (and the
    # device cgroup, when the service has one: tests/security) refuse the open
    script = "mknod /dev/made c 1 3 && echo made && echo x > /dev/made"
    fields = {"capabilities": DOCKER_CAPS | {"CAP_MKNOD"}, "userns": "host"}
    code, output = sh(spawner, script, **fields)
    assert code != 0 and output.startswith("made\n") and "Permission denied" in output


def test_in_a_user_namespace_no_device_can_even_be_made(spawner):
    # CAP_MKNOD of a user namespace does not make devices (the host's would be needed)
    script = "mknod /dev/made c 1 3 && echo made"
    code, output = sh(spawner, script, capabilities=DOCKER_CAPS | {"CAP_MKNOD"})
    assert (code, output) == (1, "mknod: /dev/made: Operation not permitted\n")


def test_tmp_is_private(spawner, tmp_path):
    marker = f"stackrun-private-{uuid.uuid4().hex}"
    code, output = sh(spawner, f"ls -A /tmp | wc -l; touch /tmp/{marker}")
    assert (code, output.strip()) == (0, "0")
    assert not Path("/tmp", marker).exists()


def test_etc_files_come_from_the_instance_dir(spawner):
    script = "cat /etc/hostname /etc/resolv.conf; grep -c . /etc/hosts"
    code, output = sh(spawner, script, hostname="web-7", dns=("192.0.2.53",))
    assert code == 0
    lines = output.splitlines()
    assert lines[0] == "web-7"
    assert "nameserver 192.0.2.53" in lines
    layout = instance.layout(spawner.project, "svc")
    assert Path(layout.hosts).read_text().startswith("# generated by stackrun")


def test_nothing_the_service_mounts_shows_on_the_host(spawner):
    before = host_mount_points()
    spawner.start(spawner.plan(argv=("/bin/sleep", "30"), mounts=(Mount("tmpfs", "/srv"),)))
    assert host_mount_points() == before


# ---------------------------------------------------------------- volumes and tmpfs


def test_a_bind_volume_is_shared_with_the_host(spawner, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "in").write_text("from host")
    mounts = (Mount("bind", "/srv", str(source)),)
    code, output = sh(spawner, "cat /srv/in; echo back > /srv/out", mounts=mounts)
    assert (code, output) == (0, "from host")
    assert (source / "out").read_text() == "back\n"


def test_a_read_only_bind_refuses_writes(spawner, tmp_path):
    mounts = (Mount("bind", "/srv", str(tmp_path), read_only=True),)
    code, output = sh(spawner, "touch /srv/x", mounts=mounts)
    assert code != 0 and "Read-only file system" in output
    assert not (tmp_path / "x").exists()


def test_a_named_volume_keeps_data_across_runs(spawner, project):
    source = str(dirs.volumes_dir(project.name) / "data")
    mounts = (Mount("volume", "/srv", source),)
    assert sh(spawner, "echo kept > /srv/file", mounts=mounts)[0] == 0
    code, output = sh(spawner, "cat /srv/file", mounts=mounts)
    assert (code, output) == (0, "kept\n")


def test_a_missing_target_under_our_own_tmpfs_is_created(spawner, tmp_path):
    mounts = (Mount("bind", "/tmp/deep/data", str(tmp_path)),)
    code, _ = sh(spawner, "touch /tmp/deep/data/made", mounts=mounts)
    assert code == 0 and (tmp_path / "made").exists()


def test_tmpfs_has_its_size_and_mode(spawner):
    mounts = (Mount("tmpfs", "/srv", size=1 << 20, mode=0o700),)
    view = spawner.probe(mounts=mounts)
    options = view["mounts"]["/srv"]["options"]
    assert "size=1024k" in options and "mode=700" in options
    code, output = sh(
        spawner, "stat -c %a /srv; head -c 2000000 /dev/zero > /srv/big", mounts=mounts
    )
    assert output.splitlines()[0] == "700"
    assert code != 0 and "No space left on device" in output


def test_a_target_missing_on_the_host_root_is_refused(spawner):
    with pytest.raises(RuntimeFailure) as caught:
        sh(spawner, "true", mounts=(Mount("tmpfs", "/no-such-dir-on-the-host"),))
    assert (caught.value.errno, caught.value.path) == (errno.ENOENT, "/no-such-dir-on-the-host")
    assert not Path("/no-such-dir-on-the-host").exists()


def test_a_named_volume_that_became_a_symlink_is_refused(spawner, tmp_path):
    link = tmp_path / "volume"
    link.symlink_to("/etc")
    with pytest.raises(RuntimeFailure) as caught:
        sh(spawner, "true", mounts=(Mount("volume", "/srv", str(link)),))
    assert (caught.value.errno, caught.value.path) == (errno.ELOOP, str(link))


def test_a_file_cannot_be_bound_over_a_directory(spawner, tmp_path):
    source = tmp_path / "file"
    source.write_text("x")
    with pytest.raises(RuntimeFailure) as caught:
        sh(spawner, "true", mounts=(Mount("bind", "/srv", str(source)),))
    assert (caught.value.errno, caught.value.path) == (errno.EISDIR, "/srv")


# ---------------------------------------------------------------- read_only


def test_the_host_root_is_read_only_by_default(spawner, host_dir):
    code, output = sh(spawner, f"touch {host_dir}/written")
    assert code != 0 and "Read-only file system" in output
    assert not (host_dir / "written").exists()


def test_host_root_rw_makes_the_host_root_writable(spawner, host_dir):
    code, _ = sh(spawner, f"touch {host_dir}/written", host_root_writable=True, userns="host")
    assert code == 0 and (host_dir / "written").exists()


def test_host_root_rw_in_a_user_namespace_lets_root_write_only_what_anyone_may(spawner, host_dir):
    """The mount is writable, but root inside is an unprivileged user of the host's."""
    (host_dir / "open").mkdir(mode=0o777)
    (host_dir / "open").chmod(0o777)
    script = f"touch {host_dir}/open/written; touch {host_dir}/refused"
    code, output = sh(spawner, script, host_root_writable=True)
    assert (code, output) == (1, f"touch: cannot touch '{host_dir}/refused': Permission denied\n")
    assert (host_dir / "open" / "written").exists() and not (host_dir / "refused").exists()


def test_tmp_var_tmp_and_run_are_fresh_and_writable_on_a_read_only_root(spawner):
    marker = Path("/var/tmp") / f"stackrun-private-{uuid.uuid4().hex}"
    script = f"ls -A /run /var/tmp | grep -c . ; touch /tmp/a /run/a {marker} && echo ok"
    code, output = sh(spawner, script)
    assert (code, output.split()) == (0, ["2", "ok"])  # only the two headers of `ls`
    assert not marker.exists()
    mounts = spawner.probe()["mounts"]
    for path, size in (("/tmp", "524288k"), ("/var/tmp", "524288k"), ("/run", "65536k")):
        assert mounts[path]["fstype"] == "tmpfs" and f"size={size}" in mounts[path]["options"]


def test_read_only_protects_the_host_root_but_not_volumes_and_tmpfs(spawner, host_dir, tmp_path):
    mounts = (Mount("bind", "/srv", str(tmp_path)), Mount("tmpfs", "/mnt"))
    script = (
        f"touch {host_dir}/no 2>&1; touch /srv/yes /mnt/yes /tmp/yes /dev/shm/yes "
        "&& echo /etc/hosts is writable >> /etc/hosts && echo ok"
    )
    _code, output = sh(spawner, script, read_only=True, host_root_writable=True, mounts=mounts)
    assert "Read-only file system" in output and output.endswith("ok\n")
    assert not (host_dir / "no").exists()
    assert (tmp_path / "yes").exists()


# ---------------------------------------------------------------- rootfs


@pytest.fixture
def rootfs(tmp_path):
    """A skeleton root: the host's /usr comes in as a read-only bind volume."""
    root = tmp_path / "rootfs"
    for directory in ("etc", "usr", "proc", "sys", "dev", "tmp", "srv", "home/app"):
        (root / directory).mkdir(parents=True)
    for name in ("bin", "lib", "lib64", "sbin"):
        (root / name).symlink_to(f"usr/{name}")
    (root / "etc/passwd").write_text(
        "root:x:0:0::/root:/bin/sh\napp:x:2000:2100::/home/app:/bin/sh\n"
    )
    (root / "etc/group").write_text("root:x:0:\napp:x:2100:\n")
    shutil.copy(inservice.HOST_DIR / "probe.py", root / "probe.py")
    return root


def rootfs_fields(root: Path, *extra: Mount, **fields) -> dict:
    return dict(
        rootfs=str(root), mounts=(Mount("bind", "/usr", "/usr", read_only=True), *extra), **fields
    )


def test_rootfs_runs_on_an_overlay_whose_writes_stay_in_the_instance(spawner, rootfs):
    started = spawner.start(
        spawner.plan(**rootfs_fields(rootfs, argv=(PYTHON, "-I", "/probe.py"), user="app"))
    )
    output = started.read_all()
    assert started.wait() == 0, output
    view = json.loads(output)
    assert view["mounts"]["/"]["fstype"] == "overlay"
    assert (view["uid"], view["gid"], view["env"]["HOME"]) == (2000, 2100, "/home/app")
    code, _ = sh(spawner, "echo new > /created && rm /probe.py", **rootfs_fields(rootfs))
    assert code == 0
    upper = Path(instance.layout(spawner.project, "svc").upper)
    assert (upper / "created").read_text() == "new\n"
    assert (rootfs / "probe.py").exists() and not (rootfs / "created").exists()
    instance.discard(spawner.project, "svc")
    assert not upper.exists()


def test_a_read_only_rootfs_still_has_writable_tmpfs(spawner, rootfs):
    fields = rootfs_fields(rootfs, Mount("tmpfs", "/var/cache"), read_only=True)
    code, output = sh(spawner, "touch /var/cache/ok /tmp/ok && touch /nope", **fields)
    assert code != 0 and "Read-only file system" in output
    assert "/var/cache/ok" not in output


def test_a_symlink_in_the_rootfs_cannot_send_a_mount_outside(spawner, rootfs, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (rootfs / "escape").symlink_to(str(outside))  # absolute: a host path
    (rootfs / "up").symlink_to("../../../../../../..")
    fields = rootfs_fields(rootfs, Mount("tmpfs", "/escape/inner"), Mount("tmpfs", "/up/x"))
    code, output = sh(spawner, f"ls -d {outside}/inner /x", **fields)
    assert code == 0 and output.split() == [f"{outside}/inner", "/x"]
    assert list(outside.iterdir()) == []  # created inside the rootfs, not on the host
    assert not Path("/x").exists()
