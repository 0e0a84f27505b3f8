"""The project's name and active profiles, by Compose's rules. Pure and cheap (no pydantic).

Name: `-p` > STACKRUN_PROJECT_NAME > COMPOSE_PROJECT_NAME > `name:` in the file > the
project directory's name. An explicit name must already be valid (lowercase letters,
digits, `-`, `_`, starting with a letter or digit); a directory name is normalised.
Profiles: `--profile` > STACKRUN_PROFILES > COMPOSE_PROFILES (comma separated); `*`
enables every profile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

NAME_VARIABLES = ("STACKRUN_PROJECT_NAME", "COMPOSE_PROJECT_NAME")
PROFILE_VARIABLES = ("STACKRUN_PROFILES", "COMPOSE_PROFILES")
VALID_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_INVALID_CHARS = re.compile(r"[^a-z0-9_-]+")
ALL_PROFILES = "*"


@dataclass(frozen=True)
class NamedBy:
    """A candidate project name and where it came from (for the error message)."""

    name: str
    source: str  # "-p", "COMPOSE_PROJECT_NAME", "name:", "the directory …"


def choose_name(
    explicit: str | None, environ: Mapping[str, str], file_name: str | None, project_dir: str
) -> NamedBy:
    """The first of -p, the environment, `name:` and the directory that gives a name."""
    if explicit:
        return NamedBy(explicit, "-p")
    for variable in NAME_VARIABLES:
        if environ.get(variable):
            return NamedBy(environ[variable], variable)
    if file_name:
        return NamedBy(file_name, "name:")
    directory = project_dir.rstrip("/").rsplit("/", 1)[-1]
    return NamedBy(normalize_name(directory), f"the directory name {directory!r}")


def normalize_name(text: str) -> str:
    """Compose's normalisation of a directory name: lowercase, keep [a-z0-9_-]."""
    return _INVALID_CHARS.sub("", text.lower()).lstrip("_-")


def name_problem(candidate: NamedBy) -> str | None:
    """Why this name cannot be a project name, or None when it can."""
    if VALID_NAME.match(candidate.name):
        return None
    if not candidate.name:
        return f"{candidate.source} gives no usable project name; pass one with -p NAME"
    return (
        f"project name {candidate.name!r} (from {candidate.source}) must contain only "
        "lowercase letters, digits, '-' and '_', and start with a letter or digit"
    )


def active_profiles(cli_profiles: tuple[str, ...], environ: Mapping[str, str]) -> frozenset[str]:
    if cli_profiles:
        return frozenset(p.strip() for p in cli_profiles if p.strip())
    for variable in PROFILE_VARIABLES:
        if environ.get(variable):
            return frozenset(p.strip() for p in environ[variable].split(",") if p.strip())
    return frozenset()


def is_enabled(service_profiles: list[str], active: frozenset[str]) -> bool:
    """Services without profiles always run; others when one of their profiles is active."""
    if not service_profiles or ALL_PROFILES in active:
        return True
    return any(profile in active for profile in service_profiles)
