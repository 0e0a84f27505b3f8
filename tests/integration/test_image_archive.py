"""`stackrun load`, `save`, `images`, `rmi` and `image prune` through the CLI of this
checkout: docker save archives (made by skopeo) and OCI layouts (a tar, a directory,
stdin, compressed), multi-platform indexes, round trips that other tools accept, and bad
archives refused in one line with nothing stored."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stackrun.images.store import Store
from tests.conftest import REPO
from tests.helpers.imagestore import check_store, oci_archive, tree
from tests.helpers.oci import (
    File,
    Image,
    Layer,
    Opaque,
    Whiteout,
    busybox_layer,
    docker_archive,
    index,
    write_layout,
)

NAME = "localhost:5000/test/motd:v1"


class Cli:
    def __init__(self, data: Path, run: Path):
        self.data, self.run_root = data, run
        self.env = {**os.environ, "STACKRUN_DATA_DIR": str(data), "STACKRUN_RUN_DIR": str(run),
                    "PYTHONPATH": str(REPO)}  # fmt: skip

    def __call__(self, *args: str, stdin: bytes | None = None, ok: bool = True):
        done = subprocess.run(
            [sys.executable, "-m", "stackrun", *args], input=stdin, capture_output=True,
            env=self.env, timeout=120, check=False,
        )  # fmt: skip
        if ok:
            assert done.returncode == 0, done.stderr.decode()
        return done

    @property
    def store(self) -> Path:
        return self.data / "_images"

    def stored(self) -> dict[str, list[str]]:
        """What the store holds for good: blobs, layers, records, and session leftovers."""
        found = {}
        for part in ("blobs/sha256", "layers", "records", "l", "tmp"):
            path = self.store / part
            found[part] = sorted(os.listdir(path)) if path.exists() else []
        return found


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path / "data", tmp_path / "run")


def motd_image(text: bytes = b"hello\n", compression: str | None = "gzip") -> Image:
    app = Layer([File("etc/motd", text), Whiteout("tmp"), Opaque("var")], compression)
    return Image([busybox_layer(), app], cmd=("cat", "/etc/motd"))


def annotate(layout: Path, name: str) -> None:
    """Name the layout's only image with a full reference, as Docker and podman do."""
    document = json.loads((layout / "index.json").read_text())
    document["manifests"][0]["annotations"] = {"io.containerd.image.name": name}
    (layout / "index.json").write_text(json.dumps(document))


def test_a_docker_save_archive_loads_and_lists(cli, tmp_path):
    write_layout(tmp_path / "oci", {"v1": motd_image()})
    docker_archive(tmp_path / "oci", "v1", tmp_path / "image.tar", NAME)
    done = cli("load", "-i", str(tmp_path / "image.tar"))
    assert done.stdout.decode() == f"Loaded image: {NAME}\n"
    listed = cli("images").stdout.decode().splitlines()
    assert listed[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert listed[1].split()[:2] == ["localhost:5000/test/motd", "v1"]
    record = Store(cli.store).image(NAME)
    assert record is not None and len(record.layers) == 2
    assert Path(record.layers[1].path, "etc/motd").read_bytes() == b"hello\n"
    assert cli("images", "-q").stdout.decode() == f"{record.id[7:19]}\n"
    row = json.loads(cli("images", "--format", "json").stdout)
    assert (row["Repository"], row["Tag"], row["ID"]) == (
        "localhost:5000/test/motd",
        "v1",
        record.id[7:19],
    )
    assert check_store(cli.store) == []


@pytest.mark.parametrize("form", ["tar", "directory", "stdin", "gzip"])
def test_an_oci_layout_loads_from_a_tar_a_directory_stdin_or_compressed(cli, tmp_path, form):
    layout = tmp_path / "oci"
    write_layout(layout, {"v1": motd_image(compression="zstd")})
    annotate(layout, NAME)
    archive = oci_archive(layout, tmp_path / "image.tar")
    if form == "gzip":
        archive.with_suffix(".tgz").write_bytes(gzip.compress(archive.read_bytes()))
    source = {
        "tar": archive,
        "directory": layout,
        "stdin": Path("-"),
        "gzip": archive.with_suffix(".tgz"),
    }
    stdin = archive.read_bytes() if form == "stdin" else None
    assert (
        cli("load", "-i", str(source[form]), stdin=stdin).stdout.decode()
        == f"Loaded image: {NAME}\n"
    )
    assert Store(cli.store).image(NAME) is not None
    assert cli.stored()["tmp"] == []


def test_a_multi_platform_index_loads_the_host_platform_or_the_one_asked(cli, tmp_path):
    amd, arm = motd_image(b"amd64\n"), motd_image(b"arm64\n")
    arm.architecture = "arm64"
    layout = tmp_path / "oci"
    write_layout(layout, {"v1": index([amd, arm])})
    annotate(layout, NAME)
    cli("load", "-i", str(layout))
    record = Store(cli.store).image(NAME)
    assert Path(record.layers[1].path, "etc/motd").read_bytes() == b"amd64\n"
    cli("load", "-i", str(layout), "--platform", "linux/arm64")
    record = Store(cli.store).image(NAME)
    assert Path(record.layers[1].path, "etc/motd").read_bytes() == b"arm64\n"
    done = cli("load", "-i", str(layout), "--platform", "linux/s390x", ok=False)
    assert "no image for linux/s390x (it has: linux/amd64, linux/arm64)" in done.stderr.decode()


def test_save_writes_an_archive_skopeo_verifies_and_load_reads_back(cli, tmp_path):
    write_layout(tmp_path / "oci", {"v1": motd_image()})
    docker_archive(tmp_path / "oci", "v1", tmp_path / "image.tar", NAME)
    cli("load", "-i", str(tmp_path / "image.tar"))
    before = Store(cli.store).image(NAME)
    cli("save", "-o", str(tmp_path / "saved.tar"), NAME)
    for transport in ("docker-archive", "oci-archive"):  # skopeo checks every digest it copies
        copy = [
            "skopeo",
            "copy",
            "--quiet",
            f"{transport}:{tmp_path}/saved.tar",
            f"oci:{tmp_path}/{transport}:x",
        ]
        subprocess.run(copy, check=True, capture_output=True, timeout=60)
    other = Cli(tmp_path / "data2", tmp_path / "run")
    piped = cli("save", NAME).stdout
    assert other("load", stdin=piped).stdout.decode() == f"Loaded image: {NAME}\n"
    after = Store(other.store).image(NAME)
    assert after.id == before.id
    assert [content(layer.path) for layer in after.layers] == [
        content(layer.path) for layer in before.layers
    ]


def content(path: str) -> dict:
    """A layer's tree but directories' times (those the tar does not name are the time
    it was unpacked)."""
    return tree(path, dir_times=False)


def test_rmi_and_prune_through_the_cli(cli, tmp_path):
    write_layout(tmp_path / "oci", {"v1": motd_image()})
    docker_archive(tmp_path / "oci", "v1", tmp_path / "image.tar", NAME)
    cli("load", "-i", str(tmp_path / "image.tar"))
    record = Store(cli.store).image(NAME)
    (cli.run_root / "web").mkdir(parents=True)
    (cli.run_root / "web" / "state.json").write_text(json.dumps({"images": [record.id]}))
    done = cli("rmi", NAME, ok=False)
    assert done.stderr.decode().strip() == (
        f"stackrun: image {NAME} ({record.id[7:19]}) is in use by project web: "
        "take it down first (stackrun -p PROJECT down)"
    )
    assert "Total reclaimed space: 0B" in cli("image", "prune", "-a", "-f").stdout.decode()
    shutil.rmtree(cli.run_root / "web")
    asked = cli("image", "prune", "-a", stdin=b"n\n").stdout.decode()
    assert asked.startswith("WARNING! This will remove all images without at least one project")
    assert Store(cli.store).image(NAME) is not None  # the answer was no
    (cli.run_root / "web").mkdir(parents=True)
    (cli.run_root / "web" / "state.json").write_text(json.dumps({"images": [record.id]}))
    shutil.rmtree(cli.run_root / "web")
    done = cli("rmi", NAME)
    assert done.stdout.decode().splitlines() == [f"Untagged: {NAME}", f"Deleted: {record.id}"]
    assert cli.stored() == {"blobs/sha256": [], "layers": [], "records": [], "l": [], "tmp": []}
    assert cli("rmi", NAME, ok=False).stderr.decode() == f"stackrun: no such image: {NAME}\n"


def bad_layouts(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Archives that are wrong in one way each -> (path, what the error must say)."""
    cases: dict[str, tuple[Path, str]] = {}

    def layout(name: str) -> tuple[Path, dict, Path]:
        root = tmp_path / name
        write_layout(root, {"v1": motd_image()})
        annotate(root, NAME)
        manifest_digest = json.loads((root / "index.json").read_text())["manifests"][0]["digest"]
        manifest = json.loads((root / "blobs/sha256" / manifest_digest[7:]).read_text())
        return root, manifest, root / "blobs/sha256"

    root, manifest, blobs = layout("tampered")
    layer = manifest["layers"][1]["digest"][7:]
    (blobs / layer).write_bytes(b"\x1f\x8b" + (blobs / layer).read_bytes()[2:-1] + b"!")
    cases["tampered"] = (root, f"member blobs/sha256/{layer}: its content has digest sha256:")
    root, manifest, blobs = layout("missing")
    (blobs / manifest["layers"][0]["digest"][7:]).unlink()
    cases["missing"] = (root, f"member blobs/sha256/{manifest['layers'][0]['digest'][7:]}: missing")
    root, manifest, blobs = layout("diffid")
    config = json.loads((blobs / manifest["config"]["digest"][7:]).read_text())
    config["rootfs"]["diff_ids"][1] = "sha256:" + "0" * 64
    data = json.dumps(config).encode()
    cases["diffid"] = (
        _replace_config(root, blobs, manifest, data),
        "the image config says sha256:0000",
    )
    root, _, _ = layout("notjson")
    (root / "index.json").write_text("{not json")
    cases["notjson"] = (root, "member index.json: not JSON")
    (tmp_path / "garbage.tar").write_bytes(b"this is not a tar archive at all" * 40)
    cases["garbage"] = (tmp_path / "garbage.tar", "not a readable tar archive")
    whole = oci_archive(layout("truncated")[0], tmp_path / "whole.tar").read_bytes()
    (tmp_path / "truncated.tar").write_bytes(whole[: len(whole) // 2])
    cases["truncated"] = (tmp_path / "truncated.tar", "not a readable tar archive")
    (tmp_path / "empty").mkdir()
    cases["not-a-layout"] = (tmp_path / "empty", "neither a docker save archive")
    return cases


def _replace_config(root: Path, blobs: Path, manifest: dict, data: bytes) -> Path:
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    manifest["config"] = {**manifest["config"], "digest": f"sha256:{digest}", "size": len(data)}
    manifest_data = json.dumps(manifest).encode()
    manifest_digest = hashlib.sha256(manifest_data).hexdigest()
    (blobs / manifest_digest).write_bytes(manifest_data)
    document = json.loads((root / "index.json").read_text())
    document["manifests"][0].update(digest=f"sha256:{manifest_digest}", size=len(manifest_data))
    (root / "index.json").write_text(json.dumps(document))
    return root


@pytest.mark.parametrize(
    "case", ["tampered", "missing", "diffid", "notjson", "garbage", "truncated", "not-a-layout"]
)
def test_a_bad_archive_is_refused_in_one_line_and_nothing_is_stored(cli, tmp_path, case):
    path, message = bad_layouts(tmp_path)[case]
    done = cli("load", "-i", str(path), ok=False)
    error = done.stderr.decode()
    assert done.returncode == 1 and error.count("\n") == 1, error
    assert error.startswith(f"stackrun: archive {path}") and message in error, error
    assert cli.stored() == {"blobs/sha256": [], "layers": [], "records": [], "l": [], "tmp": []}


def test_an_unpacked_docker_save_directory_with_linked_layers_loads(cli, tmp_path):
    """Old `docker save` archives link identical layers (<id>/layer.tar -> ../<other>/…)."""
    write_layout(tmp_path / "oci", {"v1": motd_image()})
    docker_archive(tmp_path / "oci", "v1", tmp_path / "image.tar", NAME)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "-xf", str(tmp_path / "image.tar"), "-C", str(unpacked)], check=True)
    manifest = json.loads((unpacked / "manifest.json").read_text())
    linked = []
    for number, layer in enumerate(manifest[0]["Layers"]):
        (unpacked / f"legacy{number}").mkdir()
        (unpacked / f"legacy{number}" / "layer.tar").symlink_to(f"../{layer}")
        linked.append(f"legacy{number}/layer.tar")
    manifest[0]["Layers"] = linked
    (unpacked / "manifest.json").write_text(json.dumps(manifest))
    cli("load", "-i", str(unpacked))
    retarred = tmp_path / "retarred.tar"
    subprocess.run(["tar", "-cf", str(retarred), "-C", str(unpacked), "."], check=True)
    other = Cli(tmp_path / "data2", tmp_path / "run")
    other("load", "-i", str(retarred))
    assert Store(cli.store).image(NAME).id == Store(other.store).image(NAME).id
