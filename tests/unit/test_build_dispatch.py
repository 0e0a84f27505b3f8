"""A stage's instructions evaluated as BuildKit does: ARG scoping, ENV/ARG expansion, the
image config each instruction makes, and the steps RUN, COPY and WORKDIR ask for."""

from __future__ import annotations

import pytest

from stackrun.build.dispatch import destination, dispatch
from stackrun.build.steps import Context, CopyStep, MkdirStep, RunStep, initial_state
from stackrun.images.dockerfile import parse, stages
from stackrun.images.dockerfile.problems import DockerfileProblem

BASE = {"Env": ["PATH=/usr/bin:/bin", "HOME=/root"], "Cmd": ["sh"], "WorkingDir": ""}


def evaluate(text: str, build_args=None, base=None, index: int = -1):
    """The state after the stage at `index` (first stage from `base`), and its steps."""
    dockerfile = parse(text)
    build_args = build_args or {}
    global_args = stages.global_values(dockerfile, build_args, {"TARGETARCH": "amd64"})
    context = Context(dockerfile.escape, build_args, global_args)
    stage = dockerfile.stages[index]
    state = initial_state(BASE if base is None else base)
    found = []
    for instruction in stage.instructions:
        state, step = dispatch(state, instruction, context)
        if step is not None:
            found.append(step)
    return state, found


def test_env_is_expanded_with_the_values_before_the_instruction():
    state, _ = evaluate('FROM b\nENV A=1\nENV A=2 B=$A C="${HOME}/x y"\n')
    assert state.env["B"] == "1" and state.env["C"] == "/root/x y"
    assert state.config["Env"] == ["PATH=/usr/bin:/bin", "HOME=/root", "A=2", "B=1", "C=/root/x y"]


def test_env_legacy_form_value_is_the_rest_of_the_line():
    state, _ = evaluate('FROM b\nENV GREETING "hello  world"\n')
    assert state.env["GREETING"] == "hello  world"


def test_a_global_arg_is_seen_in_a_stage_only_when_declared_again():
    text = "ARG VERSION=1.2\nFROM b\nRUN echo $VERSION\nARG VERSION\nRUN echo $VERSION\n"
    state, (before, after) = evaluate(text)
    assert "VERSION" not in dict(before.env)
    assert dict(after.env)["VERSION"] == "1.2"
    assert state.config["Env"] == BASE["Env"]  # an ARG is not in the image


def test_build_args_override_defaults_global_and_local():
    text = "ARG V=global\nFROM b\nARG V\nARG W=local\nENV OUT=$V-$W\n"
    state, _ = evaluate(text)
    assert state.env["OUT"] == "global-local"
    state, _ = evaluate(text, {"V": "cli", "W": "cli2"})
    assert state.env["OUT"] == "cli-cli2"


def test_an_arg_default_may_use_earlier_values():
    state, _ = evaluate("FROM b\nARG A=x\nARG B=${A}y C=$HOME\n")
    assert (state.env["B"], state.env["C"]) == ("xy", "/root")


def test_an_arg_without_value_is_declared_but_unset():
    state, (_run,) = evaluate("FROM b\nARG NOPE\nRUN true\n")
    assert "NOPE" not in state.env and ("NOPE", None) in state.args
    assert state.history[0].created_by == "ARG NOPE"


def test_env_overrides_an_earlier_arg_for_later_instructions():
    state, _ = evaluate(
        "FROM b\nARG USER_NAME=arg\nENV USER_NAME=env\nWORKDIR /home/${USER_NAME}\n"
    )
    assert state.working_dir == "/home/env"


def test_automatic_platform_args_need_a_declaration():
    _state, (early, late) = evaluate("FROM b\nRUN x\nARG TARGETARCH\nRUN x\n")
    assert "TARGETARCH" not in dict(early.env) and dict(late.env)["TARGETARCH"] == "amd64"


def test_run_shell_form_exec_form_and_shell_instruction():
    text = 'FROM b\nRUN echo $HOME\nRUN ["ls", "$HOME"]\nSHELL ["/bin/bash", "-c"]\nRUN x'
    _state, (shell, exec_form, bash) = evaluate(text)
    assert shell.argv == ("/bin/sh", "-c", "echo $HOME")  # the shell expands it, not us
    assert exec_form.argv == ("ls", "$HOME")
    assert bash.argv == ("/bin/bash", "-c", "x")
    assert shell.env == (("PATH", "/usr/bin:/bin"), ("HOME", "/root"))


def test_run_sees_workdir_user_and_network():
    _, (_, run) = evaluate("FROM b\nWORKDIR /app\nUSER 1000:1000\nRUN --network=none make\n")
    assert isinstance(run, RunStep)
    assert (run.working_dir, run.user, run.network) == ("/app", "1000:1000", "none")


def test_run_heredocs():
    text = (
        "FROM b\n"
        "RUN <<EOF\necho one\nEOF\n"
        "RUN <<-EOF\n\techo tabs\n\tEOF\n"
        "RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n"
        "RUN cat <<A >/a && cat <<B >/b\nfirst\nA\nsecond\nB\n"
    )
    _, (plain, chomped, script, complex_) = evaluate(text)
    assert plain.argv == ("/bin/sh", "-c", "echo one\n")
    assert chomped.argv == ("/bin/sh", "-c", "echo tabs\n")
    assert script.argv == ("/dev/pipes/EOF",)
    assert (
        script.files[0].content.startswith("#!/usr/bin/env python3")
        and script.files[0].mode == 0o755
    )
    assert complex_.argv[2] == "cat <<A >/a && cat <<B >/b\nfirst\nA\nsecond\nB"


def test_run_history_lists_the_args():
    state, _ = evaluate("FROM b\nARG A=1\nRUN make\n")
    assert state.history[-1].created_by == "RUN |1 A=1 /bin/sh -c make # buildkit"
    assert not state.history[-1].empty_layer


def test_copy_expands_and_resolves_against_workdir():
    text = (
        "FROM b\nARG SRC=app\nWORKDIR /srv\nCOPY --chown=$SRC:$SRC ${SRC}/*.py ./lib/\nCOPY x y\n"
    )
    _, (mkdir, copy, plain) = evaluate(text)
    assert mkdir == MkdirStep("/srv", "")
    assert isinstance(copy, CopyStep)
    assert (copy.sources, copy.dest, copy.chown) == (("app/*.py",), "/srv/lib/", "app:app")
    assert plain.dest == "/srv/y"


def test_copy_heredoc_contents_expand_unless_quoted():
    text = "FROM b\nENV X=1\nCOPY <<a <<'b' /etc/\nx=$X \"q\"\na\ny=$X\nb\n"
    _, (copy,) = evaluate(text)
    assert [(f.path, f.content) for f in copy.inline] == [("a", 'x=1 "q"\n'), ("b", "y=$X\n")]


@pytest.mark.parametrize(
    ("working_dir", "dest", "expected"),
    [
        ("/", "x", "/x"),
        ("/app", "x", "/app/x"),
        ("/app", "x/", "/app/x/"),
        ("/app", ".", "/app/"),
        ("/app", "./", "/app/"),
        ("/app", "/abs//y", "/abs/y"),
        ("/app", "..", "/"),
        ("/", "/", "/"),
    ],
)
def test_destination(working_dir, dest, expected):
    assert destination(working_dir, dest) == expected


def test_workdir_is_relative_to_the_previous_one():
    state, steps = evaluate("FROM b\nWORKDIR a\nWORKDIR b/../c\nWORKDIR /x\nWORKDIR y\n")
    assert [s.path for s in steps] == ["/a", "/a/c", "/x", "/x/y"]
    assert state.config["WorkingDir"] == "/x/y"


def test_cmd_entrypoint_and_their_interplay():
    state, _ = evaluate('FROM b\nENTRYPOINT ["app"]\n')
    assert state.config["Entrypoint"] == ["app"] and "Cmd" not in state.config  # base Cmd drops
    state, _ = evaluate('FROM b\nCMD ["--help"]\nENTRYPOINT app --serve\n')
    assert state.config["Cmd"] == ["--help"]
    assert state.config["Entrypoint"] == ["/bin/sh", "-c", "app --serve"]


def test_metadata_instructions():
    text = (
        "FROM b\n"
        "ARG P=8080\n"
        'LABEL org.opencontainers.image.title="my app" version=$P\n'
        "EXPOSE $P 53/udp 7000-7001\n"
        'VOLUME ["/data"] \n'
        "VOLUME /logs /cache\n"
        "USER app\n"
        "STOPSIGNAL SIGQUIT\n"
        "HEALTHCHECK --interval=30s --retries=3 CMD wget -q localhost\n"
        "MAINTAINER me\n"
    )
    state, steps = evaluate(text)
    assert steps == []
    config = state.config
    assert config["Labels"] == {"org.opencontainers.image.title": "my app", "version": "8080"}
    assert sorted(config["ExposedPorts"]) == ["53/udp", "7000/tcp", "7001/tcp", "8080/tcp"]
    assert sorted(config["Volumes"]) == ["/cache", "/data", "/logs"]
    assert (config["User"], config["StopSignal"], state.author) == ("app", "SIGQUIT", "me")
    assert config["Healthcheck"] == {
        "Test": ["CMD-SHELL", "wget -q localhost"],
        "Interval": 30_000_000_000,
        "Retries": 3,
    }
    assert all(entry.empty_layer for entry in state.history)


def test_healthcheck_none_and_unknown_config_fields_pass_through():
    state, _ = evaluate("FROM b\nHEALTHCHECK NONE\n", base={**BASE, "OnBuild": None, "Foo": 1})
    assert state.config["Healthcheck"] == {"Test": ["NONE"]} and state.config["Foo"] == 1


def test_a_second_stage_from_the_first_inherits_its_args_and_variables():
    dockerfile = parse("FROM b AS one\nARG A=1\nENV B=2\nFROM one\nRUN x\n")
    context = Context()
    state = initial_state(BASE)
    for instruction in dockerfile.stages[0].instructions:
        state, _ = dispatch(state, instruction, context)
    second = initial_state({}, inherited=state)
    _, run = dispatch(second, dockerfile.stages[1].instructions[0], context)
    assert dict(run.env)["A"] == "1" and dict(run.env)["B"] == "2"
    assert second.history == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('FROM b\nENV A="${X:?must be set}"\n', "Dockerfile line 2: ENV: X: must be set"),
        (
            "FROM b\nARG X\nWORKDIR ${X:?}\n",
            "Dockerfile line 3: WORKDIR: X: is not allowed to be unset",
        ),
        ("FROM b\nENV ${EMPTY}=1\n", "Dockerfile line 2: ENV names can not be blank"),
        ("FROM b\nEXPOSE 80:80\n", "Dockerfile line 2: EXPOSE: invalid port '80:80'"),
        ("FROM b\nEXPOSE 70000\n", "Dockerfile line 2: EXPOSE: invalid port '70000'"),
        ("FROM b\nEXPOSE 80/xyz\n", "Dockerfile line 2: EXPOSE: invalid port '80/xyz'"),
        ("FROM b\nSTOPSIGNAL SIGNOPE\n", "Dockerfile line 2: STOPSIGNAL: invalid signal 'SIGNOPE'"),
        ("FROM b\nCOPY a ${NOTHING}\n", "Dockerfile line 2: COPY: the destination is empty"),
    ],
)
def test_evaluation_errors_name_their_line(text, message):
    with pytest.raises(DockerfileProblem) as caught:
        evaluate(text)
    assert f"Dockerfile line {caught.value.line}: {caught.value.message}".startswith(message)


@pytest.mark.parametrize("value", ["SIGTERM", "term", "9", "SIGRTMIN+3", "QUIT"])
def test_valid_stop_signals(value):
    state, _ = evaluate(f"FROM b\nSTOPSIGNAL {value}\n")
    assert state.config["StopSignal"] == value
