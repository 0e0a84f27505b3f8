"""Project name, profiles and file discovery, by Compose's rules."""

from __future__ import annotations

import pytest

from stackrun.errors import SpecError
from stackrun.spec import project
from stackrun.spec.discovery import stack_files
from stackrun.spec.loader import load_project_name
from stackrun.spec.options import LoadOptions

SIMPLE = "services:\n  a:\n    command: x\n"


def test_name_precedence(stack_dir):
    stack_dir.write("stack.yaml", "name: from-file\n" + SIMPLE)
    both = {"STACKRUN_PROJECT_NAME": "from-stackrun", "COMPOSE_PROJECT_NAME": "from-compose"}
    assert stack_dir.load(project_name="from-flag", environ=both).name == "from-flag"
    assert stack_dir.load(environ=both).name == "from-stackrun"
    assert stack_dir.load(environ={"COMPOSE_PROJECT_NAME": "from-compose"}).name == "from-compose"
    assert stack_dir.load().name == "from-file"


def test_name_from_interpolated_name_key_and_dotenv(stack_dir):
    stack_dir.write(".env", "APP=shop\n")
    assert stack_dir.load("name: ${APP}-dev\n" + SIMPLE).name == "shop-dev"
    stack_dir.write(".env", "COMPOSE_PROJECT_NAME=dotenv-name\n")
    assert stack_dir.load("name: ignored\n" + SIMPLE).name == "dotenv-name"


def test_name_from_the_directory_is_normalised(tmp_path):
    from tests.helpers.stackdir import StackDir

    directory = StackDir(tmp_path / "My_Shop.App")
    directory.root.mkdir()
    assert directory.load(SIMPLE).name == "my_shopapp"


@pytest.mark.parametrize(
    ("text", "name"), [("My App", "myapp"), ("--x", "x"), ("Ünïcode", "ncode"), ("...", "")]
)
def test_normalize_name(text, name):
    assert project.normalize_name(text) == name


def test_invalid_explicit_name_is_an_error(stack_dir):
    assert stack_dir.errors(SIMPLE, project_name="Shop") == [
        (
            "project name 'Shop' (from -p) must contain only lowercase letters, digits, '-' and '_', "
            "and start with a letter or digit"
        )
    ]


def test_load_project_name_reads_only_the_name(stack_dir):
    stack_dir.write(
        "stack.yaml", "name: ${N:-quick}\nservices:\n  a:\n    restart: invalid-but-ignored\n"
    )
    assert load_project_name(stack_dir.options("stack.yaml")) == "quick"
    assert load_project_name(stack_dir.options("stack.yaml", environ={"N": "other"})) == "other"


@pytest.mark.parametrize(
    ("cli", "environ", "active"),
    [
        ((), {}, set()),
        (("a",), {"COMPOSE_PROFILES": "b"}, {"a"}),
        ((), {"COMPOSE_PROFILES": "b, c"}, {"b", "c"}),
        ((), {"STACKRUN_PROFILES": "s", "COMPOSE_PROFILES": "c"}, {"s"}),
    ],
)
def test_active_profiles(cli, environ, active):
    assert project.active_profiles(cli, environ) == active


PROFILED = """
services:
  web: {command: x}
  debug: {command: x, profiles: [debug]}
  tools: {command: x, profiles: [tools, debug]}
"""


@pytest.mark.parametrize(
    ("profiles", "environ", "services"),
    [
        ((), {}, ["web"]),
        (("debug",), {}, ["web", "debug", "tools"]),
        (("tools",), {}, ["web", "tools"]),
        (("*",), {}, ["web", "debug", "tools"]),
        ((), {"COMPOSE_PROFILES": "tools"}, ["web", "tools"]),
    ],
)
def test_profiles_select_services(stack_dir, profiles, environ, services):
    assert list(stack_dir.load(PROFILED, profiles=profiles, environ=environ).services) == services


def test_dependency_on_a_disabled_service(stack_dir):
    text = "services:\n  web:\n    command: x\n    depends_on: [db]\n  db:\n    command: x\n    profiles: [db]\n"
    assert stack_dir.errors(text) == [
        (
            "stack.yaml:4:18: services.web.depends_on.db: 'db' only runs with --profile db; "
            "enable the profile or write required: false"
        )
    ]
    optional = text.replace("depends_on: [db]", "depends_on: {db: {required: false}}")
    assert list(stack_dir.load(optional).services) == ["web"]


INACTIVE_INVALID = """
services:
  web: {command: x}
  debug:
    command: x
    profiles: [debug]
    restrat: always
    mem_limit: lots
"""


def test_a_service_in_an_inactive_profile_is_still_validated(stack_dir):
    """Compose validates every service; profiles only choose which ones run."""
    assert stack_dir.errors(INACTIVE_INVALID) == [
        "stack.yaml:6:5: services.debug.restrat: unknown key; did you mean 'restart'?",
        (
            "stack.yaml:7:5: services.debug.mem_limit: 'lots' is not a size; write e.g. 512m, 1g "
            "or a number of bytes"
        ),
    ]


def test_an_inactive_service_is_not_planned_and_its_env_file_not_read(stack_dir):
    text = """
    services:
      web: {command: x}
      debug: {command: x, profiles: [debug], env_file: missing.env, environment: [A=1]}
    """
    stack = stack_dir.load(text)
    assert list(stack.services) == ["web"]
    assert stack.model_dump(mode="json", by_alias=True, exclude_unset=True)["services"] == {
        "web": {"command": ["x"]}
    }
    assert stack_dir.errors(text, profiles=("debug",)) == [
        (
            "stack.yaml:3:42: services.debug.env_file[0]: env file missing.env not found "
            "(add required: false to allow that)"
        )
    ]


def test_an_unsupported_key_in_an_inactive_service_is_reported(stack_dir):
    text = "services:\n  web: {command: x}\n  b: {command: x, profiles: [b], privileged: true}\n"
    assert [line.split(": ", 2)[1] for line in stack_dir.errors(text)] == ["services.b.privileged"]


def test_discovery_searches_upward_and_adds_the_override(tmp_path):
    (tmp_path / "compose.yaml").write_text(SIMPLE)
    (tmp_path / "compose.override.yaml").write_text("services:\n  a:\n    user: '1'\n")
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    assert stack_files((), str(deep), {}) == [
        tmp_path / "compose.yaml",
        tmp_path / "compose.override.yaml",
    ]


def test_discovery_prefers_stack_yaml(tmp_path):
    for name in ("docker-compose.yml", "compose.yaml", "stack.yaml"):
        (tmp_path / name).write_text(SIMPLE)
    assert stack_files((), str(tmp_path), {}) == [tmp_path / "stack.yaml"]


def test_files_from_the_environment(tmp_path):
    (tmp_path / "a.yaml").write_text(SIMPLE)
    (tmp_path / "b.yaml").write_text(SIMPLE)
    assert stack_files((), str(tmp_path), {"COMPOSE_FILE": "a.yaml:b.yaml"}) == [
        tmp_path / "a.yaml",
        tmp_path / "b.yaml",
    ]


def test_no_file_found(tmp_path):
    with pytest.raises(SpecError) as caught:
        stack_files((), str(tmp_path), {})
    assert str(caught.value).startswith(f"no stack file in {tmp_path} or its parents")


def test_project_dir_is_the_first_files_directory(stack_dir):
    stack_dir.write("deploy/stack.yaml", SIMPLE)
    stack = stack_dir.load(files=("deploy/stack.yaml",))
    assert stack.project_dir == str(stack_dir.root / "deploy")
    assert stack.files == (str(stack_dir.root / "deploy" / "stack.yaml"),)


def test_load_options_default_is_harmless():
    assert LoadOptions().environ == {}


def test_an_env_file_name_too_long_for_the_filesystem_is_an_error(stack_dir):
    errors = stack_dir.errors("services:\n  a: {command: x, env_file: '" + "9" * 4001 + "'}\n")
    assert len(errors) == 1 and errors[0].startswith(
        "stack.yaml:2:19: services.a.env_file[0]: cannot use env file "
    )
    assert errors[0].endswith(": File name too long")
