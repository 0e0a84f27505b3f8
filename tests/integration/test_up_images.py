"""`stackrun up` with `image:` services, as a user runs it: the image is in the host's
store (put there as a pull would), the CLI of this checkout starts the stack, and the
image's config, the overlay root, ps/inspect, the state file, exec, stop and down are
checked from outside. Every test ends with the project's leak check (no process, cgroup,
mount, writable layer or anonymous volume left).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from stackrun import dirs
from stackrun.images.store import Store
from tests.helpers import oci
from tests.helpers.imagestore import store_image
from tests.helpers.registry import Registry
from tests.helpers.stackcli import stack_project

IMAGE = "localhost:5000/test/app:1"
RUN = b"""#!/bin/sh
trap 'echo got-usr1; exit 0' USR1
echo "argv=$*"
echo "env=$GREETING/$MODE"
echo "pwd=$(pwd)"
echo "user=$(id -u):$(id -g)"
echo "motd=$(cat /etc/motd)"
touch /srv/data/ready
while :; do sleep 0.1; done
"""
MS = 1_000_000  # nanoseconds: the image config's unit


def app_image() -> oci.Image:
    files = oci.Layer(
        [
            oci.Dir("app"),
            oci.File("app/run.sh", RUN, mode=0o755),
            oci.File("etc/motd", b"from the image"),
            oci.Dir("tmp", mode=0o1777),
            oci.File("tmp/shipped", b"in the image's /tmp\n"),
            oci.Dir("srv"),
            oci.Dir("srv/data", uid=1000, gid=1000),
            oci.File("srv/data/seed", b"seed\n", uid=1000),
        ]
    )
    return oci.Image(
        [oci.busybox_layer(), files],
        entrypoint=("/app/run.sh",),
        cmd=("default-arg",),
        env=("PATH=/bin", "GREETING=hello", "MODE=image"),
        working_dir="/app",
        user="app",
        extra_config={
            "StopSignal": "SIGUSR1",
            "Healthcheck": {"Test": ["CMD-SHELL", "test -e /srv/data/ready"], "Interval": 100 * MS},
            "Labels": {"vendor": "tests"},
            "ExposedPorts": {"8080/tcp": {}},
            "Volumes": {"/srv/data": {}},
        },
    )


STACK = f"""services:
  app:
    image: {IMAGE}
  custom:
    image: {IMAGE}
    command: [custom-arg]
    environment: {{MODE: service}}
    user: "0"
    working_dir: /srv
    healthcheck: {{disable: true}}
    stop_signal: SIGKILL
    volumes: [shared:/srv/data]
    labels: {{vendor: me}}
volumes:
  shared: {{}}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with stack_project("images") as stack:
        with Store(dirs.image_root()) as store:
            record = store_image(store, app_image(), IMAGE, tmp_path_factory.mktemp("oci"))
        stack.write(STACK)
        done = stack.run("up", "-d", "--wait", "--wait-timeout", "30")
        assert done.returncode == 0, done.stderr
        stack.record = record
        yield stack


def named(stack, service: str) -> str:
    """The instance name of the service's only replica."""
    return f"{stack.project.name}-{service}-1"


def lines_of(stack, service: str) -> list[str]:
    return [line["line"] for line in stack.log(service)]


def test_the_images_config_applies_under_the_services_keys(stack):
    stack.wait(lambda s: len(lines_of(stack, "custom")) >= 5)
    assert lines_of(stack, "app")[:5] == [
        "argv=default-arg",
        "env=hello/image",
        "pwd=/app",
        "user=1000:1000",
        "motd=from the image",
    ]
    assert lines_of(stack, "custom")[:4] == [
        "argv=custom-arg",  # command: replaced CMD, not ENTRYPOINT
        "env=hello/service",
        "pwd=/srv",
        "user=0:0",
    ]
    statuses = stack.statuses()
    assert statuses[named(stack, "app")].health == "healthy"  # the image's HEALTHCHECK
    assert statuses[named(stack, "custom")].health == ""  # disabled by the service


def test_ps_inspect_and_the_state_file_name_the_image(stack):
    record = stack.record
    rows = [json.loads(line) for line in stack.run("ps", "--format", "json").stdout.splitlines()]
    assert {(r["Name"], r["Image"], r["ImageID"]) for r in rows} == {
        (named(stack, "app"), IMAGE, record.id),
        (named(stack, "custom"), IMAGE, record.id),
    }
    assert rows[0]["ImageDigest"] == record.repo_digests[0]
    table = stack.run("ps").stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "IMAGE", "SERVICE"] and IMAGE in table[1]
    document = json.loads(stack.run("inspect", "--format", "json", "app").stdout)[0]
    assert (document["Image"], document["Config"]["Image"]) == (record.id, IMAGE)
    assert document["ImageDigest"] == record.repo_digests[0]
    assert document["Config"]["ExposedPorts"] == ["8080/tcp"]
    assert document["Config"]["StopSignal"] == 10  # SIGUSR1, from the image
    assert document["GraphDriver"]["Data"]["LowerDir"].split(":") == [
        layer.path for layer in reversed(record.layers)
    ]
    pretty = stack.run("inspect", "custom").stdout
    assert f"Image       {IMAGE} ({record.id})" in pretty
    state = json.loads(dirs.state_file(stack.project.name).read_text())
    assert state["images"] == [record.id]


def test_exec_runs_inside_the_image_root(stack):
    done = stack.run("exec", "-T", "app", "sh", "-c", "cat /etc/motd; id -u; pwd")
    assert (done.returncode, done.stdout) == (0, "from the image1000\n/app\n"), done.stderr


def test_an_image_keeps_its_own_tmp_in_the_writable_layer(stack):
    """As in Docker: what the image ships in /tmp is there, and writes go to the layer."""
    done = stack.run("exec", "-T", "app", "sh", "-c", "cat /tmp/shipped; echo w > /tmp/new")
    assert (done.returncode, done.stdout) == (0, "in the image's /tmp\n"), done.stderr
    mounts = stack.run("exec", "-T", "app", "cut", "-d", " ", "-f5", "/proc/self/mountinfo")
    assert "/tmp" not in mounts.stdout.split()


def test_volumes_take_the_images_content_and_writes_stay_in_the_instance(stack):
    shared = dirs.volumes_dir(stack.project.name) / "shared"
    assert sorted(os.listdir(shared)) == ["ready", "seed"]  # copied up, then written to
    assert shared.stat().st_uid == 1000
    anonymous = dirs.anonymous_volumes_dir(stack.project.name) / "app-1"
    (volume,) = anonymous.iterdir()
    assert sorted(os.listdir(volume)) == ["ready", "seed"]
    done = stack.run("exec", "-T", "custom", "sh", "-c", "echo changed > /etc/motd")
    assert done.returncode == 0, done.stderr
    upper = dirs.layers_dir(stack.project.name) / named(stack, "custom") / "upper"
    assert (upper / "etc" / "motd").read_text() == "changed\n"
    layer = Path(stack.record.layers[1].path)
    assert (layer / "etc" / "motd").read_text() == "from the image"  # pristine


def test_up_recreates_a_changed_service_on_a_fresh_writable_layer(stack):
    upper = dirs.layers_dir(stack.project.name) / named(stack, "custom") / "upper"
    assert (upper / "etc" / "motd").exists()  # written by the test above
    stack.write(STACK.replace("{MODE: service}", "{MODE: changed}"))
    done = stack.run("up", "-d", "--wait", "--wait-timeout", "30")
    assert done.returncode == 0, done.stderr
    stack.wait(lambda s: s[named(stack, "custom")].state == "running")
    done = stack.run("exec", "-T", "custom", "sh", "-c", "cat /etc/motd; echo $MODE")
    assert done.stdout == "from the imagechanged\n", done.stderr  # the image: no newline
    assert not (upper / "etc" / "motd").exists()
    assert stack.statuses()[named(stack, "app")].restart_count == 0  # unchanged: left running


def test_stop_uses_the_images_stop_signal(stack):
    done = stack.run("stop", "-t", "10", "app")
    assert done.returncode == 0, done.stderr
    assert "got-usr1" in lines_of(stack, "app")
    assert stack.statuses()[named(stack, "app")].exit_code == 0


def test_down_keeps_named_volumes_only(stack):
    done = stack.down("-t", "1")
    assert done.returncode == 0, done.stderr
    assert not dirs.layers_dir(stack.project.name).exists()
    assert not dirs.anonymous_volumes_dir(stack.project.name).exists()
    assert (dirs.volumes_dir(stack.project.name) / "shared" / "ready").exists()
    with Store(dirs.image_root()) as store:
        assert store.image(IMAGE) == stack.record  # the image stays in the store


def test_an_image_missing_from_the_store_starts_nothing(tmp_path):
    with stack_project("noimage") as stack:
        stack.write(
            "services:\n  db:\n    image: localhost:5000/nothing:1\n    pull_policy: never\n  web:\n    command: [sleep, '100']\n"
        )
        done = stack.run("up", "-d")
        assert done.returncode == 1
        assert done.stderr.splitlines() == [
            (
                "stackrun: db: image localhost:5000/nothing:1: not in the image store and "
                "pull_policy is never; pull it with `stackrun pull db` or load it with "
                "`stackrun load -i FILE`"
            )
        ]
        assert not dirs.run_dir(stack.project.name).exists()


# ---------------------------------------------------------------- pulling


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A real registry on 127.0.0.1 holding the app image as `test/app:1`."""
    with Registry(tmp_path_factory.mktemp("registry")) as registry:
        layout = tmp_path_factory.mktemp("layout")
        oci.write_layout(layout, {"v1": app_image()})
        oci.push(layout, "v1", f"{registry.host}/test/app:1")
        yield registry


def pulling_stack(registry, policy: str = "") -> str:
    line = f"    pull_policy: {policy}\n" if policy else ""
    return f"services:\n  app:\n    image: {registry.host}/test/app:1\n{line}"


def test_up_pulls_a_missing_image_then_runs_it_without_the_registry(registry, tmp_path):
    with stack_project("pull") as stack:
        stack.write(pulling_stack(registry))
        done = stack.run("up", "-d", "--wait", "--wait-timeout", "30")
        assert done.returncode == 0, done.stderr
        assert "Pulled" in done.stdout  # Compose's progress, one line per step off a terminal
        assert stack.statuses()[named(stack, "app")].health == "healthy"
        assert stack.down("-t", "1").returncode == 0
        with Store(dirs.image_root()) as store:
            assert store.image(f"{registry.host}/test/app:1") is not None
        registry.process.send_signal(signal.SIGSTOP)  # unreachable: `missing` does not ask
        try:
            done = stack.run("up", "-d", timeout=30)
        finally:
            registry.process.send_signal(signal.SIGCONT)
        assert done.returncode == 0, done.stderr
        assert "Pull" not in done.stdout


def test_a_pull_that_fails_names_the_service_and_starts_nothing(registry, tmp_path):
    with stack_project("pullfail") as stack:
        stack.write(
            pulling_stack(registry).replace("app:1", "app:nope")
            + "  web:\n    command: [sleep, '100']\n"
        )
        done = stack.run("up", "-d", "--quiet-pull")
        assert done.returncode == 1
        assert done.stderr.startswith(f"stackrun: app: image {registry.host}/test/app:nope: ")
        assert len(done.stderr.splitlines()) == 1 and done.stdout == ""
        assert not dirs.run_dir(stack.project.name).exists()


def test_up_pull_always_asks_the_registry_again(tmp_path):
    with stack_project("pullalways") as stack, Registry(tmp_path / "registry") as registry:
        oci.write_layout(tmp_path / "layout", {"v1": app_image()})
        oci.push(tmp_path / "layout", "v1", f"{registry.host}/test/app:1")
        stack.write(pulling_stack(registry, "never"))
        assert stack.run("up", "-d").returncode == 1  # never: the store lacks it
        done = stack.run("up", "-d", "--pull", "always", "--quiet-pull")
        assert (done.returncode, done.stdout) == (0, ""), done.stderr
        assert stack.down("-t", "1").returncode == 0
        registry.__exit__()  # gone: `always` must ask it, and fail
        done = stack.run("up", "-d", "--pull", "always", timeout=120)
        assert done.returncode == 1 and done.stderr.startswith("stackrun: app: image ")
        assert not dirs.run_dir(stack.project.name).exists()
        assert stack.run("up", "-d", "--pull", "missing").returncode == 0  # it is stored
