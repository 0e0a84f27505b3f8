"""CLI verb: convert kubernetes. The stack as Kubernetes objects, validated for the target
version before anything is written; notes on stderr say what they do not carry.

Cheap to import: the loader, the converter and kubernetes-validate load when it runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from stackrun.cli.options import FilesOption, ProfileOption, ProjectOption, project_options
from stackrun.cli.project import ProjectOptions
from stackrun.errors import StackrunError

ConvertedServices = Annotated[
    list[str] | None,
    typer.Argument(metavar="[SERVICE]...", help="Convert only these services (default: all)."),
]
OutputOption = Annotated[
    str,
    typer.Option(
        "-o",
        "--output",
        metavar="DIR|FILE.yaml|-",
        help="A directory (a file per object), one .yaml file, or - for stdout.",
    ),
]
NamespaceOption = Annotated[
    str | None,
    typer.Option("--namespace", metavar="NS", help="metadata.namespace of every object."),
]
VersionOption = Annotated[
    str | None,
    typer.Option(
        "--k8s-version",
        metavar="1.XX",
        help="Validate for this Kubernetes version (default: the newest whose schemas are at hand).",
    ),
]
PublishedOption = Annotated[
    str,
    typer.Option(
        "--published-as",
        metavar="TYPE",
        help="Published ports: clusterip (inside the cluster only), nodeport or loadbalancer.",
    ),
]
ImageForOption = Annotated[
    list[str] | None,
    typer.Option(
        "--image-for",
        metavar="SERVICE=IMAGE",
        help="The image to run for a service (a host command has none); repeatable.",
    ),
]
BindsOption = Annotated[
    bool,
    typer.Option(
        "--binds-as-configmaps",
        help="Carry small (1 MiB) read-only bind mounts as ConfigMaps instead of refusing them.",
    ),
]
SizeOption = Annotated[
    str, typer.Option("--volume-size", metavar="SIZE", help="What each volume's claim asks for.")
]
WaitImageOption = Annotated[
    str,
    typer.Option(
        "--wait-image",
        metavar="IMAGE",
        help="Image with sh and nc for the init containers that wait for healthy dependencies.",
    ),
]


def register(app: typer.Typer) -> None:
    convert = typer.Typer(
        help="Write the stack for another platform.", no_args_is_help=True, rich_markup_mode=None
    )

    @convert.command("kubernetes")
    def kubernetes(
        ctx: typer.Context,
        services: ConvertedServices = None,
        output: OutputOption = "-",
        namespace: NamespaceOption = None,
        k8s_version: VersionOption = None,
        published_as: PublishedOption = "clusterip",
        image_for: ImageForOption = None,
        binds_as_configmaps: BindsOption = False,
        volume_size: SizeOption = "1Gi",
        wait_image: WaitImageOption = "busybox:1.36",
        files: FilesOption = None,
        project_name: ProjectOption = None,
        profiles: ProfileOption = None,
    ) -> None:
        """Write Kubernetes objects for the stack: Deployments, StatefulSets or Jobs,
        Services, claims and ConfigMaps, each validated against the official schemas."""
        from stackrun.convert.model import KubernetesOptions

        options = KubernetesOptions(
            services=tuple(services or ()),
            namespace=namespace,
            published_as=published_as,
            images=images(image_for or []),
            binds_as_configmaps=binds_as_configmaps,
            volume_size=volume_size,
            wait_image=wait_image,
        )
        opts = project_options(ctx, files, project_name, profiles)
        run(opts, options, k8s_version, output)

    app.add_typer(convert, name="convert")


def images(given: list[str]) -> dict[str, str]:
    """--image-for SERVICE=IMAGE, each as given."""
    found = {}
    for text in given:
        service, equals, image = text.partition("=")
        if not equals or not service or not image:
            raise StackrunError(f"--image-for {text!r}: write SERVICE=IMAGE, e.g. api=nginx:1.27")
        found[service] = image
    return found


def run(opts: ProjectOptions, options, version: str | None, target: str) -> None:
    import os
    import sys

    from stackrun.cli.project import load_stack
    from stackrun.convert import kubernetes, output, validate

    chosen = validate.target(version)  # before loading: a missing package or version fails fast
    conversion = kubernetes(load_stack(opts), options, os.environ, chosen)
    for note in conversion.notes:
        print(note, file=sys.stderr)
    written = output.write(conversion.objects, target)
    if written:
        print(f"wrote {len(written)} file(s), valid for Kubernetes {chosen}", file=sys.stderr)
