"""Load of an image of 30 layers (~100 MB) from an archive: `stackrun load` against
`podman load`, side by side in one run, each cold (an empty store every time).

    python bench/load.py [--runs 5] [--layers 30] [--mib 100]

Two archives of the same image, made by tests/helpers/oci.py and skopeo: a `docker save`
archive (plain layer tars, ~100 MB, as Docker writes them) and an OCI archive (gzip
layers). Each layer holds files that are half random bytes, half text, so gzip shrinks
them about as it shrinks real layers. podman runs with a temporary --root/--runroot (both
removed afterwards), `--runtime runc` (this host is hybrid cgroups) and the overlay
driver. Prints each tool's median time and its ratio to podman's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.images import layer_files, timed  # the same layers as the pull bench
from tests.helpers.imagestore import oci_archive
from tests.helpers.oci import Image, busybox_layer, docker_archive, write_layout

REPO = Path(__file__).resolve().parent.parent
NAME = "localhost/bench/load:v1"


def build(work: Path, layers: int, mib: int) -> dict[str, Path]:
    rng = random.Random(7)
    per_layer = int(mib * (1 << 20) / (layers - 1))
    image = Image([busybox_layer()] + [layer_files(i, per_layer, rng) for i in range(layers - 1)])
    write_layout(work / "layout", {"v1": image})
    docker_archive(work / "layout", "v1", work / "docker.tar", NAME)
    _name_layout(work / "layout")
    return {
        "docker save": work / "docker.tar",
        "oci (gzip)": oci_archive(work / "layout", work / "oci.tar"),
    }


def _name_layout(layout: Path) -> None:
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["annotations"] = {"org.opencontainers.image.ref.name": NAME}
    (layout / "index.json").write_text(json.dumps(index))


def stackrun_load(archive: Path, scratch: Path) -> float:
    env = {**os.environ, "STACKRUN_DATA_DIR": str(scratch / "data"), "PYTHONPATH": str(REPO)}
    return timed([sys.executable, "-m", "stackrun", "load", "-q", "-i", str(archive)], env)


def podman_load(archive: Path, scratch: Path) -> float:
    runroot = tempfile.mkdtemp(prefix="podman-", dir="/tmp")  # podman: at most 50 characters
    storage = ["podman", "--root", str(scratch / "root"), "--runroot", runroot,
               "--runtime", "runc", "--storage-driver", "overlay"]  # fmt: skip
    try:
        return timed([*storage, "load", "--quiet", "-i", str(archive)])
    finally:
        subprocess.run([*storage, "system", "reset", "--force"], check=False, capture_output=True)
        shutil.rmtree(runroot, ignore_errors=True)


TOOLS = {"stackrun load": stackrun_load, "podman load": podman_load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--layers", type=int, default=30)
    parser.add_argument("--mib", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-load-", dir="/var/tmp"))
    try:
        archives = build(work, args.layers, args.mib)
        sizes = ", ".join(
            f"{kind} {path.stat().st_size / 1e6:.0f} MB" for kind, path in archives.items()
        )
        print(f"image: {args.layers} layers; archives: {sizes}; python {sys.version.split()[0]}")
        for kind, archive in archives.items():
            report(kind, run_all(archive, work, args.runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_all(archive: Path, work: Path, runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in TOOLS}
    for run in range(runs):
        names = list(TOOLS) if run % 2 == 0 else list(reversed(TOOLS))  # no order favoured
        for name in names:
            scratch = work / f"scratch-{run}-{name.split()[0]}"
            scratch.mkdir()
            try:
                times[name].append(TOOLS[name](archive, scratch))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    return times


def report(kind: str, times: dict[str, list[float]]) -> None:
    base = statistics.median(times["podman load"])
    for name, values in times.items():
        median = statistics.median(values)
        runs = " ".join(f"{v:.2f}" for v in values)
        print(
            f"{kind:12s} {name:14s} median {median:6.2f} s  ({median / base:.2f}x podman)  runs: {runs}"
        )


if __name__ == "__main__":
    main()
