"""The project's chain in iptables' filter table, through iptables' own tools.

    filter_table_exists(flavor)          whether iptables-nft or -legacy has a filter table
    install(flavor, names, networks)     our chain, filled; a jump to it atop FORWARD
    remove(flavor, names) -> bool        the jump(s) and the chain, if there

iptables-nft's tables are nftables tables, but rules in them must stay readable by
iptables-nft (which cannot show what nftables alone can express): so they are written by
iptables-nft-restore, like any iptables user's. iptables-legacy is another kernel table
that only its tools reach. Both take the same input: one `iptables-restore --noflush`
transaction installs; deletions name exactly our rule and our chain. Existence is asked
by exit status (-C, -S); the one output read is whether iptables-nft-save prints a
`*filter` table at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from stackrun.plan.model import NetworkPlan
from stackrun.plan.names import ProjectNames
from stackrun.runtime.network import ruleset
from stackrun.runtime.network.nft import NetfilterError

if TYPE_CHECKING:
    import subprocess

FLAVORS = ("nft", "legacy")
LEGACY_TABLES = Path("/proc/net/ip_tables_names")
MAX_JUMPS = 16  # copies of our jump rule deleted at most (there is one)
TIMEOUT = 30.0  # seconds: -w waits for the xtables lock that other tools may hold


def legacy_tables() -> list[str]:
    """iptables-legacy's tables that exist in this network namespace (read, not loaded:
    asking iptables-legacy would create its filter table)."""
    try:
        return LEGACY_TABLES.read_text().split()
    except OSError:
        return []


def filter_table_exists(flavor: str) -> bool:
    """Whether this iptables has a filter table, asked without creating one: iptables-legacy's
    are listed in /proc; iptables-nft-save prints the tables that exist (asked where
    libnftables, which shows iptables-nft's tables directly, is missing)."""
    if flavor == "legacy":
        return "filter" in legacy_tables()
    done = _run("nft", "-save", [], check=False)  # with -t, it prints an empty table anyway
    return done is not None and "*filter" in done.stdout.splitlines()


def install(
    flavor: str, names: ProjectNames, networks: Iterable[NetworkPlan], jump: bool | None = None
) -> None:
    """Fill our chain (created if needed) and put one jump to it at the top of FORWARD.
    `jump`: whether the jump is missing, when the caller knows; else iptables is asked."""
    if jump is None:
        jump = not _succeeds(flavor, ["-C", "FORWARD", *ruleset.iptables_jump(names)])
    text = ruleset.iptables_hole(names, networks, jump)
    _run(flavor, "-restore", ["--noflush"], stdin=text)


def remove(flavor: str, names: ProjectNames, present: bool = False) -> bool:
    """Delete our jump(s) from FORWARD and our chain; False when there was none.
    `present`: the caller knows the chain exists (else iptables is asked)."""
    chain = names.iptables_chain
    if not present and not _succeeds(flavor, ["-S", chain]):
        return False
    done = _run(flavor, "-restore", ["--noflush"], stdin=_removal(names), check=False)
    if done is not None and done.returncode == 0:
        return True  # the usual case: one jump, one transaction
    for _ in range(MAX_JUMPS):  # none, or several: one by one
        if not _succeeds(flavor, ["-D", "FORWARD", *ruleset.iptables_jump(names)]):
            break
    _run(flavor, "", ["-F", chain])
    _run(flavor, "", ["-X", chain])
    return True


def _removal(names: ProjectNames) -> str:
    chain, comment = names.iptables_chain, ruleset.iptables_jump(names)[3]
    return "\n".join(
        [
            "*filter",
            f'-D FORWARD -m comment --comment "{comment}" -j {chain}',
            f"-F {chain}",
            f"-X {chain}",
            "COMMIT",
            "",
        ]
    )


def command(flavor: str) -> str:
    return f"iptables-{flavor}"


def present(flavor: str) -> bool:
    return _which(command(flavor)) is not None


def _which(program: str) -> str | None:
    import shutil  # here, as subprocess below: only hosts whose firewall is iptables' need it

    return shutil.which(program)


def _succeeds(flavor: str, args: list[str]) -> bool:
    done = _run(flavor, "", ["-t", "filter", *args], check=False)
    return done is not None and done.returncode == 0


def _run(
    flavor: str, suffix: str, args: list[str], stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str] | None:
    """Run iptables-<flavor><suffix> -w ARGS; None when it is not installed (check=False)."""
    program = _which(command(flavor) + suffix)
    if program is None:
        if not check:
            return None
        raise NetfilterError(
            f"change iptables' {flavor} filter table",
            f"{command(flavor)}{suffix} is not installed (package iptables)",
        )
    import subprocess

    argv = [program, "-w", *args] if suffix != "-save" else [program, *args]
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if check and done.returncode != 0:
        detail = done.stderr.strip().splitlines()[:1] or [f"exit status {done.returncode}"]
        raise NetfilterError(f"{' '.join(argv[:1] + args)}", detail[0])
    return done
