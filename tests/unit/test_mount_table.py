"""The mount table of a service, as data: order, kinds, creation rules, read-only root."""

import pytest

from stackrun.plan.model import DeviceNode, GrantedFile, ImagePlan, Mount, ServicePlan
from stackrun.runtime import linux
from stackrun.runtime.image_root import ImageRoot
from stackrun.runtime.instance import InstanceLayout
from stackrun.runtime.mounts import (
    MASKED_PATHS,
    READONLY_PATHS,
    MountOp,
    mount_table,
    with_creation,
)

LAYOUT = InstanceLayout("/run/stackrun/demo/instances/api")
IMAGE = ImagePlan("docker.io/library/alpine:3", "sha256:" + "a" * 64, layers=("/store/l1",))


def plan(**fields) -> ServicePlan:
    return ServicePlan(name="api", service="api", replica=1, argv=("true",), env=(), **fields)


def targets(table, kind=None):
    return [op.target for op in table.ops if kind is None or op.kind == kind]


def by_target(table, target):
    return next(op for op in table.ops if op.target == target)


def test_the_order_puts_kernel_filesystems_first_and_volumes_last():
    table = mount_table(plan(mounts=(Mount("tmpfs", "/cache"),), host_root_writable=True), LAYOUT)
    order = targets(table)
    assert order[:6] == ["/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"]
    assert order.index("/dev") < order.index("/proc/kcore")  # masks bind the new /dev/null
    assert order[-4:] == ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/cache"]
    assert table.overlay is None


def test_docker_masked_and_read_only_paths_are_optional():
    table = mount_table(plan(), LAYOUT)
    assert targets(table, "mask") == list(MASKED_PATHS)
    assert targets(table, "readonly") == list(READONLY_PATHS)
    assert all(op.optional for op in table.ops if op.kind in ("mask", "readonly"))


def test_kernel_filesystems_carry_their_flags():
    table = mount_table(plan(), LAYOUT)
    sys = by_target(table, "/sys")
    assert (sys.fstype, sys.flags & linux.MS_RDONLY) == ("sysfs", linux.MS_RDONLY)
    assert by_target(table, "/dev/pts").data == "newinstance,ptmxmode=0666,mode=0620,gid=5"
    assert by_target(table, "/tmp").data == "mode=1777,size=512m"
    assert by_target(table, "/dev").flags == linux.MS_NOSUID | linux.MS_NODEV
    assert by_target(table, "/proc").flags == linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC


def test_on_the_host_root_the_hosts_kernel_mounts_are_replaced_and_nothing_created():
    table = mount_table(plan(mounts=(Mount("bind", "/srv/app", "/home/me/app"),)), LAYOUT)
    replaced = ["/proc", "/sys", "/dev", "/tmp", "/run", "/var/tmp"]
    assert [op.target for op in table.ops if op.replace] == replaced
    assert not by_target(table, "/srv/app").create
    assert not by_target(table, "/etc/hosts").create
    assert by_target(table, "/etc/hostname").optional  # not every host has one


def test_on_the_host_root_targets_under_our_own_mounts_may_be_created():
    mounts = (
        Mount("volume", "/data", "/var/lib/stackrun/demo/volumes/data"),
        Mount("tmpfs", "/data/cache"),
        Mount("tmpfs", "/tmp/scratch"),
    )
    table = mount_table(plan(mounts=mounts), LAYOUT)
    assert not by_target(table, "/data").create
    assert by_target(table, "/data/cache").create
    assert by_target(table, "/tmp/scratch").create
    assert by_target(table, "/dev/pts").create


def test_a_rootfs_gets_an_overlay_in_the_instance_dir_and_may_create_targets():
    table = mount_table(plan(rootfs="/srv/root", mounts=(Mount("tmpfs", "/x"),)), LAYOUT)
    # an image of one layer, its writable layer in the run directory (not idmapped),
    # attached on the instance directory
    expected = ImageRoot(("/srv/root",), LAYOUT.upper, LAYOUT.work, LAYOUT.root, None, False)
    assert table.overlay == expected
    assert all(op.create for op in table.ops if op.kind in ("fs", "bind", "devices"))
    assert not any(op.replace for op in table.ops)


def test_read_only_host_root_comes_before_our_mounts_and_is_recursive():
    ops = mount_table(plan(read_only=True), LAYOUT).ops
    assert (ops[0].kind, ops[0].recursive) == ("root_readonly", True)
    assert sum(op.kind == "root_readonly" for op in ops) == 1


def test_read_only_rootfs_comes_after_our_mounts_and_is_not_recursive():
    ops = mount_table(plan(read_only=True, rootfs="/srv/root"), LAYOUT).ops
    assert (ops[-1].kind, ops[-1].recursive) == ("root_readonly", False)
    assert sum(op.kind == "root_readonly" for op in ops) == 1


def test_volume_kinds_translate_to_mount_ops():
    mounts = (
        Mount("bind", "/src", "/home/me/src", read_only=True),
        Mount("volume", "/data", "/var/lib/stackrun/demo/volumes/data"),
        Mount("tmpfs", "/run/app", size=1 << 20, mode=0o700),
        Mount("tmpfs", "/ro", read_only=True),
    )
    table = mount_table(plan(mounts=mounts), LAYOUT)
    bind, volume = by_target(table, "/src"), by_target(table, "/data")
    assert (bind.kind, bind.read_only, bind.follow_source, bind.source_kind) == (
        "bind",
        True,
        True,
        "any",
    )
    assert (volume.kind, volume.read_only, volume.follow_source, volume.source_kind) == (
        "bind",
        False,
        False,
        "dir",
    )
    assert bind.flags == volume.flags == linux.MS_BIND | linux.MS_REC
    tmpfs = by_target(table, "/run/app")
    assert (tmpfs.fstype, tmpfs.data) == ("tmpfs", "size=1048576,mode=700")
    assert by_target(table, "/ro").flags & linux.MS_RDONLY


def test_instance_files_are_bound_from_the_instance_dir_without_following_links():
    table = mount_table(plan(), LAYOUT)
    hosts = by_target(table, "/etc/hosts")
    assert (hosts.source, hosts.source_kind, hosts.follow_source) == (LAYOUT.hosts, "file", False)


def test_a_working_dir_under_the_private_tmp_is_bound_back_at_its_own_path():
    table = mount_table(plan(working_dir="/tmp/proj"), LAYOUT)
    op = by_target(table, "/tmp/proj")
    assert (op.kind, op.source, op.create, op.read_only) == ("bind", "/tmp/proj", True, True)
    assert targets(table).index("/tmp") < targets(table).index("/tmp/proj")


def test_a_working_dir_under_a_tmpfs_of_the_stack_file_is_bound_back_after_it():
    """examples/jobs has `tmpfs: /tmp`; run from a checkout under /tmp, its default
    working_dir (the project's directory) must still be there."""
    table = mount_table(plan(working_dir="/tmp/proj", mounts=(Mount("tmpfs", "/tmp"),)), LAYOUT)
    order = targets(table)
    assert by_target(table, "/tmp/proj").kind == "bind"
    assert order.index("/tmp") < order.index("/tmp/proj")
    assert order.count("/tmp") == 2 and max(
        i for i, t in enumerate(order) if t == "/tmp"
    ) < order.index("/tmp/proj")


def test_a_working_dir_elsewhere_or_under_a_volume_or_in_a_rootfs_gets_no_extra_bind():
    assert "/srv" not in targets(mount_table(plan(working_dir="/srv"), LAYOUT))
    covered = plan(working_dir="/tmp/proj/sub", mounts=(Mount("bind", "/tmp/proj", "/home/me"),))
    assert targets(mount_table(covered, LAYOUT)).count("/tmp/proj/sub") == 0
    assert "/tmp/proj" not in targets(
        mount_table(plan(working_dir="/tmp/proj", rootfs="/srv/root"), LAYOUT)
    )


GRANTED = (
    GrantedFile("secret", "token", "/run/secrets/token"),
    GrantedFile("config", "app", "/tmp/app.conf"),
)


def test_secrets_and_configs_are_bound_read_only_under_the_host_roots_fresh_run():
    table = mount_table(plan(files=GRANTED), LAYOUT)
    run = by_target(table, "/run")
    assert (run.fstype, run.replace) == ("tmpfs", True)  # hides the host's /run
    assert targets(table).count("/run") == 1
    token, app = by_target(table, "/run/secrets/token"), by_target(table, "/tmp/app.conf")
    assert (token.source, app.source) == (LAYOUT.granted(0), LAYOUT.granted(1))
    assert token.read_only and token.create and not token.follow_source
    assert token.source_kind == "file"
    order = targets(table)
    assert order.index("/run") < order.index("/run/secrets/token")


@pytest.mark.parametrize("read_only", [False, True])
@pytest.mark.parametrize(
    "root", [{"rootfs": "/srv/root"}, {"image": IMAGE}], ids=["rootfs", "image"]
)
def test_secrets_in_an_image_or_rootfs_are_made_in_its_root_with_no_run_tmpfs(root, read_only):
    """Docker makes the mount points in the container's root; so do we, in the writable
    (or, read-only, the scratch) layer, before the root becomes read-only."""
    table = mount_table(plan(files=GRANTED, read_only=read_only, **root), LAYOUT)
    assert "/run" not in targets(table)
    token = by_target(table, "/run/secrets/token")
    assert token.create and token.read_only
    if read_only:
        assert targets(table).index("/run/secrets/token") < targets(table).index("/")


def test_shm_size_mounts_a_dev_shm_of_that_size_and_tmpfs_owners_go_to_its_options():
    table = mount_table(
        plan(shm_size=1 << 20, mounts=(Mount("tmpfs", "/c", uid=7, gid=8),)), LAYOUT
    )
    shm = [op for op in table.ops if op.target == "/dev/shm"]
    assert shm[-1].data == f"mode=1777,size={1 << 20}"
    assert by_target(table, "/c").data == "mode=1777,uid=7,gid=8"
    assert [op.target for op in mount_table(plan(), LAYOUT).ops].count("/dev/shm") == 1


# ---------------------------------------------------------------- the host's root


def test_the_host_root_is_read_only_unless_host_root_rw():
    assert mount_table(plan(), LAYOUT).ops[0] == MountOp("root_readonly", "/", recursive=True)
    writable = mount_table(plan(host_root_writable=True), LAYOUT)
    assert "root_readonly" not in [op.kind for op in writable.ops]


def test_run_and_var_tmp_are_fresh_tmpfs_and_stackruns_roots_are_masked():
    hidden = ("/run/stackrun", "/var/lib/stackrun", "/home/me/state")
    table = mount_table(plan(), LAYOUT, hidden)
    run, var_tmp = by_target(table, "/run"), by_target(table, "/var/tmp")
    assert (run.fstype, run.data, run.replace) == ("tmpfs", "mode=755,size=64m", True)
    assert (var_tmp.data, var_tmp.replace) == ("mode=1777,size=512m", True)
    masks = [op for op in table.ops if op.target in hidden]
    assert [(op.kind, op.optional) for op in masks] == [("mask", True)] * 3
    order = targets(table)
    assert order.index("/var/tmp") < order.index("/home/me/state") < order.index("/etc/hosts")


def test_the_project_directory_is_writable_unless_read_only():
    op = by_target(mount_table(plan(project_dir="/home/me/app"), LAYOUT), "/home/me/app")
    assert (op.kind, op.source, op.read_only) == ("bind", "/home/me/app", False)
    read_only = mount_table(plan(project_dir="/home/me/app", read_only=True), LAYOUT)
    assert "/home/me/app" not in targets(read_only)  # part of the read-only root
    assert "/" not in targets(mount_table(plan(project_dir="/"), LAYOUT), "bind")


def test_a_project_under_a_fresh_tmpfs_is_bound_back_also_when_read_only():
    for fields in ({}, {"read_only": True}, {"host_root_writable": True}):
        table = mount_table(plan(project_dir="/var/tmp/app", **fields), LAYOUT)
        op = by_target(table, "/var/tmp/app")
        assert op.read_only == fields.get("read_only", False)
        assert targets(table).index("/var/tmp") < targets(table).index("/var/tmp/app")


def test_a_project_under_a_tmpfs_of_the_stack_file_is_bound_back_after_it():
    table = mount_table(
        plan(project_dir="/tmp/app", working_dir="/tmp/app/sub", mounts=(Mount("tmpfs", "/tmp"),)),
        LAYOUT,
    )
    order = targets(table)
    assert [op.kind for op in table.ops if op.target.startswith("/tmp/app")] == ["bind"]
    assert [i for i, t in enumerate(order) if t == "/tmp"][-1] < order.index("/tmp/app")


def test_a_tmpfs_of_the_stack_file_at_the_working_dir_itself_is_what_shows_there():
    table = mount_table(plan(working_dir="/tmp/wd", mounts=(Mount("tmpfs", "/tmp/wd"),)), LAYOUT)
    assert [op.kind for op in table.ops if op.target == "/tmp/wd"] == ["fs"]


@pytest.mark.parametrize("rootfs", [None, "/srv/root"], ids=["host root", "rootfs"])
def test_volumes_and_tmpfs_mount_parents_first_else_in_the_files_order(rootfs):
    """`volumes: [./x:/tmp/x]` with `tmpfs: [/tmp]` (listed after it): the bind shows."""
    mounts = (
        Mount("bind", "/tmp/x/y", "/srv/y"),
        Mount("bind", "/tmp/x", "/srv/x"),
        Mount("tmpfs", "/tmp"),
        Mount("tmpfs", "/data"),
        Mount("bind", "/tmp/x", "/srv/other"),
    )
    table = mount_table(plan(mounts=mounts, rootfs=rootfs, working_dir="/"), LAYOUT)
    own = [(op.target, op.source) for op in table.ops if op.kind in ("bind", "fs")][-5:]
    assert own == [
        ("/tmp", None),
        ("/data", None),
        ("/tmp/x", "/srv/x"),
        ("/tmp/x", "/srv/other"),
        ("/tmp/x/y", "/srv/y"),
    ]


def test_a_builds_run_keeps_the_images_tmp():
    from stackrun.plan.model import ImagePlan

    image = ImagePlan(reference="", id="", layers=("/layers/1",))
    assert "/tmp" in targets(mount_table(plan(image=image), LAYOUT))
    table = mount_table(plan(image=image, private_tmp=False), LAYOUT)
    assert "/tmp" not in targets(table) and "/dev/shm" in targets(table)


def test_devices_are_bound_from_the_host_after_dev_exists():
    nodes = (DeviceNode("/dev/fuse", "/dev/fuse"), DeviceNode("/dev/sdb", "/srv/disk"))
    for fields in ({}, {"image": IMAGE}):
        table = mount_table(plan(devices=nodes, **fields), LAYOUT)
        fuse, disk = by_target(table, "/dev/fuse"), by_target(table, "/srv/disk")
        assert (fuse.kind, fuse.source, fuse.source_kind) == ("bind", "/dev/fuse", "device")
        assert fuse.flags == linux.MS_BIND | linux.MS_REC and not fuse.read_only
        assert targets(table).index("/dev") < targets(table).index("/dev/fuse")
        assert fuse.create  # under the fresh /dev: made on any root
        assert disk.create == ("image" in fields)  # on the host's root: must exist


DISK = InstanceLayout("/run/stackrun/demo/instances/api", "/var/lib/stackrun/demo/instances/api")


def test_an_images_standard_mount_points_are_listed_for_a_layer_of_their_own():
    """The targets the child would create in every instance's writable layer: the kernel
    filesystems, /dev, /tmp and the /etc files, none below another mount; not volumes."""
    volumes = (Mount("volume", "/data", "/var/lib/stackrun/demo/volumes/db"),)
    table = mount_table(plan(image=IMAGE, mounts=volumes), DISK)
    assert table.overlay is not None and table.overlay.mount_points is not None
    points = table.overlay.mount_points
    assert points.directory == "/var/lib/stackrun/demo/instances/_mount-points"
    assert points.targets == (
        ("/proc", True), ("/sys", True), ("/dev", True), ("/tmp", True),
        ("/etc/hostname", False), ("/etc/hosts", False), ("/etc/resolv.conf", False),
    )  # fmt: skip
    assert by_target(table, "/data").create  # a volume's target stays the instance's
    private = mount_table(plan(image=IMAGE, private_tmp=False), DISK).overlay
    assert private is not None and private.mount_points is not None
    assert ("/tmp", True) not in private.mount_points.targets


@pytest.mark.parametrize(
    "fields", [{"image": IMAGE, "read_only": True}, {"rootfs": "/srv/root"}, {}],
    ids=["read-only image", "rootfs", "host root"],
)  # fmt: skip
def test_only_an_image_with_a_writable_layer_on_disk_gets_that_layer(fields):
    """A read-only image's upper layer is a tmpfs (instance.service_layout: no disk)."""
    layout = DISK if fields.get("image") and not fields.get("read_only") else LAYOUT
    overlay = mount_table(plan(**fields), layout).overlay
    assert overlay is None or overlay.mount_points is None


def test_a_target_may_be_created_exactly_when_it_is_inside_a_private_mount_made_before():
    cases = {
        "/tmp/x": True,
        "/tmp": False,  # the mount itself, not inside it
        "/tmpx": False,
        "/tmp/./y/": True,
        "/run/app": True,
        "/var/lib/x": True,
        "/var/libx": False,
        "/": False,
        "/etc/hosts": False,
    }
    ops = tuple(MountOp("fs", target, "proc") for target in cases)

    def creatable(made):
        return {op.target: op.create for op in with_creation(ops, False, made)[0]}

    assert creatable(("/tmp", "/run/", "/var//lib")) == cases
    assert creatable(()) == dict.fromkeys(cases, False)
    assert creatable(("/",)) == dict.fromkeys(cases, True) | {"/": False}  # inside nothing
    assert {op.create for op in with_creation(ops, True, ())[0]} == {True}  # a private root


def test_a_tmpfs_or_bind_made_earlier_in_the_table_lets_later_targets_be_created():
    ops = (
        MountOp("fs", "/data", "tmpfs"),
        MountOp("fs", "/data/cache", "tmpfs"),
        MountOp("fs", "/proc", "proc"),
        MountOp("bind", "/proc/x", source="/srv"),
    )
    marked, made = with_creation(ops, False, ())
    assert [op.create for op in marked] == [False, True, False, False]
    assert made == ("/data", "/data/cache", "/proc/x")
