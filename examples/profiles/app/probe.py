#!/usr/bin/env python3
"""Prints what a service sees from the inside: its names, environment, /etc/hosts, name
resolution, capabilities and limits. Used by the profiles example's `probe` service."""

from __future__ import annotations

import os
import resource
import socket


def capabilities() -> dict[str, str]:
    with open("/proc/self/status") as status:
        return {
            key: value.strip()
            for key, value in (line.split(":", 1) for line in status)
            if key in ("CapEff", "CapBnd", "NoNewPrivs")
        }


def resolve(name: str) -> str:
    try:
        return socket.gethostbyname(name)
    except OSError as error:
        return f"unresolved ({error.strerror})"


def main() -> None:
    print(f"probe: hostname {socket.gethostname()}, pid {os.getpid()}")
    for key in ("GREETING", "LOG_LEVEL", "SITE_URL", "HOME"):
        print(f"probe: ${key} = {os.environ.get(key, '(unset)')!r}")
    for name in ("site", "www", "web", "metrics.internal", "registry.internal"):
        print(f"probe: {name} -> {resolve(name)}")
    for key, value in capabilities().items():
        print(f"probe: {key} {value}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    print(f"probe: open files limit {soft}/{hard}")
    with open("/etc/hosts") as hosts:
        for line in hosts:
            print(f"probe: /etc/hosts: {line.rstrip()}")


if __name__ == "__main__":
    main()
