"""Shortcuts 7 and 8 (stackrun/shortcuts.py): the code the dataclasses module compiles for
each class's methods, cached by source text; inspect imported only when a class without a
docstring needs it. A class made from the cache behaves as one made without it; a damaged
or unwritable cache only costs the compilation; and the test fails if the dataclasses
module stops compiling its methods through the `exec` we replace."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from stackrun import shortcuts
from tests.helpers.python import REPO, run_program

# Defines dataclasses of every kind stackrun uses, then prints what they do.
_PROGRAM = """
import json, pickle, sys
from pathlib import Path
from stackrun import shortcuts
methods = shortcuts.compiled_dataclass_methods(Path(sys.argv[1]))
import dataclasses
loaded_with_dataclasses = "inspect" in sys.modules
from dataclasses import dataclass, field, replace, FrozenInstanceError

@dataclass(frozen=True)
class Documented:
    'Its own docstring: no signature to make.'
    a: int

loaded_for_a_documented_class = "inspect" in sys.modules

@dataclass(frozen=True)
class Limits:
    memory: int | None = None
    names: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, compare=False)

@dataclass(order=True)
class Point:
    x: int
    y: int = 2

@dataclass(frozen=True, slots=True)
class Slotted:
    a: str
    b: float = 1.5

frozen = Limits(5, ("a",))
try:
    frozen.memory = 6
    refused = False
except FrozenInstanceError:
    refused = True
result = {
    "repr": [repr(frozen), repr(Point(1)), repr(Slotted("s"))],
    "eq": [frozen == Limits(5, ("a",), {"x": 1}), Point(1) < Point(2), Slotted("s") == Slotted("s")],
    "hash": hash(frozen) == hash(Limits(5, ("a",))),
    "frozen": refused,
    "replace": repr(replace(frozen, memory=7)),
    "pickle": pickle.loads(pickle.dumps(frozen)) == frozen,
    "fields": [f.name for f in dataclasses.fields(Limits)],
    "defaults": repr(Limits()),
    "init_annotations": sorted(Point.__init__.__annotations__),
    "compiled": None if methods is None else sum(len(new) for new in methods.new.values()),
    "known": None if methods is None else sum(len(known) for known in methods.known.values()),
    "docs": [Documented.__doc__, Limits.__doc__, Point.__doc__, Slotted.__doc__],
    "inspect": [loaded_with_dataclasses, loaded_for_a_documented_class, "inspect" in sys.modules],
}
if methods is not None:
    methods.save()
print(json.dumps(result))
"""


def run(cache: Path, **env: str) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "", **env}
    return json.loads(run_program(_PROGRAM, str(cache), env=environment).stdout)


def behaviour(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("compiled", "known", "inspect")}


def test_classes_made_from_the_cache_behave_as_without_it(tmp_path):
    cache = tmp_path / "methods"
    without = run(cache, STACKRUN_NO_SHORTCUTS="1")
    assert without["compiled"] is None and not cache.exists()
    first = run(cache)
    assert first["compiled"] > 0, "dataclasses no longer compiles its methods through exec"
    assert cache.exists()
    second = run(cache)
    assert second["compiled"] == 0 and second["known"] == first["compiled"]
    assert behaviour(first) == behaviour(second) == behaviour(without)
    assert (
        first["docs"][1] == "Limits(memory: int | None = None, names: tuple[str, ...] = (), "
        "extra: dict = <factory>)"
    )  # made by inspect, imported when it was needed


def test_inspect_loads_only_for_a_class_without_a_docstring(tmp_path):
    cache = tmp_path / "methods"
    assert run(cache)["inspect"] == [False, False, True]
    assert run(cache, STACKRUN_NO_SHORTCUTS="1")["inspect"] == [True, True, True]


def test_a_damaged_cache_only_costs_the_compilation(tmp_path):
    cache = tmp_path / "methods"
    run(cache)
    good = run(cache)
    (stored,) = cache.iterdir()  # the program's classes are all in its __main__
    assert stored.name == "__main__.marshal"
    for damage in (b"", b"\x00garbage", stored.read_bytes()[:100]):
        stored.write_bytes(damage)
        result = run(cache)
        assert behaviour(result) == behaviour(good)
        assert result["compiled"] == good["known"]  # compiled again, and stored again
        assert run(cache)["compiled"] == 0


def test_an_unwritable_cache_directory_is_no_error(tmp_path):
    (tmp_path / "a-file").write_text("")  # where a directory should be: root cannot either
    cache = tmp_path / "a-file" / "methods"
    result = run(cache)
    assert result["compiled"] > 0 and run(cache)["compiled"] == result["compiled"]


def test_the_cache_compiles_as_the_dataclasses_module_does(tmp_path):
    """No future flags of our own module leak into the methods (their annotations stay
    objects, not strings, as without the cache)."""
    methods = shortcuts.CompiledMethods(tmp_path / "none")
    namespace: dict = {}
    methods("def f(x: int) -> int:\n    return x\n", {}, namespace)
    assert namespace["f"].__annotations__ == {"x": int, "return": int}
    assert len(methods.new) == 1


def test_a_full_cache_keeps_what_the_process_used(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    cache = tmp_path / "methods"
    module, other = {"__name__": "app.model"}, {"__name__": "app.other"}
    old = shortcuts.CompiledMethods(cache)
    for index in range(5):
        old(f"x{index} = {index}\n", module, {})
    old("w = 1\n", other, {})
    old.save()
    monkeypatch.setattr(shortcuts, "METHODS_KEPT", 6)
    methods = shortcuts.CompiledMethods(cache)
    methods("x1 = 1\n", module, {})  # used: kept
    methods("y = 1\n", module, {})
    methods("z = 1\n", module, {})  # 5 stored + 2 new > 6: the unused old ones go
    methods.save()
    stored = shortcuts._read_methods(methods.file("app.model"))
    assert set(stored) == {"x1 = 1\n", "y = 1\n", "z = 1\n"}
    assert set(shortcuts._read_methods(methods.file("app.other"))) == {"w = 1\n"}  # its own


def test_a_process_reads_the_files_of_the_modules_it_defines_classes_in(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    cache = tmp_path / "methods"
    first = shortcuts.CompiledMethods(cache)
    first("a = 1\n", {"__name__": "app.model"}, {})
    first("b = 1\n", {"__name__": "app.other"}, {})
    first.save()
    assert sorted(p.name for p in cache.iterdir()) == ["app.model.marshal", "app.other.marshal"]
    second = shortcuts.CompiledMethods(cache)
    second("a = 1\n", {"__name__": "app.model"}, {})
    assert set(second.known) == {"app.model"} and not second.new  # app.other's: never read
