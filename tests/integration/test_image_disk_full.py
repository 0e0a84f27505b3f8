"""A full disk while a blob is written or a layer unpacked: one line that says so, and
nothing half-written left in the store. The store lives on a small tmpfs mounted in a
private mount namespace (`unshare -m`), so nothing outlives the test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.helpers.imagestore import random_layer
from tests.helpers.oci import File, Image, Layer, docker_archive, write_layout

NAME = "localhost:5000/test/big:v1"


def on_small_disk(tmp_path: Path, size: str, command: str) -> tuple[str, list[str]]:
    """Run `command` (a shell line; $PY is this Python) with STACKRUN_DATA_DIR on a tmpfs
    of `size`; returns its stderr and the files the store holds afterwards."""
    data = tmp_path / "small"
    data.mkdir()
    script = (
        f"mount -t tmpfs -o size={size} tmpfs {data} && {command} 2>{tmp_path}/err;"
        f" cd {data}/_images && find . -type f | sort"
    )
    env = {**os.environ, "STACKRUN_DATA_DIR": str(data), "PYTHONPATH": str(REPO),
           "STACKRUN_RUN_DIR": str(tmp_path / "run"), "PY": sys.executable}  # fmt: skip
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return (tmp_path / "err").read_text(), done.stdout.split()


def archive(tmp_path: Path, layer: Layer) -> Path:
    write_layout(tmp_path / "oci", {"v1": Image([layer])})
    docker_archive(tmp_path / "oci", "v1", tmp_path / "image.tar", NAME)
    return tmp_path / "image.tar"


def test_a_full_disk_while_loading_an_archive(tmp_path):
    path = archive(tmp_path, random_layer(6, 1 << 20, seed=1))
    error, files = on_small_disk(tmp_path, "4m", f"$PY -m stackrun load -i {path}")
    assert error.count("\n") == 1 and error.startswith(f"stackrun: archive {path}: member ")
    assert "no space left on the device of" in error and "(ENOSPC)" in error
    assert files == ["./lock"]


def test_a_full_disk_while_unpacking_a_layer(tmp_path):
    layer = Layer([File("zeros", bytes(24 << 20))], "gzip")  # a blob of ~24 KiB
    write_layout(tmp_path / "oci", {"v1": Image([layer])})  # an OCI layout keeps it gzip
    path = tmp_path / "oci"
    error, files = on_small_disk(tmp_path, "8m", f"$PY -m stackrun load -i {path}")
    assert error.count("\n") == 1 and error.startswith(f"stackrun: archive {path}: member blobs/")
    assert "unpacking layer sha256:" in error and ": zeros: no space left on the device" in error
    assert files == ["./lock"]


def test_a_full_disk_while_a_blob_streams_in(tmp_path):
    writer = (
        "import hashlib, os\n"
        "from stackrun.images.store import Store\n"
        "from stackrun.errors import ImageError\n"
        "data = os.urandom(6 << 20)\n"
        "with Store() as store:\n"
        "    try:\n"
        "        with store.blob_writer('sha256:' + hashlib.sha256(data).hexdigest(), len(data)) as w:\n"
        "            for i in range(0, len(data), 1 << 16):\n"
        "                w.write(data[i:i + (1 << 16)])\n"
        "    except ImageError as error:\n"
        "        raise SystemExit(str(error))\n"
    )
    (tmp_path / "writer.py").write_text(writer)
    error, files = on_small_disk(tmp_path, "4m", f"$PY {tmp_path}/writer.py")
    assert error.startswith("writing blob sha256:") and "(ENOSPC)" in error, error
    assert files == ["./lock"]
