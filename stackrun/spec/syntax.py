"""Compose's compact notations, parsed into plain values. Pure; errors are ValueError.

Durations (`1m30s`), byte sizes (`512m`), signals (`SIGTERM`), restart policies
(`on-failure:3`), commands split like a shell would (without running one), and the
short syntaxes of ports, volumes, tmpfs and devices, and device cgroup rules.
"""

from __future__ import annotations

import ipaddress
import math
import re
import shlex
import signal
from typing import Any, Literal, cast

# ---------------------------------------------------------------- scalars


class OctalInt(int):
    """An integer written `0o755` in YAML: file modes tell it from a decimal `755`."""


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """`1m30s`, `500ms`, `2h`, or a number of seconds -> seconds."""
    if isinstance(value, bool):  # pydantic locates a ValueError; a TypeError would escape
        raise ValueError(f"{value!r} is not a duration; write e.g. 10s, 1m30s, 500ms")  # noqa: TRY004
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"duration {value} is negative")
        return _finite(
            float(value) if value < 1e300 else math.inf, value, "duration; write e.g. 10s, 1m30s"
        )
    text = str(value).strip()
    position, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if not text or position != len(text):
        raise ValueError(f"{value!r} is not a duration; write e.g. 10s, 1m30s, 500ms")
    return _finite(total, value, "duration; write e.g. 10s, 1m30s")


def _finite(number: float, value: Any, what: str) -> float:
    if not math.isfinite(number):
        raise ValueError(f"{str(value)[:20]!r} is too large for a {what}")
    return number


def format_duration(seconds: float) -> str:
    """Seconds -> the shortest Compose duration: 90 -> `1m30s`, 0.5 -> `500ms`."""
    if seconds == 0:
        return "0s"
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    if millis and not secs:
        parts.append(f"{millis}ms")
    elif millis:
        parts.append(f"{secs}.{millis:03d}".rstrip("0") + "s")
    elif secs:
        parts.append(f"{secs}s")
    return "".join(parts)


UNBOUNDED_LOG = "-1"  # logging.options.max-size: -1, as in Docker: no bound
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_bytes(value: Any) -> int:
    """`512m`, `1.5g`, `64kb`, or a number of bytes -> bytes (binary units, as Docker)."""
    if isinstance(value, bool):  # ValueError, as every check here: pydantic locates it
        raise ValueError(f"{value!r} is not a size; write e.g. 512m, 1g or a number of bytes")  # noqa: TRY004
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    match = _SIZE.match(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a size; write e.g. 512m, 1g or a number of bytes")
    number, unit = float(match.group(1)), match.group(2).lower()
    return int(_finite(number * _SIZE_UNITS[unit], value, "size; write e.g. 512m, 1g"))


_SIGNAL_NAMES = {s.name: int(s) for s in signal.Signals if not s.name.startswith(("SIG_", "SIGRT"))}
_REALTIME = re.compile(r"^SIGRT(MIN|MAX)(?:([+-])(\d+))?$")  # SIGRTMIN+3, as Docker names them


def parse_signal(value: Any) -> str:
    """`SIGTERM`, `TERM`, `term`, `15` -> `SIGTERM`; `RTMIN+3` or `37` -> `SIGRTMIN+3`."""
    text = str(value).strip()
    if text.isdigit() and not isinstance(value, bool):
        return _signal_name(int(text))
    name = text.upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    if name in _SIGNAL_NAMES:
        return name
    realtime = _REALTIME.match(name)
    if realtime:
        return _signal_name(_realtime_number(realtime))
    raise ValueError(f"{value!r} is not a signal; write e.g. SIGTERM, SIGINT, SIGQUIT")


def _signal_name(number: int) -> str:
    names = {n: name for name, n in _SIGNAL_NAMES.items()}
    if number in names:
        return names[number]
    if signal.SIGRTMIN <= number <= signal.SIGRTMAX:
        offset = number - signal.SIGRTMIN
        return "SIGRTMIN" + (f"+{offset}" if offset else "")
    raise ValueError(f"{number} is not a signal number")


def _realtime_number(match: re.Match) -> int:
    base = signal.SIGRTMIN if match.group(1) == "MIN" else signal.SIGRTMAX
    offset = int(match.group(3) or 0) * (-1 if match.group(2) == "-" else 1)
    number = base + offset
    if not signal.SIGRTMIN <= number <= signal.SIGRTMAX:
        raise ValueError(f"{match.group()!r} is outside SIGRTMIN..SIGRTMAX")
    return number


def signal_number(name: str) -> int:
    realtime = _REALTIME.match(name)
    return _realtime_number(realtime) if realtime else _SIGNAL_NAMES[name]


RESTART_POLICIES = ("no", "always", "on-failure[:N]", "unless-stopped")


def parse_restart(value: Any) -> str:
    """A restart policy; YAML's `false` (and `no` read as a boolean) mean `no`."""
    if value is False:
        return "no"
    text = str(value).strip()
    if text in ("no", "always", "unless-stopped", "on-failure"):
        return text
    policy, _, retries = text.partition(":")
    if policy == "on-failure" and retries.isdigit():
        return f"on-failure:{int(retries)}"
    raise ValueError(f"{value!r} is not one of {', '.join(RESTART_POLICIES)}")


def split_restart(policy: str) -> tuple[str, int | None]:
    """`on-failure:3` -> ("on-failure", 3)."""
    name, _, retries = policy.partition(":")
    return name, int(retries) if retries else None


def split_command(text: str) -> list[str]:
    """Split a command string into argv the way a POSIX shell would, without running one."""
    try:
        return shlex.split(text)
    except ValueError as error:  # "No closing quotation", "No escaped character"
        raise ValueError(f"cannot split {text!r}: {str(error).lower()}") from None


def parse_mode(value: Any) -> int:
    """A permission mode: `0o1777`, "1777" (octal text) or 1777 (digits read as octal)."""
    if isinstance(value, OctalInt):
        mode = int(value)
    else:
        try:
            mode = int(str(value), 8)
        except ValueError:
            raise ValueError(f'{value!r} is not an octal mode; write e.g. "1777"') from None
    if not 0 <= mode <= 0o7777:
        raise ValueError(f"{value!r} is not a permission mode (at most 7777)")
    return mode


def format_mode(mode: int) -> str:
    """A mode as `config` prints it: octal digits ("1777")."""
    return f"{mode:o}"


# ---------------------------------------------------------------- ports


def parse_port(value: Any) -> list[dict[str, Any]]:
    """`[HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]`, ranges allowed -> long-syntax entries.

    Ranges of the same length pair up one by one; a published range for one target
    (`8000-8010:80`) stays a range: the host port is the first free one of it, as Docker
    allocates it."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [{"target": value, "protocol": "tcp"}]
    text = str(value).strip()
    spec, _, protocol = text.partition("/")
    protocol = protocol or "tcp"
    host_ip, published, target = _split_port_spec(spec, text)
    targets = _port_range(target, text)
    publish: list[int | str] = list(_port_range(published, text)) if published else []
    if len(targets) == 1 and len(publish) > 1:
        publish = [published]
    elif publish and len(publish) != len(targets):
        raise ValueError(
            f"port {text!r}: {len(publish)} published ports for {len(targets)} target ports; "
            "give ranges of the same length, or one target port"
        )
    entries = []
    for index, port in enumerate(targets):
        entry: dict[str, Any] = {"target": port, "protocol": protocol}
        if publish:
            entry["published"] = publish[index]
        if host_ip:
            entry["host_ip"] = host_ip
        entries.append(entry)
    return entries


def parse_published(value: Any) -> int | str:
    """A published port (`8080`) or range (`"8000-8010"`): an int, or "LOW-HIGH"."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value > 65535 or value < 0:
            raise ValueError(
                f"must be {'at most 65535' if value > 0 else 'at least 0'}, got {value}"
            )
        return value
    text = str(value).strip()
    ports = _port_range(text, text)
    if ports[-1] > 65535:
        raise ValueError(f"must be at most 65535, got {ports[-1]}")
    return ports[0] if len(ports) == 1 else f"{ports[0]}-{ports[-1]}"


def published_range(published: int | str) -> tuple[int, int]:
    """8080 -> (8080, 8080); "8000-8010" -> (8000, 8010)."""
    if isinstance(published, int):
        return published, published
    low, _, high = published.partition("-")
    return int(low), int(high or low)


def _split_port_spec(spec: str, text: str) -> tuple[str, str, str]:
    if spec.startswith("["):  # [::1]:8080:80
        address, bracket, rest = spec[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ValueError(f"port {text!r}: expected [IPv6]:PUBLISHED:TARGET")
        _check_ip(address, text)
        published, _, target = rest[1:].rpartition(":")
        return address, published, target
    parts = spec.rsplit(":", 2)
    if len(parts) == 3:
        _check_ip(parts[0], text)
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", "", parts[0]


def _check_ip(address: str, text: str) -> None:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"port {text!r}: {address!r} is not an IP address") from None


def _port_range(text: str, whole: str) -> list[int]:
    first, dash, last = text.partition("-")
    if not first.isdigit() or (dash and not last.isdigit()):
        raise ValueError(f"port {whole!r}: {text!r} is not a port number or range")
    low, high = int(first), int(last) if dash else int(first)
    if high - low > 65535:  # listed one by one below; validation names the bad port
        raise ValueError(f"port {whole!r}: range {text} is longer than all ports (0-65535)")
    if high < low:
        raise ValueError(f"port {whole!r}: range {text} goes backwards")
    return list(range(low, high + 1))


# ---------------------------------------------------------------- volumes and tmpfs

_BIND_PREFIXES = ("/", ".", "~")
_VOLUME_MODES = {"ro", "rw", "z", "Z", "nocopy", "cached", "delegated", "consistent"}
_PROPAGATION = {"shared", "slave", "private", "rshared", "rslave", "rprivate"}


def parse_volume(text: str) -> dict[str, Any]:
    """`[SOURCE:]TARGET[:MODE]` -> a long-syntax volume (bind, named or anonymous)."""
    parts = text.split(":")
    if len(parts) > 3 or not all(parts):
        raise ValueError(f"volume {text!r}: expected [SOURCE:]TARGET[:MODE]")
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0]}
    source, target = parts[0], parts[1]
    modes = set(parts[2].split(",")) if len(parts) == 3 else set()
    unknown = modes - _VOLUME_MODES - _PROPAGATION
    if unknown:
        raise ValueError(f"volume {text!r}: unknown mode {min(unknown)!r}; use ro or rw")
    bind = source.startswith(_BIND_PREFIXES)
    entry: dict[str, Any] = {
        "type": "bind" if bind else "volume",
        "source": source,
        "target": target,
    }
    if "ro" in modes:
        entry["read_only"] = True
    if bind:
        entry["bind"] = {"create_host_path": True}
        propagation = modes & _PROPAGATION
        if propagation:
            entry["bind"]["propagation"] = propagation.pop()
    elif "nocopy" in modes:
        entry["volume"] = {"nocopy": True}
    return entry


def parse_tmpfs(text: str) -> dict[str, Any]:
    """`/run[:size=64m,mode=1777,uid=1000,gid=1000,ro]` -> {target, size?, mode?, uid?,
    gid?, read_only?}."""
    target, _, options = text.partition(":")
    entry: dict[str, Any] = {"target": target}
    for option in filter(None, options.split(",")):
        name, _, value = option.partition("=")
        if name == "size":
            entry["size"] = parse_bytes(value)
        elif name == "mode":
            entry["mode"] = parse_mode(value)
        elif name in ("uid", "gid"):
            if not value.isdigit():
                raise ValueError(f"tmpfs {text!r}: {name} {value!r} is not a number")
            entry[name] = int(value)
        elif name in ("ro", "rw"):
            entry["read_only"] = name == "ro"
        else:
            raise ValueError(
                f"tmpfs {text!r}: unsupported option {name!r}; use size, mode, uid, gid, ro"
            )
    return entry


# ---------------------------------------------------------------- devices

DEVICE_ACCESS = re.compile(r"^(?!.*(.).*\1)[rwm]{1,3}$")  # each of r, w, m at most once
DEVICE_RULE = re.compile(r"^([abc]) (\d+|\*):(\d+|\*) (\S+)$")
DEVICE_ALL_ACCESS = "rwm"


def parse_device(text: str) -> dict[str, str]:
    """`HOST[:TARGET][:PERMISSIONS]` -> {source[, target], permissions}, as Docker reads
    it: with two parts, a second made of r, w and m is the permissions."""
    parts = text.split(":")
    if len(parts) > 3 or not all(parts):
        raise ValueError(
            f"{text!r} is not HOST[:TARGET][:PERMISSIONS], e.g. /dev/fuse:/dev/fuse:rw"
        )
    if len(parts) == 2 and DEVICE_ACCESS.match(parts[1]):
        return {"source": parts[0], "permissions": parts[1]}
    target = {"target": parts[1]} if len(parts) > 1 else {}
    return {
        "source": parts[0],
        **target,
        "permissions": parts[2] if len(parts) == 3 else DEVICE_ALL_ACCESS,
    }


def parse_rule(text: str) -> tuple[Literal["a", "b", "c"], int | None, int | None, str]:
    """`TYPE MAJOR:MINOR ACCESS` -> (type, major, minor, access); None: any number."""
    match = DEVICE_RULE.match(text.strip())
    if not match or not DEVICE_ACCESS.match(match[4]):
        raise ValueError(
            f"{text!r} is not a device rule TYPE MAJOR:MINOR ACCESS (a, b or c; numbers or *; "
            "letters of rwm), e.g. 'c 10:200 rwm'"
        )
    kind, major, minor, access = match.groups()
    return cast(Literal["a", "b", "c"], kind), _number(major), _number(minor), access


def _number(text: str) -> int | None:
    return None if text == "*" else int(text)


def parse_key_value(text: str, separators: str = "=") -> tuple[str, str | None]:
    """`KEY=VALUE` -> (KEY, VALUE); `KEY` -> (KEY, None)."""
    for index, char in enumerate(text):
        if char in separators:
            return text[:index], text[index + 1 :]
    return text, None
