"""Which health checks become httpGet or tcpSocket probes: only those that mean the same."""

from __future__ import annotations

import pytest

from stackrun.convert.probes import handler

SH = ("/bin/sh", "-c")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("curl", "-f", "http://localhost/"), {"httpGet": {"path": "/", "port": 80}}),
        (
            ("curl", "-fsS", "http://127.0.0.1:8000/health"),
            {"httpGet": {"path": "/health", "port": 8000}},
        ),
        (
            ("/usr/bin/curl", "--fail", "-o", "/dev/null", "http://localhost:8000/a?b=1"),
            {"httpGet": {"path": "/a?b=1", "port": 8000}},
        ),
        (
            ("curl", "-sfk", "https://localhost:8443/ready"),
            {"httpGet": {"path": "/ready", "port": 8443, "scheme": "HTTPS"}},
        ),
        (
            ("curl", "-f", "--max-time", "2", "http://localhost:80"),
            {"httpGet": {"path": "/", "port": 80}},
        ),
        (
            ("wget", "-qO-", "http://127.0.0.1:8000/health"),
            {"httpGet": {"path": "/health", "port": 8000}},
        ),
        (
            ("wget", "--spider", "-q", "http://localhost:3000/"),
            {"httpGet": {"path": "/", "port": 3000}},
        ),
        (
            ("wget", "-q", "-O", "/dev/null", "-T", "3", "http://localhost/x"),
            {"httpGet": {"path": "/x", "port": 80}},
        ),
        (
            (*SH, "curl -f http://localhost:8080/ || exit 1"),
            {"httpGet": {"path": "/", "port": 8080}},
        ),
        (("nc", "-z", "localhost", "6379"), {"tcpSocket": {"port": 6379}}),
        (("nc", "-zv", "-w", "2", "127.0.0.1", "5432"), {"tcpSocket": {"port": 5432}}),
        ((*SH, "nc -z localhost 6379 || exit 1"), {"tcpSocket": {"port": 6379}}),
    ],
)
def test_recognised(argv, expected):
    assert handler(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ("curl", "http://localhost/"),  # no -f: exits 0 on an HTTP error
        ("curl", "-f", "http://db:8000/"),  # another host
        ("curl", "-f", "-H", "Host: x", "http://localhost/"),  # a header: not a plain GET
        ("curl", "-fI", "http://localhost/"),  # HEAD
        ("curl", "-f", "http://user:pw@localhost/"),
        ("curl", "-f", "ftp://localhost/"),
        ("curl", "-f", "http://localhost:99999/"),
        ("wget", "-q", "http://localhost/", "http://localhost/b"),
        ("nc", "localhost", "6379"),  # not -z: it would wait for input
        ("nc", "-z", "db", "6379"),
        ("nc", "-z", "localhost", "http"),
        ("pg_isready", "-U", "postgres"),
        (*SH, "curl -f http://localhost/ && touch /tmp/ok"),
        (*SH, "curl -f http://localhost:$PORT/"),
        (*SH, "curl -f 'http://localhost/"),  # unbalanced quote
        ("curl", "-f", "http://localhost:0/"),
    ],
)
def test_kept_as_exec(argv):
    assert handler(argv) == {"exec": {"command": list(argv)}}
