"""The cached validator (spec/validator_cache.py) validates exactly as the one pydantic
builds, and a missing, stale or damaged cache only costs a rebuild."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
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
from stackrun.spec import validator_cache
from stackrun.spec.models import Stack

how = validator_cache.prepare(Stack, Path(sys.argv[1]))
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
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM, str(cache), *files],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
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
    from stackrun.spec import validator_cache

    for path in validator_cache.SPEC_DIR.glob("*.py"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    key = validator_cache.cache_key(tmp_path)
    assert validator_cache.cache_key(tmp_path) == key
    models = tmp_path / "models.py"
    os.utime(models, ns=(models.stat().st_atime_ns, models.stat().st_mtime_ns + 1))
    assert validator_cache.cache_key(tmp_path) != key
    (tmp_path / "new.py").write_text("")
    assert validator_cache.cache_key(tmp_path) != validator_cache.cache_key(
        validator_cache.SPEC_DIR
    )
