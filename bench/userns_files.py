"""Files in a user namespace: chown once, or idmapped mounts? Both measured, same tree.

    sudo .venv/bin/python bench/userns_files.py [--tree /usr/lib/python3/dist-packages] [--rounds 5]

A project's services see ids 0..65535 that are its range on the host. Image layers are
shared by every project (one store for the host), so "chown once at unpack" means one
copy of each layer per range: a copy of the tree (`cp -a`) and an lchown of every entry.
Idmapped mounts leave the files as they are and map them per mount: one open_tree +
mount_setattr per layer, and the overlay made over them. The tree stands in for an
image layer (the default: Debian's python3 dist-packages, ~3,500 entries, 50 MB).

Prints the medians of the rounds (the per-spawn operations are timed REPEAT times in
each): copy, chown, idmap of one layer, and an overlay of that layer made with and
without idmapped layers (image_root.detached), then the ratio of chown (+copy) to
idmapping, and how many spawns the idmapping costs add up to one copy and chown.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stackrun.runtime import image_root, linux
from stackrun.runtime.spawn import ForkServer
from stackrun.runtime.userns import idmap
from stackrun.runtime.userns.idmap import IdMap

IDS = IdMap(2**30, 2**30)
REPEAT = 20  # the per-spawn operations are short: each is timed this many times


def chown_tree(root: Path, shift: int) -> int:
    """lchown every entry to its ids + shift (what a per-range copy needs); entries."""
    count = 0
    for directory, names, files in os.walk(root):
        for name in (*names, *files):
            path = os.path.join(directory, name)
            info = os.lstat(path)
            os.lchown(path, info.st_uid + shift, info.st_gid + shift)
            count += 1
    return count


def idmap_once(tree: Path, userns: int) -> None:
    fd = os.open(tree, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        clone = linux.clone_mount(fd, recursive=False)
        linux.idmap_mount(clone, userns)
        os.close(clone)
    finally:
        os.close(fd)


def overlay_ms(layer: Path, work: Path, mapping) -> float:
    """The median of REPEAT overlays made and dropped, each on a fresh writable layer."""
    times = []
    for _ in range(REPEAT):
        for name in ("upper", "work", "merged"):
            shutil.rmtree(work / name, ignore_errors=True)
            (work / name).mkdir()
        root = image_root.ImageRoot(
            (str(layer),), str(work / "upper"), str(work / "work"), str(work / "merged")
        )
        began = time.perf_counter()
        os.close(image_root.detached(root, mapping))
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def idmap_ms(tree: Path, userns: int) -> float:
    times = []
    for _ in range(REPEAT):
        began = time.perf_counter()
        idmap_once(tree, userns)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def one_round(source: Path, scratch: Path, userns: int) -> dict[str, float]:
    copy = scratch / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    began = time.perf_counter()
    subprocess.run(["cp", "-a", str(source), str(copy)], check=True)
    copied = time.perf_counter()
    entries = chown_tree(copy, IDS.uid)
    chowned = time.perf_counter()
    mapping = image_root.Mapping(IDS, userns)
    plain, idmapped = overlay_ms(copy, scratch, None), overlay_ms(copy, scratch, mapping)
    return {
        "entries": entries,
        "copy": (copied - began) * 1000,
        "chown": (chowned - copied) * 1000,
        "idmap": idmap_ms(copy, userns),
        "overlay": plain,
        "overlay_idmapped": idmapped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default="/usr/lib/python3/dist-packages")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    server = ForkServer.start()
    scratch = Path(tempfile.mkdtemp(prefix="stackrun-bench-", dir="/var/tmp"))
    try:
        userns = server.userns_for(idmap.canonical(IDS))
        rounds = [one_round(Path(options.tree), scratch, userns) for _ in range(options.rounds)]
    finally:
        server.close()
        shutil.rmtree(scratch, ignore_errors=True)
    m = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    print(f"tree {options.tree}: {m['entries']:.0f} entries, {options.rounds} rounds (medians)")
    print(
        f"  chown once: copy {m['copy']:8.2f} ms + lchown {m['chown']:8.2f} ms, per layer and range"
    )
    print(f"  idmapped:   open_tree + mount_setattr {m['idmap']:6.3f} ms, per layer and spawn")
    print(
        f"  overlay of the layer: {m['overlay']:.3f} ms plain, "
        f"{m['overlay_idmapped']:.3f} ms idmapped ({m['overlay_idmapped'] - m['overlay']:+.3f} ms)"
    )
    print(
        f"  chown alone is {m['chown'] / m['idmap']:.0f}x an idmapping, copy + chown "
        f"{(m['copy'] + m['chown']) / m['idmap']:.0f}x; spawns before chown pays off: "
        f"{(m['copy'] + m['chown']) / max(m['overlay_idmapped'] - m['overlay'], 1e-3):.0f}"
    )


if __name__ == "__main__":
    main()
