"""A service rooted in an image, on the real kernel: the overlay of its layers (whiteouts,
opaque directories, 100+ layers by both mount paths), the writable layer on disk and the
pristine layers below it, read_only, /etc files, users of the image, copy-up into volumes.

Images are built from files with tests/helpers/oci.py and put in a real store as a pull
does (tests/helpers/imagestore.py); the plans are built by hand around them (plan/image.py
has its own tests).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from stackrun import dirs
from stackrun.errors import RuntimeFailure
from stackrun.images.reference import parse_reference
from stackrun.images.store import Store
from stackrun.plan.image import image_plan
from stackrun.plan.model import GrantedFile, HostEntry, ImagePlan, Mount
from stackrun.runtime import image_root, instance, linux, mount_points
from stackrun.runtime.image_root import ImageRoot, MountPoints
from stackrun.runtime.mounts import DEVICES, MASKED_PATHS, MOUNT_POINTS_LAYERS, READONLY_PATHS
from stackrun.runtime.privatens import HostTrees
from stackrun.runtime.userns import idmap
from stackrun.runtime.userns.idmap import SIZE, IdMap
from tests.helpers import oci
from tests.helpers.imagestore import store_image, tree

REFERENCE = "localhost:5000/test/app:1"

PATH = (("PATH", "/bin"),)


def run(spawner, image, script: str, **fields) -> tuple[int, str]:
    plan = spawner.plan(image=image, argv=("/bin/sh", "-c", script), env=PATH, **fields)
    started = spawner.start(plan)
    output = started.read_all().decode()
    return started.wait(), output


@pytest.fixture
def image(tmp_path):
    """image(layers) -> the ImagePlan of those layers, put in a store under tmp_path."""
    with Store(tmp_path / "store") as store:
        made = iter(range(1000))

        def make(layers: list[oci.Layer]) -> ImagePlan:
            layout = tmp_path / f"oci-{next(made)}"
            record = store_image(store, oci.Image(layers), REFERENCE, layout)
            return image_plan(parse_reference(REFERENCE), record)

        yield make


def pristine(image: ImagePlan) -> dict:
    return {layer: tree(layer) for layer in image.layers}


@pytest.fixture
def layered(image):
    """busybox, then a layer of files, then one that deletes, hides and changes some."""
    files = oci.Layer(
        [
            oci.Dir("etc"),
            oci.File("etc/motd", b"first\n"),
            oci.Dir("data"),
            oci.File("data/a", b"a\n"),
            oci.File("data/b", b"b\n"),
            oci.Dir("opt"),
            oci.Dir("opt/x"),
            oci.File("opt/x/old", b"old\n"),
            oci.File("gone", b"x\n"),
            oci.File("srv/owned", b"o\n", uid=1000, gid=50, mode=0o4750),
            oci.Symlink("srv/link", "../data/a"),
            oci.Hardlink("srv/hard", "data/b"),
        ]
    )
    changes = oci.Layer(
        [
            oci.File("etc/motd", b"second\n"),
            oci.Whiteout("gone"),
            oci.Whiteout("data/a"),
            oci.Opaque("opt/x"),
            oci.File("opt/x/new", b"new\n"),
        ],
        compression=None,
    )
    return image([oci.busybox_layer(), files, changes])


# ---------------------------------------------------------------- the root


def test_a_service_sees_exactly_the_merged_layers(spawner, layered):
    script = (
        "cat /etc/motd; ls -a /opt/x; ls /data; test -e /gone || echo no-gone;"
        " stat -c '%u:%g %a' /srv/owned; readlink /srv/link; cat /srv/hard;"
        " grep ' / ' /proc/mounts | cut -d' ' -f3"
    )
    code, output = run(spawner, layered, script)
    assert code == 0, output
    assert output.splitlines() == [
        "second",
        ".", "..", "new",  # opaque: the lower layer's "old" is hidden
        "b",  # a whited out
        "no-gone",
        "1000:50 4750",
        "../data/a",
        "b",
        "overlay",
    ]  # fmt: skip


def test_the_image_root_holds_only_the_mounts_a_container_has(spawner, layered):
    """Nothing of the host's mount table: the overlay, fresh kernel filesystems and /dev
    (with the host's standard device nodes bound in), the masks, /tmp and the three /etc files, nothing else; no stackrun directory."""
    script = "cut -d' ' -f5 /proc/self/mountinfo; test -e /var/lib/stackrun || echo none"
    code, output = run(spawner, layered, script)
    assert code == 0, output
    *points, last = output.split()
    own = {"/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/tmp",
           "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", *MASKED_PATHS, *READONLY_PATHS,
           *(f"/dev/{name}" for name, _major, _minor in DEVICES)}  # fmt: skip
    assert set(points) <= own and {"/", "/proc", "/dev", "/tmp", "/etc/hosts"} <= set(points)
    assert last == "none"


def test_writes_go_to_the_writable_layer_on_disk_and_the_layers_stay_pristine(spawner, layered):
    before = pristine(layered)
    script = "echo changed > /etc/motd && rm /data/b && mkdir -p /opt/x/deeper && touch /new"
    code, output = run(spawner, layered, script)
    assert code == 0, output
    assert pristine(layered) == before
    upper = Path(instance.writable_layer(spawner.project, "svc")) / "upper"
    assert upper.is_relative_to(dirs.data_dir(spawner.project))  # on disk, not the run tmpfs
    assert (upper / "etc/motd").read_text() == "changed\n"
    assert (upper / "new").exists() and (upper / "opt/x/deeper").is_dir()
    assert os.stat(upper / "data/b").st_rdev == os.makedev(0, 0)  # a whiteout of its own
    assert sorted(os.listdir(upper.parent)) == ["upper", "work"]
    # the child attaches the root on the instance directory: no directory made for it
    assert not Path(instance.layout(spawner.project, "svc").scratch).exists()
    code, output = run(spawner, layered, "cat /etc/motd; ls /data")  # a restart keeps them
    assert output == "changed\n"
    instance.discard(spawner.project, "svc")
    assert not upper.parent.exists()


def test_the_mount_points_an_image_lacks_are_made_once_for_all_its_instances(spawner, image):
    """Not in each writable layer: one layer of them above the image's (mount_points.py),
    with the modes the child gives them whatever the caller's umask."""
    busybox = image([oci.busybox_layer()])
    old = os.umask(0o077)
    try:
        for name in ("one", "two"):
            code, output = run(spawner, busybox, "cat /etc/hostname; ls -d /proc/self", name=name)
            assert (code, output) == (0, f"{name}\n/proc/self\n")
            assert os.listdir(Path(instance.writable_layer(spawner.project, name), "upper")) == []
    finally:
        os.umask(old)
    [layer] = (dirs.layers_dir(spawner.project) / MOUNT_POINTS_LAYERS).iterdir()
    made = {str(p.relative_to(layer)): stat.S_IMODE(p.lstat().st_mode) for p in layer.rglob("*")}
    files = {"etc/hostname": 0o644, "etc/hosts": 0o644, "etc/resolv.conf": 0o644}
    assert made == {"proc": 0o755, "sys": 0o755, "dev": 0o755, "etc": 0o755, **files}


def test_a_mount_point_behind_a_symlink_is_made_where_the_link_leads_inside(spawner, image):
    linked = oci.Layer([oci.Dir("run"), oci.Symlink("etc/resolv.conf", "../run/resolv.conf")])
    code, output = run(spawner, image([oci.busybox_layer(), linked]), "cat /etc/resolv.conf")
    assert code == 0 and "nameserver" in output, output
    [layer] = (dirs.layers_dir(spawner.project) / MOUNT_POINTS_LAYERS).iterdir()
    assert (layer / "run/resolv.conf").is_file() and not (layer / "etc/resolv.conf").exists()
    assert os.listdir(Path(instance.writable_layer(spawner.project, "svc"), "upper")) == []


def test_an_image_with_every_mount_point_gets_no_layer_of_them(image, tmp_path):
    complete = oci.Layer([oci.Dir("proc"), oci.Dir("sys"), oci.Dir("dev"), oci.File("etc/hosts")])
    layers = image([oci.busybox_layer(), complete]).layers
    targets = (
        ("/proc", True),
        ("/sys", True),
        ("/dev", True),
        ("/tmp", True),
        ("/etc/hosts", False),
    )
    root = ImageRoot(
        layers, "upper", "work", "merged", mount_points=MountPoints(str(tmp_path), targets)
    )
    assert mount_points.under(root) == replace(root, mount_points=None)
    lacking = replace(root, layers=image([oci.busybox_layer()]).layers)
    layer = mount_points.under(lacking).layers[-1]
    assert layer not in lacking.layers and os.listdir(layer)
    shutil.rmtree(layer)  # as `down` or a build session's end: made again when asked
    assert mount_points.under(lacking).layers[-1] == layer and os.listdir(layer)


def test_without_that_layer_each_instance_makes_its_mount_points(spawner, image):
    """Best effort: where the layer cannot be made, the child creates them, as before."""
    dirs.layers_dir(spawner.project).mkdir(parents=True)
    (dirs.layers_dir(spawner.project) / MOUNT_POINTS_LAYERS).write_text("in the way")
    code, output = run(spawner, image([oci.busybox_layer()]), "cat /etc/hostname")
    assert (code, output) == (0, "svc\n")
    upper = Path(instance.writable_layer(spawner.project, "svc"), "upper")
    assert {"proc", "sys", "dev", "etc"} <= set(os.listdir(upper))


def test_a_read_only_image_root_has_no_writable_layer(spawner, layered):
    fields = {"read_only": True, "mounts": (Mount("tmpfs", "/var/cache"),)}
    script = "touch /tmp/ok /var/cache/ok && cat /etc/hostname && touch /etc/nope"
    code, output = run(spawner, layered, script, **fields)
    assert code != 0 and "Read-only file system" in output, output
    assert output.startswith("svc\n")  # its mount points were made all the same
    assert list(dirs.layers_dir(spawner.project).glob("*")) == []  # none in the layers' parent
    assert os.listdir(instance.layout(spawner.project, "svc").scratch) == []  # a private tmpfs


def test_etc_files_and_users_come_from_the_instance_and_the_image(spawner, image):
    accounts = oci.Layer(
        [
            oci.File(
                "etc/passwd", b"root:x:0:0::/root:/bin/sh\nimgonly:x:4321:4322::/home/i:/bin/sh\n"
            ),
            oci.File("etc/group", b"root:x:0:\nimggroup:x:4322:\nextra:x:77:imgonly\n"),
            oci.Dir("home"),
            oci.Dir("home/i", uid=4321),
        ]
    )
    accounts = image([oci.busybox_layer(), accounts])
    script = "id -u; id -g; id -G; echo $HOME; pwd; cat /etc/hostname /etc/hosts /etc/resolv.conf"
    hosts = (HostEntry("10.1.2.3", ("db", "db-1")),)
    fields = {"user": "imgonly", "working_dir": "/home/i", "hostname": "web", "hosts": hosts}
    code, output = run(spawner, accounts, script, dns=("10.9.9.9",), **fields)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[:6] == ["4321", "4322", "4322 77", "/home/i", "/home/i", "web"]
    assert "10.1.2.3\tdb db-1" in lines and "nameserver 10.9.9.9" in lines


def test_a_missing_working_dir_is_made_in_the_writable_layer(spawner, layered):
    code, output = run(spawner, layered, "pwd; stat -c '%u %a' .", working_dir="/new/dir")
    assert (code, output) == (0, "/new/dir\n0 755\n")
    with pytest.raises(RuntimeFailure, match="working_dir /other: No such file or directory"):
        run(spawner, layered, "pwd", working_dir="/other", read_only=True)  # nowhere to make it


def test_the_image_can_be_left_by_no_path(spawner, image, tmp_path):
    """/etc/hosts bound over an image's symlink to a host path stays inside the root."""
    outside = tmp_path / "outside"
    outside.mkdir()
    links = [oci.Symlink("etc/hosts", str(outside / "hosts")), oci.Symlink("up", "../../../..")]
    hostile = image([oci.busybox_layer(), oci.Layer(links)])
    mounts = (Mount("tmpfs", "/up/x"),)
    code, output = run(spawner, hostile, "cat /etc/hosts >/dev/null && ls -d /up/x", mounts=mounts)
    assert code == 0, output
    assert list(outside.iterdir()) == []


# ---------------------------------------------------------------- many layers


def many_layers(image, count: int) -> ImagePlan:
    layers = [oci.busybox_layer(compression=None)]
    layers += [
        oci.Layer([oci.File(f"layers/{n}", f"{n}\n".encode())], None) for n in range(count - 1)
    ]
    return image(layers)


def test_an_image_of_130_layers_runs(spawner, image):
    code, output = run(spawner, many_layers(image, 130), "ls /layers | wc -l; cat /layers/128")
    assert code == 0, output
    assert output.split() == ["129", "128"]


@pytest.mark.parametrize("legacy", [False, True], ids=["lowerdir+", "mount(2) with fd paths"])
def test_both_ways_to_mount_130_layers(tmp_path, image, legacy):
    """Run the mount itself in a child with a mount namespace of its own: fsconfig's
    `lowerdir+` (Linux >= 6.8), and mount(2) with each layer named by its descriptor (what
    Debian 12's 6.1 gets), whose options would not fit in a page with the store's paths."""
    if not legacy and image_root.kernel_version() < image_root.LOWERDIR_PLUS:
        pytest.skip("lowerdir+ needs Linux 6.8")
    layers = many_layers(image, 130).layers
    assert len(":".join(layers)) > image_root.PAGE  # the store's paths would not fit
    root = image_root.ImageRoot(layers, *(str(tmp_path / d) for d in ("u", "w", "m")))
    for directory in ("u", "w", "m"):
        (tmp_path / directory).mkdir()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        os.close(read)
        try:
            linux.unshare(linux.CLONE_NEWNS)
            linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
            image_root.mount(root, legacy=legacy)
            seen = sorted(os.listdir(tmp_path / "m" / "layers"))
            os.write(write, f"{len(seen)} {Path(tmp_path / 'm/layers/128').read_text()}".encode())
        except BaseException as error:  # noqa: BLE001
            os.write(write, f"error {error!r}".encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        report = pipe.read()
    os.waitpid(pid, 0)
    assert report == "129 128\n"
    assert str(tmp_path / "m") not in Path("/proc/self/mountinfo").read_text()


@pytest.mark.parametrize("legacy", [False, True], ids=["lowerdir+", "mount(2) with fd paths"])
def test_a_detached_overlay_over_idmapped_layers_both_ways(fork_server, layered, tmp_path, legacy):
    """What the spawn's caller makes for a service in a user namespace: the overlay, which
    still reads the store's trusted xattrs (opaque directory, whiteouts), over idmapped
    layers; its writable layer idmapped too, so what the project's root writes is 0 on
    disk. Nothing of it stays mounted."""
    if not legacy and image_root.kernel_version() < image_root.LOWERDIR_PLUS:
        pytest.skip("lowerdir+ needs Linux 6.8")
    ids = IdMap(2**30, 2**30 + SIZE)
    mapping = image_root.Mapping(ids, fork_server.userns_for(idmap.canonical(ids)))
    for directory in ("layer/upper", "layer/work", "m"):
        (tmp_path / directory).mkdir(parents=True)
    paths = (str(tmp_path / d) for d in ("layer/upper", "layer/work", "m"))
    fd = image_root.detached(image_root.ImageRoot(layered.layers, *paths), mapping, legacy)
    try:
        root = Path(f"/proc/self/fd/{fd}")
        owned = (root / "srv" / "owned").stat()
        assert (owned.st_uid, owned.st_gid) == (ids.uid + 1000, ids.gid + 50)
        assert (root.stat().st_uid, root.stat().st_gid) == (ids.uid, ids.gid)  # root's
        assert os.listdir(root / "opt" / "x") == ["new"] and not (root / "gone").exists()
        linux.set_fs_ids(ids.uid, ids.gid)  # write as the project's root does
        try:
            (root / "etc" / "motd").write_text("third\n")
        finally:
            linux.set_fs_ids(0, 0)
    finally:
        os.close(fd)
    copied = (tmp_path / "layer" / "upper" / "etc" / "motd").stat()
    assert (copied.st_uid, copied.st_gid) == (0, 0)  # on disk, the ids seen inside
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()


def test_too_many_layers_for_mount2_is_a_clear_error(tmp_path):
    layers = []
    for n in range(240):
        (tmp_path / str(n)).mkdir()
        layers.append(str(tmp_path / str(n)))
    root = image_root.ImageRoot(tuple(layers), "/u", "/w", "/m")
    with pytest.raises(RuntimeFailure) as caught:  # before anything is mounted
        image_root.mount(root, legacy=True)
    assert str(caught.value).startswith(
        "mount 240 image layers: too many for mount(2) on this kernel (Linux 6.8 has no limit) /m"
    )


# ---------------------------------------------------------------- copy-up into volumes


@pytest.fixture
def filled(image):
    content = oci.Layer(
        [
            oci.Dir("var/lib/db", uid=999, gid=998, mode=0o700),
            oci.File(
                "var/lib/db/conf", b"c\n", uid=999, mode=0o640, xattrs=(("user.note", b"kept"),)
            ),
            oci.Dir("var/lib/db/sub"),
            oci.File("var/lib/db/sub/deep", b"d\n"),
            oci.Symlink("var/lib/db/link", "/etc/passwd"),
            oci.Hardlink("var/lib/db/hard", "var/lib/db/conf"),
            oci.Node("var/lib/db/fifo", tarfile.FIFOTYPE, mode=0o600),
            oci.File(
                "var/lib/db/tool",
                b"#!\n",
                mode=0o755,
                xattrs=(("security.capability", CAPABILITY),),
            ),
        ]
    )
    return image([oci.busybox_layer(), content])


# cap_net_bind_service=ep, as setcap writes it (VFS_CAP_REVISION_2)
CAPABILITY = bytes.fromhex("0100000200040000000000000000000000000000")


def volume(path: Path, copy: bool = True, target: str = "/var/lib/db") -> Mount:
    return Mount("volume", target, str(path), copy=copy)


def test_an_empty_volume_gets_the_images_content_once(spawner, filled, tmp_path):
    data = tmp_path / "volumes" / "db"
    data.mkdir(parents=True)
    code, output = run(
        spawner,
        filled,
        "cat /var/lib/db/conf; echo mine > /var/lib/db/mine",
        mounts=(volume(data),),
    )
    assert (code, output) == (0, "c\n")
    stat = data.stat()
    assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o7777) == (999, 998, 0o700)
    assert sorted(os.listdir(data)) == ["conf", "fifo", "hard", "link", "mine", "sub", "tool"]
    conf = (data / "conf").stat()
    assert (conf.st_uid, conf.st_mode & 0o7777, conf.st_nlink) == (999, 0o640, 2)
    assert (data / "hard").stat().st_ino == conf.st_ino
    assert os.getxattr(data / "conf", "user.note") == b"kept"
    assert os.getxattr(data / "tool", "security.capability") == CAPABILITY
    assert os.readlink(data / "link") == "/etc/passwd"  # copied, not followed
    assert (data / "sub" / "deep").read_text() == "d\n"
    assert (data / "fifo").is_fifo()
    (data / "conf").write_text("changed by the user\n")
    (data / "sub" / "deep").unlink()
    code, output = run(
        spawner, filled, "cat /var/lib/db/conf; ls /var/lib/db/sub", mounts=(volume(data),)
    )
    assert (code, output) == (0, "changed by the user\n")  # not empty: never filled again


def test_nocopy_and_a_volume_with_content_take_nothing(spawner, filled, tmp_path):
    empty, used = tmp_path / "empty", tmp_path / "used"
    empty.mkdir()
    used.mkdir()
    (used / "own").write_text("own\n")
    code, output = run(spawner, filled, "ls -A /var/lib/db", mounts=(volume(empty, copy=False),))
    assert (code, output, os.listdir(empty)) == (0, "", [])
    code, output = run(spawner, filled, "ls -A /var/lib/db", mounts=(volume(used),))
    assert (code, output, os.listdir(used)) == (0, "own\n", ["own"])


def test_a_copy_cut_short_is_thrown_away_and_a_complete_one_finished(spawner, filled, tmp_path):
    partial, staged = tmp_path / "partial", tmp_path / "staged"
    (partial / ".stackrun-copying" / "half").mkdir(parents=True)  # killed while copying
    (staged / ".stackrun-copied" / "moved-later").mkdir(parents=True)  # killed while moving
    (staged / "moved-first").mkdir()
    mounts = (volume(partial), volume(staged, target="/srv"))
    code, output = run(spawner, filled, "ls -a /var/lib/db /srv", mounts=mounts)
    assert code == 0, output
    assert sorted(os.listdir(partial)) == ["conf", "fifo", "hard", "link", "sub", "tool"]
    assert sorted(os.listdir(staged)) == ["moved-first", "moved-later"]


def test_a_volume_where_the_image_has_nothing_stays_empty(spawner, filled, tmp_path):
    data = tmp_path / "v"
    data.mkdir()
    code, output = run(spawner, filled, "ls -a /nowhere", mounts=(volume(data, target="/nowhere"),))
    assert (code, output.split()) == (0, [".", ".."])


# ---------------------------------------------------------------- secrets and configs


@pytest.mark.parametrize("read_only", [False, True], ids=["writable", "read_only"])
def test_secrets_in_an_image_are_bound_read_only_beside_the_images_own_run(
    spawner, image, tmp_path, read_only
):
    """No tmpfs on /run (the image's stays, as in Docker): /run/secrets/NAME is made in
    the writable layer, or read_only in the scratch one, and holds the instance's copy."""
    source = tmp_path / "token.txt"
    source.write_text("s3cr3t\n")
    files = (
        GrantedFile("secret", "token", "/run/secrets/token", 0o440, 1000, 1000, str(source)),
        GrantedFile("config", "app", "/etc/app.conf", content="debug=1\n"),
    )
    own = image([oci.busybox_layer(), oci.Layer([oci.Dir("run"), oci.File("run/own", b"o\n")])])
    script = (
        "cat /run/own /run/secrets/token /etc/app.conf;"
        " stat -c '%a %u %g' /run/secrets/token /etc/app.conf;"
        " grep -c ' /run ' /proc/self/mountinfo; echo x > /run/secrets/token"
    )
    code, output = run(spawner, own, script, files=files, read_only=read_only)
    lines = output.splitlines()
    assert lines[:6] == ["o", "s3cr3t", "debug=1", "440 1000 1000", "444 0 0", "0"], output
    assert code != 0 and "Read-only file system" in output
    upper = Path(instance.writable_layer(spawner.project, "svc")) / "upper"
    if read_only:
        assert not upper.exists()
    else:  # the mount point, empty, as Docker leaves it in a container's layer
        assert (upper / "run/secrets/token").read_text() == ""


def test_the_overlays_of_a_batch_share_its_idmapped_layers(fork_server, layered, tmp_path):
    """spawn_all's batch (privatens.HostTrees): the image's layers are idmapped once, in
    the batch's namespace, for every overlay made there; each overlay is whole, with its
    own writable layer; nothing stays mounted once the batch is closed."""
    ids = IdMap(2**30, 2**30 + SIZE)
    mapping = image_root.Mapping(ids, fork_server.userns_for(idmap.canonical(ids)))
    trees, fds = HostTrees(), []
    try:
        for name in ("one", "two", "three"):
            for directory in ("upper", "work", "merged"):
                (tmp_path / name / "layer" / directory).mkdir(parents=True)
            paths = (str(tmp_path / name / "layer" / d) for d in ("upper", "work", "merged"))
            root = image_root.ImageRoot(layered.layers, *paths)
            fds.append(image_root.detached(root, mapping, batch=trees))
        for fd in fds:
            owned = Path(f"/proc/self/fd/{fd}/srv/owned").stat()
            assert (owned.st_uid, owned.st_gid) == (ids.uid + 1000, ids.gid + 50)
        with trees.kept(os.fstat(mapping.userns_fd).st_ino):
            info = Path("/proc/thread-self/mountinfo").read_text()
        mounted = [line.split()[4] for line in info.splitlines()]
        assert all(mounted.count(layer) == 1 for layer in layered.layers), mounted
    finally:
        for fd in fds:
            os.close(fd)
        trees.close()
    assert str(tmp_path) not in Path("/proc/self/mountinfo").read_text()
