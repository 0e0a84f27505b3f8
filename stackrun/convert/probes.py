"""A Compose healthcheck as Kubernetes probes. Pure.

The check's command runs as an `exec` probe, unless it is recognisably an HTTP GET of
the service itself (`curl -f http://localhost:8000/health`, `wget -q -O- …`) or a TCP
connect (`nc -z localhost 6379`): then the kubelet makes that request itself, with no
process in the container (`httpGet`, `tcpSocket`). Only commands whose meaning is the
same are recognised: curl without `-f` succeeds on an HTTP error, so it stays `exec`.

Timing keeps Compose's defaults (interval 30s, timeout 30s, 3 retries), written out,
since Kubernetes' differ (10s, 1s, 3); values are whole seconds, rounded up.
"""

from __future__ import annotations

import math
import posixpath
import re
import shlex
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from stackrun.convert.units import seconds

if TYPE_CHECKING:
    from stackrun.plan.model import HealthPlan

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
_OR_EXIT = re.compile(r"\s*\|\|\s*(exit 1|false)\s*$")  # `curl -f URL || exit 1`
_SHELL_SYNTAX = re.compile(r"[;&|<>`$(){}\n*?~]")


class _Syntax:
    """The options of a command: letters or long names, with and without a value."""

    def __init__(self, flags: str, valued: str, long_flags=(), long_valued=()):
        self.flags, self.valued = set(flags), set(valued)
        self.long_flags, self.long_valued = set(long_flags), set(long_valued)

    def parse(self, words: list[str]) -> tuple[set[str], list[str]] | None:
        """(options seen, operands), or None when an option is not known."""
        seen: set[str] = set()
        operands: list[str] = []
        index = 1
        while index < len(words):
            word = words[index]
            is_option = word.startswith("-") and len(word) > 1
            taken = self._option(word, seen) if is_option else 0
            if taken is None:
                return None
            if not is_option:
                operands.append(word)
            index += 1 + taken
        return seen, operands

    def _option(self, word: str, seen: set[str]) -> int | None:
        """How many following words the option takes as its value; None if unknown."""
        if not word.startswith("--"):
            return self._letters(word[1:], seen)
        name = word.partition("=")[0]
        if name not in self.long_flags | self.long_valued:
            return None
        seen.add(name)
        return 1 if name in self.long_valued and "=" not in word else 0

    def _letters(self, letters: str, seen: set[str]) -> int | None:
        """How many following words the letters take as a value (0 or 1); None if unknown."""
        for position, letter in enumerate(letters):
            if letter in self.valued:
                seen.add(letter)
                return 0 if position < len(letters) - 1 else 1
            if letter not in self.flags:
                return None
            seen.add(letter)
        return 0


_CURL = _Syntax(
    "fsSLk",
    "om",
    ("--fail", "--fail-with-body", "--silent", "--show-error", "--location", "--insecure"),
    ("--output", "--max-time", "--connect-timeout"),
)
_WGET = _Syntax("q", "OTt", ("--quiet", "--spider"), ("--output-document", "--timeout", "--tries"))
_NC = _Syntax("zvn", "w")


def handler(argv: tuple[str, ...]) -> dict[str, Any]:
    """`httpGet`, `tcpSocket` or `exec`, for the check's argv (CMD-SHELL as /bin/sh -c)."""
    words = _words(argv)
    if words:
        found = _http_get(words) or _tcp_socket(words)
        if found:
            return found
    return {"exec": {"command": list(argv)}}


def probes(health: HealthPlan, liveness: bool) -> dict[str, dict[str, Any]]:
    """readinessProbe always; livenessProbe when unhealthy means restart; a startupProbe
    during start_period, which Kubernetes ends by restarting a container that never
    passed the check by the time Compose would call it unhealthy."""
    action = handler(health.argv)
    steady = {
        **action,
        "periodSeconds": seconds(health.interval),
        "timeoutSeconds": seconds(health.timeout),
        "failureThreshold": max(1, health.retries),
    }
    found = {"readinessProbe": steady}
    if liveness:
        found["livenessProbe"] = dict(steady)
    if health.start_period > 0:
        period = seconds(health.start_interval)
        window = health.start_period + health.retries * health.interval
        found["startupProbe"] = {
            **action,
            "periodSeconds": period,
            "timeoutSeconds": steady["timeoutSeconds"],
            "failureThreshold": max(1, math.ceil(window / period)),
        }
    return found


def _words(argv: tuple[str, ...]) -> list[str] | None:
    """The words of a simple command: CMD as given, or a shell line with no shell syntax."""
    if argv[:2] != ("/bin/sh", "-c"):
        return list(argv)
    text = _OR_EXIT.sub("", argv[2])
    if _SHELL_SYNTAX.search(text):
        return None
    try:
        return shlex.split(text)
    except ValueError:
        return None


def _http_get(words: list[str]) -> dict[str, Any] | None:
    program = posixpath.basename(words[0])
    if program not in ("curl", "wget"):
        return None
    parsed = (_CURL if program == "curl" else _WGET).parse(words)
    if parsed is None or len(parsed[1]) != 1:
        return None
    options, (url,) = parsed
    if program == "curl" and not options & {"f", "--fail", "--fail-with-body"}:
        return None  # without -f, curl exits 0 on an HTTP error
    get = _local_url(url)
    return {"httpGet": get} if get else None


def _local_url(url: str) -> dict[str, Any] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or parts.hostname not in _LOCAL_HOSTS:
        return None
    if parts.username or parts.password or parts.fragment or port == 0:
        return None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    https = parts.scheme == "https"
    get: dict[str, Any] = {"path": path, "port": port or (443 if https else 80)}
    return {**get, "scheme": "HTTPS"} if https else get


def _tcp_socket(words: list[str]) -> dict[str, Any] | None:
    if posixpath.basename(words[0]) not in ("nc", "netcat"):
        return None
    parsed = _NC.parse(words)
    if parsed is None or "z" not in parsed[0] or len(parsed[1]) != 2:
        return None
    host, port = parsed[1]
    if host not in _LOCAL_HOSTS or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return {"tcpSocket": {"port": int(port)}}
