"""pull: a real registry (docker-registry on 127.0.0.1) into the real Store, and the
`pull`, `login` and `logout` verbs."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import anyio
import pytest

from stackrun.errors import ImageError
from stackrun.images import progress
from stackrun.images.model import Platform
from stackrun.images.pull import PullOptions, chain_ids, pull
from stackrun.images.reference import parse_reference
from stackrun.images.registry.credentials import Credential
from stackrun.images.registry.transport import Policy
from stackrun.images.store import Store
from tests.helpers.oci import (
    Dir,
    File,
    Image,
    Layer,
    Opaque,
    Whiteout,
    busybox_layer,
    index,
    push,
    write_layout,
)
from tests.helpers.registry import Proxy, Registry, TokenServer, auth_file

FAST = PullOptions(policy=Policy(retries=2, backoff=0.01, timeout=10), lookup=lambda r: None)


def layered() -> Image:
    """Several layers, gzip, zstd and plain, with a whiteout and an opaque directory."""
    return Image(
        [
            busybox_layer("gzip"),
            Layer(
                [
                    Dir("etc/app"),
                    File("etc/app/a.conf", b"a\n"),
                    File("etc/app/b.conf", b"b\n"),
                    File("old.txt", b"old\n"),
                ],
                "zstd",
            ),
            Layer([Whiteout("old.txt"), Opaque("etc/app"), File("etc/app/c.conf", b"c\n")], None),
            Layer([File("etc/motd", b"pulled\n")], "gzip"),
        ],
        cmd=("cat", "/etc/motd"),
    )


def platforms() -> list:
    amd = Image([busybox_layer(), Layer([File("arch", b"amd64\n")])], architecture="amd64")
    arm = Image([busybox_layer(), Layer([File("arch", b"arm64\n")])], architecture="arm64",
                variant="v8")  # fmt: skip
    return index([amd, arm])


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    layout = tmp_path_factory.mktemp("layout")
    digests = write_layout(layout, {"layered": layered(), "multi": platforms()})
    with Registry(tmp_path_factory.mktemp("registry")) as registry:
        push(layout, "layered", f"{registry.host}/test/layered:v1")
        push(layout, "multi", f"{registry.host}/test/multi:v1", multi=True)
        registry.digests = digests  # type: ignore[attr-defined]
        yield registry


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "images") as store:
        yield store


def pulled(reference: str, store, options: PullOptions = FAST, events=None):
    listener = events.append if events is not None else progress.ignore
    return anyio.run(pull, parse_reference(reference), store, listener, options)


def test_pull_of_several_layers_into_the_store(registry, store):
    events: list[progress.Event] = []
    before = time.time()
    record = pulled(f"{registry.host}/test/layered:v1", store, events=events)
    assert before <= store.pulled(f"{registry.host}/test/layered:v1") <= time.time()
    assert record.config.cmd == ("cat", "/etc/motd")
    assert len(record.layers) == 4
    assert store.image(f"{registry.host}/test/layered:v1").id == record.id
    assert store.has_blob(record.id)
    top = record.layers[-1]
    assert Path(top.path, "etc/motd").read_text() == "pulled\n"
    diff_ids = [layer.diff_id for layer in record.layers]
    assert [layer.chain_id for layer in record.layers] == chain_ids(diff_ids)
    for layer in {e.layer for e in events if e.layer}:
        states = [e.state for e in events if e.layer == layer]
        assert states[0] == progress.WAITING and states[-1] == progress.DONE
        assert progress.DOWNLOADING in states and progress.EXTRACTING in states
    assert events[-1].state == progress.PULLED
    assert events[-1].detail == registry.digests["layered"]


def test_a_second_pull_downloads_no_layer_again(registry, store):
    pulled(f"{registry.host}/test/layered:v1", store)
    with Proxy(registry.url) as proxy:
        events: list[progress.Event] = []
        pulled(f"{proxy.host}/test/layered:v1", store, events=events)
        blob_reads = [s.path for s in proxy.seen if "/blobs/" in s.path]
        assert blob_reads == [p for p in blob_reads if p.endswith(events[0].layer)]  # config only
        assert len(blob_reads) <= 1
        finals = [e.state for e in events if e.layer and e.state != progress.WAITING]
        assert finals and set(finals) == {progress.EXISTS}


def test_multi_platform_index_picks_the_platform(registry, store):
    amd = pulled(f"{registry.host}/test/multi:v1", store,
                 PullOptions(Platform("linux", "amd64"), FAST.policy, FAST.lookup))  # fmt: skip
    arm = pulled(f"{registry.host}/test/multi:v1", store,
                 PullOptions(Platform("linux", "arm64"), FAST.policy, FAST.lookup))  # fmt: skip
    assert amd.config.architecture == "amd64" and arm.config.architecture == "arm64"
    assert Path(arm.layers[-1].path, "arch").read_text() == "arm64\n"
    assert f"{registry.host}/test/multi@{registry.digests['multi']}" in arm.repo_digests
    with pytest.raises(ImageError, match=r"no manifest for platform linux/s390x \(the image offers: "
                       r"linux/amd64, linux/arm64/v8\)"):  # fmt: skip
        pulled(f"{registry.host}/test/multi:v1", store,
               PullOptions(Platform("linux", "s390x"), FAST.policy, FAST.lookup))  # fmt: skip


def test_pull_by_digest_and_an_unknown_digest(registry, store):
    digest = registry.digests["layered"]
    record = pulled(f"{registry.host}/test/layered@{digest}", store)
    assert len(record.layers) == 4
    with pytest.raises(ImageError, match=f"manifest sha256:{'0' * 64} not found"):
        pulled(f"{registry.host}/test/layered@sha256:{'0' * 64}", store)


def test_a_blob_tampered_with_on_the_registrys_disk_is_refused(tmp_path, store):
    layout = tmp_path / "layout"
    image = Image([busybox_layer(), Layer([File("secret", b"the real content\n" * 100)])])
    write_layout(layout, {"v1": image})
    manifest = json.loads(next(
        p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir()
        if b'"layers"' in p.read_bytes()
    ))  # fmt: skip
    victim = manifest["layers"][1]["digest"]
    with Registry(tmp_path / "registry") as registry:
        reference = f"{registry.host}/test/tampered:v1"
        push(layout, "v1", reference)
        data = bytearray(registry.blob_file(victim).read_bytes())
        data[len(data) // 2] ^= 0xFF  # same size, one byte changed
        registry.blob_file(victim).write_bytes(bytes(data))
        words = f"test/tampered:v1: blob {victim}: the content's digest is sha256:"
        with pytest.raises(ImageError, match=words):
            pulled(reference, store)
    assert store.image(reference) is None
    assert not store.has_blob(victim)


def test_pull_with_token_auth_and_credentials_from_config_json(tmp_path, store, monkeypatch):
    layout = tmp_path / "layout"
    write_layout(layout, {"v1": Image([busybox_layer()])})
    tokens = TokenServer(users={"ann": "pw"})
    with tokens, Registry(tmp_path / "registry", tokens=tokens) as registry:
        reference = f"{registry.host}/private/app:v1"
        push(layout, "v1", reference,
             REGISTRY_AUTH_FILE=str(auth_file(tmp_path, registry.host, "ann", "pw")))  # fmt: skip
        with pytest.raises(ImageError, match=r"private/app:v1: access to .* denied"):
            pulled(reference, store)
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
        from stackrun.images.registry import credentials

        credentials.save(registry.host, Credential("ann", "pw"))
        options = PullOptions(policy=FAST.policy)  # credentials.lookup
        assert pulled(reference, store, options).layers


# ---------------------------------------------------------------- the CLI


def cli(project, *args, stdin: str | None = None, **env):
    return subprocess.run(project.cli(*args), capture_output=True, text=True, input=stdin,
                          env=project.env(**env), cwd=project.data_root.parent, timeout=120,
                          check=False)  # fmt: skip


def test_cli_pull_prints_compose_lines_and_quiet_prints_nothing(registry, project):
    done = cli(project, "pull", f"{registry.host}/test/layered:v1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{registry.host}/test/layered:v1 Pulling"
    assert lines[-1] == f"{registry.host}/test/layered:v1 Pulled"
    assert sum(line.endswith("Pull complete") for line in lines) == 4
    again = cli(project, "pull", "-q", f"{registry.host}/test/layered:v1")
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_cli_pull_of_services_names_service_and_image_in_errors(registry, project, tmp_path):
    stack = tmp_path / "stack.yaml"
    stack.write_text(json.dumps({"services": {
        "web": {"image": f"{registry.host}/test/layered:v1", "command": ["true"]},
        "db": {"image": f"{registry.host}/test/nothing:v1", "command": ["true"]},
    }}))  # fmt: skip
    done = cli(project, "-f", str(stack), "pull")
    assert done.returncode == 1
    assert (
        f"stackrun: db: image {registry.host}/test/nothing:v1: repository test/nothing does not exist"
        in done.stderr
    )
    assert "web Pulled" in done.stdout
    only = cli(project, "-f", str(stack), "pull", "web")
    assert only.returncode == 0, only.stderr
    unknown = cli(project, "-f", str(stack), "pull", "nope")
    assert unknown.returncode == 1 and "no such service: nope" in unknown.stderr


def test_cli_login_verifies_then_writes_config_and_logout_removes_it(tmp_path, project):
    with Registry(tmp_path / "registry", users={"ann": "pw"}) as registry:
        config = tmp_path / "docker" / "config.json"
        env = {"DOCKER_CONFIG": str(config.parent)}
        refused = cli(project, "login", "-u", "ann", "--password-stdin", registry.host,
                      stdin="wrong\n", **env)  # fmt: skip
        assert refused.returncode == 1 and "refused the credentials" in refused.stderr
        assert not config.exists()
        done = cli(project, "login", "-u", "ann", "--password-stdin", registry.host,
                   stdin="pw\n", **env)  # fmt: skip
        assert done.returncode == 0 and "Login Succeeded" in done.stdout
        assert oct(config.stat().st_mode & 0o777) == "0o600"
        assert registry.host in json.loads(config.read_text())["auths"]
        out = cli(project, "logout", registry.host, **env)
        assert out.stdout.strip() == f"Removing login credentials for {registry.host}"
        assert json.loads(config.read_text())["auths"] == {}
        again = cli(project, "logout", registry.host, **env)
        assert again.stdout.strip() == f"Not logged in to {registry.host}"


def test_docker_schema_2_manifest_and_manifest_list(tmp_path, store):
    """skopeo converts the OCI layout to Docker's media types (v2s2) as it pushes."""
    layout = tmp_path / "layout"
    write_layout(layout, {"one": Image([busybox_layer(), Layer([File("etc/motd", b"v2s2\n")])]),
                          "multi": platforms()})  # fmt: skip
    with Registry(tmp_path / "registry") as registry:
        for tag, extra in (("one", []), ("multi", ["--all"])):
            subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--format",
                            "v2s2", *extra, f"oci:{layout}:{tag}",
                            f"docker://{registry.host}/test/docker:{tag}"],
                           check=True, capture_output=True, timeout=120)  # fmt: skip
        with Proxy(registry.url) as proxy:
            record = pulled(f"{proxy.host}/test/docker:one", store)
            types = [s.headers.get("Accept", "") for s in proxy.seen if "/manifests/" in s.path]
        assert Path(record.layers[-1].path, "etc/motd").read_text() == "v2s2\n"
        assert types and all("manifest.v2+json" in accept for accept in types)
        manifest = store.blob_path(record.repo_digests[0].partition("@")[2]).read_text()
        assert (
            json.loads(manifest)["mediaType"]
            == "application/vnd.docker.distribution.manifest.v2+json"
        )
        arm = pulled(f"{registry.host}/test/docker:multi", store,
                     PullOptions(Platform("linux", "arm64"), FAST.policy, FAST.lookup))  # fmt: skip
        assert Path(arm.layers[-1].path, "arch").read_text() == "arm64\n"
