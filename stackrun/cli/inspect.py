"""CLI verb: inspect. One instance as the supervisor knows it and as the kernel shows it."""

from __future__ import annotations

import json

import typer

from stackrun.cli.options import FilesOption, ProfileOption, ProjectOption, choice, format_option
from stackrun.cli.ps_output import ports_text
from stackrun.cli.running import cgroup_driver, open_project, select, wait

FORMATS = ("pretty", "json")


def register(app: typer.Typer) -> None:
    @app.command("inspect")
    def inspect(
        ctx: typer.Context,
        services: list[str] = typer.Argument(
            ..., metavar="SERVICE...", help="Services or instances."
        ),
        output_format: str = format_option("pretty", " (a list, like docker inspect)"),
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Show pid, namespaces next to the host's, cgroup limits and usage, addresses,
        published ports (as bound), mounts, restarts, health and OOM kills of instances."""
        from stackrun.control.observe import kernel_view

        choice("--format", output_format, FORMATS)
        name, project = open_project(ctx, files, project_name, profiles)
        driver = cgroup_driver(name)
        documents = []
        for status in select(wait(project.ps()), services, name):
            document = wait(project.inspect(status.name))
            document["Kernel"] = kernel_view(driver, status)
            document.setdefault("Addresses", list(status.addresses))
            # From the status: it carries the host port the kernel chose for "8000".
            document["Publishers"] = [vars(p) for p in status.publishers]
            documents.append(document)
        if output_format == "json":
            print(json.dumps(documents, indent=2))
        else:
            print("\n\n".join(pretty(d) for d in documents))


def pretty(document: dict) -> str:
    """A reading of the document for humans: the facts that matter, one per line."""
    state, kernel = document.get("State") or {}, document["Kernel"]
    lines = [
        f"{document['Name']}  (service {document['Service']}, project {document['Project']})",
        _row("State", f"{state.get('Status')}: {state.get('Text') or ''}"),
        _row(
            "Restarts",
            f"{document.get('RestartCount', 0)}, OOM kills {state.get('OOMKills', 0)}"
            + (", crash loop" if state.get("CrashLoop") else ""),
        ),
        _row("Pid", _pids(kernel)),
        *_health(state.get("Health")),
        _row("Namespaces", _namespaces(kernel["Namespaces"])),
        _row("Users", _users(kernel.get("User") or {})),
        _row("Cgroup", kernel["Cgroup"].get("Path", "")),
        *(
            _row("", f"{path} = {value}")
            for path, value in kernel["Cgroup"].get("Limits", {}).items()
        ),
        _row("Usage", _usage(kernel["Cgroup"].get("Usage"))),
        _row("Addresses", ", ".join(_addresses(document)) or "-"),
        _row("Ports", ports_text(document.get("Publishers") or []) or "-"),
        _row("Mounts", f"{len(kernel['Mounts'])} (inside the instance)"),
        *(_row("", f"{m['target']}  {m['fstype']}  {m['source']}") for m in kernel["Mounts"]),
    ]
    if state.get("Error"):
        lines.insert(2, _row("Error", state["Error"]))
    image = (document.get("Config") or {}).get("Image")
    if image:
        lines.insert(1, _row("Image", f"{image} ({document.get('Image', '')})"))
        lines.insert(2, _row("Digest", document.get("ImageDigest") or "-"))
    return "\n".join(lines)


def _row(label: str, value: str) -> str:
    return f"  {label:<11} {value}"


def _pids(kernel: dict) -> str:
    if not kernel.get("Pid"):
        return "- (not running)"
    inside = kernel["NSpid"][-1] if kernel["NSpid"] else "?"
    return f"{kernel['Pid']} on the host, {inside} inside; {kernel['Processes']} processes"


def _health(health: dict | None) -> list[str]:
    if not health:
        return []
    lines = [_row("Health", f"{health['Status']}, failing streak {health.get('FailingStreak', 0)}")]
    for probe in (health.get("Log") or [])[-3:]:
        output = " ".join(str(probe.get("Output", "")).split())[:80]
        lines.append(_row("", f"exit {probe.get('ExitCode')}: {output}"))
    return lines


def _namespaces(namespaces: dict) -> str:
    if not namespaces:
        return "-"
    return ", ".join(
        f"{kind} {n['Instance']}{' (host)' if n['Shared'] else ''}"
        for kind, n in namespaces.items()
    )


def _users(view: dict) -> str:
    if not view:
        return "-"
    if view["Mode"] == "host":
        return "the host's (userns_mode: host: root inside is root on the host)"
    ranges = ", ".join(
        f"{kind} {inside}-{inside + count - 1} -> {host}-{host + count - 1}"
        for kind, lines in (("uid", view["UidMap"]), ("gid", view["GidMap"]))
        for inside, host, count in lines
    )
    return f"private: {ranges} on the host"


def _usage(usage: dict | None) -> str:
    if not usage:
        return "-"
    limit = usage.get("memory_limit")
    memory = f"{usage['memory'] / 2**20:.1f} MiB" + (
        f" of {limit / 2**20:.0f} MiB" if limit else ""
    )
    return f"memory {memory}, cpu {usage['cpu_usec'] / 1e6:.2f} s, pids {usage['pids']}"


def _addresses(document: dict) -> list[str]:
    networks = document.get("Networks")
    if networks:
        return [
            f"{n.get('IPAddress')} ({name}, {n.get('Interface')})" for name, n in networks.items()
        ]
    return list(document.get("Addresses") or [])
