"""The fast path of `config`/`validate`/`ps`/`up -d`/`down` (cli/fast.py) reads a command line as the typer
commands do, and leaves to typer every command line it does not fully understand."""

from __future__ import annotations

import pytest

from stackrun.cli import config_output, fast, ps_output, starting, stopping
from stackrun.daemon.launcher import Launcher

SAME = [
    ["config"],
    ["config", "-f", "a.yaml"],
    ["-f", "a.yaml", "config", "-f", "b.yaml", "--file=c.yaml", "-fd.yaml"],
    ["-p", "one", "config", "--project-name", "two"],
    ["-p", "one", "--profile", "x", "config", "--profile=y", "--format", "json"],
    ["config", "--format=json", "--services"],
    ["config", "-q", "--quiet", "--format", "yaml", "--format", "json"],
    ["--file", "a.yaml", "--project-name=p", "validate", "-f", "b.yaml", "--profile", "*"],
    ["validate"],
    ["ps"],
    ["-p", "web", "ps", "-q"],
    ["ps", "api", "--format", "json", "worker", "-a", "-f", "x.yaml"],
    ["--profile", "p", "ps", "--services", "--all", "--format=table", "api"],
    ["up", "-d"],
    ["-f", "a.yaml", "up", "--detach", "web", "-p", "shop", "--pull", "never", "--quiet-pull"],
    ["up", "--wait", "--wait-timeout", "30", "-t", "2.5", "--force-recreate", "--remove-orphans"],
    ["up", "-d", "--timestamps", "--no-color", "--abort-on-container-exit"],
    ["up", "-d", "--build"],
    ["up", "--wait", "--no-build", "web"],
    ["up", "-d", "--scale", "web=3", "--scale=api=0", "web"],
    ["down"],
    ["-p", "shop", "down", "-v", "-t", "3", "--remove-orphans", "-f", "a.yaml"],
    ["down", "--volumes", "--timeout=0"],
    ["down", "-t5", "-pshop", "--timeout", "1e1"],
    ["ps", "--status", "running", "--status=exited", "--filter", "status=paused", "-a", "api"],
    ["ps", "-", "api"],
    ["up", "-d", "--pull=always", "--no-build", "--build", "--wait-timeout=inf"],
    ["up", "-d", "--build", "--no-build"],
]
LEFT_TO_TYPER = [
    ["config", "--help"],
    ["-h", "config"],
    ["config", "-h"],
    ["config", "--format", "xml"],
    ["config", "--formt", "json"],
    ["config", "--form", "json"],
    ["config", "extra"],
    ["config", "--services=yes"],
    ["config", "-p=name"],
    ["config", "-f"],
    ["config", "-f", "--format"],
    ["config", "--", "-f"],
    ["config", "-f", ""],
    ["validate", "--format", "json"],
    ["ps", "--format", "yaml"],
    ["ps", "--help"],
    ["ps", "-x"],
    ["ps", "--", "-q"],
    ["up"],
    ["up", "web", "--no-color"],
    ["up", "-d", "--exit-code-from", "web"],
    ["up", "-d", "--pull", "sometimes"],
    ["up", "-d", "--build=yes"],
    ["up", "-d", "--watch"],
    ["up", "-w", "--wait"],
    ["up", "-d", "--scale", "web"],
    ["up", "-d", "--scale", "web=-1"],
    ["down", "web"],
    ["down", "-t"],
    ["down", "-t", "soon"],
    ["down", "-t", "-v"],
    ["down", "-t", "-1"],  # a value that looks like an option: typer decides
    ["down", "--volumes=1"],
    ["ps", "-qa"],
    ["ps", "--quiet", "--format"],
    ["down", "--rmi", "all"],
    ["schema"],
    [],
]


def recorded(monkeypatch) -> list[tuple]:
    """The calls the verbs make to what prints their output, instead of running it."""
    calls: list[tuple] = []
    monkeypatch.setattr(config_output, "print_config", lambda *args: calls.append(("config", args)))
    monkeypatch.setattr(ps_output, "show_ps", lambda *args: calls.append(("ps", args)))
    monkeypatch.setattr(starting, "detached", lambda *args: calls.append(("up", args[:4])) or 0)
    monkeypatch.setattr(Launcher, "fork", classmethod(lambda cls: None))  # no supervisor
    monkeypatch.setattr(stopping, "down_project", lambda *args: calls.append(("down", args)))
    return calls


def fast_call(argv: list[str], monkeypatch) -> list[tuple]:
    calls = recorded(monkeypatch)
    try:
        assert fast.run(argv)
    except SystemExit as exit:  # `up -d` exits with its code
        assert exit.code == 0
    return calls


def typer_call(argv: list[str], monkeypatch) -> list[tuple]:
    from stackrun.cli import app, down, ps, up

    calls = recorded(monkeypatch)
    monkeypatch.setattr(ps, "show_ps", ps_output.show_ps)  # ps.py imported it by name
    monkeypatch.setattr(up, "detached", starting.detached)  # and up.py this one
    monkeypatch.setattr(down, "down_project", stopping.down_project)
    app.register(argv)
    app.app(argv, prog_name="stackrun", standalone_mode=False)
    return calls


@pytest.mark.parametrize("argv", SAME, ids=" ".join)
def test_fast_path_reads_the_command_line_as_typer_does(argv, monkeypatch):
    assert fast_call(argv, monkeypatch) == typer_call(argv, monkeypatch)


@pytest.mark.parametrize("argv", LEFT_TO_TYPER, ids=" ".join)
def test_what_the_fast_path_does_not_understand_goes_to_typer(argv, monkeypatch):
    calls = recorded(monkeypatch)
    assert fast.run(argv) is False
    assert calls == []


def test_every_option_of_the_typer_commands_is_known_to_the_fast_path():
    """A new option added to a typer command only would send every use of it to typer:
    correct, but slow; add it to cli/fast.py too."""
    import typer.main

    from stackrun.cli import app

    app.register(["--help"])
    group = typer.main.get_command(app.app)
    for verb, reader in fast.VERBS.items():
        known = set(reader().options)
        declared = {
            name
            for param in group.commands[verb].params
            for name in (*param.opts, *getattr(param, "secondary_opts", ()))  # --no-build
            if name.startswith("-")
        } - {"-h", "--help"}
        assert declared == known, verb
