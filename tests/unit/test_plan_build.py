"""plan.build: a loaded Stack turned into the Plan the runtime reads. Pure; no root."""

from __future__ import annotations

import textwrap

import pytest

from stackrun import spec
from stackrun.plan.build import DEFAULT_LOG_FILES, DEFAULT_LOG_SIZE, HostFacts, build
from stackrun.plan.model import Mount
from stackrun.plan.names import ProjectNames
from stackrun.plan.resources import DEFAULT_PIDS_LIMIT
from tests.helpers.plans import DOCKER_CAPS


@pytest.fixture
def plan_of(tmp_path):
    def make(
        text: str, facts: HostFacts | None = None, files: dict[str, str] | None = None, **options
    ):
        for name, content in (files or {}).items():
            (tmp_path / name).write_text(content)
        (tmp_path / "stack.yaml").write_text(textwrap.dedent(text))
        stack = spec.load(
            spec.LoadOptions(
                files=(str(tmp_path / "stack.yaml"),),
                project_name="shop",
                working_dir=str(tmp_path),
                **options,
            )
        )
        return build(stack, facts or HostFacts(data_dir="/var/lib/stackrun/shop"))

    make.dir = tmp_path
    return make


def test_replicas_are_expanded_in_dependency_order(plan_of):
    plan = plan_of("""
        services:
          web: {command: x, depends_on: [api]}
          worker: {command: x, scale: 3, depends_on: [db]}
          api: {command: x, depends_on: [db]}
          db: {command: x}
          idle: {command: x, deploy: {replicas: 0}}
    """)
    assert [s.name for s in plan.services] == [
        "shop-db-1",
        "shop-worker-1",
        "shop-worker-2",
        "shop-worker-3",
        "shop-api-1",
        "shop-web-1",
    ]
    assert [(s.service, s.replica) for s in plan.instances_of("worker")] == [
        ("worker", 1),
        ("worker", 2),
        ("worker", 3),
    ]
    api = plan.instance("shop-api-1")
    assert api.cgroup == ProjectNames("shop").cgroup("api-1") == "stackrun-shop/api-1"
    assert plan.project == "shop" and plan.project_dir == str(plan_of.dir)


def test_file_order_among_equals(plan_of):
    plan = plan_of("services:\n  c: {command: x}\n  a: {command: x}\n  b: {command: x}\n")
    assert [s.service for s in plan.services] == ["c", "a", "b"]


def test_argv_is_entrypoint_then_command(plan_of):
    plan = plan_of("""
        services:
          a: {entrypoint: python3 -u, command: app.py --port 80}
          b: {entrypoint: [sleep]}
          c: {command: "sh -c 'echo hi'"}
    """)
    assert plan.instance("shop-a-1").argv == ("python3", "-u", "app.py", "--port", "80")
    assert plan.instance("shop-b-1").argv == ("sleep",)
    assert plan.instance("shop-c-1").argv == ("sh", "-c", "echo hi")


def test_environment_is_env_file_then_environment(plan_of):
    plan = plan_of(
        "services:\n  a:\n    command: x\n    env_file: a.env\n    environment: {B: inline, C: c}\n",
        files={"a.env": "A=1\nB=file\n"},
    )
    assert plan.instance("shop-a-1").env == (("A", "1"), ("B", "inline"), ("C", "c"))


def test_mounts_are_resolved(plan_of):
    plan = plan_of("""
        services:
          a:
            command: x
            tmpfs: ["/run:size=1m,mode=1777"]
            volumes:
              - ./src:/src:ro
              - /etc/ssl:/ssl
              - data:/data
              - shared:/shared
              - /anon
              - {type: volume, source: data, target: /part, volume: {subpath: logs}}
              - {type: tmpfs, target: /scratch, tmpfs: {size: 2m, mode: "700"}}
              - {type: bind, source: ../up, target: /up, bind: {create_host_path: false}}
        volumes:
          data:
          shared: {driver_opts: {type: none, o: bind, device: /srv/shared}}
    """)
    root, data = str(plan_of.dir), "/var/lib/stackrun/shop"
    mounts = plan.instance("shop-a-1").mounts
    anon = mounts[4].source
    assert mounts == (
        Mount("bind", "/src", f"{root}/src", read_only=True),
        Mount("bind", "/ssl", "/etc/ssl"),
        Mount("volume", "/data", f"{data}/volumes/data"),
        Mount("volume", "/shared", "/srv/shared"),
        Mount("volume", "/anon", anon),
        Mount("volume", "/part", f"{data}/volumes/data", subpath="logs"),
        Mount("tmpfs", "/scratch", size=2 << 20, mode=0o700),
        Mount("bind", "/up", str(plan_of.dir.parent / "up"), create_host_path=False),
        Mount("tmpfs", "/run", size=1 << 20, mode=0o1777),
    )
    assert anon.startswith(f"{data}/anonymous/a-1/")
    assert [(v.name, v.path, v.external) for v in plan.volumes] == [
        ("data", f"{data}/volumes/data", False),
        ("shared", "/srv/shared", False),
    ]


def test_capabilities(plan_of):
    plan = plan_of("""
        services:
          plain: {command: x}
          more: {command: x, cap_add: [NET_ADMIN], cap_drop: [MKNOD, NET_RAW]}
          back: {command: x, cap_add: [MKNOD, NET_RAW]}
          none: {command: x, cap_drop: [ALL], cap_add: [CHOWN]}
          all: {command: x, cap_add: [ALL], cap_drop: [SYS_ADMIN]}
    """)
    # podman's default: Docker's without MKNOD and NET_RAW; cap_add brings them back
    default = DOCKER_CAPS - {"CAP_MKNOD", "CAP_NET_RAW"}
    assert plan.instance("shop-plain-1").capabilities == default
    assert plan.instance("shop-more-1").capabilities == default | {"CAP_NET_ADMIN"}
    assert plan.instance("shop-back-1").capabilities == DOCKER_CAPS
    assert plan.instance("shop-none-1").capabilities == {"CAP_CHOWN"}
    every = plan.instance("shop-all-1").capabilities
    assert "CAP_SYS_ADMIN" not in every and {"CAP_NET_ADMIN", "CAP_BPF", "CAP_CHOWN"} <= every
    assert len(every) == 40


def test_limits(plan_of):
    plan = plan_of("""
        services:
          short: {command: x, mem_limit: 512m, memswap_limit: 1g, mem_reservation: 64m, cpus: 1.5,
                  cpu_shares: 512, pids_limit: 100}
          long:
            command: x
            deploy: {resources: {limits: {memory: 256m, cpus: '0.25', pids: 50}, reservations: {memory: 32m}}}
          unlimited: {command: x, pids_limit: -1, memswap_limit: -1, mem_limit: 1g}
          default: {command: x}
    """)
    short, long_, unlimited = (
        plan.instance(f"shop-{n}-1").limits for n in ("short", "long", "unlimited")
    )
    assert (
        short.memory,
        short.memory_swap,
        short.memory_reservation,
        short.cpus,
        short.cpu_shares,
        short.pids,
    ) == (512 << 20, 1 << 30, 64 << 20, 1.5, 512, 100)
    assert (long_.memory, long_.cpus, long_.pids, long_.memory_reservation) == (
        256 << 20,
        0.25,
        50,
        32 << 20,
    )
    assert (unlimited.pids, unlimited.pids_default, unlimited.memory_swap) == (None, None, -1)
    assert (short.pids_default, long_.pids_default) == (None, None)
    default = plan.instance("shop-default-1").limits
    assert (default.pids, default.pids_default) == (None, DEFAULT_PIDS_LIMIT)


def test_signals_durations_restart_and_defaults(plan_of):
    plan = plan_of("""
        services:
          a: {command: x}
          b:
            command: x
            stop_signal: SIGINT
            stop_grace_period: 1m30s
            restart: on-failure:3
            init: true
            read_only: true
            user: "1000:100"
            hostname: bee
            security_opt: [no-new-privileges:false, "seccomp:unconfined"]
            x-stackrun: {restart_on_unhealthy: true, backoff: {initial: 50ms, max: 5s, reset: 1m}}
    """)
    a, b = plan.instance("shop-a-1"), plan.instance("shop-b-1")
    assert (a.stop_signal, a.stop_grace_period, a.restart.policy, a.init, a.read_only) == (
        15,
        10.0,
        "no",
        False,
        False,
    )
    assert (a.hostname, a.user, a.no_new_privileges, a.working_dir) == (
        "shop-a-1",
        None,
        True,
        str(plan_of.dir),
    )
    assert (b.stop_signal, b.stop_grace_period, b.init, b.read_only, b.user, b.hostname) == (
        2,
        90.0,
        True,
        True,
        "1000:100",
        "bee",
    )
    assert b.no_new_privileges is False and b.seccomp is False and a.seccomp is True
    restart = b.restart
    assert (restart.policy, restart.max_retries, restart.on_unhealthy) == ("on-failure", 3, True)
    assert (restart.backoff_initial, restart.backoff_max, restart.backoff_reset) == (
        0.05,
        5.0,
        60.0,
    )


def test_working_dir(plan_of):
    (plan_of.dir / "root").mkdir()
    plan = plan_of("""
        services:
          rel: {command: x, working_dir: app}
          abs: {command: x, working_dir: /tmp}
          fs: {command: x, x-stackrun: {rootfs: ./root}}
    """)
    assert plan.instance("shop-rel-1").working_dir == f"{plan_of.dir}/app"
    assert plan.instance("shop-abs-1").working_dir == "/tmp"
    assert (plan.instance("shop-fs-1").working_dir, plan.instance("shop-fs-1").rootfs) == (
        "/",
        f"{plan_of.dir}/root",
    )


def test_healthchecks(plan_of):
    plan = plan_of("""
        services:
          cmd: {command: x, healthcheck: {test: [CMD, curl, -f, "http://x"], interval: 2s, retries: 5}}
          shell: {command: x, healthcheck: {test: "curl -f http://x || exit 1"}}
          none: {command: x, healthcheck: {test: [NONE]}}
          off: {command: x, healthcheck: {disable: true}}
    """)
    cmd, shell = plan.instance("shop-cmd-1").healthcheck, plan.instance("shop-shell-1").healthcheck
    assert (cmd.argv, cmd.interval, cmd.retries, cmd.timeout) == (
        ("curl", "-f", "http://x"),
        2.0,
        5,
        30.0,
    )
    assert shell.argv == ("/bin/sh", "-c", "curl -f http://x || exit 1")
    assert (shell.start_period, shell.start_interval) == (0.0, 5.0)
    assert (
        plan.instance("shop-none-1").healthcheck is None
        and plan.instance("shop-off-1").healthcheck is None
    )


def test_ports_target_the_instance_address(plan_of):
    plan = plan_of("""
        services:
          a: {command: x, ports: ["8080:80", "127.0.0.1:9000-9001:9000-9001/udp", "3000"]}
    """)
    a = plan.instance("shop-a-1")
    address = a.networks[0].address.split("/")[0]
    assert [
        (p.host_ip, p.host_port, p.target_port, p.protocol, p.target_address) for p in a.ports
    ] == [
        ("0.0.0.0", 8080, 80, "tcp", address),
        ("127.0.0.1", 9000, 9000, "udp", address),
        ("127.0.0.1", 9001, 9001, "udp", address),
        ("0.0.0.0", 0, 3000, "tcp", address),
    ]


def test_network_requests_reach_the_layout(plan_of):
    plan = plan_of(
        """
        services:
          api: {command: x, networks: {front: {aliases: [www]}, back: {ipv4_address: 10.90.0.50}}}
          db: {command: x, networks: [back], extra_hosts: {gw: 10.0.0.1}}
          tool: {command: x}
          hosty: {command: x, network_mode: host}
          side: {command: x, network_mode: "service:api"}
        networks:
          front: {}
          back: {internal: true, ipam: {config: [{subnet: 10.90.0.0/24}]}}
    """,
        HostFacts(data_dir="/d", taken_subnets=("10.89.0.0/24",)),
    )
    assert [n.name for n in plan.networks] == ["default", "front", "back"]
    back = next(n for n in plan.networks if n.name == "back")
    assert (back.subnet, back.internal) == ("10.90.0.0/24", True)
    assert all(n.subnet != "10.89.0.0/24" for n in plan.networks)
    api = plan.instance("shop-api-1")
    assert [a.network for a in api.networks] == ["front", "back"]
    assert api.networks[1].address == "10.90.0.50/24"
    db_hosts = {name for entry in plan.instance("shop-db-1").hosts for name in entry.names}
    assert {"api", "db", "gw"} <= db_hosts and "www" not in db_hosts
    hosty = plan.instance("shop-hosty-1")
    assert hosty.networks == () and hosty.network_mode == "host"
    side = plan.instance("shop-side-1")
    assert (side.network_mode, side.network_peer, side.networks) == ("service", "shop-api-1", ())
    assert [a.network for a in plan.instance("shop-tool-1").networks] == ["default"]


def test_subnet_pool_and_cgroup_parent(plan_of):
    text = "x-stackrun: {cgroup_parent: machine.slice, subnet_pool: 10.200.0.0/16}\nservices:\n  a: {command: x}\n"
    plan = plan_of(text)
    assert plan.cgroup_parent == "machine.slice"
    assert plan.networks[0].subnet.startswith("10.200.")
    assert plan_of(text, HostFacts(data_dir="/d", cgroup_parent="custom")).cgroup_parent == "custom"
    assert plan_of("services:\n  a: {command: x}\n").cgroup_parent == ""


def test_dependencies_labels_logging(plan_of):
    plan = plan_of("""
        services:
          a:
            command: x
            depends_on: {b: {condition: service_healthy, restart: true}}
            labels: [tier=web]
            logging: {driver: json-file, options: {max-size: 10m, max-file: "3"}}
          b: {command: x, healthcheck: {test: "true"}}
    """)
    a = plan.instance("shop-a-1")
    assert [(d.service, d.condition, d.required, d.restart) for d in a.depends_on] == [
        ("b", "service_healthy", True, True)
    ]
    assert a.labels == (("tier", "web"),)
    assert (a.logging.max_size, a.logging.max_files) == (10 << 20, 3)


def test_logs_are_bounded_by_default_and_as_the_file_says(plan_of):
    plan = plan_of("""
        services:
          default: {command: x}
          files: {command: x, logging: {options: {max-file: "2"}}}
          size: {command: x, logging: {options: {max-size: 1m}}}
          unbounded: {command: x, logging: {options: {max-size: "-1"}}}
    """)
    logs = {s.service: (s.logging.max_size, s.logging.max_files) for s in plan.services}
    assert logs == {
        "default": (DEFAULT_LOG_SIZE, DEFAULT_LOG_FILES),
        "files": (DEFAULT_LOG_SIZE, 2),
        "size": (1 << 20, 1),  # Compose's json-file: max-file defaults to 1
        "unbounded": (None, 1),
    }


def test_host_root_is_read_only_unless_the_file_says_rw(plan_of):
    plan = plan_of("""
        services:
          default: {command: x}
          rw: {command: x, x-stackrun: {host_root: rw}}
          ro: {command: x, x-stackrun: {host_root: ro}}
    """)
    writable = {s.service: s.host_root_writable for s in plan.services}
    assert writable == {"default": False, "rw": True, "ro": False}


def test_services_run_in_a_user_namespace_unless_they_or_the_project_say_host(plan_of):
    plan = plan_of("""
        services:
          default: {command: x}
          host: {command: x, userns_mode: host}
          private: {command: x, userns_mode: private}
          beside: {command: x, network_mode: "service:host"}
          pids: {command: x, pid: "service:private"}
          hostnet: {command: x, network_mode: host}
          hostipc: {command: x, ipc: host}
          tun: {command: x, devices: [/dev/net/tun]}
          ruled: {command: x, device_cgroup_rules: ["c 10:200 rw"]}
          tunprivate: {command: x, devices: [/dev/net/tun], userns_mode: private}
    """)
    modes = {s.service: s.userns for s in plan.services}
    assert modes == {
        "default": "private",
        "host": "host",
        "private": "private",
        "beside": "host",  # the user namespace of the one whose namespaces it shares
        "pids": "private",
        "hostnet": "host",  # the host's namespaces are the host's user namespace's
        "hostipc": "host",
        "tun": "host",  # the host's device nodes are the host root's
        "ruled": "host",
        "tunprivate": "private",
    }
    plan = plan_of("""
        x-stackrun: {userns: host}
        services:
          default: {command: x}
          private: {command: x, userns_mode: private}
    """)
    assert {s.service: s.userns for s in plan.services} == {"default": "host", "private": "private"}


def test_config_hash_is_stable_and_follows_the_config(plan_of):
    text = "services:\n  a: {command: x}\n  b: {command: x}\n"
    first, again = plan_of(text), plan_of(text)
    assert first.instance("shop-a-1").config_hash == again.instance("shop-a-1").config_hash
    assert len(first.instance("shop-a-1").config_hash) == 16
    changed = plan_of("services:\n  a: {command: y}\n  b: {command: x}\n")
    assert changed.instance("shop-a-1").config_hash != first.instance("shop-a-1").config_hash
    assert changed.instance("shop-b-1").config_hash == first.instance("shop-b-1").config_hash
    grown = plan_of(text + "  c: {command: x}\n")  # /etc/hosts of a changes, its config does not
    assert grown.instance("shop-a-1").config_hash == first.instance("shop-a-1").config_hash


def test_build_is_pure(plan_of, tmp_path):
    text = "services:\n  a: {command: x, volumes: [data:/data]}\nvolumes: {data: {}}\n"
    plan_of(text, HostFacts(data_dir=str(tmp_path / "data")))
    assert not (tmp_path / "data").exists()


def test_network_mode_service_starts_after_its_peer(plan_of):
    plan = plan_of(
        'services:\n  side: {command: x, network_mode: "service:main"}\n  main: {command: x}\n'
    )
    assert [s.service for s in plan.services] == ["main", "side"]
    assert [(d.service, d.condition) for d in plan.instance("shop-side-1").depends_on] == [
        ("main", "service_started")
    ]
