"""`--since` / `--until` values, as `docker logs` takes them, to nanoseconds since the epoch.

Accepted: an RFC 3339 / ISO 8601 time (`2024-05-01T12:00:00Z`, `2024-05-01T14:00+02:00`,
`2024-05-01`; without a zone: local time), a Unix timestamp (`1714564800`,
`1714564800.5`), or a duration before now (`42m`, `1h30m`, `1.5h`, `90s`, `500ms`).
"""

from __future__ import annotations

import re
import time
from datetime import datetime

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_NUMBER = re.compile(r"\d+(\.\d+)?")


def parse_time(text: str, now_ns: int | None = None) -> int:
    """Nanoseconds since the epoch; ValueError with a message a user can act on."""
    text = text.strip()
    now_ns = time.time_ns() if now_ns is None else now_ns
    if _NUMBER.fullmatch(text):
        return int(float(text) * 10**9) if "." in text else int(text) * 10**9
    duration = parse_duration(text)
    if duration is not None:
        return now_ns - duration
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: write 2024-05-01T12:00:00Z, a Unix timestamp, or a duration such as 10m"
        ) from None
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def parse_duration(text: str) -> int | None:
    """`1h30m` -> nanoseconds; None if `text` is not a duration."""
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(int(float(number) * _UNITS[unit]) for number, unit in parts)
