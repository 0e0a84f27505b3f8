"""Compose keys that cannot apply to a process runner: say why, and what to write instead.

Errors for keys whose absence would change what runs (`build`, `devices`,
`privileged`…); warnings for keys that are safe to ignore (`tty`, `links`…).
The keys are removed from the tree afterwards so that validation does not report
them a second time as unknown.
"""

from __future__ import annotations

from stackrun.spec.diagnostics import Report
from stackrun.spec.source import LDict

_OWN_NAMESPACES = "every service has its own namespaces in stackrun; remove it"
_ONE_HOST = "stackrun runs on one host: only deploy.replicas and deploy.resources apply; remove it"

SERVICE_ERRORS = {
    "build": "stackrun does not build images yet: remove build: and name an image with "
    "image: (pulled, or loaded with `stackrun load -i FILE`)",
    "devices": "services cannot use host devices in stackrun; remove devices:",
    "privileged": "not supported; to keep every capability write cap_add: [ALL]",
    "secrets": "not supported; mount the file instead: volumes: ['./secret.txt:/run/secrets/NAME:ro']",
    "configs": "not supported; mount the file instead: volumes: ['./app.conf:/etc/app.conf:ro']",
    "extends": "not supported; combine files with several -f instead",
    "cgroup_parent": "set it for the whole stack: x-stackrun: {cgroup_parent: PATH} at the top level",
    "volumes_from": "declare a named volume and mount it in both services",
    "ipc": _OWN_NAMESPACES,
    "pid": _OWN_NAMESPACES,
    "uts": _OWN_NAMESPACES,
    "userns_mode": "user namespaces are not supported; remove it",
    "runtime": "stackrun is the runtime; remove it",
    "gpus": "not supported; remove it",
    "sysctls": "not supported; remove it",
    "mac_address": "not supported; remove it",
}
SERVICE_WARNINGS = {
    "tty": "ignored: services have no terminal; their output goes to the log",
    "stdin_open": "ignored: a service's stdin is /dev/null",
    "links": "ignored: services reach each other by name on the stack's network",
}
DEPLOY_ERRORS = {
    "restart_policy": "use the service's restart: key (no, always, on-failure[:N], unless-stopped)",
    "mode": _ONE_HOST,
    "placement": _ONE_HOST,
    "update_config": _ONE_HOST,
    "rollback_config": _ONE_HOST,
    "endpoint_mode": _ONE_HOST,
    "labels": "use the service's labels: key",
}
TOP_ERRORS = {
    "secrets": "not supported; mount secret files with a service's volumes: instead",
    "configs": "not supported; mount config files with a service's volumes: instead",
    "include": "not supported; pass each file with -f instead",
}
TOP_WARNINGS = {"version": "obsolete and ignored, as in Compose; remove it"}
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
            _apply(deploy, (*path, "deploy"), DEPLOY_ERRORS, {}, report)


def _apply(node: LDict, path, errors: dict, warnings: dict, report: Report) -> None:
    for key in [k for k in node if k in errors or k in warnings]:
        if key in errors:
            report.error(node.at(key), (*path, key), errors[key])
        else:
            report.warn(node.at(key), (*path, key), warnings[key])
        del node[key]


def _has_rootfs(service: LDict) -> bool:
    extension = service.get("x-stackrun")
    return isinstance(extension, dict) and bool(extension.get("rootfs"))
