"""Several -f files merged with the Compose specification's rules."""

from __future__ import annotations


def merged(stack_dir, base: str, override: str, **kwargs):
    stack_dir.write("base.yaml", base)
    stack_dir.write("override.yaml", override)
    return stack_dir.load(files=("base.yaml", "override.yaml"), **kwargs)


def test_mappings_merge_and_scalars_are_replaced(stack_dir):
    stack = merged(
        stack_dir,
        "services:\n  a: {command: x, user: '1', hostname: h}\n",
        "services:\n  a: {user: '2', init: true}\n  b: {command: y}\n",
    )
    a = stack.services["a"]
    assert (a.user, a.hostname, a.init) == ("2", "h", True)
    assert list(stack.services) == ["a", "b"]


def test_command_entrypoint_and_healthcheck_test_are_replaced(stack_dir):
    stack = merged(
        stack_dir,
        "services:\n  a:\n    command: [echo, foo]\n    entrypoint: [sh, -c]\n"
        "    healthcheck: {test: [CMD, a, b], interval: 5s}\n",
        "services:\n  a:\n    command: [echo, bar]\n    entrypoint: env\n    healthcheck: {test: [CMD, c]}\n",
    )
    a = stack.services["a"]
    assert (a.command, a.entrypoint, a.healthcheck.test, a.healthcheck.interval) == (
        ("echo", "bar"),
        ("env",),
        ("CMD", "c"),
        5,
    )


def test_environment_labels_extra_hosts_merge_per_key(stack_dir):
    stack = merged(
        stack_dir,
        "services:\n  a:\n    command: x\n    environment: [A=1, B=2]\n    labels: {l: 1}\n"
        "    extra_hosts: ['db=10.0.0.1']\n",
        "services:\n  a:\n    environment: {B: 3, C: 4}\n    labels: [m=2]\n    extra_hosts: {db: 10.0.0.2, c: 10.0.0.3}\n",
    )
    a = stack.services["a"]
    assert a.environment == {"A": "1", "B": "3", "C": "4"}
    assert a.labels == {"l": "1", "m": "2"}
    assert a.extra_hosts == {"db": "10.0.0.2", "c": "10.0.0.3"}


def test_sequences_append_without_duplicates(stack_dir):
    stack = merged(
        stack_dir,
        "services:\n  a:\n    command: x\n    cap_add: [NET_ADMIN]\n    dns: 1.1.1.1\n",
        "services:\n  a:\n    cap_add: [NET_ADMIN, SYS_TIME]\n    dns: [8.8.8.8]\n",
    )
    assert stack.services["a"].cap_add == ("NET_ADMIN", "SYS_TIME")
    assert stack.services["a"].dns == ("1.1.1.1", "8.8.8.8")


def test_ports_are_unique_by_ip_target_published_protocol(stack_dir):
    stack = merged(
        stack_dir,
        "services:\n  a:\n    command: x\n    ports: ['8080:80', '9090:90']\n",
        "services:\n  a:\n    ports: ['8080:80', {target: 90, published: 9090, name: metrics}, '7070:70']\n",
    )
    ports = stack.services["a"].ports
    assert [(p.published, p.target, p.name) for p in ports] == [
        (8080, 80, None),
        (9090, 90, "metrics"),
        (7070, 70, None),
    ]


def test_volumes_are_unique_by_target(stack_dir):
    stack = merged(
        stack_dir,
        "services:\n  a:\n    command: x\n    volumes: ['foo:/work', './x:/x']\n"
        "volumes: {foo: {}, bar: {}}\n",
        "services:\n  a:\n    volumes: ['bar:/work']\n",
    )
    assert [(v.source, v.target) for v in stack.services["a"].volumes] == [
        ("bar", "/work"),
        ("./x", "/x"),
    ]


def test_depends_on_and_networks_merge_per_name(stack_dir):
    stack = merged(
        stack_dir,
        "services:\n  a: {command: x, depends_on: [b], networks: [front]}\n  b: {command: x}\n  c: {command: x}\n"
        "networks: {front: {}, back: {}}\n",
        "services:\n  a:\n    depends_on: {c: {condition: service_started}}\n    networks: {back: {aliases: [x]}}\n",
    )
    a = stack.services["a"]
    assert list(a.depends_on) == ["b", "c"]
    assert a.networks["front"] is None and a.networks["back"].aliases == ("x",)


def test_reset_removes_and_override_replaces(stack_dir):
    stack = merged(
        stack_dir,
        "services:\n  a:\n    command: x\n    ports: ['8080:80']\n    environment: {FOO: bar, KEEP: 1}\n"
        "    cap_add: [NET_ADMIN]\n",
        "services:\n  a:\n    ports: !reset []\n    environment:\n      FOO: !reset null\n"
        "    cap_add: !override [SYS_TIME]\n",
    )
    a = stack.services["a"]
    assert a.ports == () and a.environment == {"KEEP": "1"} and a.cap_add == ("SYS_TIME",)


def test_logging_driver_change_replaces_options(stack_dir):
    stack = merged(
        stack_dir,
        "services:\n  a:\n    command: x\n    logging: {driver: json-file, options: {max-size: 1m}}\n",
        "services:\n  a:\n    logging: {driver: local}\n",
    )
    assert stack.services["a"].logging.options == {}
    same = merged(
        stack_dir,
        "services:\n  a:\n    command: x\n    logging: {driver: local, options: {max-size: 1m}}\n",
        "services:\n  a:\n    logging: {options: {max-file: '2'}}\n",
    )
    assert same.services["a"].logging.options == {"max-size": "1m", "max-file": "2"}


def test_interpolation_happens_per_file_before_merging(stack_dir):
    stack = merged(
        stack_dir,
        "services:\n  a:\n    command: echo ${A:-base}\n",
        "services:\n  a:\n    environment: {X: '$$literal'}\n",
    )
    assert stack.services["a"].command == ("echo", "base")
    assert stack.services["a"].environment == {"X": "$literal"}


def test_errors_point_into_the_file_that_wrote_the_value(stack_dir):
    stack_dir.write("base.yaml", "services:\n  a:\n    command: x\n")
    stack_dir.write("override.yaml", "services:\n  a:\n    restart: sometimes\n")
    errors = stack_dir.errors(None, files=("base.yaml", "override.yaml"))
    assert errors == [
        (
            "override.yaml:3:5: services.a.restart: 'sometimes' is not one of "
            "no, always, on-failure[:N], unless-stopped"
        )
    ]


def test_top_level_and_ipam_merge(stack_dir):
    stack = merged(
        stack_dir,
        "name: one\nservices:\n  a: {command: x}\nnetworks:\n  n:\n    ipam: {config: [{subnet: 10.1.0.0/24}]}\n",
        "name: two\nnetworks:\n  n:\n    internal: true\n    ipam: {config: [{subnet: 10.1.0.0/24, gateway: 10.1.0.9}]}\n",
    )
    assert stack.name == "two"
    assert stack.networks["n"].internal
    assert stack.networks["n"].ipam.config[0].gateway == "10.1.0.9"


def test_override_of_a_whole_service_is_normalised(stack_dir):
    stack = merged(
        stack_dir,
        "services:\n  a:\n    command: x\n    ports: ['80:80']\n    user: '1'\n",
        "services:\n  a: !override\n    command: echo hi\n    ports: ['8080:80']\n",
    )
    a = stack.services["a"]
    assert (a.command, a.user, [(p.published, p.target) for p in a.ports]) == (
        ("echo", "hi"),
        None,
        [(8080, 80)],
    )
