"""Pull of an image of 30 layers (~100 MB of gzip blobs) from a loopback registry:
`stackrun pull` against `podman pull` and `skopeo copy` (to a directory), side by side in
one run, each cold (an empty store every time).

    python bench/images.py [--runs 5] [--layers 30] [--mib 100]

The image is made by tests/helpers/oci.py: each layer holds files that are half random
bytes, half text, so gzip shrinks them about as it shrinks real layers. The registry is
Debian's docker-registry on 127.0.0.1 (tests/helpers/registry.py). podman runs with a
temporary --root/--runroot, `--runtime runc` (this host is hybrid cgroups) and
--tls-verify=false. Prints each tool's median time and its ratio to podman's; the target
is stackrun within 1.2x of podman.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import timed

from tests.helpers.oci import File, Image, Layer, busybox_layer, push, write_layout
from tests.helpers.registry import Registry

REPO = Path(__file__).resolve().parent.parent
WORDS = b"alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi\n"


def layer_files(index: int, size: int, rng: random.Random) -> Layer:
    """~`size` bytes in 8 files: each half random, half text."""
    files = []
    for number in range(8):
        half = size // 16
        text = (WORDS * (half // len(WORDS) + 1))[:half]
        files.append(File(f"data/{index:02d}/file{number}", rng.randbytes(half) + text))
    return Layer(files, "gzip")


def build(root: Path, layers: int, mib: int) -> int:
    rng = random.Random(7)
    per_layer = int(mib * (1 << 20) * 1.85 / (layers - 1))  # gzip keeps ~55% of these files
    image = Image([busybox_layer()] + [layer_files(i, per_layer, rng) for i in range(layers - 1)])
    write_layout(root, {"v1": image})
    return sum(f.stat().st_size for f in (root / "blobs" / "sha256").iterdir())


def stackrun_pull(reference: str, scratch: Path) -> float:
    env = {**os.environ, "STACKRUN_DATA_DIR": str(scratch / "data"), "PYTHONPATH": str(REPO)}
    return timed([sys.executable, "-m", "stackrun", "pull", "-q", reference], env)


def podman_pull(reference: str, scratch: Path) -> float:
    runroot = tempfile.mkdtemp(prefix="podman-", dir="/tmp")  # podman: at most 50 characters
    storage = ["podman", "--root", str(scratch / "root"), "--runroot", runroot,
               "--runtime", "runc", "--storage-driver", "overlay"]  # fmt: skip
    try:
        return timed([*storage, "pull", "--quiet", "--tls-verify=false", reference])
    finally:
        subprocess.run([*storage, "system", "reset", "--force"], check=False, capture_output=True)
        shutil.rmtree(runroot, ignore_errors=True)


def skopeo_copy(reference: str, scratch: Path) -> float:
    return timed(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                  f"docker://{reference}", f"dir:{scratch / 'dir'}"])  # fmt: skip


TOOLS = {"stackrun pull": stackrun_pull, "podman pull": podman_pull, "skopeo copy": skopeo_copy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--layers", type=int, default=30)
    parser.add_argument("--mib", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-images-"))
    try:
        size = build(work / "layout", args.layers, args.mib)
        print(
            f"image: {args.layers} layers, {size / 1e6:.1f} MB of blobs; python {sys.version.split()[0]}"
        )
        with Registry(work / "registry") as registry:
            reference = f"{registry.host}/bench/big:v1"
            push(work / "layout", "v1", reference)
            times = run_all(reference, work, args.runs)
        report(times)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_all(reference: str, work: Path, runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in TOOLS}
    for run in range(runs):
        names = list(TOOLS) if run % 2 == 0 else list(reversed(TOOLS))  # no order favoured
        for name in names:
            scratch = work / f"scratch-{run}-{name.split()[0]}"
            scratch.mkdir()
            try:
                times[name].append(TOOLS[name](reference, scratch))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    return times


def report(times: dict[str, list[float]]) -> None:
    base = statistics.median(times["podman pull"])
    for name, values in times.items():
        median = statistics.median(values)
        runs = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:14s} median {median:6.2f} s  ({median / base:.2f}x podman)  runs: {runs}")


if __name__ == "__main__":
    main()
