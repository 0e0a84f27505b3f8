"""Value types of the stack-file models: durations, sizes, signals, names, safe paths.

Each is an `Annotated` type whose validator raises ValueError with a message meant
for the user (the loader puts it after `FILE:LINE:COL: key.path:`), and whose JSON
Schema says what may be written in the file.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

from stackrun.errors import closest
from stackrun.spec import privileges, syntax

NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
_NAME = re.compile(NAME_PATTERN)
PROJECT_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9][A-Za-z0-9-]{0,62})*$")
_FORBIDDEN_TARGETS = ("/proc", "/sys", "/dev")


class Short:
    """JSON Schema marker: the file may also use Compose's short syntax `schema`."""

    def __init__(self, schema: dict[str, Any]):
        self.schema = schema

    def __get_pydantic_json_schema__(self, core_schema, handler):
        return {"anyOf": [self.schema, handler(core_schema)]}


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use letters, digits, '_', '.', '-', "
            "starting with a letter or digit (no '/' or '..')"
        )
    return value


def _check_absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path; start it with '/'")
    if ".." in value.split("/"):
        raise ValueError(f"{value!r} contains '..'; write the path without it")
    return posixpath.normpath(value) if value != "/" else value


def _check_subpath(value: str) -> str:
    if value.startswith("/") or ".." in value.split("/"):
        raise ValueError(
            f"{value!r} leaves the volume; write a path inside it, relative and without '..' (e.g. logs)"
        )
    return value


def _check_target(value: str) -> str:
    path = _check_absolute(value)
    if path == "/":
        raise ValueError("cannot mount over '/'; use x-stackrun.rootfs for a root filesystem")
    for forbidden in _FORBIDDEN_TARGETS:
        if path == forbidden or path.startswith(forbidden + "/"):
            raise ValueError(f"cannot mount over {path}: stackrun provides {forbidden} itself")
    return path


def _check_hostname(value: str) -> str:
    if len(value) > 253 or not _HOSTNAME.match(value):
        raise ValueError(f"{value!r} is not a valid hostname (letters, digits, '-', '.')")
    return value


def _check_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


def _check_ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None


def _check_subnet(value: str) -> str:
    try:
        return str(ipaddress.IPv4Network(value))
    except ValueError as error:
        raise ValueError(f"{value!r} is not an IPv4 subnet like 10.90.0.0/24 ({error})") from None


def _check_relative_cgroup(value: str) -> str:
    parts = value.strip("/").split("/")
    if ".." in parts or "." in parts:
        raise ValueError(f"{value!r} must not contain '.' or '..'")
    return value.strip("/")


def _check_capability(value: str) -> str:
    name = value.upper().removeprefix("CAP_")
    if name != "ALL" and name not in privileges.CAPABILITIES:
        suggestion = closest(name, privileges.CAPABILITIES)
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        raise ValueError(f"{value!r} is not a Linux capability{hint}")
    return name


def _check_security_opt(value: str) -> str:
    if value in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"):
        return "no-new-privileges:true"
    if value in ("no-new-privileges:false", "no-new-privileges=false"):
        return "no-new-privileges:false"
    if value in ("seccomp=unconfined", "seccomp:unconfined"):
        return "seccomp=unconfined"
    raise ValueError(
        f"{value!r} is not supported; only no-new-privileges[:true|false] and "
        "seccomp=unconfined are"
    )


def _check_ulimit_name(value: str) -> str:
    if value not in privileges.RLIMITS:
        raise ValueError(
            f"{value!r} is not a ulimit; use one of {', '.join(sorted(privileges.RLIMITS))}"
        )
    return value


def _check_network_mode(value: str) -> str:
    if value in ("bridge", "host", "none") or (
        value.startswith("service:") and _NAME.match(value[len("service:") :])
    ):
        return value
    raise ValueError(f"{value!r} is not one of bridge, host, none, service:NAME")


USERNS_MODES = ("private", "host")


def _check_userns_mode(value: str) -> str:
    if value in USERNS_MODES:
        return value
    if value == "keep-id" or value.startswith(("keep-id:", "auto", "nomap", "ns:")):
        raise ValueError(
            f"{value!r} is podman's; stackrun has private (a range of ids of the project's "
            "own; a bound directory's owner is the service's user) and host"
        )
    raise ValueError(f"{value!r} is not one of private, host")


def _check_expose(value: Any) -> str:
    text = str(value)
    if not re.match(r"^\d+(-\d+)?(/(tcp|udp))?$", text):
        raise ValueError(f"{text!r} is not a port, range or PORT/PROTOCOL")
    return text


def _check_tmpfs(value: str) -> str:
    entry = syntax.parse_tmpfs(value)
    _check_target(entry["target"])
    return value


_CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$")
_DNS_OPTION = re.compile(r"^[a-z][a-z0-9-]*(:\d+)?$")


def _check_cpuset(value: Any) -> str:
    text = str(value).replace(" ", "")
    if isinstance(value, bool) or not _CPUSET.match(text):
        raise ValueError(f"{value!r} is not a CPU list; write e.g. 0-3 or 0,2")
    for low, _, high in (part.partition("-") for part in text.split(",")):
        if high and int(high) < int(low):
            raise ValueError(f"{value!r}: the range {low}-{high} goes backwards")
    return text


def _check_mac(value: str) -> str:
    if not _MAC.match(value):
        raise ValueError(f"{value!r} is not a MAC address like 02:42:ac:11:00:02")
    if int(value[:2], 16) & 1:
        raise ValueError(f"{value!r} is a multicast address; the first byte must be even")
    return value.lower().replace("-", ":")


def _check_domain(value: str) -> str:
    return value if value == "." else _check_hostname(value.rstrip("."))


def _check_dns_option(value: str) -> str:
    if not _DNS_OPTION.match(value):
        raise ValueError(f"{value!r} is not a resolver option like ndots:2 or use-vc")
    return value


_IFNAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$")


def _check_ifname(value: str) -> str:
    if not _IFNAME.match(value):
        raise ValueError(f"{value!r} is not an interface name (at most 15 letters, digits, _.-)")
    return value


def _micros(value: Any) -> int:
    """Microseconds: a number, or a duration (`100ms`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return round(syntax.parse_duration(value) * 1_000_000)


def _group(value: Any) -> str:
    if isinstance(value, bool) or not str(value).strip():
        raise ValueError(f"{value!r} is not a group name or number")
    return str(value)


def _check_image(value: str) -> str:
    """Docker's reference grammar; kept as written (the store normalises it)."""
    from stackrun.images.reference import ReferenceError, parse_reference

    try:
        parse_reference(value)
    except ReferenceError as error:
        raise ValueError(f"{value!r} is not an image reference: {error}") from None
    return value


def _check_platform(value: str) -> str:
    from stackrun.images.reference import ReferenceError, parse_platform

    try:
        return str(parse_platform(value))
    except ReferenceError as error:
        raise ValueError(f"{error}, e.g. linux/amd64 or linux/arm64/v8") from None


PULL_POLICIES = ("always", "never", "missing", "daily", "weekly")
_EVERY = re.compile(r"^every_((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w))+$")


def _check_pull_policy(value: Any) -> str:
    """Compose's policies; `if_not_present` is `missing`, `every_12h` a period of its own."""
    text = str(value)
    if text == "if_not_present":
        return "missing"
    if text in PULL_POLICIES or text == "build" or _EVERY.match(text):
        return text
    raise ValueError(
        f"{text!r} is not a pull policy; use one of {', '.join(PULL_POLICIES)} or every_DURATION"
    )


def _text(schema: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema(schema)


_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$"},
        {"type": "number", "minimum": 0},
    ],
    "description": "a duration: 10s, 1m30s, 500ms, or a number of seconds",
}
_BYTES_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\d+(\.\d+)?\s*[kmgtpKMGTP]?[iI]?[bB]?$"},
        {"type": "integer"},
    ],
    "description": "a size: 512m, 1g, or a number of bytes",
}

Name = Annotated[
    str, AfterValidator(_check_name), _text({"type": "string", "pattern": NAME_PATTERN})
]
ProjectName = Annotated[str, _text({"type": "string", "pattern": PROJECT_PATTERN})]
AbsolutePath = Annotated[str, AfterValidator(_check_absolute)]
MountTarget = Annotated[str, AfterValidator(_check_target)]
Subpath = Annotated[str, AfterValidator(_check_subpath)]
Hostname = Annotated[str, AfterValidator(_check_hostname)]
IPAddress = Annotated[str, AfterValidator(_check_ip)]
IPv4Address = Annotated[str, AfterValidator(_check_ipv4)]
IPv4Subnet = Annotated[str, AfterValidator(_check_subnet)]
CgroupPath = Annotated[str, AfterValidator(_check_relative_cgroup)]
Capability = Annotated[str, AfterValidator(_check_capability)]
SecurityOpt = Annotated[str, AfterValidator(_check_security_opt)]
UlimitName = Annotated[str, AfterValidator(_check_ulimit_name)]
NetworkMode = Annotated[str, AfterValidator(_check_network_mode)]
UsernsMode = Annotated[
    str, AfterValidator(_check_userns_mode), _text({"type": "string", "enum": list(USERNS_MODES)})
]
Expose = Annotated[str, BeforeValidator(_check_expose), _text({"type": ["string", "integer"]})]
Tmpfs = Annotated[str, AfterValidator(_check_tmpfs)]
CpuSet = Annotated[
    str,
    BeforeValidator(_check_cpuset),
    _text({"type": ["string", "integer"], "pattern": r"^[0-9,-]+$"}),
]
MacAddress = Annotated[str, AfterValidator(_check_mac)]
InterfaceName = Annotated[str, AfterValidator(_check_ifname)]
CpuMicros = Annotated[
    int,
    BeforeValidator(_micros),
    _text({"type": ["integer", "string"], "description": "microseconds, or a duration: 100ms"}),
]
Domain = Annotated[str, AfterValidator(_check_domain)]
DnsOption = Annotated[str, AfterValidator(_check_dns_option)]
Group = Annotated[str, BeforeValidator(_group), _text({"type": ["string", "integer"]})]
PublishedPort = Annotated[
    int | str,
    BeforeValidator(syntax.parse_published),
    _text({"type": ["string", "integer"], "description": "a port, or a range LOW-HIGH"}),
]
ImageReference = Annotated[
    str,
    AfterValidator(_check_image),
    _text({"type": "string", "description": "[REGISTRY/]NAME[:TAG][@DIGEST]"}),
]
PlatformName = Annotated[
    str,
    AfterValidator(_check_platform),
    _text({"type": "string", "pattern": r"^[^/]+/[^/]+(/[^/]+)?$"}),
]
PullPolicy = Annotated[
    str,
    BeforeValidator(_check_pull_policy),
    _text(
        {
            "type": "string",
            "pattern": r"^(always|never|missing|if_not_present|build|daily|weekly|every_.+)$",
        }
    ),
]
Duration = Annotated[
    float,
    BeforeValidator(syntax.parse_duration),
    PlainSerializer(syntax.format_duration, return_type=str),
    _text(_DURATION_SCHEMA),
]
Bytes = Annotated[
    int,
    BeforeValidator(syntax.parse_bytes),
    _text(_BYTES_SCHEMA),
]
Signal = Annotated[
    str,
    BeforeValidator(syntax.parse_signal),
    _text({"type": ["string", "integer"], "description": "SIGTERM, TERM or 15"}),
]
Restart = Annotated[
    str,
    BeforeValidator(syntax.parse_restart),
    _text(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(no|always|unless-stopped|on-failure(:\d+)?)$"},
                {"const": False},
            ]
        }
    ),
]
Mode = Annotated[
    int,
    BeforeValidator(syntax.parse_mode),
    PlainSerializer(syntax.format_mode, return_type=str),
    _text({"type": ["string", "integer"], "description": 'octal permission bits: "1777"'}),
]
