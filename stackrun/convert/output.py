"""Objects as YAML: one stream of documents (stdout or one file), or a file per object.

Text that spans lines (a ConfigMap's files) is written as a literal block, as a person
would write it. A file is written whole or not at all (a temporary file, then rename).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Any

import yaml

from stackrun.errors import StackrunError

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Writer(_Dumper):  # type: ignore[valid-type, misc]
    def ignore_aliases(self, data: Any) -> bool:
        return True  # no &id001 anchors where two fields hold the same value


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Writer.add_representer(str, _text)


def document(item: dict[str, Any]) -> str:
    return yaml.dump(
        item,
        Dumper=_Writer,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 16,  # long command lines stay on one line
    )


def stream(objects: tuple[dict[str, Any], ...]) -> str:
    """A multi-document stream, each document after `---`."""
    return "".join(f"---\n{document(item)}" for item in objects)


def file_name(item: dict[str, Any]) -> str:
    """`api-deployment.yaml`: unique, since a name is unique among the objects of a kind."""
    return f"{item['metadata']['name']}-{item['kind'].lower()}.yaml"


def write(objects: tuple[dict[str, Any], ...], target: str) -> list[str]:
    """`-`: stdout; `*.yaml`/`*.yml` (not a directory): one file; else a directory with a
    file per object. Returns the paths written."""
    if target == "-":
        sys.stdout.write(stream(objects))
        return []
    if target.endswith((".yaml", ".yml")) and not os.path.isdir(target):
        _write_file(target, stream(objects))
        return [target]
    try:
        os.makedirs(target, exist_ok=True)
    except OSError as error:
        raise StackrunError(f"cannot create the directory {target}: {error.strerror}") from None
    written = []
    for item in objects:
        path = os.path.join(target, file_name(item))
        _write_file(path, document(item))
        written.append(path)
    return written


def _write_file(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    temporary = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=directory, prefix=".stackrun-", delete=False
        ) as file:
            temporary = file.name
            file.write(text)
        os.replace(temporary, path)
    except OSError as error:
        if temporary:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise StackrunError(f"cannot write {path}: {error.strerror}") from None
