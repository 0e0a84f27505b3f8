"""Kubernetes' naming rules, and turning a stack's names into names that follow them. Pure.

Compose names allow upper case, `_` and `.`; most Kubernetes names are DNS labels
(RFC 1123: a-z, 0-9 and '-', at most 63), and a Service's must also start with a letter
(RFC 1035), since it becomes the host name other pods resolve. Label values and port
names have rules of their own. The API server applies these rules; the JSON schemas do
not, so `rules.py` checks every object against the same functions.
"""

from __future__ import annotations

import hashlib
import re

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # RFC 1123 label
SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # RFC 1035 label
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
LABEL_MAX = 63
SUBDOMAIN_MAX = 253
PORT_NAME_MAX = 15


def is_dns_label(name: str) -> bool:
    return len(name) <= LABEL_MAX and bool(DNS_LABEL.match(name))


def is_service_name(name: str) -> bool:
    return len(name) <= LABEL_MAX and bool(SERVICE_NAME.match(name))


def is_subdomain(name: str) -> bool:
    """RFC 1123 subdomain: DNS labels joined by '.', at most 253 characters."""
    return len(name) <= SUBDOMAIN_MAX and all(is_dns_label(part) for part in name.split("."))


def is_label_value(value: str) -> bool:
    return len(value) <= LABEL_MAX and bool(LABEL_VALUE.match(value))


def is_qualified_name(key: str) -> bool:
    """A label or annotation key: [DNS subdomain/]name, the name at most 63 characters."""
    prefix, _, name = key.rpartition("/")
    if prefix and not is_subdomain(prefix):
        return False
    return len(name) <= LABEL_MAX and bool(_QUALIFIED.match(name))


def is_port_name(name: str) -> bool:
    """IANA service name: at most 15 of a-z, 0-9, '-', a letter among them, no '--'."""
    return (
        len(name) <= PORT_NAME_MAX
        and bool(_PORT_NAME.match(name))
        and "--" not in name
        and any(c.isalpha() for c in name)
    )


def dns_name(name: str) -> str | None:
    """A Compose name as a Service name: lower case, '_' and '.' as '-'; None if that is
    not enough (it starts with a digit, or is too long)."""
    candidate = name.lower().replace("_", "-").replace(".", "-")
    return candidate if is_service_name(candidate) else None


def slug(text: str) -> str:
    """`./conf/nginx.conf` -> `conf-nginx-conf`: a-z, 0-9 and '-' only (maybe empty)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def fit(name: str, limit: int = LABEL_MAX) -> str:
    """`name`, or its first characters and a short hash of all of it when it is too long."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


def label_value(text: str) -> str:
    """`text` cut to a valid label value: at most 63 characters, alphanumeric at both ends."""
    value = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:LABEL_MAX]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)


class Registry:
    """Names already given to one kind of object: `claim` hands out each name once."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def claim(self, wanted: str, limit: int = LABEL_MAX) -> str:
        """`wanted` (without '-' at its ends), or `wanted-2`, `wanted-3`… when taken."""
        wanted = wanted.strip("-") or "unnamed"
        name, number = fit(wanted, limit), 2
        while name in self.taken:
            name, number = fit(f"{wanted}-{number}", limit), number + 1
        self.taken.add(name)
        return name
