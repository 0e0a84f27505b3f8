"""The stack file as frozen pydantic models, in Compose's long (normalised) syntax.

The loader turns short syntaxes into these shapes before validation (see
`normalize.py`); the `Short` markers only tell the JSON Schema that the file may use
them. Keys and defaults follow the Compose specification; stackrun's own keys live
under `x-stackrun:` so that a stack file stays a valid Compose file. Other `x-*`
keys are accepted and ignored.

Start-up cost matters (`stackrun config` is timed): every model defers building its
validator until the first `Stack` is validated (stackrun/shortcuts.py may load it from a
cache), and this module avoids `from __future__ import annotations` so that pydantic need
not evaluate string annotations.
"""

from typing import Annotated, Any, Literal

from stackrun import shortcuts

shortcuts.skip_pydantic_plugins()  # before pydantic is imported

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator  # noqa: E402

from stackrun.spec import base, syntax  # noqa: E402
from stackrun.spec.blkio import BlkioConfig  # noqa: E402
from stackrun.spec.devices import DeviceMapping, DeviceRule  # noqa: E402
from stackrun.spec.grants import FileSource, Grant  # noqa: E402
from stackrun.spec.namespaces import (  # noqa: E402
    IpcMode,
    PidMode,
    SysctlName,
    SysctlValue,
    VolumesFrom,
    shares_the_hosts,
    user_namespace_peers,
)
from stackrun.spec.types import (  # noqa: E402
    AbsolutePath,
    Bytes,
    Capability,
    CgroupPath,
    CpuMicros,
    CpuSet,
    DnsOption,
    Domain,
    Duration,
    Expose,
    Group,
    Hostname,
    ImageReference,
    InterfaceName,
    IPAddress,
    IPv4Address,
    IPv4Subnet,
    MacAddress,
    Mode,
    MountTarget,
    Name,
    NetworkMode,
    PlatformName,
    ProjectName,
    PublishedPort,
    PullPolicy,
    Restart,
    SecurityOpt,
    Short,
    Signal,
    Subpath,
    Tmpfs,
    UlimitName,
    UsernsMode,
)  # fmt: skip

Model = base.Model
_STRING, _STRINGS, _COMMAND = base.STRING, base.STRINGS, base.COMMAND
_LIST_OR_MAP, _STRING_OR_LIST, _PORT_SHORT = base.LIST_OR_MAP, base.STRING_OR_LIST, base.PORT_SHORT

# ---------------------------------------------------------------- service parts


class Dependency(Model):
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"] = (
        "service_started"
    )
    required: bool = True
    restart: bool = False


class Healthcheck(Model):
    test: Annotated[tuple[str, ...] | None, _COMMAND] = None
    interval: Duration | None = None
    timeout: Duration | None = None
    retries: int | None = Field(None, ge=0)
    start_period: Duration | None = None
    start_interval: Duration | None = None
    disable: bool = False

    @field_validator("test")
    @classmethod
    def _check_test(cls, test: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if test is not None:
            _check_health_test(test)
        return test


def _check_health_test(test: tuple[str, ...]) -> None:
    kind = test[0] if test else ""
    if kind == "NONE":
        return
    if kind not in ("CMD", "CMD-SHELL"):
        raise ValueError(
            'test must start with "CMD", "CMD-SHELL" or "NONE", e.g. '
            '["CMD", "curl", "-f", "http://localhost"], or be a shell command string'
        )
    if len(test) < 2:
        raise ValueError(f"{kind} needs a command after it")


class ResourceLimits(Model):
    cpus: float | None = Field(None, gt=0)
    memory: Bytes | None = None
    pids: int | None = None


class ResourceReservations(Model):
    cpus: float | None = Field(None, ge=0)
    memory: Bytes | None = None


class Resources(Model):
    limits: ResourceLimits | None = None
    reservations: ResourceReservations | None = None


class RestartPolicy(Model):
    """`deploy.restart_policy`, as docker compose maps it onto the service's restart."""

    condition: Literal["none", "no", "on-failure", "any", "always", "unless-stopped"] = "any"
    delay: Duration | None = None
    max_attempts: int | None = Field(None, ge=0)
    window: Duration | None = None


def _replicated(value: Any) -> Any:
    if value not in (None, "replicated"):
        raise ValueError(
            f"{value!r}: a swarm runs a global service on every node; stackrun runs on one "
            "host: write replicated (the default) or remove it"
        )
    return value


class Deploy(Model):
    mode: Annotated[str | None, BeforeValidator(_replicated)] = None
    replicas: int | None = Field(None, ge=0)
    resources: Resources | None = None
    restart_policy: RestartPolicy | None = None


class BindOptions(Model):
    create_host_path: bool = True
    propagation: Literal["shared", "slave", "private", "rshared", "rslave", "rprivate"] | None = (
        None
    )
    recursive: Literal["enabled"] | None = None  # the default; other modes are refused


class VolumeOptions(Model):
    nocopy: bool = False
    subpath: Subpath | None = None
    labels: Annotated[dict[str, str], _LIST_OR_MAP] = {}


class TmpfsOptions(Model):
    size: Bytes | None = None
    mode: Mode | None = None


class ServiceVolume(Model):
    type: Literal["bind", "volume", "tmpfs"]
    source: str | None = None
    target: MountTarget
    read_only: bool = False
    bind: BindOptions | None = None
    volume: VolumeOptions | None = None
    tmpfs: TmpfsOptions | None = None
    consistency: str | None = None

    @model_validator(mode="after")
    def _check_source(self) -> "ServiceVolume":
        if self.type == "bind" and not self.source:
            raise ValueError("a bind mount needs a source: the host path to mount")
        if self.type == "tmpfs" and self.source:
            raise ValueError("a tmpfs mount takes no source")
        if self.type == "volume" and self.source and "/" in self.source:
            raise ValueError(
                f"volume source {self.source!r} is a path: use type: bind, or a volume name"
            )
        return self


class Port(Model):
    target: int = Field(ge=1, le=65535)
    published: PublishedPort | None = None
    host_ip: IPAddress | None = None
    protocol: Literal["tcp", "udp"] = "tcp"
    mode: Literal["host", "ingress"] | None = None
    name: str | None = None
    app_protocol: str | None = None


class ServiceNetwork(Model):
    aliases: tuple[Name, ...] = ()
    ipv4_address: IPv4Address | None = None
    interface_name: InterfaceName | None = None
    mac_address: MacAddress | None = None
    priority: int = 0  # higher first: eth0 is the network of highest priority
    gw_priority: int = 0  # the default route goes through the highest


class Ulimit(Model):
    soft: int
    hard: int

    @model_validator(mode="after")
    def _soft_below_hard(self) -> "Ulimit":
        if self.hard != -1 and (self.soft == -1 or self.soft > self.hard):
            raise ValueError(f"soft limit {self.soft} is above the hard limit {self.hard}")
        return self


class Logging(Model):
    driver: Literal["json-file", "local", "none"] | None = None
    options: dict[str, str] = {}  # other than max-size and max-file: ignored, with a warning

    @model_validator(mode="after")
    def _check_options(self) -> "Logging":
        size = self.options.get("max-size", "0")
        if size.strip() != syntax.UNBOUNDED_LOG:
            syntax.parse_bytes(size)
        if not self.options.get("max-file", "1").isdigit():
            raise ValueError(f"max-file {self.options['max-file']!r} is not a number of files")
        return self


class EnvFile(Model):
    path: str
    required: bool = True
    format: Literal["raw"] | None = None


class Backoff(Model):
    initial: Duration | None = None
    max: Duration | None = None
    reset: Duration | None = None


class Build(Model):
    """`build:`: how `build` and `up` make the service's image from a Dockerfile."""

    context: str = Field(".", description="directory sent to the build (absolute once loaded)")
    dockerfile: str | None = Field(None, description="relative to the context (Dockerfile)")
    dockerfile_inline: str | None = None
    args: Annotated[dict[str, str], _LIST_OR_MAP] = {}
    target: str | None = None
    labels: Annotated[dict[str, str], _LIST_OR_MAP] = {}
    no_cache: bool = False
    pull: bool = False
    network: Literal["default", "host", "none"] | None = None
    tags: tuple[ImageReference, ...] = ()

    @model_validator(mode="after")
    def _one_dockerfile(self) -> "Build":
        if self.dockerfile is not None and self.dockerfile_inline is not None:
            raise ValueError("dockerfile and dockerfile_inline cannot both be set")
        return self


class ServiceExtension(Model):
    """`x-stackrun:` of a service."""

    rootfs: str | None = Field(None, description="directory to use as the root filesystem")
    host_root: Literal["ro", "rw"] | None = Field(
        None,
        description="without rootfs: the host's root filesystem read-only (ro, the default) "
        "or writable (rw: the service may change the host's files)",
    )
    restart_on_unhealthy: bool = False
    backoff: Backoff | None = None


class WatchExec(Model):
    """develop.watch[].exec: what sync+exec runs in the instance after a sync."""

    command: Annotated[tuple[str, ...], _COMMAND]
    user: str | None = None
    privileged: bool = False
    working_dir: str | None = None
    environment: Annotated[dict[str, str], _LIST_OR_MAP] = {}


class WatchRule(Model):
    """One rule of develop.watch (Compose's): what to do when files under `path` change."""

    action: Literal["sync", "rebuild", "restart", "sync+restart", "sync+exec"]
    path: str
    target: str | None = None
    ignore: Annotated[tuple[str, ...], _STRING_OR_LIST] = ()
    include: Annotated[tuple[str, ...], _STRING_OR_LIST] = ()
    initial_sync: bool = False
    exec: WatchExec | None = None


class Develop(Model):
    watch: tuple[WatchRule, ...] = ()


# ---------------------------------------------------------------- service


class Service(Model):
    image: ImageReference | None = Field(
        None, description="the image to run; without it, command: runs on the host's root"
    )
    platform: PlatformName | None = Field(
        None, description="OS/ARCH[/VARIANT]; default: the host's"
    )
    pull_policy: PullPolicy | None = Field(None, description="when `up` pulls the image (missing)")
    build: Annotated[Build | None, Short(_STRING)] = None
    command: Annotated[tuple[str, ...] | None, _COMMAND] = None
    entrypoint: Annotated[tuple[str, ...] | None, _COMMAND] = None
    environment: Annotated[dict[str, str], _LIST_OR_MAP] = {}  # env_file entries, then these
    env_file: Annotated[tuple[Annotated[EnvFile, Short(_STRING)], ...], _STRING_OR_LIST] = ()
    working_dir: str | None = None
    user: str | None = None
    hostname: Hostname | None = None
    container_name: Name | None = None  # the instance's name in `ps` (one replica only)
    depends_on: Annotated[dict[Name, Dependency], Short(_STRINGS)] = {}
    healthcheck: Healthcheck | None = None
    restart: Restart | None = None
    deploy: Deploy | None = None
    scale: int | None = Field(None, ge=0)
    mem_limit: Bytes | None = None
    memswap_limit: Bytes | None = None
    mem_reservation: Bytes | None = None
    cpus: float | None = Field(None, gt=0)
    cpu_shares: int | None = Field(None, ge=2)
    pids_limit: int | None = None
    volumes: tuple[Annotated[ServiceVolume, Short(_STRING)], ...] = ()
    tmpfs: Annotated[tuple[Tmpfs, ...], _STRING_OR_LIST] = ()
    networks: Annotated[dict[Name, ServiceNetwork | None], Short(_STRINGS)] = {}
    network_mode: NetworkMode | None = None
    userns_mode: UsernsMode | None = Field(
        None,
        description="host: run as the host's own users (root is the host's root); private: "
        "in a user namespace of the project's ids (the default, see x-stackrun.userns)",
    )
    ports: tuple[Annotated[Port, _PORT_SHORT], ...] = ()
    expose: tuple[Expose, ...] = ()
    stop_signal: Signal | None = None
    stop_grace_period: Duration | None = None
    init: bool | None = None
    read_only: bool | None = None
    cap_add: tuple[Capability, ...] = ()
    cap_drop: tuple[Capability, ...] = ()
    security_opt: tuple[SecurityOpt, ...] = ()
    ulimits: dict[UlimitName, Annotated[Ulimit, Short({"type": "integer"})]] = {}
    labels: Annotated[dict[str, str], _LIST_OR_MAP] = {}  # label_file entries, then these
    label_file: Annotated[tuple[str, ...], _STRING_OR_LIST] = ()
    annotations: Annotated[dict[str, str], _LIST_OR_MAP] = {}
    extra_hosts: Annotated[dict[str, IPAddress], Short(_STRINGS)] = {}
    dns: Annotated[tuple[IPAddress, ...], _STRING_OR_LIST] = ()
    dns_search: Annotated[tuple[Domain, ...], _STRING_OR_LIST] = ()
    dns_opt: tuple[DnsOption, ...] = ()
    domainname: Hostname | None = None
    mac_address: MacAddress | None = None
    logging: Logging | None = None
    attach: bool = True
    profiles: tuple[Name, ...] = ()
    secrets: tuple[Annotated[Grant, Short(_STRING)], ...] = ()
    configs: tuple[Annotated[Grant, Short(_STRING)], ...] = ()
    ipc: IpcMode | None = None
    pid: PidMode | None = None
    uts: Literal["host"] | None = None
    cgroup: Literal["host", "private"] | None = None
    volumes_from: tuple[VolumesFrom, ...] = ()
    sysctls: Annotated[dict[SysctlName, SysctlValue], _LIST_OR_MAP] = {}
    shm_size: Bytes | None = None
    group_add: tuple[Group, ...] = ()
    oom_score_adj: int | None = Field(None, ge=-1000, le=1000)
    oom_kill_disable: bool | None = None
    mem_swappiness: int | None = Field(None, ge=0, le=100)
    cpuset: CpuSet | None = None
    cpu_period: CpuMicros | None = None
    cpu_quota: CpuMicros | None = None
    blkio_config: BlkioConfig | None = None
    devices: tuple[Annotated[DeviceMapping, Short(_STRING)], ...] = ()
    device_cgroup_rules: tuple[DeviceRule, ...] = ()
    develop: Develop | None = None  # `stackrun watch`, `up --watch`
    x_stackrun: ServiceExtension | None = Field(None, alias="x-stackrun")


# ---------------------------------------------------------------- top level


class VolumeDriverOptions(Model):
    type: Literal["none"] = "none"
    o: Literal["bind"] = "bind"
    device: AbsolutePath


class Volume(Model):
    name: Name | None = None  # a directory under the data dir, that `down -v` removes
    external: bool = False
    driver: Literal["local"] | None = None
    driver_opts: VolumeDriverOptions | None = None
    labels: Annotated[dict[str, str], _LIST_OR_MAP] = {}


class IpamConfig(Model):
    subnet: IPv4Subnet | None = None
    gateway: IPv4Address | None = None


class Ipam(Model):
    driver: Literal["default"] | None = None
    config: tuple[IpamConfig, ...] = Field((), max_length=1)


class Network(Model):
    name: Name | None = None
    external: bool = False
    internal: bool = False
    driver: Literal["bridge"] | None = None
    ipam: Ipam | None = None
    labels: Annotated[dict[str, str], _LIST_OR_MAP] = {}
    enable_ipv4: bool = True
    enable_ipv6: bool = False

    @model_validator(mode="after")
    def _ipv4_only(self) -> "Network":
        if self.enable_ipv6 or not self.enable_ipv4:
            key = "enable_ipv6: true" if self.enable_ipv6 else "enable_ipv4: false"
            raise ValueError(f"{key}: IPv6 is not supported yet, stackrun networks are IPv4")
        return self


class StackExtension(Model):
    """Top-level `x-stackrun:`."""

    cgroup_parent: CgroupPath | None = None
    subnet_pool: IPv4Subnet | None = None
    userns: UsernsMode | None = Field(
        None,
        description="the services' default userns_mode: private (the default: root in a "
        "service is an unprivileged user on the host) or host",
    )


class StackFile(Model):
    """What a stack file may contain (the JSON Schema is generated from this)."""

    model_config = ConfigDict(title="stackrun stack file")

    name: ProjectName | None = None
    services: dict[Name, Service]
    volumes: dict[Name, Volume] = {}
    networks: dict[Name, Network] = {}
    secrets: dict[Name, FileSource] = {}
    configs: dict[Name, FileSource] = {}
    x_stackrun: StackExtension | None = Field(None, alias="x-stackrun")


class Stack(StackFile):
    """A loaded stack: the files merged, interpolated, normalised and checked.

    `variables`: the values of the variables that secrets and configs name with
    `environment:`, kept out of every output; `extensions`: the `x-*` keys of the file by
    their place, for `config` (extensions.py)."""

    name: ProjectName
    project_dir: str = Field(exclude=True)
    files: tuple[str, ...] = Field((), exclude=True)
    variables: dict[str, str] = Field({}, exclude=True, repr=False)
    extensions: tuple[tuple[tuple[str | int, ...], Any], ...] = Field((), exclude=True, repr=False)

    def image_of(self, service: str) -> str | None:
        """The image a service runs: its `image:`, else the one its `build:` makes,
        named `<project>-<service>` as Compose names it; None for a host command."""
        spec = self.services[service]
        if spec.image:
            return spec.image
        return f"{self.name}-{service}" if spec.build else None

    def replicas(self, service: str) -> int:
        spec = self.services[service]
        if spec.deploy and spec.deploy.replicas is not None:
            return spec.deploy.replicas
        return spec.scale if spec.scale is not None else 1

    def userns_mode(self, service: str) -> str:
        """`userns_mode`, else the project's `x-stackrun.userns`, else private. A user
        namespace owns the others: a service sharing another's (`network_mode`, `ipc`,
        `pid`: `service:X`) is in X's user namespace, one sharing the host's (`host`) in
        the host's, unless it says otherwise (checks.py refuses what cannot work). So is
        one granted host devices: a user namespace's root may not open a node of the
        host's root (devtmpfs takes no idmap), and /dev/fuse or /dev/net/tun may be 0600."""
        seen, spec = {service}, self.services[service]
        while not spec.userns_mode:
            if shares_the_hosts(spec) or spec.devices or spec.device_cgroup_rules:
                return "host"
            peers = list(user_namespace_peers(spec).values())
            if not peers or peers[0] in seen or peers[0] not in self.services:
                break
            seen.add(peers[0])
            spec = self.services[peers[0]]
        default = self.x_stackrun.userns if self.x_stackrun else None
        return spec.userns_mode or default or "private"
