"""Start-up cost of pydantic, which `stackrun config` pays on every run (target: 250 ms).

The first validator pydantic builds looks for plugins through package metadata:
importing `importlib.metadata` (and `email`, `zipfile`, `csv`…) costs ~20 ms here,
and stackrun's internal models want no plugins. We pre-register an empty plugin
loader for the pydantic 2 versions whose loader has this shape; on any other version
nothing changes, only that saving is lost.
"""

from __future__ import annotations

import os
import sys
import types

_LOADER = "pydantic.plugin._loader"


def skip_plugin_discovery() -> None:
    if _LOADER in sys.modules or os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in (None, ""):
        return  # already loaded, or the user chose which plugins run
    import pydantic.version

    major, minor = (int(part) for part in pydantic.version.VERSION.split(".")[:2])
    if major != 2 or minor < 6:
        return
    loader = types.ModuleType(_LOADER, "stackrun: no pydantic plugins for the stack-file models")
    loader.get_plugins = lambda: ()
    sys.modules[_LOADER] = loader


def plugins_skipped() -> bool:
    """Whether pydantic runs without plugins here (our empty loader is in place)."""
    loader = sys.modules.get(_LOADER)
    return (
        loader is not None and loader.__doc__ is not None and loader.__doc__.startswith("stackrun:")
    )
