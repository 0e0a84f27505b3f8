"""The Dockerfile front end: text -> stages of parsed instructions. Parse only, pure; the
build (`stackrun/build/`) evaluates and runs them.

    lines.py         directives, continuations, comments, heredocs -> logical lines
    arguments.py     keyword, --flags and the argument forms (JSON, words, name=value)
    parsers.py       one parser per instruction, in a table -> instructions.py
    stages.py        stages, global ARGs, FROM and COPY --from resolved, the target's needs
    words.py         BuildKit's shell words: quotes, escapes, ${VAR:-x} expansion
    ignore.py        .dockerignore (moby's pattern matcher)
    globs.py         Go's filepath.Match, for COPY sources

Every error is a BuildError located at `FILE:LINE:COL`.
"""

from __future__ import annotations

from stackrun.errors import BuildError, Location
from stackrun.images.dockerfile.problems import DockerfileProblem
from stackrun.images.dockerfile.stages import Dockerfile

_FRONTENDS = ("docker/dockerfile", "docker/dockerfile-upstream")


def parse(text: str, file: str = "Dockerfile") -> Dockerfile:
    """The Dockerfile in `text`; `file` is how errors name it. Raises BuildError."""
    from stackrun.images.dockerfile import lines, parsers, stages

    try:
        source = lines.read(text)
        _check_syntax(source)
        parsed = [parsers.instruction(line, source.escape) for line in source.lines]
        return stages.assemble(parsed, source.escape, source.syntax)
    except DockerfileProblem as problem:
        raise located(problem, file) from None


def located(problem: DockerfileProblem, file: str, service: str = "") -> BuildError:
    """The BuildError a front-end problem becomes, naming `file`."""
    if not problem.line:
        return BuildError(f"{file}: {problem.message}", service=service)
    where = Location(file, problem.line, max(problem.column, 1))
    return BuildError(problem.message, where, service=service)


def _check_syntax(source) -> None:
    """`# syntax=` may name the standard Dockerfile frontend (any version): stackrun
    implements that syntax itself. Another frontend is a different language."""
    if source.syntax is None:
        return
    name = source.syntax.split()[0].split("@")[0].removeprefix("docker.io/")
    repository = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    if repository not in _FRONTENDS:
        raise DockerfileProblem(
            f"syntax {source.syntax!r} names another frontend: stackrun builds the standard "
            "Dockerfile syntax only (remove the directive or use docker/dockerfile:1)",
            source.syntax_line,
            1,
        )
