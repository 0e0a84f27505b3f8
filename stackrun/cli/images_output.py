"""What `stackrun images` prints, as `docker images` prints it: one row per tag (an image
no tag names shows `<none>`), newest first; sizes in decimal units with three significant
digits; ages as Docker words them. Pure: rows from ImageRecords and a clock."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from stackrun.images.model import ImageRecord
from stackrun.images.reference import ReferenceError, parse_reference

HEADERS = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
NONE = "<none>"
UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def rows(images: Sequence[ImageRecord], now: datetime, wanted: str | None = None) -> list[dict]:
    """Docker's `--format json` objects, one per image and tag."""
    found = []
    for image in images:
        for repository, tag in _names(image):
            if wanted and not _matches(wanted, repository, tag):
                continue
            found.append(_row(image, repository, tag, now))
    return found


def table(found: list[dict]) -> list[list[str]]:
    return [[r["Repository"], r["Tag"], r["ID"], r["CreatedSince"], r["Size"]] for r in found]


def json_lines(found: list[dict]) -> str:
    return "".join(f"{json.dumps(row)}\n" for row in found)


def quiet_lines(found: list[dict]) -> str:
    return "".join(f"{image_id}\n" for image_id in dict.fromkeys(r["ID"] for r in found))


def human_size(size: int) -> str:
    value, unit = float(size), 0
    while value >= 1000 and unit < len(UNITS) - 1:
        value /= 1000
        unit += 1
    return f"{value:.3g}{UNITS[unit]}"


def human_age(seconds: float) -> str:
    """Docker's wording (go-units HumanDuration) + " ago"."""
    return f"{_duration(seconds)} ago"


def _duration(seconds: float) -> str:
    minutes, hours = int(seconds / 60), int(seconds / 3600 + 0.5)
    if seconds < 1:
        return "Less than a second"
    if seconds < 60:
        return "1 second" if int(seconds) == 1 else f"{int(seconds)} seconds"
    if minutes < 60:
        return "About a minute" if minutes == 1 else f"{minutes} minutes"
    if hours == 1:
        return "About an hour"
    for limit, size, word in ((48, 1, "hours"), (24 * 14, 24, "days"), (24 * 60, 24 * 7, "weeks"),
                              (24 * 365 * 2, 24 * 30, "months")):  # fmt: skip
        if hours < limit:
            return f"{hours // size} {word}"
    return f"{hours // (24 * 365)} years"


def _names(image: ImageRecord) -> list[tuple[str, str]]:
    tagged = [_split(reference) for reference in image.references]
    if tagged:
        return tagged
    repositories = dict.fromkeys(_split(digest)[0] for digest in image.repo_digests)
    return [(repository, NONE) for repository in repositories] or [(NONE, NONE)]


def _split(text: str) -> tuple[str, str]:
    """(repository as Docker shows it, tag or <none>)."""
    try:
        reference = parse_reference(text)
    except ReferenceError:
        return text, NONE
    familiar = reference.familiar
    name = familiar.split("@")[0]
    if reference.tag:
        name = name.rsplit(":", 1)[0]
    return name, reference.tag or NONE


def _matches(wanted: str, repository: str, tag: str) -> bool:
    name, wanted_tag = wanted, ""
    if ":" in wanted.rsplit("/", 1)[-1]:  # a tag, not a registry's port
        name, wanted_tag = wanted.rsplit(":", 1)
    return _same_repository(name, repository) and (not wanted_tag or wanted_tag == tag)


def _same_repository(wanted: str, repository: str) -> bool:
    try:
        return parse_reference(wanted).name == parse_reference(repository).name
    except ReferenceError:
        return wanted == repository


def _row(image: ImageRecord, repository: str, tag: str, now: datetime) -> dict:
    created = _created(image.created)
    digest = next(
        (d.split("@", 1)[1] for d in image.repo_digests if _split(d)[0] == repository), NONE
    )
    return {
        "Containers": "N/A",
        "CreatedAt": created.strftime("%Y-%m-%d %H:%M:%S %z %Z") if created else "N/A",
        "CreatedSince": human_age((now - created).total_seconds()) if created else "N/A",
        "Digest": digest,
        "ID": image.id.removeprefix("sha256:")[:12],
        "Repository": repository,
        "Size": human_size(image.size),
        "Tag": tag,
        "VirtualSize": human_size(image.size),
    }


def _created(text: str) -> datetime | None:
    if not text:
        return None
    try:  # RFC 3339 with nanoseconds: Python takes up to microseconds
        head, dot, rest = text.replace("Z", "+00:00").partition(".")
        if dot:
            digits = "".join(c for c in rest if c.isdigit())
            rest = digits[:6] + rest[len(digits) :]
            head = f"{head}.{rest}"
        parsed = datetime.fromisoformat(head)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
