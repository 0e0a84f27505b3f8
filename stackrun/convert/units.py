"""Compose's numbers in Kubernetes' units: quantities and whole seconds. Pure."""

from __future__ import annotations

import math
import re

_QUANTITY = re.compile(r"^[+]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][+-]?\d+)?$")
_BINARY: tuple[tuple[str, int], ...] = (
    ("Ei", 1 << 60), ("Pi", 1 << 50), ("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)
)  # fmt: skip


_DECIMAL = {"m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def is_quantity(text: str) -> bool:
    """A Kubernetes resource quantity such as `1Gi`, `500m`, `2`, `1e3`."""
    return bool(_QUANTITY.match(text))


def quantity(text: str) -> float:
    """The number a quantity stands for: `64Mi` -> 67108864.0, `500m` -> 0.5."""
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a quantity")
    number, suffix = float(match.group(1)), match.group(3) or ""
    if suffix[:1] in "eE" and suffix:
        return number * 10 ** int(suffix[1:])
    binary = dict(_BINARY)
    return number * (binary[suffix] if suffix in binary else _DECIMAL[suffix])


def memory(size: int) -> str:
    """Bytes as a quantity, in the largest binary unit that divides them: 67108864 -> 64Mi."""
    for suffix, unit in _BINARY:
        if size and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def cpu(cpus: float) -> str:
    """CPUs as a quantity: 1 -> "1", 0.5 -> "500m"; at least one millicore."""
    millis = max(1, round(cpus * 1000))
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def cpu_of_shares(shares: int) -> str:
    """Docker's cpu_shares as the CPU request the kubelet turns into the same weight (the
    kubelet gives a container 1024 shares per requested CPU)."""
    return cpu(shares / 1024)


def seconds(duration: float, least: int = 1) -> int:
    """A duration as whole seconds, rounded up (Kubernetes counts in seconds), at least `least`."""
    return max(least, math.ceil(duration - 1e-9))
