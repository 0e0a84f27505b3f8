"""Compact notations: durations, sizes, signals, restart policies, ports, volumes, tmpfs."""

from __future__ import annotations

import pytest

from stackrun.spec import syntax


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10),
        ("1m30s", 90),
        ("500ms", 0.5),
        ("2h", 7200),
        ("1h2m3s", 3723),
        ("1.5s", 1.5),
        ("100us", 1e-4),
        ("0s", 0),
        (5, 5.0),
        (2.5, 2.5),
    ],
)
def test_durations(text, seconds):
    assert syntax.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10", "10 s", "s", "1m30", "-1s", "", True, -3])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        syntax.parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(90, "1m30s"), (0.5, "500ms"), (10, "10s"), (0, "0s"), (3723, "1h2m3s"), (1.25, "1.25s")],
)
def test_durations_format_back(seconds, text):
    assert syntax.format_duration(seconds) == text
    assert syntax.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512m", 512 << 20),
        ("1g", 1 << 30),
        ("1G", 1 << 30),
        ("64kb", 64 << 10),
        ("1.5g", 3 << 29),
        ("100", 100),
        (4096, 4096),
        ("2MiB", 2 << 20),
        ("10 m", 10 << 20),
        ("1b", 1),
    ],
)
def test_sizes(text, size):
    assert syntax.parse_bytes(text) == size


@pytest.mark.parametrize("text", ["lots", "1 gigabyte", "-1m", True, "1x"])
def test_bad_sizes(text):
    with pytest.raises(ValueError):
        syntax.parse_bytes(text)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("SIGTERM", "SIGTERM"),
        ("TERM", "SIGTERM"),
        ("int", "SIGINT"),
        (9, "SIGKILL"),
        ("15", "SIGTERM"),
        ("SIGUSR1", "SIGUSR1"),
    ],
)
def test_signals(text, name):
    assert syntax.parse_signal(text) == name


def test_signal_numbers():
    assert syntax.signal_number("SIGTERM") == 15 and syntax.signal_number("SIGKILL") == 9


@pytest.mark.parametrize(
    ("value", "policy"),
    [
        (False, "no"),
        ("no", "no"),
        ("always", "always"),
        ("on-failure", "on-failure"),
        ("on-failure:3", "on-failure:3"),
        ("unless-stopped", "unless-stopped"),
    ],
)
def test_restart_policies(value, policy):
    assert syntax.parse_restart(value) == policy


@pytest.mark.parametrize("value", [True, "sometimes", "on-failure:x", "on-failure:-1", "always:2"])
def test_bad_restart_policies(value):
    with pytest.raises(ValueError):
        syntax.parse_restart(value)


@pytest.mark.parametrize(
    ("text", "argv"),
    [
        ("echo hi", ["echo", "hi"]),
        ("sh -c 'a && b'", ["sh", "-c", "a && b"]),
        ('say "two words" x\\ y', ["say", "two words", "x y"]),
        ("", []),
    ],
)
def test_commands_split_like_a_shell(text, argv):
    assert syntax.split_command(text) == argv


@pytest.mark.parametrize(
    ("value", "entries"),
    [
        (80, [{"target": 80, "protocol": "tcp"}]),
        ("80", [{"target": 80, "protocol": "tcp"}]),
        ("8080:80", [{"target": 80, "published": 8080, "protocol": "tcp"}]),
        (
            "127.0.0.1:8080:80",
            [{"target": 80, "published": 8080, "host_ip": "127.0.0.1", "protocol": "tcp"}],
        ),
        ("127.0.0.1::80", [{"target": 80, "host_ip": "127.0.0.1", "protocol": "tcp"}]),
        ("[::1]:8080:80", [{"target": 80, "published": 8080, "host_ip": "::1", "protocol": "tcp"}]),
        ("53:53/udp", [{"target": 53, "published": 53, "protocol": "udp"}]),
        ("3000-3001", [{"target": 3000, "protocol": "tcp"}, {"target": 3001, "protocol": "tcp"}]),
        (
            "9000-9001:8000-8001",
            [
                {"target": 8000, "published": 9000, "protocol": "tcp"},
                {"target": 8001, "published": 9001, "protocol": "tcp"},
            ],
        ),
    ],
)
def test_port_short_syntax(value, entries):
    assert syntax.parse_port(value) == entries


@pytest.mark.parametrize(
    "value", ["http", "80:http", "1.2.3:80:80", "9000-9001:8080-8082", "90-80", "[::1:80"]
)
def test_bad_ports(value):
    with pytest.raises(ValueError):
        syntax.parse_port(value)


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("/data", {"type": "volume", "target": "/data"}),
        ("data:/data", {"type": "volume", "source": "data", "target": "/data"}),
        (
            "data:/data:ro,nocopy",
            {
                "type": "volume",
                "source": "data",
                "target": "/data",
                "read_only": True,
                "volume": {"nocopy": True},
            },
        ),
        (
            "./src:/src",
            {
                "type": "bind",
                "source": "./src",
                "target": "/src",
                "bind": {"create_host_path": True},
            },
        ),
        (
            "/etc/x:/x:ro",
            {
                "type": "bind",
                "source": "/etc/x",
                "target": "/x",
                "read_only": True,
                "bind": {"create_host_path": True},
            },
        ),
        (
            "~/d:/d:rw,rshared",
            {
                "type": "bind",
                "source": "~/d",
                "target": "/d",
                "bind": {"create_host_path": True, "propagation": "rshared"},
            },
        ),
    ],
)
def test_volume_short_syntax(text, entry):
    assert syntax.parse_volume(text) == entry


@pytest.mark.parametrize("text", ["a:b:c:d", ":/x", "./a:/a:rx"])
def test_bad_volumes(text):
    with pytest.raises(ValueError):
        syntax.parse_volume(text)


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("/run", {"target": "/run"}),
        ("/run:size=64m,mode=1777", {"target": "/run", "size": 64 << 20, "mode": 0o1777}),
        ("/ro:ro", {"target": "/ro", "read_only": True}),
    ],
)
def test_tmpfs(text, entry):
    assert syntax.parse_tmpfs(text) == entry


@pytest.mark.parametrize(
    ("value", "mode"),
    [("1777", 0o1777), (755, 0o755), (syntax.OctalInt(0o700), 0o700), ("0755", 0o755)],
)
def test_modes_are_octal(value, mode):
    assert syntax.parse_mode(value) == mode


@pytest.mark.parametrize("value", ["rwx", 99999, "8"])
def test_bad_modes(value):
    with pytest.raises(ValueError):
        syntax.parse_mode(value)


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("/dev/fuse", {"source": "/dev/fuse", "permissions": "rwm"}),
        ("/dev/fuse:rw", {"source": "/dev/fuse", "permissions": "rw"}),
        ("/dev/sdb:/dev/xvdb", {"source": "/dev/sdb", "target": "/dev/xvdb", "permissions": "rwm"}),
        ("/dev/sdb:/dev/xvdb:r", {"source": "/dev/sdb", "target": "/dev/xvdb", "permissions": "r"}),
    ],
)
def test_devices_as_docker_reads_them(text, entry):
    assert syntax.parse_device(text) == entry


@pytest.mark.parametrize("text", ["/a:/b:/c:/d", "/a::r", ""])
def test_bad_devices(text):
    with pytest.raises(ValueError, match="HOST"):
        syntax.parse_device(text)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("c 10:200 rwm", ("c", 10, 200, "rwm")),
        ("b 8:* r", ("b", 8, None, "r")),
        ("a *:* m", ("a", None, None, "m")),
    ],
)
def test_device_rules(text, rule):
    assert syntax.parse_rule(text) == rule


@pytest.mark.parametrize(
    "text", ["c 1:3", "x 1:3 r", "c 1:3 rr", "c 1:3 rx", "c a:3 r", "c  1:3 r"]
)
def test_bad_device_rules(text):
    with pytest.raises(ValueError, match="not a device rule"):
        syntax.parse_rule(text)
