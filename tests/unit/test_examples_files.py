"""Static checks of the example stacks: what an editor and a reader rely on, and paths that
must exist. Whether each file is a valid stack is checked through `stackrun config`."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STACKS = sorted(EXAMPLES.glob("*/stack.yaml"))
SCHEMA_COMMENT = "# yaml-language-server: $schema=../../schemas/stack.schema.json"


def test_there_are_at_least_three_examples():
    assert {path.parent.name for path in STACKS} >= {"webapp", "jobs", "profiles"}


@pytest.mark.parametrize("stack", STACKS, ids=lambda path: path.parent.name)
def test_each_example_names_the_schema_and_has_a_readme(stack):
    assert stack.read_text().splitlines()[0] == SCHEMA_COMMENT
    assert (stack.parent / SCHEMA_COMMENT.split("=", 1)[1]).resolve() == (
        EXAMPLES.parent / "schemas" / "stack.schema.json"
    )
    assert (stack.parent / "README.md").is_file()


@pytest.mark.parametrize("stack", STACKS, ids=lambda path: path.parent.name)
def test_bind_sources_and_programs_exist(stack):
    services = yaml.safe_load(stack.read_text())["services"]
    for name, service in services.items():
        binds = dict(_binds(stack.parent, service))
        for source in binds.values():
            assert source.exists(), f"{name}: bind source {source} is missing"
        for word in _argv(service):
            for target, source in binds.items():
                if word.startswith(target + "/"):
                    path = source / word[len(target) + 1 :]
                    assert path.exists(), f"{name}: {word} is missing ({path})"


def _binds(project: Path, service: dict):
    for volume in service.get("volumes", ()):
        if isinstance(volume, str) and volume.startswith("."):
            source, target = volume.split(":")[:2]
            yield target, (project / source).resolve()


def _argv(service: dict) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else command


# ---------------------------------------------------------------- what the loader makes of them


def plan_of(example: str, **environ: str):
    """The example's plan with every profile active and only `.env` for variables."""
    from stackrun import spec
    from stackrun.plan.build import HostFacts, build
    from stackrun.plan.names import log_prefix

    options = spec.LoadOptions(
        files=(str(EXAMPLES / example / "stack.yaml"),), profiles=("*",), environ=environ
    )
    stack = spec.load(options)
    images = {name: _example_image(example) for name in stack.services if stack.image_of(name)}
    plan = build(stack, HostFacts(data_dir="/var/lib/stackrun/example", images=images))
    return {log_prefix(plan.project, i.name): i for i in plan.services}  # "api-1", "worker-2"


def _example_image(example: str):
    """The image the example's build.py makes, as the store would describe it."""
    import importlib.util

    from stackrun.images.config import image_config
    from stackrun.images.model import ImageRecord

    location = EXAMPLES / example / "build.py"
    module_spec = importlib.util.spec_from_file_location(f"{example}_build", location)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    config = image_config(module.image_config([b"base", b"site"]))
    return ImageRecord("sha256:" + "0" * 64, (module.NAME,), (), config, (), 0)


@pytest.mark.parametrize("stack", STACKS, ids=lambda path: path.parent.name)
def test_every_service_loads_with_all_profiles(stack):
    declared = yaml.safe_load(stack.read_text())["services"]
    assert {i.service for i in plan_of(stack.parent.name).values()} == set(declared)


def test_webapp_means_what_its_readme_says():
    instances = plan_of("webapp")
    store, api = instances["store-1"], instances["api-1"]
    assert [(m.kind, m.target, m.read_only) for m in store.mounts] == [
        ("bind", "/srv", True),
        ("volume", "/mnt", False),
    ]
    assert store.mounts[0].source == str(EXAMPLES / "webapp" / "app")
    assert ("STORE_HOST", "store") in api.env
    assert any("store" in entry.names for entry in api.hosts)
    assert [(p.host_port, p.target_port) for p in api.ports] == [(8080, 8000)]
    assert [(d.service, d.condition, d.restart) for d in api.depends_on] == [
        ("store", "service_healthy", True)
    ]
    assert (api.limits.memory, api.limits.pids, api.restart.on_unhealthy) == (128 << 20, 64, True)
    assert (store.limits.memory, store.limits.pids, store.stop_grace_period) == (64 << 20, 16, 5.0)


def test_webapp_published_port_follows_the_environment():
    api = plan_of("webapp", WEBAPP_PORT="18080")["api-1"]
    assert [p.host_port for p in api.ports] == [18080]


def test_jobs_has_three_read_only_workers_that_wait_for_the_migration():
    instances = plan_of("jobs")
    workers = [instances[f"worker-{n}"] for n in (1, 2, 3)]
    for worker in workers:
        assert worker.read_only
        assert (worker.restart.policy, worker.restart.max_retries) == ("on-failure", 3)
        assert [(d.service, d.condition) for d in worker.depends_on] == [
            ("migrate", "service_completed_successfully")
        ]
        tmpfs = [m for m in worker.mounts if m.kind == "tmpfs"]
        assert [(m.target, m.size, m.mode) for m in tmpfs] == [("/tmp", 8 << 20, 0o1777)]
    assert len({w.hostname for w in workers}) == 3  # the spool's claim folders rely on it


def test_profiles_interpolation_networks_and_hardening():
    instances = plan_of("profiles", SITE_PORT="9090")
    web, probe = instances["web-1"], instances["probe-1"]
    env = dict(web.env)
    assert (env["GREETING"], env["SITE_TITLE"], env["SITE_OWNER"]) == (
        "hello from .env",
        "stackrun profiles example",
        "examples",
    )
    assert [p.host_port for p in web.ports] == [9090]  # the environment beats .env
    assert web.init and web.capabilities == frozenset()
    assert {(u.name, u.soft, u.hard) for u in web.ulimits} == {("nofile", 256, 512), ("core", 0, 0)}
    assert [(u.name, u.soft, u.hard) for u in probe.ulimits] == [("nofile", 1024, 1024)]
    names = {name: entry.address for entry in probe.hosts for name in entry.names}
    assert names["site"] == names["www"] and names["metrics.internal"] == "192.0.2.10"
    assert probe.argv[-1].startswith("echo probe: shell sees HOME=$HOME;")  # $$ -> $


def test_images_means_what_its_readme_says():
    instances = plan_of("images")
    web, ticker = instances["web-1"], instances["ticker-1"]
    assert web.argv == ("httpd", "-f", "-v", "-p", "8080", "-h", "/www")  # the image's CMD
    assert (web.user, web.working_dir) == ("www", "/www")  # its USER and WORKDIR
    assert ("SITE", "images example") in web.env and ("PATH", "/bin") in web.env
    assert web.healthcheck.argv[:2] == ("wget", "-q")  # its HEALTHCHECK
    assert [(m.target, m.copy) for m in web.mounts] == [("/www/data", True)]  # no anonymous
    assert ticker.argv[:2] == ("sh", "-c") and ticker.read_only and ticker.healthcheck is None
    assert [(d.service, d.condition) for d in ticker.depends_on] == [("web", "service_healthy")]
    assert web.image.reference == "docker.io/example/site:1"
    stats = instances["stats-1"]  # built: named after the project and the service
    assert stats.image.reference == "docker.io/library/images-stats:latest"
