"""Every object checked before anything is written: against the official JSON schemas of
the target Kubernetes version, in strict mode (an unknown field fails), as
`kubernetes-validate --strict` checks them; then against the API server's own rules
that the schemas do not carry (`rules.py`). A failure is a bug in the converter.

kubernetes-validate (the `kubernetes` extra) is imported only here, when converting.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

from stackrun.convert import rules
from stackrun.errors import ManifestError, StackrunError

INSTALL = (
    "converting to Kubernetes checks every object against the official schemas, which the "
    "kubernetes-validate package holds: pip install 'stackrun[kubernetes]'"
)
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(\.\d+)?$")


def library() -> ModuleType:
    try:
        from kubernetes_validate import utils  # type: ignore[import-untyped]
    except ImportError:
        raise StackrunError(INSTALL) from None
    return utils


def versions() -> list[str]:
    """The Kubernetes versions (major.minor) whose schemas are bundled, oldest first."""
    found = {".".join(v.split(".")[:2]) for v in library().all_versions()}
    return sorted(found, key=lambda v: tuple(int(part) for part in v.split(".")))


def target(wanted: str | None) -> str:
    """--k8s-version as a bundled major.minor; the newest when not given."""
    bundled = versions()
    if wanted is None:
        return bundled[-1]
    match = _VERSION.match(wanted)
    chosen = f"{match.group(1)}.{match.group(2)}" if match else None
    if chosen not in bundled:
        raise StackrunError(
            f"--k8s-version {wanted}: the schemas at hand are those of Kubernetes "
            f"{bundled[0]} to {bundled[-1]}: choose one of those (e.g. {bundled[-1]}), or "
            "upgrade kubernetes-validate"
        )
    return chosen


def validate(objects: tuple[dict[str, Any], ...], version: str) -> None:
    """Raise ManifestError for the first object Kubernetes `version` would refuse."""
    utils = library()
    for item in objects:
        kind, name = item.get("kind", "?"), item.get("metadata", {}).get("name", "?")
        try:
            utils.validate(item, version, strict=True)
        except utils.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            raise ManifestError(kind, name, version, where, error.message) from None
        except utils.SchemaNotFoundError:
            raise ManifestError(kind, name, version, "", "no schema for this kind") from None
        for where, reason in rules.problems(item):
            raise ManifestError(kind, name, version, where, reason)
