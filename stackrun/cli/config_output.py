"""What `config` prints: the resolved stack as YAML or JSON, or the start order.

Free of typer: run by the typer command (cli/spec.py) and by the fast path
(cli/fast.py). The loader, pydantic and yaml are imported when it runs.
"""

from __future__ import annotations

import sys

from stackrun.cli.project import ProjectOptions

FORMATS = ("yaml", "json")


def print_config(opts: ProjectOptions, output: str, services: bool, quiet: bool) -> None:
    """Validate the stack; unless `quiet`, print it (or its services in start order)."""
    from stackrun.cli.project import load_stack

    stack = load_stack(opts)
    if quiet:
        return
    if services:
        sys.stdout.write("".join(f"{name}\n" for name in start_order(stack)))
        return
    from stackrun.spec import extensions
    from stackrun.spec.interpolate import escape_values

    data = with_userns_modes(stack).model_dump(mode="json", by_alias=True, exclude_unset=True)
    data = extensions.restore(data, stack.extensions)
    sys.stdout.write(render(escape_values(data), output))


def with_userns_modes(stack):
    """Every service says which user namespace it runs in (`userns_mode`), also where the
    mode comes from the project's default (`x-stackrun.userns`, else private)."""
    services = {
        name: service.model_copy(update={"userns_mode": stack.userns_mode(name)})
        for name, service in stack.services.items()
    }
    return stack.model_copy(update={"services": services})


def start_order(stack) -> list[str]:
    from stackrun.spec.depends_on import dependency_order

    edges = {name: list(service.depends_on) for name, service in stack.services.items()}
    return dependency_order(list(stack.services), edges)


def render(data: dict, output: str) -> str:
    if output == "json":
        import json

        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(
        data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
