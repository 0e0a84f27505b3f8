"""develop.watch as rules, and what a set of changed paths asks of each. Pure.

A rule watches a host path (a directory, or one file) of its service; a change below it
counts unless `ignore` leaves it out or `include` does not name it. The patterns read as
a .dockerignore does (moby's matcher: `*`, `**`, `?`, `!` exceptions, relative to the
rule's path), as in Compose; editors' scratch files and version control are always left
out.

    rules = from_stack(stack)
    for batch in batches(rules, changed={"/p/src/app.py"}, removed=set()):
        batch.rule.action, batch.copies, batch.removed
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field

from stackrun.images.dockerfile.ignore import Matcher

# Never a reason to act: version control, and what editors write beside a file they save
# (vim's swap files and its 4913 probe, emacs' backups and locks).
ALWAYS_IGNORED = ("**/.git", "**/.hg", "**/.svn", "**/*~", "**/.*.sw[a-p]", "**/4913", "**/.#*")
SYNCING = ("sync", "sync+restart", "sync+exec")


@dataclass(frozen=True)
class ExecStep:
    """What sync+exec runs in the instance after the sync."""

    argv: tuple[str, ...]
    user: str | None = None
    workdir: str | None = None
    env: tuple[str, ...] = ()  # KEY=VALUE


@dataclass(frozen=True)
class Rule:
    service: str
    action: str  # sync, restart, sync+restart, sync+exec, rebuild
    path: str  # absolute host path, normalized
    target: str | None = None  # absolute path in the instance (sync actions)
    ignore: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    initial_sync: bool = False
    run: ExecStep | None = None
    _ignored: Matcher = field(init=False, repr=False, compare=False)
    _included: Matcher | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = [*ALWAYS_IGNORED, *self.ignore]
        object.__setattr__(self, "_ignored", Matcher([(p, n) for n, p in enumerate(patterns)]))
        included = Matcher([(p, n) for n, p in enumerate(self.include)]) if self.include else None
        object.__setattr__(self, "_included", included)

    def covers(self, path: str) -> bool:
        """Whether a change of `path` (absolute, on the host) concerns this rule."""
        relative = self.relative(path)
        if relative is None or self._ignored.excluded(relative):
            return False
        return self._included is None or relative == "." or self._included.excluded(relative)

    def follows(self, directory: str) -> bool:
        """Whether a directory below the path may hold a change that counts: not one its
        ignore patterns leave out whole (with a `!` exception, anything may come back)."""
        relative = self.relative(directory)
        if relative is None:
            return False
        reincluded = any(p.startswith("!") for p in self.ignore)
        return reincluded or not self._ignored.excluded(relative)

    def relative(self, path: str) -> str | None:
        """`path` below the rule's path ("." for the path itself); None when outside."""
        if path == self.path:
            return "."
        if not path.startswith(self.path.rstrip("/") + "/"):
            return None
        return path[len(self.path.rstrip("/")) + 1 :]

    def target_of(self, path: str) -> str:
        """Where `path` goes in the instance."""
        assert self.target is not None
        relative = self.relative(path)
        return self.target if relative in (None, ".") else posixpath.join(self.target, relative)

    def skips(self, path: str) -> bool:
        """For an initial sync: what never goes with the directory copied."""
        return not self.covers(path)


@dataclass(frozen=True)
class Batch:
    """What one rule does after a burst of changes."""

    rule: Rule
    copies: tuple[tuple[str, str], ...] = ()  # (host path, path in the instance)
    removed: tuple[str, ...] = ()  # paths in the instance
    changed: int = 0  # host paths that counted


def from_stack(stack, services: tuple[str, ...] = ()) -> list[Rule]:
    """The rules of the stack's services (those named, or all); host paths resolved
    against the project directory."""
    rules = []
    for name, service in stack.services.items():
        if (services and name not in services) or not service.develop:
            continue
        rules += [_rule(stack.project_dir, name, rule) for rule in service.develop.watch]
    return rules


def _rule(project_dir: str, service: str, rule) -> Rule:
    run = None
    if rule.exec is not None:
        env = tuple(f"{k}={v}" for k, v in rule.exec.environment.items())
        run = ExecStep(rule.exec.command, rule.exec.user, rule.exec.working_dir, env)
    return Rule(
        service=service,
        action=rule.action,
        path=os.path.normpath(os.path.join(project_dir, rule.path)),
        target=rule.target,
        ignore=tuple(rule.ignore),
        include=tuple(rule.include),
        initial_sync=rule.initial_sync,
        run=run,
    )


def batches(rules: list[Rule], changed: set[str], removed: set[str]) -> list[Batch]:
    """What each rule must do for these host paths (created or modified, and deleted);
    rules with nothing to do are left out."""
    found = []
    changed = _outermost(changed)  # a new directory is copied whole, with what it holds
    for rule in rules:
        hit = sorted(p for p in changed if rule.covers(p))
        gone = sorted(p for p in removed if rule.covers(p))
        if not hit and not gone:
            continue
        if rule.action in SYNCING:
            copies = tuple((p, rule.target_of(p)) for p in hit)
            deleted = tuple(rule.target_of(p) for p in gone)
            found.append(Batch(rule, copies, deleted, len(hit) + len(gone)))
        else:
            found.append(Batch(rule, changed=len(hit) + len(gone)))
    return found


def _outermost(paths: set[str]) -> set[str]:
    """The paths that are not below another one of them (sorted, a path's descendants
    follow it, before any other path)."""
    kept: list[str] = []
    for path in sorted(paths, key=lambda p: p.split("/")):
        if not kept or not path.startswith(kept[-1].rstrip("/") + "/"):
            kept.append(path)
    return set(kept)
