"""A service's files: its mounts as pod volumes (named volumes as PersistentVolumeClaims,
anonymous volumes and tmpfs as emptyDir, bind mounts refused, or carried as ConfigMaps
when asked), and its env files' values as a ConfigMap.

A claim is shared by every service that mounts the volume, as the volume is in Compose:
mounted by more than one pod, it asks for ReadWriteMany, which needs a storage class that
offers it. Pure: the files of bind mounts were read beforehand (`sources.read`).
"""

from __future__ import annotations

import os.path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stackrun.convert import files, names, units
from stackrun.convert.model import FileTree
from stackrun.spec import syntax

if TYPE_CHECKING:
    from stackrun.convert.context import Context, Path
    from stackrun.spec.models import ServiceVolume

BIND_REFUSAL = (
    "a bind mount of {source} cannot be carried to a cluster, which has no copy of this "
    "machine's files: build them into the image, use a named volume, or pass "
    "--binds-as-configmaps to carry small read-only files as ConfigMaps"
)


def bind_source(project_dir: str, source: str) -> str:
    """The absolute host path a bind mount's source names."""
    return os.path.normpath(os.path.join(project_dir, source))


class Storage:
    """The claims and ConfigMaps that the services' mounts need, each made once."""

    def __init__(self, context: Context, config_maps: names.Registry):
        self.context = context
        self.config_maps = config_maps  # ConfigMap names, shared with the env ConfigMaps
        self.claims: dict[str, dict[str, Any]] = {}  # volume -> its PersistentVolumeClaim
        self.file_maps: dict[str, dict[str, Any]] = {}  # bind source -> its ConfigMap
        self.env_maps: dict[tuple[str, ...], dict[str, Any]] = {}  # env files -> their ConfigMap
        self.claim_names: dict[str, str] = {}  # volume -> its claim's name
        self._claim_names = names.Registry()
        self.pods = _pods_per_volume(context)

    def objects(self) -> list[dict[str, Any]]:
        return [*self.env_maps.values(), *self.file_maps.values(), *self.claims.values()]

    def env_map(self, service: str) -> str | None:
        """The ConfigMap of the service's env file values (one per list of env files,
        shared by the services that read the same files); None without values."""
        values = self.context.sources.env_files.get(service)
        if not values:
            return None
        paths = tuple(entry.path for entry in self.context.service(service).env_file)
        if paths not in self.env_maps:
            wanted = names.slug("-".join(os.path.basename(path) for path in paths)) or "values"
            name = self.config_maps.claim(wanted if wanted.endswith("env") else f"{wanted}-env")
            meta = self.context.metadata(name)
            config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
            self.env_maps[paths] = {**config_map, "data": dict(values)}
        return self.env_maps[paths]["metadata"]["name"]

    def mounts(self, service: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The pod's volumes and the container's volumeMounts for the service's mounts."""
        spec = self.context.service(service)
        wanted: list[tuple[Path, _Mount | str]] = [
            (("services", service, "volumes", index), self._mount(volume))
            for index, volume in enumerate(spec.volumes)
        ]
        for index, text in enumerate(spec.tmpfs):
            entry = syntax.parse_tmpfs(text)
            target, source = entry["target"], _memory(entry.get("size"))
            mount = _Mount(f"tmpfs-{names.slug(target)}", source, target)
            wanted.append((("services", service, "tmpfs", index), mount))
        return _pod_volumes(self._one_per_target(wanted))

    def _one_per_target(self, wanted: list[tuple[Path, _Mount | str]]) -> list[_Mount]:
        """The mounts; refused: those that cannot be carried, and a second one at a path
        (the kernel stacks them, a pod refuses them)."""
        kept: dict[str, _Mount] = {}
        for path, mount in wanted:
            if isinstance(mount, str):
                self.context.refuse(path, mount)
            elif mount.target in kept:
                self.context.refuse(
                    path,
                    f"{mount.target} is the target of another mount "
                    "too; a container mounts one volume at a path: remove one",
                )
            else:
                kept[mount.target] = mount
        return list(kept.values())

    def _mount(self, volume: ServiceVolume) -> _Mount | str:
        """What the mount needs in the pod, or why it cannot be carried."""
        target, read_only = volume.target, volume.read_only
        if volume.type == "tmpfs":
            size = volume.tmpfs.size if volume.tmpfs else None
            return _Mount(f"tmpfs-{names.slug(target)}", _memory(size), target, read_only)
        if volume.type == "bind":
            return self._bind(volume)
        if not volume.source:  # anonymous: the instance's own, gone with it
            return _Mount(f"scratch-{names.slug(target)}", {"emptyDir": {}}, target, read_only)
        subpath = volume.volume.subpath if volume.volume else None
        claim = self._claim(volume.source)
        source = {"persistentVolumeClaim": {"claimName": claim}}
        return _Mount(claim, source, target, read_only, subpath)

    def _bind(self, volume: ServiceVolume) -> _Mount | str:
        source = bind_source(self.context.stack.project_dir, str(volume.source))
        tree = self._bind_files(volume, source)
        if isinstance(tree, str):
            return tree
        name = self._file_map(source, tree)
        sub_path = tree.files[0].path if tree.single else None
        return _Mount(name, files.volume_source(name, tree), volume.target, True, sub_path)

    def _bind_files(self, volume: ServiceVolume, source: str) -> FileTree | str:
        """The files to carry for a bind mount, or why it cannot be carried."""
        shown = volume.source
        if not self.context.options.binds_as_configmaps:
            return BIND_REFUSAL.format(source=shown)
        if not volume.read_only:
            return (
                f"the bind mount of {shown} is writable, and a ConfigMap is read-only: "
                "add :ro if the service only reads it, or use a named volume"
            )
        tree = self.context.sources.binds.get(source, "it was not read")
        if not isinstance(tree, str) and files.size(tree) > files.SIZE_LIMIT:
            tree = files.TOO_LARGE
        return f"cannot carry {shown} as a ConfigMap: {tree}" if isinstance(tree, str) else tree

    def _file_map(self, source: str, tree: FileTree) -> str:
        if source not in self.file_maps:
            relative = os.path.relpath(source, self.context.stack.project_dir)
            wanted = names.slug(relative if not relative.startswith("..") else source)
            kind = "file" if tree.single else "files"
            name = self.config_maps.claim(f"{wanted or 'project'}-{kind}")
            meta = self.context.metadata(name)
            config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
            self.file_maps[source] = {**config_map, **files.data(tree)}
        return self.file_maps[source]["metadata"]["name"]

    def _claim(self, volume: str) -> str:
        """The claim's name; the claim is made on first use (none for an external one)."""
        if volume not in self.claim_names:
            spec = self.context.stack.volumes[volume]
            path = ("volumes", volume)
            if spec.external:
                self.claim_names[volume] = self._external(path, spec.name or volume)
            else:
                self.claim_names[volume] = self._claim_names.claim(names.slug(volume) or "volume")
                self.claims[volume] = self._new_claim(path, volume)
        return self.claim_names[volume]

    def _new_claim(self, path: Path, volume: str) -> dict[str, Any]:
        spec = self.context.stack.volumes[volume]
        if spec.driver_opts:
            device = spec.driver_opts.device
            self.context.note(path, f"the claim starts empty: {device} is not copied into it")
        mode = "ReadWriteOnce" if self.pods.get(volume, 0) <= 1 else "ReadWriteMany"
        if mode == "ReadWriteMany":
            self.context.note(
                path,
                f"mounted by {self.pods[volume]} pods: its claim asks for ReadWriteMany, which "
                "needs a storage class that offers it (NFS, CephFS, a cloud file store)",
            )
        meta = self.context.metadata(self.claim_names[volume])
        annotations = self.context.annotations(path, spec.labels)
        if annotations:
            meta["annotations"] = annotations
        size = self.context.options.volume_size
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta,
            "spec": {"accessModes": [mode], "resources": {"requests": {"storage": size}}},
        }

    def _external(self, path: Path, name: str) -> str:
        if not names.is_subdomain(name):
            self.context.refuse(
                path,
                f"the external volume {name!r} cannot name a PersistentVolumeClaim (a DNS "
                "name: a-z, 0-9, '-' and '.'): write the claim's name in name:",
            )
        return name


@dataclass(frozen=True)
class _Mount:
    wanted: str  # the pod volume's name, if free
    source: dict[str, Any]  # the pod volume's source: {"emptyDir": {}}, {"configMap": …}
    target: str
    read_only: bool = False
    sub_path: str | None = None


def _pod_volumes(wanted: list[_Mount]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pod volumes and volumeMounts; two mounts of one claim or ConfigMap share a volume."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    taken = names.Registry()
    for mount in wanted:
        shared = "emptyDir" not in mount.source
        same = [v["name"] for v in volumes if shared and v == {"name": v["name"], **mount.source}]
        name = same[0] if same else taken.claim(mount.wanted or "volume")
        if not same:
            volumes.append({"name": name, **mount.source})
        found: dict[str, Any] = {"name": name, "mountPath": mount.target}
        if mount.read_only:
            found["readOnly"] = True
        if mount.sub_path:
            found["subPath"] = mount.sub_path
        mounts.append(found)
    return volumes, mounts


def _memory(size: int | None) -> dict[str, Any]:
    empty: dict[str, Any] = {"medium": "Memory"}
    return {"emptyDir": {**empty, "sizeLimit": units.memory(size)} if size else empty}


def _pods_per_volume(context: Context) -> dict[str, int]:
    """Named volume -> how many pods mount it: each mounting service's replicas."""
    pods: dict[str, int] = {}
    for name, spec in context.stack.services.items():
        volumes = {v.source for v in spec.volumes if v.type == "volume" and v.source}
        for volume in volumes:
            pods[volume] = pods.get(volume, 0) + context.stack.replicas(name)
    return pods
