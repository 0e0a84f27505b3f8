"""The stack for another platform: Kubernetes objects, each validated before it is written.

    from stackrun.convert import kubernetes
    conversion = kubernetes(stack, KubernetesOptions(images={"api": "ghcr.io/me/api:1"}),
                            environ=os.environ, version="1.37")
    output.write(conversion.objects, "-")

    sources.read     disk: env file values, bind mount files, the parsed stack files
    transform        pure: Stack + Sources + options -> objects and notes, or ConvertError
    validate         the official schemas of the version (strict) and the API server's
                     rules the schemas miss (`rules`); a failure is a bug (ManifestError)
    output           YAML: one stream, one file, or a file per object

It reads the validated `Stack`, not the `Plan`: a plan holds one host's answers
(addresses, cgroup paths, kernel names), which mean nothing to a cluster. Per-service
values that both need (limits, healthcheck defaults) come from the plan's own functions,
so both read the stack file the same way. See docs/kubernetes.md for the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from stackrun.convert.model import Conversion, KubernetesOptions

if TYPE_CHECKING:
    from stackrun.spec.models import Stack

__all__ = ["Conversion", "KubernetesOptions", "kubernetes"]


def kubernetes(
    stack: Stack, options: KubernetesOptions, environ: Mapping[str, str], version: str
) -> Conversion:
    """The stack's objects, validated for Kubernetes `version` (major.minor)."""
    from stackrun.convert import sources, transform, validate

    conversion = transform.convert(stack, sources.read(stack, options, environ), options)
    validate.validate(conversion.objects, version)
    return conversion
