"""The stack file: YAML (with positions) -> interpolated, merged, validated, frozen `Stack`.

    from stackrun import spec
    stack = spec.load(spec.LoadOptions(files=("stack.yaml",), environ=os.environ))

`load` raises `stackrun.errors.SpecError` holding every problem, each located at
FILE:LINE:COL with its key path. Importing this package is cheap: pydantic is only
imported when a stack is loaded (or `Stack` is used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stackrun.spec.options import LoadOptions

if TYPE_CHECKING:
    from stackrun.spec.loader import load
    from stackrun.spec.models import Stack

__all__ = ["LoadOptions", "Stack", "load"]


def __getattr__(name: str) -> Any:
    if name == "load":
        from stackrun.spec.loader import load

        return load
    if name == "Stack":
        from stackrun.spec.models import Stack

        return Stack
    raise AttributeError(f"module 'stackrun.spec' has no attribute {name!r}")
