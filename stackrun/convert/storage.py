"""A service's files: its mounts as pod volumes (named volumes as PersistentVolumeClaims,
anonymous volumes and tmpfs as emptyDir, bind mounts refused, or carried as ConfigMaps
when asked), and its env files' values as a ConfigMap.

A claim is shared by every service that mounts the volume, as the volume is in Compose:
mounted by more than one pod, it asks for ReadWriteMany, which needs a storage class that
offers it. Pure: the files of bind mounts were read beforehand (`sources.read`).
"""

from __future__ import annotations

import os.path
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
            wanted = names.slug("-".join(os.path.basename(path) for path in paths))
            name = self.config_maps.claim(wanted if wanted.endswith("env") else f"{wanted}-env")
            meta = self.context.metadata(name)
            config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
            self.env_maps[paths] = {**config_map, "data": dict(values)}
        return self.env_maps[paths]["metadata"]["name"]

    def mounts(self, service: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The pod's volumes and the container's volumeMounts for the service's mounts."""
        spec = self.context.service(service)
        pod: list[dict[str, Any]] = []
        mounts: list[dict[str, Any]] = []
        taken = names.Registry()
        for index, volume in enumerate(spec.volumes):
            found = self._mount(("services", service, "volumes", index), volume)
            if found:
                _add(pod, mounts, taken, *found)
        for text in spec.tmpfs:
            entry = syntax.parse_tmpfs(text)
            source = _memory(entry.get("size"))
            _add(pod, mounts, taken, f"tmpfs-{names.slug(entry['target'])}", source, entry)
        return pod, mounts

    def _mount(self, path: Path, volume: ServiceVolume):
        """(wanted volume name, volume source, mount fields), or None if refused."""
        mount: dict[str, Any] = {"target": volume.target, "read_only": volume.read_only}
        if volume.type == "tmpfs":
            size = volume.tmpfs.size if volume.tmpfs else None
            return f"tmpfs-{names.slug(volume.target)}", _memory(size), mount
        if volume.type == "bind":
            return self._bind(path, volume, mount)
        if not volume.source:  # anonymous: the instance's own, gone with it
            return f"scratch-{names.slug(volume.target)}", {"emptyDir": {}}, mount
        subpath = volume.volume.subpath if volume.volume else None
        claim = self._claim(volume.source)
        source = {"persistentVolumeClaim": {"claimName": claim}}
        return claim, source, {**mount, "sub_path": subpath}

    def _bind(self, path: Path, volume: ServiceVolume, mount: dict[str, Any]):
        source = bind_source(self.context.stack.project_dir, str(volume.source))
        shown = volume.source
        if not self.context.options.binds_as_configmaps:
            return self.context.refuse(path, BIND_REFUSAL.format(source=shown))
        if not volume.read_only:
            return self.context.refuse(
                path,
                f"the bind mount of {shown} is writable, and a ConfigMap is read-only: "
                "add :ro if the service only reads it, or use a named volume",
            )
        tree = self.context.sources.binds.get(source, "it was not read")
        if not isinstance(tree, str) and files.size(tree) > files.SIZE_LIMIT:
            tree = files.TOO_LARGE
        if isinstance(tree, str):
            return self.context.refuse(path, f"cannot carry {shown} as a ConfigMap: {tree}")
        name = self._file_map(source, tree)
        sub_path = tree.files[0].path if tree.single else None
        return name, files.volume_source(name, tree), {**mount, "sub_path": sub_path}

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
        if volume in self.claims:
            return self.claims[volume]["metadata"]["name"]
        spec = self.context.stack.volumes[volume]
        path = ("volumes", volume)
        if spec.external:
            return self._external(path, spec.name or volume)
        name = self._claim_names.claim(names.slug(volume) or "volume")
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
        annotations = self.context.annotations(path, spec.labels)
        meta = self.context.metadata(name)
        if annotations:
            meta["annotations"] = annotations
        size = self.context.options.volume_size
        self.claims[volume] = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta,
            "spec": {"accessModes": [mode], "resources": {"requests": {"storage": size}}},
        }
        return name

    def _external(self, path: Path, name: str) -> str:
        if not names.is_subdomain(name):
            self.context.refuse(
                path,
                f"the external volume {name!r} cannot name a PersistentVolumeClaim (a DNS "
                "name: a-z, 0-9, '-' and '.'): write the claim's name in name:",
            )
        return name


def _add(pod: list, mounts: list, taken: names.Registry, wanted: str, source, fields) -> None:
    """The mount, on the pod volume that already holds the same claim or files, if any."""
    same = [v["name"] for v in pod if {**v, "name": None} == {"name": None, **source}]
    name = same[0] if same and "emptyDir" not in source else taken.claim(wanted or "volume")
    if name not in same:
        pod.append({"name": name, **source})
    mount: dict[str, Any] = {"name": name, "mountPath": fields["target"]}
    if fields.get("read_only"):
        mount["readOnly"] = True
    if fields.get("sub_path"):
        mount["subPath"] = fields["sub_path"]
    mounts.append(mount)


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
