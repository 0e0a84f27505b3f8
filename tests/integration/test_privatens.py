"""runtime/privatens.py against the real kernel: the host's tree a service on the host's
root gets, detached, without the mounts it gets fresh ones of."""

import os
import threading

from stackrun.runtime.privatens import HostTrees, host_tree

REPLACED = ("/proc", "/tmp")


def shows(tree: int, path: str) -> bool:
    return os.path.exists(f"/proc/self/fd/{tree}{path}")


def test_every_tree_of_a_batch_lacks_the_replaced_mounts_and_has_the_rest():
    trees = HostTrees()
    made: list[int] = []
    cwd, home = os.getcwd(), os.readlink("/proc/thread-self/ns/mnt")
    try:
        made = [trees(REPLACED) for _ in range(3)]  # the first makes the namespace
        made.append(trees(("/proc",)))  # another set: a namespace of its own
        for tree in made:
            assert not shows(tree, "/proc/self")  # no procfs: the host's is gone
            assert shows(tree, "/etc/passwd")
        assert [shows(tree, "/tmp/.") for tree in made] == [True] * 4  # the directory stays
        assert len(set(made)) == 4  # each a clone of its own, attached once by its child
    finally:
        for tree in made:
            os.close(tree)
        trees.close()
    assert os.readlink("/proc/thread-self/ns/mnt") == home  # back in its namespace
    assert os.getcwd() == cwd


def test_a_batch_tree_is_the_one_host_tree_makes():
    trees = HostTrees()
    one, two, alone = trees(REPLACED), trees(REPLACED), host_tree(REPLACED)
    try:
        listing = {sorted_entries(t, "/") for t in (one, two, alone)}
        assert len(listing) == 1
    finally:
        for fd in (one, two, alone):
            os.close(fd)
        trees.close()


def test_threads_keep_namespaces_of_their_own():
    trees, found, errors = HostTrees(), [], []

    def make() -> None:
        try:
            found.append(trees(REPLACED))
            found.append(trees(REPLACED))
        except OSError as error:  # setns into another thread's namespace would fail
            errors.append(error)

    try:
        for _ in range(2):  # one after the other: the second finds the first's namespace
            worker = threading.Thread(target=make)
            worker.start()
            worker.join()
        assert errors == []
        assert len(found) == 4 and not any(shows(tree, "/proc/self") for tree in found)
    finally:
        for tree in found:
            os.close(tree)
        trees.close()


def sorted_entries(tree: int, path: str) -> tuple[str, ...]:
    return tuple(sorted(os.listdir(f"/proc/self/fd/{tree}{path}")))


def test_a_batch_checks_the_device_nodes_once_and_clones_them_for_every_spawn(monkeypatch):
    from stackrun.runtime.mounts import DEVICES
    from stackrun.runtime.spawn import sources

    trees, clones, checks = HostTrees(), [], []
    counted = sources._checked_nodes
    monkeypatch.setattr(sources, "_checked_nodes", lambda: checks.append(1) or counted())
    try:
        for _ in range(3):
            clones.append(trees.shared("device nodes", sources.DeviceNodes).clones())
        assert len(checks) == 1  # opened and checked by the first spawn only
        for made in clones:  # each spawn's own detached clone of each node
            assert sorted(made) == sorted(name for name, _, _ in DEVICES)
            for name, major, minor in DEVICES:
                assert os.stat(made[name]).st_rdev == os.makedev(major, minor)
        assert len({fd for made in clones for fd in made.values()}) == 3 * len(DEVICES)
        checked = list(trees.shared("device nodes", sources.DeviceNodes)._checked.values())
    finally:
        for made in clones:
            for fd in made.values():
                os.close(fd)
        trees.close()
    for fd in checked:  # closed with the batch
        assert not os.path.exists(f"/proc/self/fd/{fd}")


def test_a_node_that_is_not_the_device_it_claims_is_refused_with_its_path(tmp_path, monkeypatch):
    from stackrun.errors import RuntimeFailure
    from stackrun.runtime.spawn import sources

    (tmp_path / "null").write_text("")
    monkeypatch.setattr(sources, "HOST_DEV", str(tmp_path))
    nodes = sources.DeviceNodes()
    try:
        nodes.clones()
    except RuntimeFailure as failure:
        assert failure.path == f"{tmp_path}/null" and "not the character device 1:3" in str(failure)
    else:
        raise AssertionError("a regular file passed for /dev/null")
    finally:
        nodes.close()
