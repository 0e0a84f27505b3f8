"""`build:` as a user drives it: `stackrun build`, `up` building what is missing (and
`--build`), the built image running under `up`, `push` to a registry and a pull back,
a Dockerfile error stopping `up` before anything starts, and `watch`'s rebuild action — through the CLI of this
checkout, each test ending with the project's leak check."""

from __future__ import annotations

import os

import pytest

from stackrun import dirs
from stackrun.images.store import Store
from tests.helpers.building import PREFIX, push_base, stale_builds
from tests.helpers.registry import Registry
from tests.helpers.stackcli import stack_project
from tests.helpers.waiting import wait_until
from tests.helpers.watching import Watcher

STAMP = "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with Registry(tmp_path_factory.mktemp("registry")) as registry:
        registry.base = push_base(registry, tmp_path_factory.mktemp("layout"))  # type: ignore[attr-defined]
        yield registry


def web_files(base: str) -> dict[str, str]:
    return {
        "web/Dockerfile": f"""\
FROM {base}
ARG GREETING=hello
WORKDIR /srv
COPY page.txt .
RUN {STAMP} > /stamp && echo "$GREETING" > greeting
HEALTHCHECK --interval=100ms CMD test -e /srv/greeting
CMD ["sh", "-c", "cat /srv/greeting /srv/page.txt /stamp; echo; exec sleep 1000"]
""",
        "web/page.txt": "the page\n",
    }


def stack_text(registry) -> str:
    return f"""services:
  web:
    build:
      context: web
      args: {{GREETING: bonjour}}
  api:
    image: {registry.host}/test/api:1
    build:
      context: web
      tags: [{registry.host}/test/api:latest]
"""


def write(stack, registry) -> None:
    stack.write(stack_text(registry))
    for name, text in web_files(registry.base).items():
        path = stack.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_build_then_up_runs_the_built_image(registry):
    with stack_project("build") as stack:
        write(stack, registry)
        done = stack.run("build", timeout=300)
        assert done.returncode == 0, done.stderr
        assert "[web 4/4] RUN" in done.stderr and "[api 4/4] RUN" in done.stderr
        assert " ✔ web" in done.stdout and f"{stack.project.name}-web:latest" in done.stdout
        with Store(dirs.image_root()) as store:
            web = store.image(f"{stack.project.name}-web")
            api = store.image(f"{registry.host}/test/api:1")
            assert store.image(f"{registry.host}/test/api:latest").id == api.id
        again = stack.run("build", "web")
        assert again.returncode == 0, again.stderr
        assert "CACHED RUN" in again.stderr and "DONE" not in again.stderr

        done = stack.run("up", "-d", "--wait", "--wait-timeout", "30")
        assert done.returncode == 0, done.stderr
        assert "Built" not in done.stdout + done.stderr  # nothing was missing
        lines = [line["line"] for line in stack.log("web")]
        assert lines[:2] == ["bonjour", "the page"]
        statuses = stack.statuses()
        assert statuses["web"].health == "healthy"
        assert statuses["web"].image.endswith(f"{stack.project.name}-web:latest")
        assert web.id != api.id  # another GREETING: another RUN
        assert stack.down("-t", "1").returncode == 0
    assert stale_builds(stack.project.run_root) == []


def test_up_builds_what_is_missing_and_rebuilds_with_build(registry):
    with stack_project("upbuild") as stack:
        write(stack, registry)
        stack.write("services:\n  web:\n    build: web\n")
        done = stack.run("up", "-d", "--wait", "--wait-timeout", "60", timeout=300)
        assert done.returncode == 0, done.stderr
        assert "[web 4/4] RUN" in done.stderr and "CACHED" not in done.stderr
        first = [line["line"] for line in stack.log("web")][2]
        assert [line["line"] for line in stack.log("web")][:2] == ["hello", "the page"]
        assert stack.down("-t", "1").returncode == 0
        (stack.directory / "web" / "page.txt").write_text("a new page\n")
        done = stack.run("up", "-d", "--build", "--wait", "--wait-timeout", "60", timeout=300)
        assert done.returncode == 0, done.stderr
        assert "CACHED WORKDIR /srv" in done.stderr and "CACHED COPY" not in done.stderr
        lines = [line["line"] for line in stack.log("web")]
        assert "a new page" in lines and lines[-1] != first  # the RUN after the COPY ran again
        assert stack.down("-t", "1").returncode == 0


def test_watch_rebuild_builds_the_image_again_and_recreates_the_service(registry):
    with stack_project("rebuild") as stack:
        write(stack, registry)
        stack.write(
            "services:\n  web:\n    build: web\n"
            "    develop: {watch: [{action: rebuild, path: ./web}]}\n"
        )
        done = stack.run("up", "-d", "--wait", "--wait-timeout", "60", timeout=300)
        assert done.returncode == 0, done.stderr
        before = stack.statuses()["web"]
        watcher = Watcher(stack)
        try:
            watcher.next_line("^Watching ")
            (stack.directory / "web" / "page.txt").write_text("a new page\n")
            line = watcher.next_line(timeout=300)
            assert line.startswith("⦿ web: rebuilt and recreated in "), line
        finally:
            assert watcher.stop() == 0
        after = wait_until(
            lambda: (s := stack.statuses()["web"]).state == "running" and s, "web running again"
        )
        assert after.image_id != before.image_id and after.pid != before.pid
        wait_until(lambda: "a new page" in [x["line"] for x in stack.log("web")], "the new page")
        assert stack.down("-t", "1").returncode == 0


def test_push_then_pull_back(registry):
    with stack_project("push") as stack:
        write(stack, registry)
        assert stack.run("build", "api", timeout=300).returncode == 0
        done = stack.run("push", "api")
        assert done.returncode == 0, done.stderr
        digest = done.stdout.split("Pushed ")[1].split()[0]
        with Store(dirs.image_root()) as store:
            built = store.image(f"{registry.host}/test/api:1")
            assert built.repo_digests == (f"{registry.host}/test/api@{digest}",)
            removed = stack.run(
                "rmi", f"{registry.host}/test/api:1", f"{registry.host}/test/api:latest"
            )
            assert removed.returncode == 0, removed.stderr
            assert store.image(built.id) is None
        pulled = stack.run("pull", f"{registry.host}/test/api:1")
        assert pulled.returncode == 0, pulled.stderr
        with Store(dirs.image_root()) as store:
            again = store.image(f"{registry.host}/test/api:1")
            assert again.id == built.id
            assert again.repo_digests == (f"{registry.host}/test/api@{digest}",)


def test_a_dockerfile_error_starts_nothing(registry):
    with stack_project("badbuild") as stack:
        stack.write("services:\n  web:\n    build: web\n  other:\n    command: [sleep, '100']\n")
        (stack.directory / "web").mkdir()
        (stack.directory / "web" / "Dockerfile").write_text(
            f"FROM {registry.base}\nRUN true\nCOPY --chmod=abc x /x\nRUNN oops\n"
        )
        done = stack.run("up", "-d")
        assert done.returncode == 1
        assert done.stderr.strip().splitlines()[-1] == (
            "stackrun: web: web/Dockerfile:4:1: unknown instruction: RUNN (did you mean RUN?)"
        )
        assert not dirs.run_dir(stack.project.name).exists()  # nothing started
        assert not [p for p in os.listdir(stack.project.run_root) if p.startswith(PREFIX)]
        done = stack.run("build", "-q")
        assert done.returncode == 1 and "web/Dockerfile:4:1" in done.stderr


def test_build_output_with_several_stages_names_them(registry):
    with stack_project("stages") as stack:
        stack.write("services:\n  app:\n    build: .\n")
        (stack.directory / "Dockerfile").write_text(
            f"FROM {registry.base} AS deps\nRUN echo deps > /deps\n"
            f"FROM {registry.base}\nCOPY --from=deps /deps /deps\nRUN cat /deps\n"
        )
        done = stack.run("build", timeout=300)
        assert done.returncode == 0, done.stderr
        assert "[app deps 2/2] RUN echo deps > /deps" in done.stderr
        assert "[app stage-1 3/3] deps" in done.stderr  # a RUN's output, under its step


def test_a_build_killed_midway_is_cleaned_by_the_next_one(registry):
    import signal
    import subprocess

    from tests.helpers.leaks import leaks

    with stack_project("killed") as stack:
        stack.write("services:\n  slow:\n    build: .\n")
        (stack.directory / "Dockerfile").write_text(
            f"FROM {registry.base}\nRUN echo started && sleep 300\n"
        )
        build = subprocess.Popen(
            stack.argv("build"), env=stack.project.env(), stderr=subprocess.PIPE, text=True
        )
        line = ""
        while "started" not in line:  # the RUN runs: its instance, cgroup and mounts exist
            line = build.stderr.readline()
            assert line, "the build ended before its RUN started"
        project = f"{PREFIX}{build.pid}"
        build.send_signal(signal.SIGKILL)
        build.wait()
        build.stderr.close()
        assert leaks(project)  # left behind: the sleeping RUN, its cgroup, its directories
        (stack.directory / "Dockerfile").write_text(f"FROM {registry.base}\nRUN true\n")
        done = stack.run("build", timeout=120)
        assert done.returncode == 0, done.stderr
        assert leaks(project) == []
        assert stale_builds(stack.project.run_root) == []
