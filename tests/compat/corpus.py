"""The compat corpus: real compose files, how stackrun's loader reads them, in one summary.

`outcome(path, environ)` loads a file as `stackrun config` would: "loads", "pending:
build" (errors about nothing but `build:`, whose services then have nothing to run:
issue "Builds"), or "refused: KEY.PATH" (the first other error's key path).
`meaning(path, environ)` reads from the composed and normalised file each service's
published ports, dependencies, environment names and mount targets, to compare with what
the Compose specification says the file means (corpus.json; `python -m
tests.compat.corpus` prints it anew, to review when the loader changes, e.g. once build:
runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stackrun import spec
from stackrun.errors import SpecError
from stackrun.spec.composition import Composer, Scope, read_file
from stackrun.spec.diagnostics import Report
from stackrun.spec.environment import project_environment
from stackrun.spec.merge import merge_files

FILES = Path(__file__).with_name("files")
PENDING = {".build": "pending: build"}


def corpus_files() -> list[Path]:
    return sorted(p for p in FILES.rglob("*") if p.suffix in (".yaml", ".yml"))


def outcome(path: Path, environ: dict[str, str]) -> str:
    options = spec.LoadOptions(files=(str(path),), environ=environ, working_dir=str(path.parent))
    try:
        spec.load(options)
    except SpecError as error:
        return _classify(error)
    return "loads"


def _classify(error: SpecError) -> str:
    pending = set()
    for diagnostic in error.diagnostics:
        kind = next((v for k, v in PENDING.items() if diagnostic.path.endswith(k)), None)
        if kind:
            pending.add(kind)
        elif "nothing to run" not in diagnostic.message:
            return f"refused: {diagnostic.path}"
    return " + ".join(sorted(pending)) or "refused: nothing to run"


def meaning(path: Path, environ: dict[str, str]) -> dict[str, Any]:
    """Per service: published ports, dependencies, environment names, mount targets."""
    report = Report()
    env = project_environment(path.parent, environ, report)
    tree = read_file(path, report)
    if tree is None:
        return {}
    Composer(report).compose(tree, path, Scope(path.parent, env, (path,)))
    services = merge_files([tree]).get("services") or {}
    return {name: _service(service) for name, service in sorted(services.items())}


def _service(service: dict) -> dict[str, Any]:
    ports = [
        f"{p.get('host_ip', '') + ':' if p.get('host_ip') else ''}"
        f"{str(p['published']) + ':' if p.get('published') else ''}{p.get('target')}/{p.get('protocol', 'tcp')}"
        for p in service.get("ports") or []
        if isinstance(p, dict)
    ]
    return {
        "ports": ports,
        "depends_on": sorted(service.get("depends_on") or {}),
        "environment": sorted(service.get("environment") or {}),
        "mounts": [v.get("target") for v in service.get("volumes") or [] if isinstance(v, dict)],
    }


def record(environ: dict[str, str]) -> dict[str, Any]:
    """What corpus.json holds, as stackrun reads the files now: review before keeping."""
    return {
        str(path.relative_to(FILES)): {
            "outcome": outcome(path.absolute(), environ),
            "services": meaning(path.absolute(), environ),
        }
        for path in corpus_files()
    }


if __name__ == "__main__":  # python -m tests.compat.corpus > tests/compat/corpus.json
    import json

    from tests.compat.test_corpus import ENVIRON

    print(json.dumps(record(ENVIRON), indent=1))
