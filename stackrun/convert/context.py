"""What every step of a conversion shares: the stack, the options, the names given to its
services, and the refusals and notes found so far. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from stackrun.convert import names
from stackrun.convert.model import KubernetesOptions, Note, Sources
from stackrun.errors import ConvertError, Diagnostic, Location
from stackrun.spec.depends_on import dependency_order
from stackrun.spec.diagnostics import format_path, locate

if TYPE_CHECKING:
    from stackrun.spec.models import Service, Stack

Path = tuple[str | int, ...]
NAME = "app.kubernetes.io/name"
PART_OF = "app.kubernetes.io/part-of"


class Context:
    def __init__(self, stack: Stack, sources: Sources, options: KubernetesOptions):
        self.stack, self.sources, self.options = stack, sources, options
        self.problems: list[Diagnostic] = []
        self.notes: list[Note] = []
        self.project = names.label_value(stack.name) or "stack"
        self.names = self._service_names()
        self.aliases = self._aliases()

    # ------------------------------------------------------------ findings

    def refuse(self, path: Path, message: str) -> None:
        self.problems.append(Diagnostic(self.where(path), format_path(path), message))

    def note(self, path: Path, message: str) -> None:
        self.notes.append(Note(format_path(path), message, self.where(path)))

    def where(self, path: Path) -> Location | None:
        """Where the key was written: the last stack file that has it (or, failing that,
        the most of the path, since the loader rewrote short syntaxes)."""
        for depth in range(len(path), 0, -1):
            for tree in reversed(self.sources.trees):
                if _holds(tree, path[:depth]):
                    return locate(tree, path[:depth])
        return None

    def raise_problems(self) -> None:
        """Every refusal, in the order of the files (options first)."""
        if self.problems:
            raise ConvertError(sorted(self.problems, key=self.order))

    def order(self, finding: Diagnostic | Note) -> tuple:
        where = finding.location
        if where is None:
            return (-1, 0, 0)
        files = list(self.stack.files)
        rank = files.index(where.file) if where.file in files else len(files)
        return (rank, where.line, where.column)

    # ------------------------------------------------------------ the stack

    def service(self, name: str) -> Service:
        return self.stack.services[name]

    def selected(self) -> list[str]:
        """The services to convert, each after those it depends on."""
        chosen = [n for n in self.stack.services if n in self.options.services]
        for wanted in self.options.services:
            if wanted not in self.stack.services:
                known = ", ".join(self.stack.services)
                self.refuse((), f"no service {wanted!r} in the stack (it has: {known})")
        edges = {n: list(s.depends_on) for n, s in self.stack.services.items()}
        return dependency_order(chosen or list(self.stack.services), edges)

    def labels(self, service: str | None = None) -> dict[str, str]:
        """The recommended labels: the service's name (when the object is a service's) and
        the project; a workload's selector is these labels of its service."""
        own = {NAME: self.names[service]} if service else {}
        return {**own, PART_OF: self.project}

    def metadata(self, name: str, service: str | None = None, **extra: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name}
        if self.options.namespace:
            meta["namespace"] = self.options.namespace
        return {**meta, "labels": self.labels(service), **extra}

    def annotations(self, path: Path, labels: dict[str, str]) -> dict[str, str]:
        """Compose labels as annotations, since their values may be anything (a label's
        value may not); a key Kubernetes would refuse is noted and left out."""
        kept = {}
        for key, value in labels.items():
            if names.is_qualified_name(key):
                kept[key] = value
            else:
                self.note((*path, "labels", key), "not carried: not a valid annotation key")
        return kept

    # ------------------------------------------------------------ names

    def _service_names(self) -> dict[str, str]:
        """Compose service -> Kubernetes name; refuses names that cannot become one."""
        given: dict[str, str] = {}
        for service in self.stack.services:
            name = self._dns_name(("services", service), service, "service")
            if name in given.values():
                other = next(s for s, n in given.items() if n == name)
                self.refuse(
                    ("services", service),
                    f"{service!r} and {other!r} would both be named {name!r} in Kubernetes "
                    "(lower case, '-' for '_' and '.'): rename one of them",
                )
            given[service] = name or service
        return given

    def _aliases(self) -> dict[str, list[str]]:
        """Service -> the Kubernetes names of its network aliases (each a Service of its own)."""
        taken = {name: f"the service {service!r}" for service, name in self.names.items()}
        aliases: dict[str, list[str]] = {}
        for service, spec in self.stack.services.items():
            aliases[service] = []
            for path, alias in _network_aliases(service, spec):
                name = self._dns_name(path, alias, "alias")
                if name is None or name == self.names[service] or name in aliases[service]:
                    continue
                if name in taken:
                    self.refuse(
                        path,
                        f"the alias {alias!r} would name a Service {name!r}, which is already "
                        f"{taken[name]}: a namespace has one Service of each name",
                    )
                    continue
                taken[name] = f"an alias of {service!r}"
                aliases[service].append(name)
        return aliases

    def _dns_name(self, path: Path, name: str, what: str) -> str | None:
        converted = names.dns_name(name)
        if converted is None:
            self.refuse(
                path,
                f"the {what} name {name!r} cannot name a Kubernetes Service, whose name is a "
                "DNS label (a-z, 0-9 and '-', starting with a letter, at most 63 characters): "
                "rename it",
            )
        elif converted != name.lower():
            self.note(
                path,
                f"{name!r} is named {converted!r} in Kubernetes (no '_' or '.' in its names): "
                f"other services must reach it as {converted!r}",
            )
        return converted


def _holds(tree: Any, path: Path) -> bool:
    """Whether the parsed file has every key and index of `path`."""
    node = tree
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
            continue
        if not (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            return False
        node = node[part]
    return True


def _network_aliases(service: str, spec: Service) -> Iterable[tuple[Path, str]]:
    for network, attachment in spec.networks.items():
        for index, alias in enumerate(attachment.aliases if attachment else ()):
            yield ("services", service, "networks", network, "aliases", index), alias
