"""develop.watch: the stack file's rules, and what a burst of changed paths asks of each
(watch/rules.py, pure)."""

from __future__ import annotations

import textwrap

import pytest

from stackrun import spec
from stackrun.errors import SpecError
from stackrun.watch.rules import Rule, batches, from_stack


def load(tmp_path, text: str, warnings: list | None = None):
    (tmp_path / "stack.yaml").write_text(textwrap.dedent(text))
    options = spec.LoadOptions(
        files=(str(tmp_path / "stack.yaml"),), project_name="p", working_dir=str(tmp_path)
    )
    return spec.load(options, warnings if warnings is not None else [])


def test_rules_come_from_the_file_with_paths_resolved(tmp_path):
    stack = load(
        tmp_path,
        """
        services:
          api:
            command: x
            develop:
              watch:
                - {action: sync+restart, path: ./src, target: /app, ignore: "*.pyc"}
                - action: sync+exec
                  path: assets
                  target: /app/assets
                  exec: {command: "make css", environment: [MODE=dev]}
          worker: {command: x}
    """,
    )
    sync, execute = from_stack(stack)
    assert (sync.service, sync.action, sync.path, sync.target) == (
        "api",
        "sync+restart",
        f"{tmp_path}/src",
        "/app",
    )
    assert sync.ignore == ("*.pyc",)
    assert execute.run.argv == ("make", "css") and execute.run.env == ("MODE=dev",)
    assert from_stack(stack, ("worker",)) == []


def test_each_action_is_checked_for_what_it_needs(tmp_path):
    with pytest.raises(SpecError) as caught:
        load(
            tmp_path,
            """
            services:
              api:
                command: x
                develop:
                  watch:
                    - {action: sync, path: ./src}
                    - {action: sync+restart, path: ./src, target: app}
                    - {action: sync+exec, path: ./src, target: /app}
                    - {action: restart, path: ./src, exec: {command: ["true"]}}
        """,
        )
    text = str(caught.value)
    assert "watch[0].action: sync needs target: the path to copy to" in text
    assert "watch[1].target: 'app' must be an absolute path" in text
    assert "watch[2].action: exec: goes with action: sync+exec, and only it" in text
    assert "watch[3].action: exec: goes with action: sync+exec, and only it" in text


def test_rebuild_needs_an_image_to_build(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    stack = load(
        tmp_path,
        """
        services:
          api:
            build: .
            develop: {watch: [{action: rebuild, path: ./src}]}
    """,
    )
    assert [r.action for r in from_stack(stack)] == ["rebuild"]
    with pytest.raises(SpecError, match=r"rebuild needs build: \(the image it builds again\)"):
        load(
            tmp_path,
            """
            services:
              api:
                command: x
                develop: {watch: [{action: rebuild, path: ./src}]}
        """,
        )


RULE = Rule("api", "sync", "/p/src", "/app", ignore=("*.log", "tmp/", "!tmp/keep"))


@pytest.mark.parametrize(
    ("path", "counts"),
    [
        ("/p/src/app.py", True),
        ("/p/src/deep/er/x.py", True),
        ("/p/src", True),
        ("/p/src2/app.py", False),  # beside the path, not below it
        ("/p/src/debug.log", False),
        ("/p/src/tmp/x", False),
        ("/p/src/tmp/keep", True),  # brought back by !
        ("/p/src/.git/HEAD", False),  # always left out: version control
        ("/p/src/lib/.app.py.swp", False),  # and editors' scratch files
        ("/p/src/app.py~", False),
        ("/p/src/4913", False),
    ],
)
def test_what_counts_below_a_rule(path, counts):
    assert RULE.covers(path) is counts


def test_include_keeps_only_what_it_names():
    rule = Rule("api", "restart", "/p", include=("**/*.py",))
    assert rule.covers("/p/a/b.py") and not rule.covers("/p/a/b.txt")


def test_a_burst_gives_each_rule_its_copies_and_removals():
    other = Rule("web", "restart", "/p/web")
    changed = {"/p/src/a.py", "/p/src/new", "/p/src/new/b.py", "/p/src/x.log", "/p/web/i.html"}
    sync, restart = batches([RULE, other], changed, removed={"/p/src/old.py"})
    assert sync.copies == (("/p/src/a.py", "/app/a.py"), ("/p/src/new", "/app/new"))
    assert sync.removed == ("/app/old.py",) and sync.changed == 3
    assert (restart.rule, restart.copies, restart.changed) == (other, (), 1)
    assert batches([RULE], {"/p/src/only.log"}, set()) == []


def test_a_rule_on_one_file():
    rule = Rule("tool", "restart", "/p/tool.py")
    assert rule.covers("/p/tool.py") and not rule.covers("/p/other.py")
    assert [b.changed for b in batches([rule], {"/p/tool.py", "/p/other.py"}, set())] == [1]
