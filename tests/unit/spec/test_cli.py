"""The config/validate/schema verbs and the shared project options, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.helpers.clirun import REPO, imported_by, run

WEBAPP = REPO / "examples" / "webapp" / "stack.yaml"


@pytest.mark.parametrize(
    "args", [("--help",), ("config", "--help"), ("-f", "x.yaml", "validate", "--help")]
)
def test_help_imports_no_pydantic_nor_pyroute2_nor_rich(args):
    heavy = ["pydantic", "pyroute2", "anyio", "rich", "stackrun.spec.models"]
    imported = imported_by(*args)
    assert {name: imported[name] for name in heavy} == dict.fromkeys(heavy, False)


def test_config_imports_no_pyroute2_anyio_rich_nor_typer(tmp_path):
    """config runs on the fast path (cli/fast.py): no typer either."""
    (tmp_path / "stack.yaml").write_text("services:\n  a: {command: x}\n")
    imported = imported_by("-f", str(tmp_path / "stack.yaml"), "config")
    assert imported == {
        "pydantic": True,
        "pyroute2": False,
        "anyio": False,
        "rich": False,
        "typer": False,
        "stackrun.spec.models": True,
    }


def test_config_prints_the_normalised_stack_as_json():
    done = run("config", "-f", str(WEBAPP), "--format", "json")
    assert done.returncode == 0, done.stderr
    stack = json.loads(done.stdout)
    assert stack["name"] == "webapp"
    api = stack["services"]["api"]
    assert api["ports"] == [{"target": 8000, "published": 8080, "protocol": "tcp"}]
    assert api["mem_limit"] == 128 * 1024 * 1024
    assert api["depends_on"]["store"]["condition"] == "service_healthy"


def test_config_yaml_output_loads_again(tmp_path):
    first = run("config", "-f", str(WEBAPP))
    assert first.returncode == 0, first.stderr
    copy = WEBAPP.parent / ".roundtrip-test.yaml"
    try:
        copy.write_text(first.stdout)
        second = run("config", "-f", str(copy))
    finally:
        copy.unlink()
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout


@pytest.mark.parametrize("output", ["yaml", "json"])
def test_config_keeps_literal_dollars_escaped_so_its_output_loads_the_same(tmp_path, output):
    """`$$HOME` in the file (and a `$` coming from a variable) print as `$$`, like Compose."""
    (tmp_path / ".env").write_text("SECRET='pa$word'\n")
    (tmp_path / "stack.yaml").write_text(
        textwrap.dedent("""
        services:
          app:
            command: [sh, -c, 'echo $$HOME $${X:-y}']
            environment: {PASSWORD: "${SECRET}", PRICE: "5$$"}
    """)
    )
    first = run("config", "--format", output, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "echo $$HOME $${X:-y}" in first.stdout and "pa$$word" in first.stdout
    assert "5$$" in first.stdout and "5$$$$" not in first.stdout
    (tmp_path / "stack.yaml").write_text(first.stdout)
    (tmp_path / ".env").unlink()
    second = run("config", "--format", output, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout


def test_services_in_start_order():
    done = run("config", "--services", "-f", str(WEBAPP))
    assert done.stdout.split() == ["store", "api", "worker"]


def test_errors_go_to_stderr_located_and_exit_1(tmp_path):
    (tmp_path / "stack.yaml").write_text(
        "services:\n  api:\n    command: x\n    restart: sometimes\n    comand: y\n"
    )
    done = run("validate", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        (
            f"{tmp_path}/stack.yaml:4:5: services.api.restart: 'sometimes' is not one of "
            "no, always, on-failure[:N], unless-stopped"
        ),
        f"{tmp_path}/stack.yaml:5:5: services.api.comand: unknown key; did you mean 'command'?",
    ]


def test_quiet_prints_nothing_and_warnings_go_to_stderr(tmp_path):
    (tmp_path / "stack.yaml").write_text("version: '3'\nservices:\n  api:\n    command: x\n")
    done = run("config", "-q", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout == ""
    assert done.stderr == (
        f"{tmp_path}/stack.yaml:1:1: version: warning: obsolete and ignored, "
        "as in Compose; remove it\n"
    )


def test_options_before_and_after_the_verb(tmp_path):
    (tmp_path / "a.yaml").write_text("services:\n  api:\n    command: x\n")
    (tmp_path / "b.yaml").write_text(
        "services:\n  api:\n    command: y\n  extra:\n    command: z\n    profiles: [p]\n"
    )
    before = run(
        "-f",
        "a.yaml",
        "-p",
        "one",
        "--profile",
        "p",
        "config",
        "-f",
        "b.yaml",
        "--format",
        "json",
        cwd=tmp_path,
    )
    after = run(
        "config",
        "-f",
        "a.yaml",
        "-f",
        "b.yaml",
        "-p",
        "one",
        "--profile",
        "p",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert before.returncode == 0, before.stderr
    assert before.stdout == after.stdout
    stack = json.loads(before.stdout)
    assert stack["name"] == "one"
    assert stack["services"]["api"]["command"] == ["y"]
    assert set(stack["services"]) == {"api", "extra"}


def test_schema_verb_prints_the_checked_in_schema():
    done = run("schema")
    assert done.returncode == 0
    assert done.stdout == (REPO / "schemas" / "stack.schema.json").read_text()


def test_missing_file_is_an_error_without_traceback(tmp_path):
    done = run("config", "-f", "nope.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == f"{tmp_path}/nope.yaml: no such stack file\n"


_NAME_PROBE = textwrap.dedent("""
    import json, sys
    from stackrun.cli.options import ProjectOptions
    from stackrun.cli.project import project_name
    names = [project_name(ProjectOptions(project_name="given")),
             project_name(ProjectOptions(files=(sys.argv[1],)))]
    print(json.dumps({"names": names, "pydantic": "pydantic" in sys.modules}))
""")


def test_project_name_is_cheap(tmp_path):
    (tmp_path / "stack.yaml").write_text("name: from-file\nservices:\n  a:\n    restart: broken\n")
    done = subprocess.run(
        [sys.executable, "-c", _NAME_PROBE, str(tmp_path / "stack.yaml")],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(done.stdout) == {"names": ["given", "from-file"], "pydantic": False}, (
        done.stderr
    )


def test_load_plan(tmp_path, monkeypatch):
    from stackrun.cli.options import ProjectOptions
    from stackrun.cli.project import load_plan
    from stackrun.plan.build import HostFacts

    monkeypatch.chdir(tmp_path)
    (tmp_path / "stack.yaml").write_text("services:\n  a:\n    command: sleep 1\n    scale: 2\n")
    plan = load_plan(
        ProjectOptions(project_name="demo"), HostFacts(data_dir=str(tmp_path / "data"))
    )
    assert plan.project == "demo"
    assert [s.name for s in plan.services] == ["demo-a-1", "demo-a-2"]
    assert plan.services[0].argv == ("sleep", "1")


def test_config_keeps_extension_keys_prints_port_protocols_and_no_secret(tmp_path):
    (tmp_path / "stack.yaml").write_text(
        textwrap.dedent("""
            x-common: &common {labels: {team: a}}
            services:
              api:
                <<: *common
                command: [run]
                x-note: {owner: me}
                ports: [{target: 80, published: 8080, x-kind: web}]
                secrets: [key]
            secrets:
              key: {environment: API_KEY}
        """)
    )
    warned = run("-f", str(tmp_path / "stack.yaml"), "config", "--format", "json",
                 env={"API_KEY": "s3cr3t"})  # fmt: skip
    assert warned.returncode == 0, warned.stderr
    data = json.loads(warned.stdout)
    assert data["x-common"] == {"labels": {"team": "a"}}
    assert data["services"]["api"]["x-note"] == {"owner": "me"}
    assert data["services"]["api"]["ports"] == [
        {"target": 80, "published": 8080, "protocol": "tcp", "x-kind": "web"}
    ]
    assert data["secrets"] == {"key": {"environment": "API_KEY"}}
    assert "s3cr3t" not in warned.stdout + warned.stderr


def test_a_file_with_errors_prints_its_warnings_too(tmp_path):
    (tmp_path / "stack.yaml").write_text("version: '3'\nservices:\n  a:\n    restart: nope\n")
    done = run("-f", str(tmp_path / "stack.yaml"), "config")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0].endswith("version: warning: obsolete and ignored, as in Compose; remove it")
    assert any("services.a.restart: 'nope' is not one of" in line for line in lines[1:])
