"""plan.build with images: the image's config applied as Docker and Compose apply it.
Pure; the ImageRecords are made here, as `up` would find them in the store."""

from __future__ import annotations

import re
import textwrap

import pytest

from stackrun import spec
from stackrun.errors import PlanError
from stackrun.images.model import ImageConfig, ImageHealth, ImageRecord, LayerRef
from stackrun.plan.build import HostFacts, build
from stackrun.plan.model import HealthPlan, ImagePlan, Mount

ID = "sha256:" + "c" * 64
DIGEST = "sha256:" + "d" * 64
DATA = "/var/lib/stackrun/shop"


def record(**config) -> ImageRecord:
    layers = tuple(
        LayerRef(f"sha256:{n * 64}", f"sha256:{n * 64}", f"/store/layers/{n * 8}/diff")
        for n in "ab"
    )
    return ImageRecord(
        id=ID,
        references=("docker.io/library/app:1",),
        repo_digests=(
            f"docker.io/library/other@sha256:{'e' * 64}",
            f"docker.io/library/app@{DIGEST}",
        ),
        config=ImageConfig(**config),
        layers=layers,
        size=123,
    )


@pytest.fixture
def plan_with(tmp_path):
    """plan_with(service_yaml, **image_config) -> the instance `app` of the plan."""

    def make(body: str, image: ImageRecord | None = None, more: str = "", **config):
        text = f"services:\n  app:\n    image: app:1\n{textwrap.indent(textwrap.dedent(body), '    ')}{more}"
        (tmp_path / "stack.yaml").write_text(text)
        stack = spec.load(
            spec.LoadOptions(
                files=(str(tmp_path / "stack.yaml"),),
                project_name="shop",
                working_dir=str(tmp_path),
            )
        )
        images = {name: image or record(**config) for name, s in stack.services.items() if s.image}
        return build(stack, HostFacts(data_dir=DATA, images=images)).instance("shop-app-1")

    return make


# ---------------------------------------------------------------- entrypoint and command


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", ("/entry", "-e", "serve", "--port", "80")),  # ENTRYPOINT + CMD
        ("command: [run, fast]", ("/entry", "-e", "run", "fast")),  # command: replaces CMD
        ("command: []", ("/entry", "-e")),  # an empty command leaves none
        ("entrypoint: [/bin/sh, -c]", ("/bin/sh", "-c")),  # entrypoint: drops the image's CMD
        ("entrypoint: /bin/sh -c\ncommand: [date]", ("/bin/sh", "-c", "date")),
        ("entrypoint: []\ncommand: [/bin/date]", ("/bin/date",)),  # an empty entrypoint resets it
        ("entrypoint: ''\ncommand: /bin/date -u", ("/bin/date", "-u")),
    ],
)
def test_entrypoint_and_command_follow_composes_rules(plan_with, body, expected):
    config = {"entrypoint": ("/entry", "-e"), "cmd": ("serve", "--port", "80")}
    assert plan_with(body, **config).argv == expected


def test_an_image_without_entrypoint_runs_its_cmd(plan_with):
    assert plan_with("", cmd=("redis-server",)).argv == ("redis-server",)
    assert plan_with("command: [redis-server, --save, '']", cmd=("x",)).argv == (
        "redis-server",
        "--save",
        "",
    )


def test_nothing_to_run_names_the_service_and_image(plan_with):
    with pytest.raises(PlanError) as caught:
        plan_with("", cmd=None)
    assert str(caught.value) == (
        "services.app: nothing to run: the image app:1 has neither ENTRYPOINT nor CMD; add command:"
    )
    with pytest.raises(PlanError):
        plan_with("entrypoint: []", cmd=("serve",))  # an empty entrypoint drops CMD too


# ---------------------------------------------------------------- environment, dirs, user


def test_environment_is_the_images_with_the_services_winning(plan_with):
    env = (("PATH", "/usr/bin:/bin"), ("LANG", "C.UTF-8"), ("MODE", "image"))
    app = plan_with("environment: {MODE: service, EXTRA: '1'}", cmd=("x",), env=env)
    assert app.env == (
        ("PATH", "/usr/bin:/bin"),
        ("LANG", "C.UTF-8"),
        ("MODE", "service"),
        ("EXTRA", "1"),
    )


def test_working_dir_is_the_images_unless_the_service_says(plan_with):
    assert plan_with("", cmd=("x",), working_dir="/srv/app").working_dir == "/srv/app"
    assert plan_with("", cmd=("x",)).working_dir == "/"  # not the project directory
    assert plan_with("working_dir: /data", cmd=("x",), working_dir="/srv").working_dir == "/data"


def test_user_is_the_images_unless_the_service_says(plan_with):
    assert plan_with("", cmd=("x",), user="app:staff").user == "app:staff"
    assert plan_with("user: '1000'", cmd=("x",), user="app").user == "1000"
    assert plan_with("", cmd=("x",)).user is None  # root


def test_stop_signal_is_the_images_unless_the_service_says(plan_with):
    assert plan_with("", cmd=("x",), stop_signal="SIGQUIT").stop_signal == 3
    assert plan_with("", cmd=("x",), stop_signal="9").stop_signal == 9
    assert plan_with("stop_signal: SIGINT", cmd=("x",), stop_signal="SIGQUIT").stop_signal == 2
    assert plan_with("", cmd=("x",)).stop_signal == 15
    with pytest.raises(PlanError, match=r"services.app: the image's StopSignal: 'SIGNOPE'"):
        plan_with("", cmd=("x",), stop_signal="SIGNOPE")


def test_labels_and_exposed_ports_add_up(plan_with):
    app = plan_with(
        "labels: {tier: web, owner: me}\nexpose: ['9000', 53/udp]",
        cmd=("x",),
        labels=(("owner", "image"), ("vendor", "acme")),
        exposed_ports=("80/tcp",),
    )
    assert dict(app.labels) == {"owner": "me", "vendor": "acme", "tier": "web"}
    assert app.exposed_ports == ("80/tcp", "9000/tcp", "53/udp")


def test_the_plan_names_the_image_its_digest_and_layers(plan_with):
    app = plan_with("", cmd=("x",))
    assert app.image == ImagePlan(
        reference="docker.io/library/app:1",
        id=ID,
        digest=f"docker.io/library/app@{DIGEST}",  # of its own repository
        layers=("/store/layers/aaaaaaaa/diff", "/store/layers/bbbbbbbb/diff"),
    )
    assert app.rootfs is None


def test_a_changed_image_changes_the_config_hash(plan_with):
    first = plan_with("", cmd=("x",))
    other = record(cmd=("x",))
    other = ImageRecord(**{**vars(other), "id": "sha256:" + "f" * 64})
    assert plan_with("", image=other).config_hash != first.config_hash
    assert plan_with("", cmd=("x",)).config_hash == first.config_hash


# ---------------------------------------------------------------- healthcheck


def test_the_images_healthcheck_applies_when_the_service_has_none(plan_with):
    health = ImageHealth(("CMD-SHELL", "wget -q localhost"), interval=5.0, retries=0)
    assert plan_with("", cmd=("x",), healthcheck=health).healthcheck == HealthPlan(
        argv=("/bin/sh", "-c", "wget -q localhost"), interval=5.0, retries=3
    )


def test_a_service_healthcheck_overrides_the_images_field_by_field(plan_with):
    health = ImageHealth(("CMD", "probe"), interval=5.0, timeout=2.0, retries=7)
    app = plan_with("healthcheck: {interval: 1s}", cmd=("x",), healthcheck=health)
    assert app.healthcheck == HealthPlan(argv=("probe",), interval=1.0, timeout=2.0, retries=7)
    app = plan_with("healthcheck: {test: [CMD, other]}", cmd=("x",), healthcheck=health)
    assert app.healthcheck.argv == ("other",) and app.healthcheck.interval == 5.0


@pytest.mark.parametrize("body", ["healthcheck: {disable: true}", "healthcheck: {test: [NONE]}"])
def test_disabling_the_healthcheck_drops_the_images(plan_with, body):
    health = ImageHealth(("CMD", "probe"))
    assert plan_with(body, cmd=("x",), healthcheck=health).healthcheck is None


def test_an_image_saying_none_has_no_healthcheck(plan_with):
    assert plan_with("", cmd=("x",), healthcheck=ImageHealth(("NONE",))).healthcheck is None


def test_service_healthy_needs_a_healthcheck_from_the_service_or_its_image(plan_with):
    web = "\n  web:\n    command: x\n    depends_on: {app: {condition: service_healthy}}\n"
    health = ImageHealth(("CMD", "probe"))
    assert plan_with("", more=web, cmd=("x",), healthcheck=health).healthcheck
    with pytest.raises(PlanError) as caught:
        plan_with("", more=web, cmd=("x",))
    assert str(caught.value) == (
        "services.web.depends_on.app: neither app nor its image has a healthcheck; "
        "add one to app or use condition: service_started"
    )


# ---------------------------------------------------------------- volumes


def test_image_volumes_become_anonymous_volumes_unless_mounted(plan_with):
    app = plan_with(
        "volumes: [data:/var/lib/db, /cache]",
        more="\nvolumes:\n  data: {}\n",
        cmd=("x",),
        volumes=("/var/lib/db", "/srv/uploads"),
    )
    uploads, data, cache = app.mounts
    assert uploads.target == "/srv/uploads" and uploads.copy and uploads.kind == "volume"
    assert uploads.source.startswith(f"{DATA}/anonymous/app-1/")
    assert (data.target, data.source, data.copy) == ("/var/lib/db", f"{DATA}/volumes/data", True)
    assert (cache.target, cache.copy) == ("/cache", True)
    assert cache.source.startswith(f"{DATA}/anonymous/app-1/") and cache.source != uploads.source


def test_nocopy_and_binds_take_nothing_from_the_image(plan_with):
    app = plan_with(
        "volumes:\n"
        "  - {type: volume, source: data, target: /a, volume: {nocopy: true}}\n"
        "  - {type: bind, source: ./b, target: /b}\n"
        "  - {type: tmpfs, target: /c}\n",
        more="\nvolumes:\n  data: {}\n",
        cmd=("x",),
    )
    assert [m.copy for m in app.mounts] == [False, False, False]


def test_volumes_of_host_command_services_are_not_filled(tmp_path):
    (tmp_path / "stack.yaml").write_text(
        "services:\n  app: {command: x, volumes: [data:/a]}\nvolumes:\n  data: {}\n"
    )
    stack = spec.load(
        spec.LoadOptions(
            files=(str(tmp_path / "stack.yaml"),), project_name="shop", working_dir=str(tmp_path)
        )
    )
    app = build(stack, HostFacts(data_dir=DATA)).instance("shop-app-1")
    assert app.mounts == (Mount("volume", "/a", f"{DATA}/volumes/data"),)
    assert app.image is None and app.working_dir == str(tmp_path)
    assert app.private_tmp  # a bounded tmpfs: the host's /tmp is not the service's


def test_an_image_keeps_its_own_tmp_as_in_docker(plan_with):
    assert not plan_with("", cmd=("serve",)).private_tmp
    assert not plan_with("read_only: true", cmd=("serve",)).private_tmp


def test_an_image_service_must_have_been_looked_up(plan_with, tmp_path):
    (tmp_path / "stack.yaml").write_text("services:\n  app: {image: app:1}\n")
    stack = spec.load(
        spec.LoadOptions(
            files=(str(tmp_path / "stack.yaml"),), project_name="shop", working_dir=str(tmp_path)
        )
    )
    with pytest.raises(PlanError, match=re.escape("services.app: image app:1 was not looked up")):
        build(stack, HostFacts(data_dir=DATA))
