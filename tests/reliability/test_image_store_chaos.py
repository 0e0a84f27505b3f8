"""The image store under kills and contention: `stackrun load` killed with SIGKILL at
moments spread over a whole load, two loads at once, a prune running through a load.
After each, every blob's content is its name, every layer is whole with its short link,
every record names what exists (check_store), and a later load completes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stackrun.images.store import Store
from tests.conftest import REPO
from tests.helpers.imagestore import check_store, random_layer, tree
from tests.helpers.oci import Image, busybox_layer, docker_archive, write_layout
from tests.helpers.waiting import wait_until

KILLS = 14


class Loader:
    def __init__(self, data: Path):
        self.data = data
        self.env = {**os.environ, "STACKRUN_DATA_DIR": str(data), "PYTHONPATH": str(REPO),
                    "STACKRUN_RUN_DIR": str(data.parent / "run")}  # fmt: skip

    @property
    def store(self) -> Path:
        return self.data / "_images"

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "stackrun", *args], env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

    def run(self, *args: str) -> str:
        process = self.start(*args)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
        return out.decode()

    def wait_for_session(self, process: subprocess.Popen, timeout: float = 60) -> float:
        """When `process` started its session in the store (it then reads the archive)."""

        def started() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"no session of {process.pid} (exit {process.returncode})")
            return any(name.startswith(f"{process.pid}-") for name in self.sessions())

        wait_until(started, f"the session of {process.pid}", timeout, interval=0.002)
        return time.monotonic()

    def sessions(self) -> list[str]:
        tmp = self.store / "tmp"
        return os.listdir(tmp) if tmp.exists() else []


def make_archive(directory: Path, name: str, layers) -> Path:
    write_layout(directory / f"oci-{name}", {"v1": Image(layers)})
    archive = directory / f"{name}.tar"
    docker_archive(directory / f"oci-{name}", "v1", archive, f"localhost:5000/chaos/{name}:v1")
    return archive


def layer_trees(store: Path, name: str) -> list[dict]:
    record = Store(store).image(name)
    assert record is not None
    return [tree(layer.path, dir_times=False) for layer in record.layers]


def test_a_load_killed_at_any_moment_leaves_nothing_a_later_run_trusts(tmp_path, figures):
    layers = [busybox_layer()] + [random_layer(4, 1 << 20, seed) for seed in range(6)]
    archive = make_archive(tmp_path, "big", layers)
    reference = Loader(tmp_path / "reference")
    process = reference.start("load", "-i", str(archive))
    began = reference.wait_for_session(process)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    working = time.monotonic() - began  # from its session's start to its end
    chaos = Loader(tmp_path / "chaos")
    generator = random.Random(1234)
    midway = 0
    for kill in range(KILLS):
        process = chaos.start("load", "-i", str(archive))
        chaos.wait_for_session(process)
        time.sleep(working * (kill + generator.random()) / KILLS)  # spread over a whole load
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert check_store(chaos.store) == [], f"after kill {kill}"
        inside = any(name.startswith(f"{process.pid}-") for name in chaos.sessions())
        midway += inside
        working *= 1.0 if inside else 0.8  # it had finished: loads run faster than measured
    chaos.run("load", "-i", str(archive))
    assert check_store(chaos.store) == [] and chaos.sessions() == []
    name = "localhost:5000/chaos/big:v1"
    assert layer_trees(chaos.store, name) == layer_trees(reference.store, name)
    figures.record("image load killed: kills inside a load (its session left)", f"{midway}/{KILLS}")
    assert midway >= KILLS // 3  # the kills did land inside loads


@pytest.mark.parametrize("shared", ["same archive", "shared layers"])
def test_two_loads_at_once_store_each_layer_once(tmp_path, shared):
    base = [busybox_layer(), random_layer(3, 1 << 20, seed=7)]
    first = make_archive(tmp_path, "one", base + [random_layer(2, 1 << 20, seed=8)])
    second = first if shared == "same archive" else make_archive(
        tmp_path, "two", base + [random_layer(2, 1 << 20, seed=9)]
    )  # fmt: skip
    loader = Loader(tmp_path / "data")
    processes = [loader.start("load", "-i", str(path)) for path in (first, second)]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
    assert check_store(loader.store) == [] and loader.sessions() == []
    store = Store(loader.store)
    chains = {layer.chain_id[7:] for image in store.images() for layer in image.layers}
    assert sorted(os.listdir(loader.store / "layers")) == sorted(chains)
    assert len(chains) == (3 if shared == "same archive" else 4)


def test_a_prune_running_through_a_load_keeps_what_the_load_needs(tmp_path):
    """Between its commits, the blobs and layers a load made belong to no image yet: the
    prune (which collects every unreferenced blob and layer) must keep them (pins)."""
    layers = [busybox_layer()] + [random_layer(3, 1 << 20, seed) for seed in range(4)]
    archive = make_archive(tmp_path, "pruned", layers)
    loader = Loader(tmp_path / "data")
    for _ in range(6):
        load = loader.start("load", "-i", str(archive))
        prunes = 0
        while load.poll() is None:  # as fast as a prune goes: many land inside the commit
            if loader.store.exists():
                with Store(loader.store) as store:
                    store.prune({})
                prunes += 1
        _, err = load.communicate()
        assert load.returncode == 0, err.decode()
        assert prunes >= 1 and check_store(loader.store) == []
        record = Store(loader.store).image("localhost:5000/chaos/pruned:v1")
        assert record is not None and all(Path(layer.path).is_dir() for layer in record.layers)
        with Store(loader.store) as store:
            store.prune({}, everything=True)
