"""Compose keys that cannot apply to a process runner: say why, and what to write instead.

Errors for keys whose absence would change what runs (`privileged`, `gpus`, `build.ssh`…);
warnings for keys that are safe to ignore (`tty`, `links`…). Every key of the
Compose specification is either a field of the models or listed here (a test walks
the Compose JSON Schema), so a real Compose key never gets "unknown key". The keys are
removed from the tree afterwards so that validation does not report them again.
"""

from __future__ import annotations

from stackrun.spec.diagnostics import Path, Report
from stackrun.spec.source import LDict, LList

LOG_OPTIONS = ("max-size", "max-file")
_WINDOWS = "a Windows containers setting; remove it"
_NO_GPU = "GPUs and other device reservations are not supported; remove it"
_IPV6 = "IPv6 is not supported yet: stackrun networks are IPv4; remove it"

SERVICE_ERRORS = {
    "privileged": "not supported; to keep every capability write cap_add: [ALL]",
    "cgroup_parent": "set it for the whole stack: x-stackrun: {cgroup_parent: PATH} at the top level",
    "runtime": "stackrun is the runtime; remove it",
    "gpus": _NO_GPU,
    "cpu_count": "a Windows containers setting; on Linux write cpus: (a number of CPUs)",
    "cpu_percent": "a Windows containers setting; on Linux write cpus: (a number of CPUs)",
    "credential_spec": _WINDOWS,
    "isolation": _WINDOWS,
    "cpu_rt_period": "real-time CPU time needs cgroup v1 and a kernel built with "
    "CONFIG_RT_GROUP_SCHED; not supported, remove it",
    "cpu_rt_runtime": "real-time CPU time needs cgroup v1 and a kernel built with "
    "CONFIG_RT_GROUP_SCHED; not supported, remove it",
    "models": "AI models (Docker Model Runner) are not supported; remove it",
    "provider": "services run by a provider (an outside program) are not supported; remove it",
    "storage_opt": "storage-driver options (e.g. size) do not apply: a service's writable layer "
    "is a plain directory; remove it",
    "use_api_socket": "there is no container-engine API socket to give a service; remove it",
    "post_start": "not supported yet; run the command at the start of the service's command",
    "pre_stop": "not supported yet; handle the stop signal (stop_signal:) in the service",
    "pre_start": "not supported; run the step as its own service (restart: no) and make this "
    "one depend on it with condition: service_completed_successfully",
}
SERVICE_WARNINGS = {
    "pull_refresh_after": "ignored: to pull again after a while write pull_policy: "
    "every_DURATION (e.g. every_12h)",
    "tty": "ignored: services have no terminal; their output goes to the log",
    "stdin_open": "ignored: a service's stdin is /dev/null",
    "links": "ignored: services reach each other by name on the stack's network",
    "external_links": "ignored: stackrun reaches only the services of the stack, by name",
}
DEPLOY_ERRORS: dict[str, str] = {}
DEPLOY_WARNINGS = {
    "placement": "ignored: stackrun runs on one host",
    "labels": "ignored: labels of a swarm service; the service's own are labels:",
    "update_config": "ignored: stackrun runs on one host and recreates a changed service",
    "rollback_config": "ignored: stackrun runs on one host and recreates a changed service",
    "endpoint_mode": "ignored: services reach each other by name on the stack's network",
}
_BUILDS_FOR_THE_HOST = "stackrun builds for the host's platform only; remove it"
BUILD_ERRORS = {
    "secrets": "build secrets are not supported: pass values with args:, or COPY a file and "
    "remove it in the same RUN",
    "ssh": "SSH agent forwarding is not supported in builds; remove it",
    "additional_contexts": "not supported; COPY --from a stage or an image instead",
    "privileged": "not supported in builds; remove it",
    "entitlements": "not supported in builds; remove it",
    "isolation": "not supported; remove it",
}
BUILD_WARNINGS = {
    "cache_from": "ignored: stackrun's build cache is local",
    "cache_to": "ignored: stackrun's build cache is local",
    "extra_hosts": "ignored: RUN steps use the host's network and /etc/hosts",
    "shm_size": "ignored: RUN steps get a 64 MiB /dev/shm",
    "ulimits": "ignored: RUN steps run with stackrun's default limits",
    "platforms": _BUILDS_FOR_THE_HOST,
    "provenance": "ignored: stackrun's builds attach no attestations",
    "sbom": "ignored: stackrun's builds attach no attestations",
}
TOP_ERRORS = {"models": "AI models (Docker Model Runner) are not supported; remove it"}
TOP_WARNINGS = {"version": "obsolete and ignored, as in Compose; remove it"}
# Deeper places: (path pattern, errors, warnings); "*" is any name, "#" any list index.
NESTED: tuple[tuple[Path, dict[str, str], dict[str, str]], ...] = (
    (("services", "*", "build"), BUILD_ERRORS, BUILD_WARNINGS),
    (
        ("services", "*", "deploy", "resources", "reservations"),
        {"devices": _NO_GPU, "generic_resources": _NO_GPU},
        {},
    ),
    (
        ("services", "*", "networks", "*"),
        {
            "ipv6_address": _IPV6,
            "link_local_ips": "link-local addresses are not supported; remove them",
        },
        {"driver_opts": "ignored: the network driver is stackrun's bridge"},
    ),
    (
        ("services", "*", "volumes", "#"),
        {"image": "mounting an image's files is not supported yet; remove it"},
        {},
    ),
    (
        ("services", "*", "volumes", "#", "bind"),
        {},
        {"selinux": "ignored: stackrun does not relabel files for SELinux"},
    ),
    *(
        (
            (section, "*"),
            {
                "driver": f"{section} come from file:, environment: or content:; remove it",
                "driver_opts": f"{section} come from file:, environment: or content:; remove it",
                "template_driver": "templates are not supported; remove it",
            },
            {},
        )
        for section in ("secrets", "configs")
    ),
    (
        ("networks", "*"),
        {},
        {
            "driver_opts": "ignored: the network is stackrun's own Linux bridge",
            "attachable": "ignored: only the stack's services join its networks",
        },
    ),
    (
        ("networks", "*", "ipam"),
        {},
        {"options": "ignored: stackrun's address management takes no options"},
    ),
    (
        ("networks", "*", "ipam", "config", "#"),
        {
            "ip_range": "not supported: addresses come from the whole subnet; remove it",
            "aux_addresses": "not supported: the subnet's addresses all go to services; remove it",
        },
        {},
    ),
)
IMAGE_WITH_ROOTFS = "ignored: x-stackrun.rootfs is the service's root; remove one of them"
IMAGE_KEYS = ("image", "platform", "pull_policy")


def check_unsupported(tree: LDict, report: Report) -> None:
    _apply(tree, (), TOP_ERRORS, TOP_WARNINGS, report)
    services = tree.get("services")
    if not isinstance(services, LDict):
        return
    for name, service in services.items():
        if not isinstance(service, LDict):
            continue
        path = ("services", name)
        _apply(service, path, SERVICE_ERRORS, SERVICE_WARNINGS, report)
        if _has_rootfs(service):
            _apply(service, path, {}, dict.fromkeys(IMAGE_KEYS, IMAGE_WITH_ROOTFS), report)
        deploy = service.get("deploy")
        if isinstance(deploy, LDict):
            _apply(deploy, (*path, "deploy"), DEPLOY_ERRORS, DEPLOY_WARNINGS, report)
        _log_options(service.get("logging"), (*path, "logging", "options"), report)
    for pattern, errors, warnings in NESTED:
        for node, path in _matches(tree, pattern, ()):
            _apply(node, path, errors, warnings, report)


def _apply(node: LDict, path, errors: dict, warnings: dict, report: Report) -> None:
    for key in [k for k in node if k in errors or k in warnings]:
        if key in errors:
            report.error(node.at(key), (*path, key), errors[key])
        else:
            report.warn(node.at(key), (*path, key), warnings[key])
        del node[key]


def _log_options(logging, path: Path, report: Report) -> None:
    """Options of other logging drivers' (tag, compress…): stackrun writes its own files."""
    options = logging.get("options") if isinstance(logging, LDict) else None
    if isinstance(options, LDict):
        ignored = dict.fromkeys(options, "ignored: stackrun's log files take max-size and max-file")
        _apply(
            options, path, {}, {k: v for k, v in ignored.items() if k not in LOG_OPTIONS}, report
        )


def _matches(node, pattern: Path, path: Path):
    """(mapping, its path) for each mapping of the tree at `pattern`."""
    if not pattern:
        if isinstance(node, LDict):
            yield node, path
        return
    step, rest = pattern[0], pattern[1:]
    if step == "*" and isinstance(node, LDict):
        for key, child in node.items():
            yield from _matches(child, rest, (*path, key))
    elif step == "#" and isinstance(node, LList):
        for index, child in enumerate(node):
            yield from _matches(child, rest, (*path, index))
    elif isinstance(node, LDict) and step in node:
        yield from _matches(node[step], rest, (*path, step))


def _has_rootfs(service: LDict) -> bool:
    extension = service.get("x-stackrun")
    return isinstance(extension, dict) and bool(extension.get("rootfs"))
