"""Every short and long syntax of a service, loaded into the normalised Stack."""

from __future__ import annotations

import pytest


def service(stack_dir, body: str, extra: str = "", **kwargs):
    indented = "\n".join("    " + line for line in body.strip("\n").splitlines())
    stack = stack_dir.load(f"services:\n  api:\n    command: run\n{indented}\n{extra}", **kwargs)
    return stack.services["api"]


@pytest.mark.parametrize(
    ("body", "argv"),
    [
        ("", ("run",)),
        ("entrypoint: sh -c", ("sh", "-c")),
        ("entrypoint: [python3, -u]", ("python3", "-u")),
        ("entrypoint: ''", ()),
    ],
)
def test_entrypoint_string_or_list(stack_dir, body, argv):
    api = service(stack_dir, body)
    assert (api.entrypoint or ()) == argv if body else api.entrypoint is None


def test_command_string_is_split_and_list_kept(stack_dir):
    stack = stack_dir.load(
        "services:\n  a:\n    command: echo 'a b' c\n  b:\n    command: [echo, 'a b']\n"
    )
    assert stack.services["a"].command == ("echo", "a b", "c")
    assert stack.services["b"].command == ("echo", "a b")


@pytest.mark.parametrize(
    "body",
    [
        "environment: [A=1, B=x=y, C=, 'D']",
        "environment: {A: 1, B: x=y, C: '', D: null}",
        "environment:\n  A: '1'\n  B: x=y\n  C: ''\n  D:",
    ],
)
def test_environment_list_or_map(stack_dir, body):
    api = service(stack_dir, body, environ={"D": "from-shell"})
    assert api.environment == {"A": "1", "B": "x=y", "C": "", "D": "from-shell"}


def test_environment_without_value_and_unset_is_left_out(stack_dir):
    assert service(stack_dir, "environment: [GONE]").environment == {}


def test_environment_scalars_become_text(stack_dir):
    api = service(stack_dir, "environment: {T: true, F: false, N: 1.5, I: 7, S: no}")
    assert api.environment == {"T": "true", "F": "false", "N": "1.5", "I": "7", "S": "no"}


def test_env_file_then_environment(stack_dir):
    stack_dir.write("config/app.env", "A=from-file\nB=file\n")
    stack_dir.write("config/more.env", "C=more\n")
    body = "env_file:\n  - config/app.env\n  - {path: config/more.env, required: true}\n  - {path: none.env, required: false}\nenvironment: {B: inline}"
    api = service(stack_dir, body)
    assert list(api.environment.items()) == [("A", "from-file"), ("B", "inline"), ("C", "more")]
    assert [f.path for f in api.env_file] == [
        str(stack_dir.root / "config/app.env"),
        str(stack_dir.root / "config/more.env"),
        str(stack_dir.root / "none.env"),
    ]


def test_env_file_string(stack_dir):
    stack_dir.write("a.env", "A=1\n")
    assert service(stack_dir, "env_file: a.env").environment == {"A": "1"}


def test_env_file_is_relative_to_the_project_directory_as_in_compose(stack_dir):
    """compose-go resolves every -f file's relative paths against the project directory
    (the first file's), also those of an override file kept elsewhere."""
    stack_dir.write("extra.env", "X=1\n")
    stack_dir.write("sub/extra.env", "X=2\n")
    stack_dir.write("sub/override.yaml", "services:\n  api:\n    env_file: extra.env\n")
    stack_dir.write("stack.yaml", "services:\n  api:\n    command: run\n")
    stack = stack_dir.load(files=("stack.yaml", "sub/override.yaml"))
    assert stack.services["api"].environment == {"X": "1"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("labels: [a=1, b]", {"a": "1", "b": ""}),
        ("labels: {a: 1, b: null}", {"a": "1", "b": ""}),
    ],
)
def test_labels(stack_dir, body, expected):
    assert service(stack_dir, body).labels == expected


def test_depends_on_list_and_map(stack_dir):
    stack = stack_dir.load(
        """
        services:
          a: {command: x, depends_on: [b, c]}
          b:
            command: x
            healthcheck: {test: ["CMD", "true"]}
          c: {command: x}
          d:
            command: x
            depends_on:
              b: {condition: service_healthy, restart: true}
              c: {condition: service_completed_successfully, required: false}
        """
    )
    a, d = stack.services["a"], stack.services["d"]
    assert {k: (v.condition, v.required, v.restart) for k, v in a.depends_on.items()} == {
        "b": ("service_started", True, False),
        "c": ("service_started", True, False),
    }
    assert {k: (v.condition, v.required, v.restart) for k, v in d.depends_on.items()} == {
        "b": ("service_healthy", True, True),
        "c": ("service_completed_successfully", False, False),
    }


@pytest.mark.parametrize(
    ("body", "test"),
    [
        ("healthcheck: {test: curl -f localhost}", ("CMD-SHELL", "curl -f localhost")),
        ("healthcheck: {test: [CMD, curl, -f, localhost]}", ("CMD", "curl", "-f", "localhost")),
        ("healthcheck: {test: [CMD-SHELL, 'curl localhost']}", ("CMD-SHELL", "curl localhost")),
        ("healthcheck: {test: [NONE]}", ("NONE",)),
        ("healthcheck: {disable: true}", ("NONE",)),
    ],
)
def test_healthcheck_test_forms(stack_dir, body, test):
    assert service(stack_dir, body).healthcheck.test == test


def test_healthcheck_durations(stack_dir):
    check = service(
        stack_dir,
        "healthcheck:\n  test: 'true'\n  interval: 1m30s\n  timeout: 500ms\n"
        "  retries: 5\n  start_period: 2s\n  start_interval: 1s",
    ).healthcheck
    assert (
        check.interval,
        check.timeout,
        check.retries,
        check.start_period,
        check.start_interval,
    ) == (90, 0.5, 5, 2, 1)


@pytest.mark.parametrize(
    ("value", "policy"),
    [
        ("no", "no"),
        ("'no'", "no"),
        ("false", "no"),
        ("always", "always"),
        ("on-failure", "on-failure"),
        ("on-failure:5", "on-failure:5"),
        ("unless-stopped", "unless-stopped"),
    ],
)
def test_restart(stack_dir, value, policy):
    assert service(stack_dir, f"restart: {value}").restart == policy


def test_resources_short_and_long(stack_dir):
    api = service(
        stack_dir,
        "mem_limit: 512m\nmemswap_limit: 1g\nmem_reservation: 128m\ncpus: 1.5\n"
        "cpu_shares: 512\npids_limit: 100",
    )
    assert (
        api.mem_limit,
        api.memswap_limit,
        api.mem_reservation,
        api.cpus,
        api.cpu_shares,
        api.pids_limit,
    ) == (512 << 20, 1 << 30, 128 << 20, 1.5, 512, 100)
    deploy = service(
        stack_dir,
        "deploy:\n  replicas: 2\n  resources:\n    limits: {cpus: '0.5', memory: 64M, pids: 10}\n"
        "    reservations: {cpus: '0.25', memory: 32M}",
    ).deploy
    assert deploy.replicas == 2
    assert (
        deploy.resources.limits.cpus,
        deploy.resources.limits.memory,
        deploy.resources.limits.pids,
    ) == (0.5, 64 << 20, 10)
    assert deploy.resources.reservations.memory == 32 << 20


def test_ports_short_and_long(stack_dir):
    api = service(
        stack_dir,
        "ports:\n  - 80\n  - '8080:81'\n  - '127.0.0.1:9000-9001:9000-9001/udp'\n"
        "  - {target: 82, published: '8082', host_ip: 0.0.0.0, protocol: tcp, mode: host, name: web}",
    )
    assert [(p.host_ip, p.published, p.target, p.protocol) for p in api.ports] == [
        (None, None, 80, "tcp"),
        (None, 8080, 81, "tcp"),
        ("127.0.0.1", 9000, 9000, "udp"),
        ("127.0.0.1", 9001, 9001, "udp"),
        ("0.0.0.0", 8082, 82, "tcp"),
    ]


def test_volumes_short_and_long(stack_dir):
    api = service(
        stack_dir,
        "volumes:\n  - data:/data:ro\n  - ./src:/src\n  - /cache\n"
        "  - {type: bind, source: /etc/ssl, target: /ssl, read_only: true, bind: {create_host_path: false}}\n"
        "  - {type: volume, source: data, target: /sub, volume: {subpath: part}}\n"
        "  - {type: tmpfs, target: /scratch, tmpfs: {size: 64m, mode: 0o1777}}",
        extra="volumes:\n  data:\n",
    )
    shapes = [(v.type, v.source, v.target, v.read_only) for v in api.volumes]
    assert shapes == [
        ("volume", "data", "/data", True),
        ("bind", "./src", "/src", False),
        ("volume", None, "/cache", False),
        ("bind", "/etc/ssl", "/ssl", True),
        ("volume", "data", "/sub", False),
        ("tmpfs", None, "/scratch", False),
    ]
    assert api.volumes[3].bind.create_host_path is False
    assert api.volumes[4].volume.subpath == "part"
    assert (api.volumes[5].tmpfs.size, api.volumes[5].tmpfs.mode) == (64 << 20, 0o1777)


def test_home_in_bind_sources(stack_dir):
    api = service(stack_dir, "volumes: ['~/cache:/cache']", environ={"HOME": "/home/me"})
    assert api.volumes[0].source == "/home/me/cache"


@pytest.mark.parametrize(
    ("body", "tmpfs"),
    [("tmpfs: /run", ("/run",)), ("tmpfs: [/run, '/tmp:size=1m']", ("/run", "/tmp:size=1m"))],
)
def test_tmpfs_string_or_list(stack_dir, body, tmpfs):
    assert service(stack_dir, body).tmpfs == tmpfs


def test_networks_list_or_map(stack_dir):
    extra = "networks:\n  front: {}\n  back:\n    ipam: {config: [{subnet: 10.90.0.0/24}]}\n"
    listed = service(stack_dir, "networks: [front, back]", extra=extra)
    assert listed.networks == {"front": None, "back": None}
    mapped = service(
        stack_dir,
        "networks:\n  front:\n    aliases: [www]\n  back: {ipv4_address: 10.90.0.7}",
        extra=extra,
    )
    assert mapped.networks["front"].aliases == ("www",)
    assert mapped.networks["back"].ipv4_address == "10.90.0.7"


@pytest.mark.parametrize("mode", ["host", "none", "bridge"])
def test_network_mode(stack_dir, mode):
    assert service(stack_dir, f"network_mode: {mode}").network_mode == mode


def test_network_mode_service(stack_dir):
    stack = stack_dir.load(
        "services:\n  a: {command: x}\n  b: {command: x, network_mode: 'service:a'}\n"
    )
    assert stack.services["b"].network_mode == "service:a"


def test_expose_stop_init_read_only(stack_dir):
    api = service(
        stack_dir,
        "expose: [3000, '4000-4001/udp']\nstop_signal: INT\nstop_grace_period: 1m\n"
        "init: true\nread_only: true\nuser: '1000:1000'\nworking_dir: /srv\nhostname: api-host",
    )
    assert api.expose == ("3000", "4000-4001/udp")
    assert (api.stop_signal, api.stop_grace_period, api.init, api.read_only) == (
        "SIGINT",
        60,
        True,
        True,
    )
    assert (api.user, api.working_dir, api.hostname) == ("1000:1000", "/srv", "api-host")


def test_capabilities_and_security_opt(stack_dir):
    api = service(
        stack_dir,
        "cap_add: [net_admin, CAP_SYS_TIME]\ncap_drop: [ALL]\n"
        "security_opt: [no-new-privileges:false, seccomp:unconfined]",
    )
    assert api.cap_add == ("NET_ADMIN", "SYS_TIME") and api.cap_drop == ("ALL",)
    assert api.security_opt == ("no-new-privileges:false", "seccomp=unconfined")


def test_ulimits_number_or_soft_hard(stack_dir):
    api = service(stack_dir, "ulimits:\n  nproc: 65535\n  nofile: {soft: 1024, hard: 2048}")
    assert {k: (u.soft, u.hard) for k, u in api.ulimits.items()} == {
        "nproc": (65535, 65535),
        "nofile": (1024, 2048),
    }


@pytest.mark.parametrize(
    "body",
    [
        "extra_hosts: ['db=10.0.0.2', 'v6:::1', 'cache:10.0.0.3']",
        "extra_hosts: {db: 10.0.0.2, v6: '::1', cache: 10.0.0.3}",
    ],
)
def test_extra_hosts_list_or_map(stack_dir, body):
    assert service(stack_dir, body).extra_hosts == {
        "db": "10.0.0.2",
        "v6": "::1",
        "cache": "10.0.0.3",
    }


@pytest.mark.parametrize(
    ("body", "dns"), [("dns: 1.1.1.1", ("1.1.1.1",)), ("dns: [1.1.1.1, '::1']", ("1.1.1.1", "::1"))]
)
def test_dns_string_or_list(stack_dir, body, dns):
    assert service(stack_dir, body).dns == dns


def test_logging(stack_dir):
    logging = service(
        stack_dir, "logging: {driver: json-file, options: {max-size: 10m, max-file: '3'}}"
    ).logging
    assert logging.options == {"max-size": "10m", "max-file": "3"}


def test_x_stackrun_and_ignored_extensions(stack_dir):
    stack = stack_dir.load(
        """
        x-defaults: &defaults {restart: always}
        x-stackrun: {cgroup_parent: /machine.slice, subnet_pool: 10.200.0.0/16}
        services:
          api:
            <<: *defaults
            command: x
            x-note: ignored
            x-stackrun:
              rootfs: ./root
              restart_on_unhealthy: true
              backoff: {initial: 200ms, max: 1m, reset: 30s}
            healthcheck: {test: 'true', x-any: 1}
        networks:
          default: {x-label: 1}
        """
    )
    api = stack.services["api"]
    assert api.restart == "always"
    ext = api.x_stackrun
    assert (ext.rootfs, ext.restart_on_unhealthy) == ("./root", True)
    assert (ext.backoff.initial, ext.backoff.max, ext.backoff.reset) == (0.2, 60, 30)
    assert (stack.x_stackrun.cgroup_parent, stack.x_stackrun.subnet_pool) == (
        "machine.slice",
        "10.200.0.0/16",
    )


def test_top_level_volumes_and_networks(stack_dir):
    stack = stack_dir.load(
        """
        services:
          api: {command: x, volumes: [data:/data, shared:/shared], networks: [back, ext]}
        volumes:
          data:
          shared: {driver_opts: {type: none, o: bind, device: /srv/shared}}
          old: {external: true, name: legacy}
        networks:
          back:
            internal: true
            ipam: {config: [{subnet: 10.90.0.0/24, gateway: 10.90.0.254}]}
          ext: {external: true, name: br-ext}
        """
    )
    assert stack.volumes["data"].external is False
    assert stack.volumes["shared"].driver_opts.device == "/srv/shared"
    assert (stack.volumes["old"].external, stack.volumes["old"].name) == (True, "legacy")
    back = stack.networks["back"]
    assert back.internal and back.ipam.config[0].subnet == "10.90.0.0/24"
    assert back.ipam.config[0].gateway == "10.90.0.254"
    assert stack.networks["ext"].external


def test_scale_and_replicas(stack_dir):
    stack = stack_dir.load(
        "services:\n  a: {command: x, scale: 3}\n  b: {command: x, deploy: {replicas: 0}}\n"
        "  c: {command: x}\n"
    )
    assert [stack.replicas(n) for n in "abc"] == [3, 0, 1]
