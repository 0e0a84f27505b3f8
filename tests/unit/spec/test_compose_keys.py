"""The rest of Compose's service keys: read as Compose reads them, or refused clearly."""

from __future__ import annotations

import pytest

from stackrun.plan.build import HostFacts, build
from stackrun.plan.model import DeviceAccess, DeviceNode, GrantedFile, Mount, Namespaces

RUN = "    command: x\n"


def plan_of(stack_dir, text: str, **kwargs):
    return build(stack_dir.load(text, **kwargs), HostFacts(data_dir="/d"))


def test_secrets_and_configs_short_and_long_syntax_become_files(stack_dir):
    stack_dir.write("token.txt", "t")
    plan = plan_of(
        stack_dir,
        """
        services:
          web:
            command: x
            secrets: [token, {source: key, target: api.key, uid: 103, gid: "104", mode: 0o440}]
            configs: [app, {source: app, target: /etc/app.conf, mode: "0600"}]
        secrets:
          token: {file: ./token.txt}
          key: {environment: API_KEY}
        configs:
          app: {content: "debug=${DEBUG:-0}"}
        """,
        environ={"API_KEY": "k"},
    )
    (web,) = plan.services
    assert web.files == (
        GrantedFile(
            "secret", "token", "/run/secrets/token", source=str(stack_dir.root / "token.txt")
        ),
        GrantedFile("secret", "key", "/run/secrets/api.key", 0o440, 103, 104, content="k"),
        GrantedFile("config", "app", "/app", content="debug=0"),
        GrantedFile("config", "app", "/etc/app.conf", 0o600, content="debug=0"),
    )


def test_secret_values_stay_out_of_the_stack_and_its_output(stack_dir):
    stack = stack_dir.load(
        "services:\n  a:\n" + RUN + "    secrets: [s]\nsecrets:\n  s: {environment: PASSWORD}\n",
        environ={"PASSWORD": "hunter2"},
    )
    dumped = stack.model_dump_json(by_alias=True, exclude_unset=True)
    assert "hunter2" not in dumped and "hunter2" not in repr(stack)
    assert stack.variables == {"PASSWORD": "hunter2"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "    secrets: [s]\nsecrets:\n  s: {environment: NOPE}\n",
            "stack.yaml:6:7: secrets.s.environment: variable NOPE is not set; set it in the environment or in .env",
        ),
        (
            "    configs: [c]\nconfigs:\n  c: {file: ./missing.conf}\n",
            "stack.yaml:6:7: configs.c.file: missing.conf: no such file",
        ),
        (
            "    secrets: [s]\nsecrets:\n  s: {external: true}\n",
            "stack.yaml:6:3: secrets.s: external: a swarm or platform store holds it, which stackrun does not have; give file:, environment: or content: instead",
        ),
        (
            "    sysctls: [vm.swappiness=10]\n",
            "stack.yaml:4:15: services.a.sysctls.vm.swappiness: vm.swappiness is not namespaced: setting it would change the whole host; only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* apply to one service",
        ),
        (
            "    network_mode: host\n    sysctls: {net.core.somaxconn: 1024}\n",
            "stack.yaml:5:15: services.a.sysctls.net.core.somaxconn: cannot be set with network_mode: host: that namespace is not the service's own",
        ),
        (
            "    ipc: container:db\n",
            "stack.yaml:4:5: services.a.ipc: 'container:db': stackrun runs only the stack's services; write service:NAME",
        ),
        ("    pid: service:bd\n", "stack.yaml:4:5: services.a.pid: unknown service 'bd'"),
        (
            "    volumes_from: [a:rx]\n",
            "stack.yaml:4:20: services.a.volumes_from[0]: 'a:rx' is not SERVICE, SERVICE:ro or SERVICE:rw",
        ),
        (
            "    uts: host\n    hostname: h\n",
            "stack.yaml:5:5: services.a.hostname: cannot be set with uts: host (the host's own)",
        ),
        (
            "    cpu_quota: 500\n",
            "stack.yaml:4:5: services.a.cpu_quota: 500 is below 1000 µs (or -1: no limit)",
        ),
        (
            "    cpuset: 3-1\n",
            "stack.yaml:4:5: services.a.cpuset: '3-1': the range 3-1 goes backwards",
        ),
        (
            "    deploy: {mode: global}\n",
            "stack.yaml:4:14: services.a.deploy.mode: 'global': a swarm runs a global service on every node; stackrun runs on one host: write replicated (the default) or remove it",
        ),
        (
            "    devices: ['/a:/b:/c:/d']\n",
            "stack.yaml:4:15: services.a.devices[0]: '/a:/b:/c:/d' is not HOST[:TARGET][:PERMISSIONS], e.g. /dev/fuse:/dev/fuse:rw",
        ),
        (
            "    devices: [{source: /dev/x, target: /dev}]\n",
            "stack.yaml:4:32: services.a.devices[0].target: cannot bind a device over /dev; name the device's own path",
        ),
        (
            "    devices: [dev/fuse]\n",
            "stack.yaml:4:15: services.a.devices[0].source: 'dev/fuse' is not an absolute path; start it with '/'",
        ),
        (
            "    device_cgroup_rules: ['c 1:3']\n",
            "stack.yaml:4:27: services.a.device_cgroup_rules[0]: 'c 1:3' is not a device rule TYPE MAJOR:MINOR ACCESS (a, b or c; numbers or *; letters of rwm), e.g. 'c 10:200 rwm'",
        ),
        (
            "    mac_address: 01:00:5e:00:00:01\n",
            "stack.yaml:4:5: services.a.mac_address: '01:00:5e:00:00:01' is a multicast address; the first byte must be even",
        ),
    ],
)
def test_problems_with_the_new_keys_are_located(stack_dir, text, message):
    assert stack_dir.errors("services:\n  a:\n" + RUN + text) == [message]


def test_sharing_keys_order_the_services_and_become_the_plans_namespaces(stack_dir):
    plan = plan_of(
        stack_dir,
        """
        services:
          app:
            command: x
            ipc: service:db
            pid: host
            uts: host
            cgroup: host
            volumes_from: ["db:ro"]
            sysctls: [net.core.somaxconn=1024]
            shm_size: 1g
            group_add: [1000, audio]
            oom_score_adj: -100
            dns_search: example.org
            dns_opt: [ndots:2]
            attach: false
          db:
            command: x
            volumes: ["data:/var/lib/db", "./conf:/etc/db"]
            tmpfs: ["/cache:size=1m,uid=70,gid=71"]
        volumes:
          data:
        """,
    )
    assert [s.service for s in plan.services] == ["db", "app"]
    db, app = plan.services
    assert app.namespaces == Namespaces(
        ipc="service", ipc_peer=db.name, pid="host", uts="host", cgroup="host"
    )
    assert [(m.target, m.read_only) for m in app.mounts] == [
        ("/var/lib/db", True),
        ("/etc/db", True),
    ]
    assert db.mounts[2] == Mount("tmpfs", "/cache", size=1 << 20, uid=70, gid=71)
    assert app.sysctls == (("net.core.somaxconn", "1024"),)
    assert (app.shm_size, app.group_add, app.oom_score_adj) == (1 << 30, ("1000", "audio"), -100)
    assert (app.dns_search, app.dns_options) == (("example.org",), ("ndots:2",))
    assert (app.attach, db.attach) == (False, True)
    assert [d.service for d in app.depends_on] == ["db"]


def test_cgroup_tuning_keys_become_limits(stack_dir):
    plan = plan_of(
        stack_dir,
        "services:\n  a:\n"
        + RUN
        + "    cpuset: '0,2-3'\n    cpu_period: 50ms\n    cpu_quota: 25000\n"
        "    mem_swappiness: 0\n    oom_kill_disable: true\n    blkio_config:\n"
        "      weight: 300\n      device_read_bps: [{path: /dev/sda, rate: 12mb}]\n",
    )
    limits = plan.services[0].limits
    assert (limits.cpuset, limits.cpu_period, limits.cpu_quota) == ("0,2-3", 50_000, 25_000)
    assert (limits.swappiness, limits.oom_kill_disable) == (0, True)
    assert limits.blkio.weight == 300 and limits.blkio.read_bps == (("/dev/sda", 12 << 20),)


def test_devices_and_device_cgroup_rules_become_nodes_and_accesses(stack_dir):
    stack_dir.write(
        "override.yaml",
        """
        services:
          a:
            devices: ["/dev/null:/dev/fuse:r"]
        """,
    )
    text = (
        "services:\n  a:\n"
        + RUN
        + (
            "    devices: [/dev/fuse, '/dev/net/tun:rw', '/dev/sdb:/dev/xvdb:r', {source: /dev/kvm}]\n"
            "    device_cgroup_rules: ['c 10:200 rwm', 'a *:* m', 'b 8:* r']\n"
        )
    )
    stack_dir.write("stack.yaml", text)
    (a,) = build(stack_dir.load(files=("stack.yaml", "override.yaml")), HostFacts("/d")).services
    assert a.devices == (
        DeviceNode("/dev/null", "/dev/fuse"),  # the override, merged by target
        DeviceNode("/dev/net/tun", "/dev/net/tun"),
        DeviceNode("/dev/sdb", "/dev/xvdb"),
        DeviceNode("/dev/kvm", "/dev/kvm"),
    )
    assert a.limits.devices == (
        DeviceAccess("r", "/dev/null"),
        DeviceAccess("rw", "/dev/net/tun"),
        DeviceAccess("r", "/dev/sdb"),
        DeviceAccess("rwm", "/dev/kvm"),
        DeviceAccess("rwm", kind="c", major=10, minor=200),
        DeviceAccess("m", kind="a"),
        DeviceAccess("r", kind="b", major=8),
    )


def test_network_endpoints_order_names_macs_and_gateway(stack_dir):
    plan = plan_of(
        stack_dir,
        """
        services:
          a:
            command: x
            mac_address: 02:00:00:00:00:01
            networks:
              front: {}
              back: {priority: 10, interface_name: back0}
              edge: {gw_priority: 3, mac_address: 02:00:00:00:00:03}
        networks: {front: {}, back: {}, edge: {}}
        """,
    )
    attachments = plan.services[0].networks
    assert [(a.network, a.ifname, a.mac_address) for a in attachments] == [
        ("back", "back0", "02:00:00:00:00:01"),  # the service's MAC: the first network
        ("front", "eth0", None),
        ("edge", "eth1", "02:00:00:00:00:03"),
    ]
    assert [a.network for a in attachments if a.gateway] == ["edge"]


def test_deploy_restart_policy_maps_to_restart_like_docker_compose(stack_dir):
    text = "services:\n  a:\n" + RUN + "    deploy:\n      restart_policy: {condition: %s%s}\n"
    cases = [
        ("any", "", ("always", None)),
        ("none", "", ("no", None)),
        ("on-failure", ", max_attempts: 3", ("on-failure", 3)),
    ]
    for condition, extra, expected in cases:
        restart = plan_of(stack_dir, text % (condition, extra)).services[0].restart
        assert (restart.policy, restart.max_retries) == expected
    restart = (
        plan_of(
            stack_dir,
            text.replace("    deploy", "    restart: unless-stopped\n    deploy") % ("any", ""),
        )
        .services[0]
        .restart
    )
    assert restart.policy == "unless-stopped"  # restart: wins


def test_port_ranges_published_for_one_target_and_errors_count_the_users_items(stack_dir):
    plan = plan_of(
        stack_dir,
        "services:\n  a:\n"
        + RUN
        + "    ports: ['8000-8010:80', {target: 81, published: '9000-9001'}]\n",
    )
    assert [(p.host_port, p.host_port_last, p.target_port) for p in plan.services[0].ports] == [
        (8000, 8010, 80),
        (9000, 9001, 81),
    ]
    errors = stack_dir.errors("services:\n  a:\n" + RUN + "    ports: ['1-2:1-2', '3:3/sctp']\n")
    assert errors == [
        "stack.yaml:4:24: services.a.ports[1].protocol: 'sctp' is not one of tcp, udp"
    ]


def test_forms_compose_accepts(stack_dir):
    stack = (
        stack_dir.load(
            """
        services:
          a:
            command: x
            stop_signal: SIGRTMIN+3
            logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}
            tmpfs: /run:uid=1000,gid=1000,mode=0700
            label_file: labels.env
            labels: {b: own}
            annotations: [com.example=1]
        volumes:
          v: {external: {name: real}}
        """,
            environ={},
            files=("stack.yaml",),
        )
        if (stack_dir.root / "labels.env").write_text("a=1\nb=file\n")
        else None
    )
    a = stack.services["a"]
    assert a.stop_signal == "SIGRTMIN+3"
    assert a.logging.options == {"max-size": "10m", "max-file": "3"}
    assert a.labels == {"a": "1", "b": "own"} and a.annotations == {"com.example": "1"}
    assert (stack.volumes["v"].external, stack.volumes["v"].name) == (True, "real")
    plan = build(stack, HostFacts(data_dir="/d"))
    assert plan.services[0].stop_signal == 34 + 3


def test_legacy_external_name_and_ignored_keys_are_warnings(stack_dir):
    warnings = stack_dir.warnings(
        """
        services:
          a:
            command: x
            external_links: [x]
            logging: {options: {tag: x}}
            networks:
              n: {driver_opts: {a: b}}
        networks:
          n: {external: {name: real}, attachable: true}
        """
    )
    assert warnings == [
        "stack.yaml:4:5: services.a.external_links: ignored: stackrun reaches only the services of the stack, by name",
        "stack.yaml:5:25: services.a.logging.options.tag: ignored: stackrun's log files take max-size and max-file",
        "stack.yaml:7:11: services.a.networks.n.driver_opts: ignored: the network driver is stackrun's bridge",
        "stack.yaml:9:7: networks.n.external: external: {name: …} is deprecated; write external: true and name: …",
        "stack.yaml:9:31: networks.n.attachable: ignored: only the stack's services join its networks",
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("develop", "{watch: []}"),  # was: "did you mean 'deploy'?"
        ("cpuset", "'0'"),
        ("dns_opt", "[ndots:1]"),
        ("label_file", "[]"),
        ("group_add", "[audio]"),
        ("provider", "{type: x}"),
    ],
)
def test_a_real_compose_key_never_gets_did_you_mean(stack_dir, key, value):
    found = []
    try:
        stack_dir.load("services:\n  a:\n" + RUN + f"    {key}: {value}\n", warnings=found)
        messages = [str(w) for w in found]
    except Exception as error:  # noqa: BLE001 - an error is fine, if it is the key's own
        messages = [str(d) for d in getattr(error, "diagnostics", [error])]
    assert not any("did you mean" in m or "unknown key" in m for m in messages), messages
