"""The plan: what the runtime and the supervisor need to run a stack, and nothing else.

`plan.build` turns a validated `spec` Stack into a `Plan`; everything downstream
(runtime, supervisor, control) reads only these frozen dataclasses, never the
stack-file models. They are plain dataclasses (no pydantic) so they import fast
and pickle cheaply to the fork server.

Units: sizes in bytes, durations in seconds (float), signals as numbers,
addresses as strings ("10.89.0.5/24" for an interface, "10.89.0.1" for a host).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from stackrun.plan.names import ProjectNames

# ---------------------------------------------------------------- limits


@dataclass(frozen=True)
class Limits:
    """What the cgroups of an instance allow it."""

    memory: int | None = None  # bytes; mem_limit or deploy.resources.limits.memory
    memory_swap: int | None = None  # bytes of memory+swap (memswap_limit); -1: unlimited swap
    memory_reservation: int | None = None  # soft limit (mem_reservation / reservations.memory)
    cpus: float | None = None  # CPU quota in CPUs (cpus or limits.cpus); 1.5 = 150 ms per 100 ms
    cpu_shares: int | None = None  # relative weight on Docker's scale (default 1024)
    pids: int | None = None  # pids_limit or limits.pids
    cpu_period: int | None = None  # µs of the CFS period (cpu_period); None: 100 ms
    cpu_quota: int | None = None  # µs per period (cpu_quota); -1: no limit
    cpuset: str | None = None  # CPUs it may run on: "0-3,6"
    swappiness: int | None = None  # mem_swappiness 0..100 (cgroup v1 only)
    oom_kill_disable: bool = False  # cgroup v1 only
    blkio: BlkioPlan | None = None
    # pids.max when `pids` is unset, where the pids controller is available (a fork bomb
    # stops there); None: unlimited (pids_limit 0 or -1)
    pids_default: int | None = None
    devices: tuple[DeviceAccess, ...] = ()  # beyond the standard nodes (cgroups/devices.py)


@dataclass(frozen=True)
class DeviceAccess:
    """A device the service may use: a host node (`devices:`; a directory: each node
    below it), whose type and numbers are read when its cgroup is made, or a rule as
    written (`device_cgroup_rules:`)."""

    access: str  # letters of "rwm"
    path: str | None = None  # a host path; else the rule's fields below
    kind: Literal["a", "b", "c"] = "a"  # a: both block and character devices
    major: int | None = None  # None: any
    minor: int | None = None


@dataclass(frozen=True)
class BlkioPlan:
    """blkio_config: device paths are host paths, resolved to major:minor at apply time."""

    weight: int | None = None  # 10..1000
    weight_device: tuple[tuple[str, int], ...] = ()  # (device path, weight)
    read_bps: tuple[tuple[str, int], ...] = ()  # (device path, rate)
    write_bps: tuple[tuple[str, int], ...] = ()
    read_iops: tuple[tuple[str, int], ...] = ()
    write_iops: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Ulimit:
    """One resource limit (setrlimit) of a service."""

    name: str  # "nofile", "nproc", "core"… (Compose names, without RLIMIT_)
    soft: int
    hard: int


# ---------------------------------------------------------------- filesystem


@dataclass(frozen=True)
class Mount:
    """A bind, volume or tmpfs mount of a service."""

    kind: Literal["bind", "volume", "tmpfs"]
    target: str  # absolute path inside the service
    source: str | None = None  # absolute host path: bind source, or the named volume's directory
    subpath: str | None = None  # volume only: relative path inside it, resolved beneath it
    read_only: bool = False
    size: int | None = None  # tmpfs only, bytes
    mode: int | None = None  # tmpfs only, e.g. 0o1777
    create_host_path: bool = True  # bind only: create a missing source directory (Compose default)
    uid: int | None = None  # tmpfs only: owner of its root
    gid: int | None = None
    copy: bool = False  # volume only: filled with the image's content there when empty (nocopy)


@dataclass(frozen=True)
class DeviceNode:
    """A host device node (or a directory of them) bound into the service at `target`."""

    source: str
    target: str


@dataclass(frozen=True)
class GrantedFile:
    """A secret or config: written for each instance with its mode and owner, then bound
    read-only at `target`. Its value never goes into a log or an output (repr=False)."""

    kind: Literal["secret", "config"]
    name: str
    target: str  # absolute path inside the service
    mode: int = 0o444
    uid: int = 0
    gid: int = 0
    source: str | None = None  # absolute host file whose content is copied; else `content`
    content: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Namespaces:
    """Which namespaces a service shares instead of having its own (ipc, pid, uts,
    cgroup; the network's is `network_mode`). A peer is an instance name."""

    ipc: Literal["private", "host", "service"] = "private"
    ipc_peer: str | None = None
    pid: Literal["private", "host", "service"] = "private"
    pid_peer: str | None = None
    uts: Literal["private", "host"] = "private"
    cgroup: Literal["private", "host"] = "private"


@dataclass(frozen=True)
class ImagePlan:
    """The image an instance runs from: its root is these layers under a writable one."""

    reference: str  # normalised: "docker.io/library/redis:7"
    id: str  # "sha256:…" (the config's digest, Docker's IMAGE ID)
    digest: str = ""  # "docker.io/library/redis@sha256:…" (a manifest digest); "" if none known
    layers: tuple[str, ...] = ()  # directories of the unpacked layers, bottom first


@dataclass(frozen=True)
class VolumePlan:
    """A named volume of the project and its directory on the host."""

    name: str  # name in the stack file
    path: str  # directory on the host (under the data dir unless external)
    external: bool = False


# ---------------------------------------------------------------- network


@dataclass(frozen=True)
class NetworkPlan:
    """A network of the project: its bridge and subnet."""

    name: str  # name in the stack file; "default" for the implicit one
    bridge: str  # host interface name (names.bridge)
    subnet: str  # "10.89.0.0/24"
    gateway: str  # the bridge's address, "10.89.0.1"
    internal: bool = False  # no default route, no published ports through it
    external: bool = False  # pre-existing bridge, not created nor removed by stackrun


@dataclass(frozen=True)
class NetworkAttachment:
    """One veth of one instance: host end on the network's bridge, peer inside."""

    network: str
    bridge: str
    host_ifname: str  # names.veth(slot)
    ifname: str  # inside the service: eth0, eth1…
    address: str  # "10.89.0.5/24"
    gateway: str | None  # default route via this address; None if internal or not the first
    mac_address: str | None = None  # of the interface inside; None: the kernel's random one


@dataclass(frozen=True)
class HostEntry:
    """A line of the service's /etc/hosts."""

    address: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class PortPlan:
    """A published port: where the host listens, where it forwards to."""

    host_ip: str  # "0.0.0.0", "127.0.0.1", "::"
    host_port: int  # 0: no port given in the file; bind an ephemeral one, as Docker does
    target_port: int
    protocol: Literal["tcp", "udp"] = "tcp"
    target_address: str = ""  # the instance's address the supervisor forwards to
    host_port_last: int = 0  # a range host_port..host_port_last: the first free one


NetworkMode = Literal["bridge", "host", "none", "service"]
UsernsMode = Literal["private", "host"]
RestartPolicy = Literal["no", "always", "on-failure", "unless-stopped"]


# ---------------------------------------------------------------- lifecycle


@dataclass(frozen=True)
class HealthPlan:
    """A service's health check and its timing."""

    argv: tuple[str, ...]  # CMD as given; CMD-SHELL as ("/bin/sh", "-c", text)
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0
    start_interval: float = 5.0


@dataclass(frozen=True)
class RestartPlan:
    """When a service's instances restart, and how long they wait first."""

    policy: RestartPolicy = "no"
    max_retries: int | None = None  # on-failure:N
    backoff_initial: float = 0.1  # seconds before the first restart
    backoff_max: float = 30.0  # the delay doubles up to this
    backoff_reset: float = 10.0  # up this long without exiting: the delay starts over
    on_unhealthy: bool = False  # x-stackrun.restart_on_unhealthy


@dataclass(frozen=True)
class Dependency:
    """What a service waits for of another before it starts (depends_on)."""

    service: str  # a service name (all its instances)
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"] = (
        "service_started"
    )
    required: bool = True
    restart: bool = False


@dataclass(frozen=True)
class LogPlan:
    """How a service's log files rotate."""

    max_size: int | None = None  # bytes per file before rotation (json-file max-size)
    max_files: int = 1  # json-file max-file


# ---------------------------------------------------------------- the service


@dataclass(frozen=True)
class ServicePlan:
    """One instance: a service, or one replica of it (`worker-2`)."""

    name: str  # instance name: "api", "worker-2"; also the log prefix
    service: str  # service key in the stack file: "worker"
    replica: int  # 1-based
    argv: tuple[str, ...]  # entrypoint + command, already split
    env: tuple[tuple[str, str], ...]  # in order; env_file then environment
    working_dir: str = "/"
    user: str | None = None  # "uid[:gid]" or "name[:group]"; names resolve in the service's root
    image: ImagePlan | None = None  # rooted in this image's layers (rootfs is then None)
    hostname: str = ""
    cgroup: str = ""  # relative cgroup path: names.cgroup(name)
    limits: Limits = field(default_factory=Limits)
    ulimits: tuple[Ulimit, ...] = ()
    mounts: tuple[Mount, ...] = ()  # volumes and tmpfs, in the order to mount
    rootfs: str | None = None  # absolute directory; None: the host's root
    read_only: bool = False
    private_tmp: bool = True  # a tmpfs on /tmp; False: the root's own /tmp (a build's RUN)
    host_root_writable: bool = False  # no rootfs: x-stackrun.host_root rw (else read-only)
    project_dir: str = ""  # no rootfs: the project's directory, writable unless read_only
    init: bool = False
    capabilities: frozenset[str] = frozenset()  # bounding set kept, e.g. {"CAP_CHOWN"}
    no_new_privileges: bool = True
    seccomp: bool = True  # runtime/seccomp.py's filter; security_opt seccomp=unconfined: off
    stop_signal: int = 15
    stop_grace_period: float = 10.0
    network_mode: NetworkMode = "bridge"
    network_peer: str | None = None  # network_mode service:NAME -> the instance to join
    userns: UsernsMode = "private"  # private: the project's ids (runtime/userns); host: none
    networks: tuple[NetworkAttachment, ...] = ()
    hosts: tuple[HostEntry, ...] = ()  # the full /etc/hosts of this instance
    dns: tuple[str, ...] = ()  # resolv.conf nameservers; empty: copy the host's
    ports: tuple[PortPlan, ...] = ()
    exposed_ports: tuple[str, ...] = ()  # "80/tcp": the image's EXPOSE and `expose:`; informative
    restart: RestartPlan = field(default_factory=RestartPlan)
    healthcheck: HealthPlan | None = None
    depends_on: tuple[Dependency, ...] = ()
    logging: LogPlan = field(default_factory=LogPlan)
    labels: tuple[tuple[str, str], ...] = ()
    files: tuple[GrantedFile, ...] = ()  # secrets and configs
    devices: tuple[DeviceNode, ...] = ()  # bound in; limits.devices lets the service open them
    namespaces: Namespaces = field(default_factory=Namespaces)
    sysctls: tuple[tuple[str, str], ...] = ()  # ("net.core.somaxconn", "1024"), in order
    shm_size: int | None = None  # bytes of /dev/shm; None: 64 MiB
    group_add: tuple[str, ...] = ()  # supplementary groups, names or numbers
    oom_score_adj: int | None = None
    domainname: str = ""
    dns_search: tuple[str, ...] = ()  # resolv.conf search; empty: the host's
    dns_options: tuple[str, ...] = ()  # resolv.conf options; empty: the host's
    attach: bool = True  # `up` prints its output (attach: false: only its log files hold it)
    entrypoint: tuple[str, ...] = ()  # argv's first part, from entrypoint: (`run` keeps it)
    one_off: bool = False  # made by `run`: not in the stack file
    config_hash: str = ""  # of the resolved service config; `up` recreates when it changes


@dataclass(frozen=True)
class Plan:
    """Everything `up` starts for a project, compiled from its stack file."""

    project: str
    project_dir: str  # absolute; bind sources are resolved against it
    services: tuple[ServicePlan, ...]  # instances in dependency order
    networks: tuple[NetworkPlan, ...] = ()
    volumes: tuple[VolumePlan, ...] = ()
    cgroup_parent: str = ""  # relative to each hierarchy root; "" = the root

    @property
    def names(self) -> ProjectNames:
        return ProjectNames(self.project)

    def instance(self, name: str) -> ServicePlan:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def instances_of(self, service: str) -> tuple[ServicePlan, ...]:
        return tuple(s for s in self.services if s.service == service)


# ---------------------------------------------------------------- network planning inputs
# What plan.build hands to plan.network (the IPAM) so that it needs no spec models.


@dataclass(frozen=True)
class NetworkRequest:
    """A network as the stack file asks for it, before addresses are chosen."""

    name: str
    subnet: str | None = None  # ipam.config[0].subnet
    gateway: str | None = None
    internal: bool = False
    external: bool = False
    external_name: str | None = None  # bridge name of an external network


@dataclass(frozen=True)
class Endpoint:
    """How an instance joins one network, beyond its address."""

    network: str
    interface_name: str | None = None  # inside; None: eth0, eth1… in priority order
    mac_address: str | None = None
    gw_priority: int = 0  # the default route goes through the highest (non-internal)


@dataclass(frozen=True)
class MemberRequest:
    """One instance's wishes on the network."""

    instance: str
    service: str
    hostname: str
    network_mode: NetworkMode = "bridge"
    # network name -> (aliases, fixed ipv4_address or None), in the file's order
    networks: tuple[tuple[str, tuple[str, ...], str | None], ...] = ()
    extra_hosts: tuple[HostEntry, ...] = ()
    network_peer: str | None = None  # network_mode service:NAME: the instance whose netns it joins
    endpoints: tuple[Endpoint, ...] = ()  # per network of `networks`, same order


@dataclass(frozen=True)
class NetworkLayout:
    """What plan.network returns: networks, and per instance its veths and /etc/hosts."""

    networks: tuple[NetworkPlan, ...]
    attachments: dict[str, tuple[NetworkAttachment, ...]]
    hosts: dict[str, tuple[HostEntry, ...]]
