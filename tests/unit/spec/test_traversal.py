"""Paths and names that would reach outside their place are refused, each at its key
with what to write instead (issue 7: path traversal and names).

A bind source may still be any host path, `../shared` included, as in Compose: the
user names it explicitly. What stackrun itself creates or removes (volume
directories, bridges, cgroups, mounts in the service) must stay where it belongs.
"""

from __future__ import annotations

import pytest

NAME = "use letters, digits, '_', '.', '-', starting with a letter or digit (no '/' or '..')"
SERVICE = "services:\n  s:\n    command: [x]\n"

CASES = [
    (
        "target with ..",
        SERVICE + "    volumes: ['./d:/srv/../etc']\n",
        "stack.yaml:4:15: services.s.volumes[0].target: '/srv/../etc' contains '..'; write the path without it",
    ),
    (
        "relative target",
        SERVICE + "    volumes: ['./d:srv']\n",
        "stack.yaml:4:15: services.s.volumes[0].target: 'srv' is not an absolute path; start it with '/'",
    ),
    (
        "target on /proc",
        SERVICE + "    volumes: [{type: bind, source: ./d, target: /proc/sys}]\n",
        "stack.yaml:4:41: services.s.volumes[0].target: cannot mount over /proc/sys: stackrun provides /proc itself",
    ),
    (
        "target on /sys",
        SERVICE + "    volumes: ['./d:/sys']\n",
        "stack.yaml:4:15: services.s.volumes[0].target: cannot mount over /sys: stackrun provides /sys itself",
    ),
    (
        "target on /dev",
        SERVICE + "    volumes: ['./d:/dev/shm']\n",
        "stack.yaml:4:15: services.s.volumes[0].target: cannot mount over /dev/shm: stackrun provides /dev itself",
    ),
    (
        "tmpfs on /proc",
        SERVICE + "    tmpfs: [/proc]\n",
        "stack.yaml:4:13: services.s.tmpfs[0]: cannot mount over /proc: stackrun provides /proc itself",
    ),
    (
        "NUL in a volume",
        SERVICE + '    volumes: ["./d:/x\\0y"]\n',
        "stack.yaml:4:15: services.s.volumes[0]: './d:/x\\x00y' holds a NUL character (\\0); remove it",
    ),
    (
        "subpath with ..",
        SERVICE
        + "    volumes: [{type: volume, source: v, target: /x, volume: {subpath: ../../etc}}]\n"
        "volumes:\n  v: {}\n",
        (
            "stack.yaml:4:62: services.s.volumes[0].volume.subpath: '../../etc' leaves the volume; write a path "
            "inside it, relative and without '..' (e.g. logs)"
        ),
    ),
    (
        "absolute subpath",
        SERVICE + "    volumes: [{type: volume, source: v, target: /x, volume: {subpath: /etc}}]\n"
        "volumes:\n  v: {}\n",
        (
            "stack.yaml:4:62: services.s.volumes[0].volume.subpath: '/etc' leaves the volume; write a path "
            "inside it, relative and without '..' (e.g. logs)"
        ),
    ),
    (
        "driver_opts device with ..",
        SERVICE + "volumes:\n  v: {driver_opts: {type: none, o: bind, device: /a/../etc}}\n",
        "stack.yaml:5:42: volumes.v.driver_opts.device: '/a/../etc' contains '..'; write the path without it",
    ),
    (
        "NUL in env_file",
        SERVICE + '    env_file: ["a\\0b"]\n',
        "stack.yaml:4:16: services.s.env_file[0]: 'a\\x00b' holds a NUL character (\\0); remove it",
    ),
    (
        "NUL in working_dir",
        SERVICE + '    working_dir: "/a\\0b"\n',
        "stack.yaml:4:5: services.s.working_dir: '/a\\x00b' holds a NUL character (\\0); remove it",
    ),
    (
        "NUL in command",
        'services:\n  s:\n    command: ["a\\0b"]\n',
        "stack.yaml:3:15: services.s.command[0]: 'a\\x00b' holds a NUL character (\\0); remove it",
    ),
    (
        "NUL in environment",
        SERVICE + '    environment: {A: "a\\0b"}\n',
        "stack.yaml:4:19: services.s.environment.A: 'a\\x00b' holds a NUL character (\\0); remove it",
    ),
    (
        "service name with /",
        "services:\n  a/b:\n    command: [x]\n",
        f"stack.yaml:2:3: services.a/b: 'a/b' is not a valid name: {NAME}",
    ),
    (
        "service name ..",
        "services:\n  ..:\n    command: [x]\n",
        f"stack.yaml:2:3: services...: '..' is not a valid name: {NAME}",
    ),
    (
        "network name with /",
        SERVICE + "networks:\n  a/b: {}\n",
        f"stack.yaml:5:3: networks.a/b: 'a/b' is not a valid name: {NAME}",
    ),
    (
        "volume name ..",
        SERVICE + "volumes:\n  '..': {}\n",
        f"stack.yaml:5:3: volumes...: '..' is not a valid name: {NAME}",
    ),
    (
        "volume name: key with ..",
        SERVICE + "volumes:\n  v: {name: ../../etc}\n",
        f"stack.yaml:5:7: volumes.v.name: '../../etc' is not a valid name: {NAME}",
    ),
    (
        "volume name: key absolute",
        SERVICE + "volumes:\n  v: {name: /etc, external: true}\n",
        f"stack.yaml:5:7: volumes.v.name: '/etc' is not a valid name: {NAME}",
    ),
    (
        "network name: key with /",
        SERVICE + "networks:\n  n: {name: a/b, external: true}\n",
        f"stack.yaml:5:7: networks.n.name: 'a/b' is not a valid name: {NAME}",
    ),
    (
        "project name with /",
        "name: a/b\n" + SERVICE,
        (
            "stack.yaml:1:1: name: project name 'a/b' (from name:) must contain only lowercase letters, digits, "
            "'-' and '_', and start with a letter or digit"
        ),
    ),
    (
        "project name ..",
        "name: '..'\n" + SERVICE,
        (
            "stack.yaml:1:1: name: project name '..' (from name:) must contain only lowercase letters, digits, "
            "'-' and '_', and start with a letter or digit"
        ),
    ),
    (
        "hostname with /",
        SERVICE + "    hostname: a/b\n",
        "stack.yaml:4:5: services.s.hostname: 'a/b' is not a valid hostname (letters, digits, '-', '.')",
    ),
    (
        "hostname ..",
        SERVICE + "    hostname: '..'\n",
        "stack.yaml:4:5: services.s.hostname: '..' is not a valid hostname (letters, digits, '-', '.')",
    ),
    (
        "cgroup_parent with ..",
        "x-stackrun: {cgroup_parent: ../escape}\n" + SERVICE,
        "stack.yaml:1:14: x-stackrun.cgroup_parent: '../escape' must not contain '.' or '..'",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_at_its_key(stack_dir, text, expected):
    assert expected in stack_dir.errors(text)


def test_a_nul_in_an_env_file_is_refused_where_it_is(stack_dir):
    (stack_dir.root / "app.env").write_bytes(b"A=x\0y\n")
    assert stack_dir.errors(SERVICE + "    env_file: [app.env]\n") == [
        "app.env:1:1: A: the value holds a NUL character (\\0); remove it"
    ]


def test_a_container_name_cannot_climb_out_of_a_directory(stack_dir):
    [error] = stack_dir.errors(SERVICE + "    container_name: ../x\n")
    assert "container_name: '../x' is not a valid name" in error


def test_a_bind_source_outside_the_project_stays_allowed(stack_dir):
    stack = stack_dir.load(SERVICE + "    volumes: ['../shared:/shared']\n")
    assert stack.services["s"].volumes[0].source == "../shared"


def test_a_writable_host_root_is_said_and_contradictions_refused(stack_dir):
    rw = SERVICE + "    x-stackrun: {host_root: rw}\n"
    assert stack_dir.warnings(rw) == [
        (
            "stack.yaml:4:18: services.s.x-stackrun.host_root: rw: this service runs as "
            "root on the host's own files and may change them (the default, ro, keeps the "
            "host's root read-only); remove it unless the service must write outside its volumes"
        )
    ]
    assert stack_dir.warnings(SERVICE + "    x-stackrun: {host_root: ro}\n") == []
    assert stack_dir.errors(rw + "    read_only: true\n") == [
        (
            "stack.yaml:4:18: services.s.x-stackrun.host_root: contradicts read_only: true; "
            "remove one of them"
        )
    ]
    (stack_dir.root / "root").mkdir()
    assert stack_dir.errors(SERVICE + "    x-stackrun: {host_root: rw, rootfs: ./root}\n") == [
        (
            "stack.yaml:4:18: services.s.x-stackrun.host_root: applies only to a service on "
            "the host's root: remove it or rootfs"
        )
    ]
