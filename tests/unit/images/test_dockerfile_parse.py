"""Each instruction parsed as BuildKit reads it, and errors located at FILE:LINE:COL."""

from __future__ import annotations

import pytest

from stackrun.errors import BuildError
from stackrun.images.dockerfile import instructions as ins
from stackrun.images.dockerfile import parse
from stackrun.images.dockerfile.lines import Heredoc


def only(text: str) -> ins.Instruction:
    """The one instruction after `FROM base`."""
    (instruction,) = parse(f"FROM base\n{text}\n").stages[0].instructions
    return instruction


def error(text: str, file: str = "Dockerfile") -> str:
    with pytest.raises(BuildError) as caught:
        parse(text, file)
    return str(caught.value)


def test_from_forms():
    dockerfile = parse(
        "ARG V=3\nFROM --platform=$BUILDPLATFORM busybox:${V} AS Build\nfrom scratch\n"
    )
    first, second = (stage.start for stage in dockerfile.stages)
    assert (first.image, first.name, first.platform) == ("busybox:${V}", "build", "$BUILDPLATFORM")
    assert (second.keyword, second.image, second.name) == ("FROM", "scratch", None)
    assert [a.pairs for a in dockerfile.global_args] == [(("V", "3"),)]


def test_run_shell_and_exec_forms():
    shell = only("RUN   apt-get update &&  \\\n    apt-get install -y x")
    assert isinstance(shell, ins.Run)
    assert shell.command == ("apt-get update &&      apt-get install -y x",) and shell.shell_form
    exec_form = only('RUN ["/bin/sh", "-c", "echo $HOME"]')
    assert exec_form.command == ("/bin/sh", "-c", "echo $HOME") and not exec_form.shell_form


def test_run_not_quite_json_is_shell_form():
    run = only("RUN [ -f /x ] && echo yes")
    assert run.command == ("[ -f /x ] && echo yes",) and run.shell_form


def test_run_flags():
    run = only(
        "RUN --mount=type=cache,target=/root/.cache --network=none "
        "--mount=type=tmpfs,target=/t make"
    )
    assert run.mounts == ("type=cache,target=/root/.cache", "type=tmpfs,target=/t")
    assert run.network == "none" and run.command == ("make",)


def test_run_heredoc():
    run = only("RUN <<EOF\nset -e\necho hi\nEOF")
    assert run.command == ("<<EOF",) and run.heredocs == (Heredoc("EOF", "set -e\necho hi\n"),)


def test_cmd_entrypoint_shell():
    assert only('CMD ["a", "b"]').command == ("a", "b")
    cmd = only("CMD echo 'test' | wc -")
    assert isinstance(cmd, ins.Command) and cmd.shell_form
    assert cmd.command == ("echo 'test' | wc -",)
    entrypoint = only("ENTRYPOINT []")
    assert entrypoint.keyword == "ENTRYPOINT" and entrypoint.command == ()
    assert only('SHELL ["/bin/bash", "-eo", "pipefail", "-c"]').command == (
        "/bin/bash",
        "-eo",
        "pipefail",
        "-c",
    )


def test_copy_and_add():
    copy = only("COPY --from=build --chown=app:app --chmod=0755 --link a b* /dst/")
    assert isinstance(copy, ins.Copy)
    assert (copy.sources, copy.dest, copy.source) == (("a", "b*"), "/dst/", "build")
    assert (copy.chown, copy.chmod, copy.link, copy.add) == ("app:app", "0755", True, False)
    json_form = only('COPY ["my file", "other file", "/dst dir/"]')
    assert json_form.sources == ("my file", "other file") and json_form.dest == "/dst dir/"
    add = only("ADD --unpack=false --exclude=*.md --exclude=x app.tar.gz /opt/")
    assert (add.add, add.unpack, add.excludes) == (True, False, ("*.md", "x"))


def test_copy_heredocs_become_inline_files():
    copy = only("COPY <<one <<two /etc/\nfirst\none\nsecond\ntwo")
    assert copy.sources == ()
    assert copy.inline == (Heredoc("one", "first\n"), Heredoc("two", "second\n"))


def test_env_and_label_forms():
    assert only('ENV A=1 B="two words" C=three\\ words').pairs == (
        ("A", "1"),
        ("B", '"two words"'),
        ("C", "three\\ words"),
    )
    legacy = only("ENV SCUBA 1 DUBA 3")
    assert legacy.pairs == (("SCUBA", "1 DUBA 3"),)
    label = only('LABEL "com.example.vendor"="ACME" version=1.0')
    assert isinstance(label, ins.Env) and label.label
    assert label.pairs == (('"com.example.vendor"', '"ACME"'), ("version", "1.0"))


def test_arg_forms():
    assert only('ARG A B=2 C= D="x y"').pairs == (
        ("A", None),
        ("B", "2"),
        ("C", ""),
        ("D", '"x y"'),
    )


def test_single_and_several_words():
    assert only("WORKDIR /my app").values == ("/my app",)
    assert only("USER app:staff").value == "app:staff"
    assert only("STOPSIGNAL SIGQUIT").value == "SIGQUIT"
    assert only("MAINTAINER Jane <jane@example.com>").value == "Jane <jane@example.com>"
    assert only("EXPOSE 80 443/tcp  53/udp").values == ("80", "443/tcp", "53/udp")
    assert only('VOLUME ["/data", "/logs"]').values == ("/data", "/logs")
    assert only("VOLUME /a /b").values == ("/a", "/b")


def test_healthcheck():
    check = only("HEALTHCHECK --interval=1m30s --timeout=5s --retries=3 CMD curl -f http://x/")
    assert isinstance(check, ins.Healthcheck)
    assert check.test == ("CMD-SHELL", "curl -f http://x/")
    assert (check.interval, check.timeout, check.retries) == (90.0, 5.0, 3)
    assert only('HEALTHCHECK CMD ["true"]').test == ("CMD", "true")
    assert only("HEALTHCHECK --start-period=500ms CMD x").start_period == 0.5
    assert only("healthcheck none").test == ("NONE",)


def test_keywords_are_case_insensitive_and_text_is_kept():
    run = only("  run   echo hi")
    assert (run.keyword, run.text, run.line, run.column) == ("RUN", "run   echo hi", 2, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM a\nRUNN x", "Dockerfile:2:1: unknown instruction: RUNN (did you mean RUN?)"),
        ("FROM a\n  COPY --form=b x y", "Dockerfile:2:8: unknown flag: --form for COPY (did you mean --from?)"),
        ("FROM a\nENV --x=1 A=b", "Dockerfile:2:5: unknown flag: --x (ENV takes no flags)"),
        ("FROM a\nCOPY --from=a --from=b x y", "Dockerfile:2:15: duplicate flag specified: --from"),
        ("FROM a\nCOPY --link=maybe x y", "Dockerfile:2:6: expecting true or false for flag --link"),
        ("FROM a\nCOPY onlyone", "Dockerfile:2:1: COPY requires at least two arguments"),
        ("FROM a\nCOPY x <<EOF\nEOF", "Dockerfile:2:1: COPY cannot accept a heredoc as a destination"),
        ("FROM a\nRUN --network=bridge x", "Dockerfile:2:5: unsupported network mode 'bridge'"),
        ("FROM a\nCMD [\"a\", 1]", "Dockerfile:2:5: when using JSON array syntax, arrays must be comprised of strings only"),
        ("FROM a\nSHELL /bin/sh -c", "Dockerfile:2:7: SHELL requires the arguments to be in JSON form"),
        ("FROM a\nSHELL []", "Dockerfile:2:1: SHELL requires at least one argument"),
        ("FROM a\nENV A=1 B", "Dockerfile:2:5: syntax error: can't find = in 'B'"),
        ("FROM a\nENV =1", "Dockerfile:2:5: ENV names can not be blank"),
        ("FROM a\nENV A", "Dockerfile:2:5: ENV must have two arguments"),
        ("FROM a\nARG =x", "Dockerfile:2:5: ARG names can not be blank"),
        ("FROM a\nWORKDIR", "Dockerfile:2:1: WORKDIR requires exactly one argument"),
        ("FROM a\nEXPOSE", "Dockerfile:2:1: EXPOSE requires at least one argument"),
        ("FROM a\nVOLUME [\"\"]", "Dockerfile:2:1: VOLUME specified can not be an empty string"),
        ("FROM a\nHEALTHCHECK NONE x", "Dockerfile:2:18: HEALTHCHECK NONE takes no arguments"),
        ("FROM a\nHEALTHCHECK CMD", "Dockerfile:2:1: missing command after HEALTHCHECK CMD"),
        ("FROM a\nHEALTHCHECK ECHO x", "Dockerfile:2:13: unknown type 'ECHO' in HEALTHCHECK (try CMD)"),
        ("FROM a\nHEALTHCHECK --interval=10 CMD x", "Dockerfile:2:1: invalid duration '10' for --interval"),
        ("FROM a\nHEALTHCHECK --timeout=10ns CMD x", "Dockerfile:2:1: interval --timeout cannot be less than 1ms"),
        ("FROM a\nHEALTHCHECK --retries=-1 CMD x", "Dockerfile:2:1: --retries cannot be negative (-1)"),
        ("FROM a\nONBUILD RUN make", "Dockerfile:2:1: ONBUILD is not supported"),
        ("FROM", "Dockerfile:1:1: FROM requires either one or three arguments"),
        ("FROM a b", "Dockerfile:1:1: FROM requires either one or three arguments"),
        ("FROM a AS 9lives", "Dockerfile:1:11: invalid name for build stage: '9lives'"),
        ("FROM a AS x\nFROM b AS X", "Dockerfile:2:1: duplicate stage name 'x'"),
        ("RUN x\nFROM a", "Dockerfile:1:1: RUN before the first FROM"),
        ("", "Dockerfile:1:1: the Dockerfile has no instructions"),
        ("# just a comment\n", "Dockerfile:1:1: the Dockerfile has no instructions"),
        ("# syntax=tonistiigi/dockerfile:x\nFROM a", "Dockerfile:1:1: syntax 'tonistiigi/dockerfile:x' names another frontend"),
        ("FROM a\nRUN <<EOF\nno end", "Dockerfile:2:1: unterminated heredoc <<EOF"),
    ],
)  # fmt: skip
def test_errors_are_located(text, expected):
    assert error(text).startswith(expected)


def test_errors_name_the_file_as_given():
    assert error("FROM a\nRUNN x", "api/Dockerfile.dev") == (
        "api/Dockerfile.dev:2:1: unknown instruction: RUNN (did you mean RUN?)"
    )


def test_an_error_in_a_continued_line_points_into_it():
    assert error("FROM a\nCOPY --chown=1 \\\n   --chmd=1 x y").startswith(
        "Dockerfile:3:4: unknown flag: --chmd for COPY (did you mean --chmod?)"
    )


@pytest.mark.parametrize(
    "syntax", ["docker/dockerfile:1", "docker.io/docker/dockerfile:1.7-labs", "docker/dockerfile"]
)
def test_the_standard_syntax_is_accepted(syntax):
    assert parse(f"# syntax={syntax}\nFROM a\n").syntax == syntax
