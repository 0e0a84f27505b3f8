"""Every name stackrun gives an instance or a kernel object, derived from the project name.

One module owns them so that teardown can find everything from the project name
alone (a prefix sweep) when the state file is lost, and so that two projects never
collide. Interface names must fit IFNAMSIZ (15 characters).

What people see follows Compose:

    instance        <project>-<service>-<n>             `ps`, events, inspect, /etc/hosts
                    (or the service's container_name)
    log prefix      <service>-<n>                       the instance name without
                                                        "<project>-", as Compose prints it
    one-off         <project>-<service>-run-<hex>       `stackrun run`

Kernel names stay short and never depend on container_name:

    cgroup          stackrun-<project>/<service>-<n>   in every hierarchy
    bridge          srb<key><n>                         one per stack network
    host-side veth  srv<key><slot>                      one per instance per network
    nftables table  stackrun-<key>   (family inet)      NAT, isolation, published ports
    nftables chain  stackrun-<key>   in another tool's table, jumped to from its chains
    iptables chain  STACKRUN-<key>   in filter, jumped to from FORWARD
where <key> is 6 hex digits of a hash of the project name.
"""

from __future__ import annotations

from dataclasses import dataclass

IFNAMSIZ = 15
CGROUP_PREFIX = "stackrun-"
BRIDGE_PREFIX = "srb"
VETH_PREFIX = "srv"
NETFILTER_PREFIX = "stackrun-"  # nftables tables and chains; iptables chains in capitals


def project_key(project: str) -> str:
    from stackrun.files import sha256_hex  # not hashlib: its OpenSSL start-up

    return sha256_hex(project.encode())[:6]


def slot(service: str, replica: int | str) -> str:
    """`api-1`, `worker-2`, `api-run-3fa2c1`: the instance within its project; the cgroup's
    leaf and the default log prefix."""
    return f"{service}-{replica}"


def instance_name(project: str, service: str, replica: int | str) -> str:
    """`webapp-api-1`: the name `ps` shows, as Compose names containers."""
    return f"{project}-{slot(service, replica)}"


def instance_of(stack, service: str, replica: int) -> str:
    """The name of a service's instance in a loaded stack: its container_name, or
    `instance_name`."""
    return stack.services[service].container_name or instance_name(stack.name, service, replica)


def log_prefix(project: str, instance: str) -> str:
    """The instance name without its project (`api-1`); a container_name stays whole."""
    return instance.removeprefix(f"{project}-")


def selects(word: str, instance: str, service: str, replica: int | str) -> bool:
    """Whether a name given on the command line means this instance: its service (every
    replica), its instance name (`webapp-worker-2`) or its slot (`worker-2`)."""
    return word in (service, instance) or word == slot(service, replica)


@dataclass(frozen=True)
class ProjectNames:
    """The names on the host derived from a project's name."""

    project: str

    @property
    def key(self) -> str:
        return project_key(self.project)

    @property
    def cgroup_dir(self) -> str:
        """The project's cgroup, relative to a hierarchy root (or to --cgroup-parent)."""
        return f"{CGROUP_PREFIX}{self.project}"

    def cgroup(self, leaf: str) -> str:
        """An instance's cgroup: `leaf` is its `slot` (never the container_name)."""
        return f"{self.cgroup_dir}/{leaf}"

    @property
    def link_prefix(self) -> tuple[str, str]:
        """Prefixes of this project's bridges and host-side veths, for a sweep."""
        return (f"{BRIDGE_PREFIX}{self.key}", f"{VETH_PREFIX}{self.key}")

    @property
    def netfilter(self) -> str:
        """The project's nftables table, and its chain in other tools' tables."""
        return f"{NETFILTER_PREFIX}{self.key}"

    @property
    def iptables_chain(self) -> str:
        """The project's chain in iptables' filter table (at most 28 characters)."""
        return self.netfilter.upper()

    def bridge(self, network_index: int) -> str:
        return _ifname(f"{BRIDGE_PREFIX}{self.key}", network_index)

    def veth(self, slot: int) -> str:
        """Host end of a veth; `slot` numbers (instance, network) pairs within the plan."""
        return _ifname(f"{VETH_PREFIX}{self.key}", slot)


def _ifname(prefix: str, index: int) -> str:
    name = f"{prefix}{index:x}"
    if len(name) > IFNAMSIZ:
        raise ValueError(f"interface name {name!r} exceeds {IFNAMSIZ} characters")
    return name
