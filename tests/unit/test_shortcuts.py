"""The start-up shortcuts (stackrun/shortcuts.py) change no output, and still take effect:
the tests here fail, saying what moved, when pydantic's private API changes under them.
The cached validator validates exactly as the one pydantic builds, and a missing, stale or
damaged cache only costs a rebuild. (The fast path's own tests: spec/test_cli_fast.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stackrun import shortcuts
from tests.helpers.python import REPO, run_program

EXAMPLES = sorted(str(path) for path in (REPO / "examples").glob("*/stack.yaml"))
INVALID = {
    "key.yaml": "services:\n  a: {command: x, restrat: always}\n",
    "restart.yaml": "services:\n  a: {command: x, restart: sometimes}\n",
    "size.yaml": "services:\n  a: {command: x, mem_limit: lots, ports: ['99999:1']}\n",
    "cycle.yaml": "services:\n  a: {command: x, depends_on: [b]}\n  b: {command: x, depends_on: [a]}\n",
    "mode.yaml": "services:\n  a: {command: x, volumes: [{type: tmpfs, target: /t, tmpfs: {mode: 9}}]}\n",
}

_PROGRAM = """
import json, sys
from pathlib import Path
from stackrun import spec
from stackrun.errors import SpecError
from stackrun import shortcuts
from stackrun.spec.models import Stack

how = shortcuts.prepare_validator(Stack, Path(sys.argv[1]))
results = {}
for path in sys.argv[2:]:
    options = spec.LoadOptions(files=(path,), environ={"SITE_PORT": "9090"}, profiles=("*",))
    try:
        results[path] = spec.load(options).model_dump(mode="json", by_alias=True)
    except SpecError as error:
        results[path] = [str(diagnostic) for diagnostic in error.diagnostics]
print(json.dumps({"how": how, "results": results}))
"""


def validate_all(cache: Path, files: list[str]) -> tuple[str, dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = run_program(_PROGRAM, str(cache), *files, env=env, timeout=120)
    answer = json.loads(done.stdout)
    return answer["how"], answer["results"]


@pytest.fixture
def files(tmp_path) -> list[str]:
    for name, text in INVALID.items():
        (tmp_path / name).write_text(text)
    return EXAMPLES + [str(tmp_path / name) for name in INVALID]


def test_the_cached_validator_validates_as_the_built_one(tmp_path, files):
    cache = tmp_path / "cache" / "stack-validator.pickle"
    how, built = validate_all(cache, files)
    assert how == "built" and cache.is_file()
    how, cached = validate_all(cache, files)
    assert how == "cached"
    assert cached == built
    assert all(isinstance(built[path], dict) for path in EXAMPLES)
    assert all(isinstance(built[path], list) and built[path] for path in files[len(EXAMPLES) :])


@pytest.mark.parametrize("damage", [b"", b"not a pickle", b"\x80\x05K\x01."])
def test_a_damaged_cache_is_rebuilt(tmp_path, files, damage):
    cache = tmp_path / "stack-validator.pickle"
    _, built = validate_all(cache, files)
    cache.write_bytes(damage)
    how, results = validate_all(cache, files)
    assert how == "built" and results == built
    assert validate_all(cache, files)[0] == "cached"


def test_a_changed_spec_module_changes_the_key(tmp_path):
    from stackrun import shortcuts

    for path in Path(shortcuts.SPEC_DIR).glob("*.py"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    key = shortcuts.cache_key(tmp_path)
    assert shortcuts.cache_key(tmp_path) == key
    models = tmp_path / "models.py"
    os.utime(models, ns=(models.stat().st_atime_ns, models.stat().st_mtime_ns + 1))
    assert shortcuts.cache_key(tmp_path) != key
    (tmp_path / "new.py").write_text("")
    assert shortcuts.cache_key(tmp_path) != shortcuts.cache_key(shortcuts.SPEC_DIR)


def run_python(program: str, *args: str, shortcuts: bool = True) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYDANTIC_DISABLE_PLUGINS", None)
    env["STACKRUN_NO_SHORTCUTS"] = "" if shortcuts else "1"
    return json.loads(run_program(program, *args, env=env).stdout)


_PLUGINS = """
import json, sys
from stackrun import shortcuts
from stackrun.spec.models import Stack
Stack.model_rebuild()
print(json.dumps({"skipped": shortcuts.pydantic_plugins_skipped(),
                  "metadata": "importlib.metadata" in sys.modules}))
"""


def test_pydantic_finds_no_plugins_to_look_for():
    """pydantic imports importlib.metadata to discover plugins when it builds a validator;
    with the stub in place it must not. If it does, pydantic moved its plugin loader (the
    stub sits at shortcuts.PLUGIN_LOADER): find where it went and follow it."""
    assert run_python(_PLUGINS) == {"skipped": True, "metadata": False}, (
        f"pydantic no longer asks {shortcuts.PLUGIN_LOADER}.get_plugins for its plugins"
    )
    assert run_python(_PLUGINS, shortcuts=False) == {"skipped": False, "metadata": True}


_BUILT = """
import json
from stackrun import shortcuts
from stackrun.spec.models import Stack
def same(old, new):  # a rebuilt dict of equal contents is the same; never compare mocks
    return old is new or type(old) is type(new) is dict and old == new
before = {k: v for k, v in vars(Stack).items() if k.startswith("__pydantic")}
Stack.model_rebuild()
after = {k: v for k, v in vars(Stack).items() if k.startswith("__pydantic")}
print(json.dumps({
    "changed": sorted(k for k in after if not same(before.get(k), after[k])),
    "types": [type(getattr(Stack, name)).__name__ for name in shortcuts.VALIDATOR_ATTRIBUTES],
}))
"""


def test_building_the_stack_model_sets_only_what_the_cache_restores():
    """What pydantic's model_rebuild() sets on `Stack` is what the cache stores and sets
    back; a new attribute would be missing from a model loaded from the cache."""
    built = run_python(_BUILT)
    assert built["changed"] == sorted({*shortcuts.VALIDATOR_ATTRIBUTES, "__pydantic_complete__"})
    assert built["types"] == ["dict", "SchemaValidator", "SchemaSerializer"]


_CACHED = """
import json, sys
from pathlib import Path
from stackrun import shortcuts, spec
from stackrun.spec.models import Stack
how = shortcuts.prepare_validator(Stack, Path(sys.argv[1]))
validator = Stack.__pydantic_validator__
spec.load(spec.LoadOptions(files=(sys.argv[2],), environ={}))
print(json.dumps({"how": how, "kept": Stack.__pydantic_validator__ is validator}))
"""


def test_pydantic_validates_with_the_cached_validator(tmp_path):
    """Loaded from the cache, the validator is the one validation uses: pydantic does not
    rebuild a model that says it is complete."""
    cache, stack = str(tmp_path / "cache.pickle"), EXAMPLES[0]
    assert run_python(_CACHED, cache, stack) == {"how": "built", "kept": True}
    assert run_python(_CACHED, cache, stack) == {"how": "cached", "kept": True}


def test_no_shortcut_no_cache(tmp_path):
    cache = tmp_path / "cache.pickle"
    assert run_python(_CACHED, str(cache), EXAMPLES[0], shortcuts=False)["how"] == "built"
    assert not cache.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["config", "-f", "examples/webapp/stack.yaml"],
        ["config", "-f", "examples/webapp/stack.yaml", "--format", "json", "--profile", "*"],
        ["validate", "-f", "tests/unit/spec/missing.yaml"],
        ["-p", "nothing-runs-here", "ps", "--format", "json"],
    ],
)
def test_the_output_is_the_same_without_the_shortcuts(argv, tmp_path):
    def run(shortcuts: bool) -> tuple[int, str, str]:
        env = {**os.environ, "PYTHONPATH": str(REPO), "STACKRUN_RUN_DIR": str(tmp_path)}
        env["STACKRUN_NO_SHORTCUTS"] = "" if shortcuts else "1"
        done = subprocess.run(
            [sys.executable, "-m", "stackrun", *argv],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.returncode, done.stdout, done.stderr

    assert run(shortcuts=True) == run(shortcuts=False)


_COLLECTOR = """
import gc, json, sys
sys.argv = ["stackrun", "--no-such-option"]  # not the fast path's: typer's
import stackrun.cli.entry as entry  # what the console script imports first
loading = gc.isenabled()
import stackrun.cli.app as app
app.main = lambda: print(json.dumps({"loading": loading, "typer": gc.isenabled(),
                                     "frozen": gc.get_freeze_count() > 0}))
entry.main()
"""

_LIBRARY = """
import gc, json
import stackrun.cli.app, stackrun.cli.main  # as the tests import them
print(json.dumps({"collecting": gc.isenabled()}))
"""


def test_the_collector_waits_while_the_cli_loads_and_runs_for_the_typer_app():
    """Shortcut 9: no collection while a command loads; the typer app's commands, which
    may run for long (`up`, `logs -f`), get the collector back, what was loaded frozen.
    Only the entry point stops it: importing the CLI's modules leaves it alone."""
    assert run_python(_COLLECTOR) == {"loading": False, "typer": True, "frozen": True}
    assert run_python(_COLLECTOR, shortcuts=False) == {
        "loading": True,
        "typer": True,
        "frozen": False,
    }
    assert run_python(_LIBRARY) == {"collecting": True}
