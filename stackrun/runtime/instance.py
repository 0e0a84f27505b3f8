"""Host-side preparation of an instance, before it is spawned; and its removal.

`prepare(project, plan)` fills `dirs.instance_dir(project, instance)` with the files
the service child bind-mounts (hostname, hosts, resolv.conf), the overlay layers of a
`rootfs:` service, makes the writable layer of an image service on disk
(`dirs.layers_dir`; none for `read_only`, whose mount points go on a tmpfs the child
makes), and creates named volume directories and missing bind sources (Compose's
`create_host_path`). `discard` removes the instance directory and the writable layer.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from dataclasses import dataclass

from stackrun import dirs
from stackrun.errors import RuntimeFailure
from stackrun.files import create_text, read_text, replace_text
from stackrun.plan.model import GrantedFile, ServicePlan
from stackrun.runtime.network import hostsfile

HOST_RESOLV_CONF = "/etc/resolv.conf"
SYSTEMD_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"  # upstream servers, not the stub
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")  # Docker's choice when the host only has loopback ones


@dataclass(frozen=True)
class InstanceLayout:
    """Where an instance's files live on the host."""

    root: str  # on the run root: /etc files, overlay mount point
    disk: str = ""  # an image service's writable layer, on the data root

    @property
    def hostname(self) -> str:
        return f"{self.root}/hostname"

    @property
    def hosts(self) -> str:
        return f"{self.root}/hosts"

    @property
    def resolv_conf(self) -> str:
        return f"{self.root}/resolv.conf"

    def granted(self, index: int) -> str:
        """The instance's copy of its `index`th secret or config (plan.files)."""
        return f"{self.root}/granted/{index}"

    @property
    def scratch(self) -> str:
        """Holds the overlay's directories; a read-only image root mounts a tmpfs here."""
        return f"{self.root}/rootfs"

    @property
    def upper(self) -> str:
        return f"{self.disk}/upper" if self.disk else f"{self.scratch}/upper"

    @property
    def work(self) -> str:
        return f"{self.disk}/work" if self.disk else f"{self.scratch}/work"

    @property
    def merged(self) -> str:
        """A read-only root's overlay is made here, on the tmpfs at `scratch`."""
        return f"{self.root}/rootfs/merged"


def layout(project: str, instance: str) -> InstanceLayout:
    return InstanceLayout(dirs.instance_path(project, instance))


def writable_layer(project: str, instance: str) -> str:
    return str(dirs.layers_dir(project) / instance)


def service_layout(project: str, plan: ServicePlan) -> InstanceLayout:
    """Where this instance's files go: a writable layer on disk only for a writable image."""
    where = layout(project, plan.name)
    if plan.image is not None and not plan.read_only:
        return InstanceLayout(where.root, writable_layer(project, plan.name))
    return where


def prepare(project: str, plan: ServicePlan) -> InstanceLayout:
    """Write what the service child mounts. Raises RuntimeFailure naming the path."""
    where = service_layout(project, plan)
    try:
        # In a new directory, nothing reads or binds the files yet: no rename needed.
        write = create_text if _made(where.root) else replace_text
        write(where.hostname, (plan.hostname or plan.name) + "\n")
        write(where.hosts, hostsfile.text_for(plan))
        write(where.resolv_conf, resolv_conf_text(plan, _host_resolv_conf(plan)))
        _write_granted(plan, where)
        if plan.rootfs or (plan.image and not plan.read_only):
            for path in (where.upper, where.work):  # the root is attached on `where.root`
                os.makedirs(path, mode=0o755, exist_ok=True)
        elif plan.image:  # read-only: the root is attached here, upper and work on a tmpfs
            os.makedirs(where.scratch, mode=0o755, exist_ok=True)
        _volume_sources(plan)
    except OSError as error:
        raise RuntimeFailure(
            "prepare instance",
            error.errno or 0,
            os.fsdecode(error.filename or where.root),
            plan.name,
        ) from None
    return where


def _made(directory: str) -> bool:
    """Make the directory (and its parents); False when it existed already."""
    try:
        os.mkdir(directory, 0o755)
    except FileExistsError:
        return False
    except FileNotFoundError:
        os.makedirs(directory, 0o755, exist_ok=True)
    return True


def discard(project: str, instance: str) -> None:
    """Remove the instance directory and writable layer; nothing if absent."""
    import shutil  # here: the fork server and the early start never discard

    shutil.rmtree(layout(project, instance).root, ignore_errors=True)
    shutil.rmtree(writable_layer(project, instance), ignore_errors=True)


def resolv_conf_text(plan: ServicePlan, host_text: str) -> str:
    """The service's resolv.conf: `dns` or else the host's nameservers that are reachable
    from another network namespace; `dns_search` and `dns_opt`, or else the host's
    search and options lines."""
    return _resolv_conf(host_text, plan.dns, plan.dns_search, plan.dns_options)


@functools.lru_cache(maxsize=16)
def _resolv_conf(host_text: str, dns: tuple, search: tuple, options: tuple) -> str:
    """The same for the instances of a batch (one text for most stacks): made once."""
    host = [ln.split() for ln in host_text.splitlines()]
    servers = dns or _remote_nameservers(host_text)
    lines = [f"nameserver {s}" for s in servers or FALLBACK_DNS]
    own = (("search", search), ("options", options))
    for keyword, values in own:
        if values:
            lines.append(f"{keyword} {' '.join(values)}")
        else:
            lines += [" ".join(words) for words in host if words[:1] == [keyword]]
    return "".join(f"{line}\n" for line in lines)


def _host_resolv_conf(plan: ServicePlan) -> str:
    text = read_text(HOST_RESOLV_CONF) or ""
    if plan.network_mode == "host":
        return text
    if not _remote_nameservers(text):
        return read_text(SYSTEMD_RESOLV_CONF) or text
    return text


@functools.lru_cache(maxsize=16)
def _remote_nameservers(text: str) -> tuple[str, ...]:
    """The nameservers another network namespace can reach (not the host's loopback)."""
    return tuple(s for s in _nameservers(text) if not _loopback(s))


def _nameservers(text: str) -> list[str]:
    return [
        w[1]
        for w in (ln.split() for ln in text.splitlines())
        if w[:1] == ["nameserver"] and len(w) > 1
    ]


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def _write_granted(plan: ServicePlan, where: InstanceLayout) -> None:
    """Each secret and config, copied for this instance with its mode and owner (the
    service sees it read-only); written anew at every start, so an edited file shows."""
    if not plan.files:
        return
    os.makedirs(os.path.dirname(where.granted(0)), mode=0o700, exist_ok=True)
    for index, granted in enumerate(plan.files):
        path, temporary = where.granted(index), f"{where.granted(index)}.new"
        fd = os.open(temporary, os.O_CREAT | os.O_TRUNC | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
        with open(fd, "wb") as out:
            out.write(_granted_value(granted))
            os.fchown(fd, granted.uid, granted.gid)
            os.fchmod(fd, granted.mode & ~0o222)  # the write bits are ignored (Compose)
        os.replace(temporary, path)


def _granted_value(granted: GrantedFile) -> bytes:
    if granted.source is None:
        return (granted.content or "").encode()
    with open(granted.source, "rb") as source:
        return source.read()


def _volume_sources(plan: ServicePlan) -> None:
    for mount in plan.mounts:
        wanted = mount.kind == "volume" or (mount.kind == "bind" and mount.create_host_path)
        if wanted and mount.source and not os.path.lexists(mount.source):
            os.makedirs(mount.source, mode=0o755, exist_ok=True)
