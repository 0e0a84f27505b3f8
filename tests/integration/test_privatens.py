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
