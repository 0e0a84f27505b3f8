"""`up`'s images: which ones a pull must fetch first (each service's `pull_policy`, or
`up --pull`), then each service's image found in the store, or an ImageError naming the
service and the image — before anything starts.

    wanted = [Wanted("web", parse_reference("redis:7"), None, "missing"), …]
    pulls = to_pull(wanted, store, now=time.time())     # then pull those
    records = find(wanted, store)                       # service -> ImageRecord

Policies (Compose's): `missing` pulls what the store lacks, `always` pulls every time,
`never` never does, `daily`/`weekly`/`every_<duration>` pull when the last pull of that
reference is older than that (or unknown). `up --pull POLICY` is the policy of every
service (the caller puts it in `Wanted.policy`). A service that names a `platform:` needs an
image of that platform; without one, the stored image runs whatever its platform (as
Docker runs it, warning aside).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from stackrun.errors import ImageError
from stackrun.images.model import ImageRecord, Platform, Reference
from stackrun.images.reference import platform_matches

PERIODS = {"daily": 86400.0, "weekly": 7 * 86400.0}
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600,
         "d": 86400, "w": 7 * 86400}  # fmt: skip
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w)")


@dataclass(frozen=True)
class Wanted:
    """An image a service runs, with its platform and pull policy."""

    service: str
    reference: Reference
    platform: Platform | None = None  # None: the service named none
    policy: str = "missing"

    @property
    def image(self) -> str:
        return self.reference.familiar


def to_pull(wanted: Iterable[Wanted], store, now: float) -> list[Wanted]:
    """The entries whose image must be pulled first, one per reference and platform."""
    chosen: dict[tuple[Reference, Platform | None], Wanted] = {}
    judged: set[tuple] = set()  # services of one image ask the store once
    for want in wanted:
        key = (want.reference, want.platform)
        if key in chosen or (key, want.policy) in judged:
            continue
        judged.add((key, want.policy))
        if needs_pull(want, store, now):
            chosen[key] = want
    return list(chosen.values())


def needs_pull(want: Wanted, store, now: float) -> bool:
    policy = want.policy
    if policy == "always":
        return True
    if policy == "never":
        return False
    if _stored(want, store) is None:
        return True
    if policy == "missing":
        return False
    last = _last_pull(store, want.reference)
    return last is None or now - last >= period(policy)


def find(wanted: Iterable[Wanted], store) -> dict[str, ImageRecord]:
    """service -> its image in the store; ImageError for the first one missing."""
    records = {}
    found: dict[tuple[Reference, Platform | None], ImageRecord | None] = {}
    for want in wanted:
        key = (want.reference, want.platform)
        if key not in found:
            found[key] = _stored(want, store)
        record = found[key]
        if record is None:
            raise ImageError(_missing(want, store), image=want.image, service=want.service)
        records[want.service] = record
    return records


def period(policy: str) -> float:
    """Seconds of `daily`, `weekly`, `every_12h`, `every_1d12h`."""
    if policy in PERIODS:
        return PERIODS[policy]
    text = policy.removeprefix("every_")
    parts = _PART.findall(text)
    if not policy.startswith("every_") or "".join(a + b for a, b in parts) != text or not parts:
        raise ValueError(f"{policy!r} is not a pull policy with a period")
    return sum(float(number) * UNITS[unit] for number, unit in parts)


def _stored(want: Wanted, store) -> ImageRecord | None:
    record = store.image(str(want.reference))
    if record is None or want.platform is None:
        return record
    return record if platform_matches(want.platform, _platform(record)) else None


def _platform(record: ImageRecord) -> Platform:
    config = record.config
    return Platform(config.os or "linux", config.architecture, config.variant)


def _missing(want: Wanted, store) -> str:
    record = store.image(str(want.reference))
    if record is not None and want.platform is not None:
        return (
            f"the store holds it for {_platform(record)}, not {want.platform}; pull it with "
            f"`stackrun pull {want.service}`"
        )
    how = "pull_policy is never" if want.policy == "never" else "it was not pulled"
    return (
        f"not in the image store and {how}; pull it with `stackrun pull {want.service}` "
        "or load it with `stackrun load -i FILE`"
    )


def _last_pull(store, reference: Reference) -> float | None:
    """When it was last pulled (None: never, e.g. only loaded)."""
    return store.pulled(str(reference))
