"""Each stack the converter refuses, with the exact message the user reads: located in
the file, naming the key, saying what to do. Every refusal comes at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackrun.convert import validate
from stackrun.errors import StackrunError

BIND = (
    "a bind mount of {} cannot be carried to a cluster, which has no copy of this "
    "machine's files: build them into the image, use a named volume, or pass "
    "--binds-as-configmaps to carry small read-only files as ConfigMaps"
)
HOST = (
    "a host command (no image:) cannot run in a cluster: add image: to the service, or pass "
    "--image-for {}=IMAGE"
)
CASES = [
    (
        "built_without_a_name",
        "services:\n  api:\n    build: .\n",
        {},
        [
            (
                "stack.yaml:2:3: services.api: its image is built (build:) but has no name a "
                "cluster can pull: add image: REGISTRY/NAME:TAG and `stackrun build --push`, or "
                "pass --image-for api=IMAGE"
            )
        ],
    ),
    (
        "host_command",
        "services:\n  api:\n    command: [python3, app.py]\n",
        {},
        [f"stack.yaml:2:3: services.api: {HOST.format('api')}"],
    ),
    (
        "bind_mount",
        "services:\n  api:\n    image: python:3.12\n    volumes: ['./app:/srv:ro']\n",
        {},
        [f"stack.yaml:4:15: services.api.volumes[0]: {BIND.format('./app')}"],
    ),
    (
        "writable_bind_as_configmap",
        "services:\n  api:\n    image: python:3.12\n    volumes: ['./app:/srv']\n",
        {"binds_as_configmaps": True},
        [
            (
                "stack.yaml:4:15: services.api.volumes[0]: the bind mount of ./app is writable, "
                "and a ConfigMap is read-only: add :ro if the service only reads it, or use a "
                "named volume"
            )
        ],
    ),
    (
        "missing_bind_source",
        "services:\n  api:\n    image: python:3.12\n    volumes: ['./gone:/srv:ro']\n",
        {"binds_as_configmaps": True},
        [
            (
                "stack.yaml:4:15: services.api.volumes[0]: cannot carry ./gone as a ConfigMap: "
                "cannot read it: No such file or directory"
            )
        ],
    ),
    (
        "user_name",
        "services:\n  db:\n    image: postgres:16\n    user: postgres\n",
        {},
        [
            (
                "stack.yaml:4:5: services.db.user: 'postgres' names a user (or group), and "
                "Kubernetes takes numbers: write the numeric UID[:GID] that the image gives that name"
            )
        ],
    ),
    (
        "group_name",
        "services:\n  db:\n    image: postgres:16\n    user: '999:postgres'\n",
        {},
        [
            (
                "stack.yaml:4:5: services.db.user: '999:postgres' names a user (or group), and "
                "Kubernetes takes numbers: write the numeric UID[:GID] that the image gives that name"
            )
        ],
    ),
    (
        "environment_name",
        "services:\n  api:\n    image: nginx:1.27\n    environment:\n      1ST: a\n      A B: b\n",
        {},
        [
            (
                "stack.yaml:5:7: services.api.environment.1ST: '1ST' is not a variable name "
                "Kubernetes takes before 1.34 (letters, digits, '_', '-' and '.', not starting "
                "with a digit): rename it"
            ),
            (
                "stack.yaml:6:7: services.api.environment.A B: 'A B' is not a variable name "
                "Kubernetes takes before 1.34 (letters, digits, '_', '-' and '.', not starting "
                "with a digit): rename it"
            ),
        ],
    ),
    (
        "expose_out_of_range",
        "services:\n  api:\n    image: nginx:1.27\n    expose: ['0', '70000-70001', '80']\n",
        {},
        [
            (
                "stack.yaml:4:14: services.api.expose[0]: '0' is not a port a Service can list "
                "(1 to 65535): remove it"
            ),
            (
                "stack.yaml:4:19: services.api.expose[1]: '70000-70001' is not a port a Service "
                "can list (1 to 65535): remove it"
            ),
        ],
    ),
    (
        "two_mounts_at_one_path",
        (
            "services:\n  api:\n    image: nginx:1.27\n    volumes: ['data:/data']\n"
            "    tmpfs: [/data]\nvolumes:\n  data: {}\n"
        ),
        {},
        [
            (
                "stack.yaml:5:13: services.api.tmpfs[0]: /data is the target of another mount "
                "too; a container mounts one volume at a path: remove one"
            )
        ],
    ),
    (
        "extra_host_name",
        "services:\n  api:\n    image: nginx:1.27\n    extra_hosts: ['db_1=10.0.0.2']\n",
        {},
        [
            (
                "stack.yaml:4:5: services.api.extra_hosts.db_1: 'db_1' is not a DNS name, which is "
                "all a pod's hostAliases take (a-z, 0-9, '-' and '.'): rename it"
            )
        ],
    ),
    (
        "network_mode_none",
        "services:\n  batch:\n    image: alpine:3.20\n    network_mode: none\n",
        {},
        [
            (
                "stack.yaml:4:5: services.batch.network_mode: 'none' cannot be carried: a pod "
                "always has its own network; remove network_mode"
            )
        ],
    ),
    (
        "network_mode_service",
        (
            "services:\n  vpn:\n    image: alpine:3.20\n  app:\n    image: alpine:3.20\n"
            "    network_mode: service:vpn\n"
        ),
        {},
        [
            (
                "stack.yaml:6:5: services.app.network_mode: 'service:vpn' cannot be carried: a "
                "pod always has its own network; remove network_mode"
            )
        ],
    ),
    (
        "service_name_starts_with_a_digit",
        "services:\n  1api:\n    image: nginx:1.27\n",
        {},
        [
            (
                "stack.yaml:2:3: services.1api: the service name '1api' cannot name a Kubernetes "
                "Service, whose name is a DNS label (a-z, 0-9 and '-', starting with a letter, at "
                "most 63 characters): rename it"
            )
        ],
    ),
    (
        "names_that_become_one",
        "services:\n  my_db:\n    image: postgres:16\n  my-db:\n    image: postgres:16\n",
        {},
        [
            (
                "stack.yaml:4:3: services.my-db: 'my-db' and 'my_db' would both be named 'my-db' "
                "in Kubernetes (lower case, '-' for '_' and '.'): rename one of them"
            )
        ],
    ),
    (
        "alias_of_another_service",
        (
            "services:\n  web:\n    image: nginx:1.27\n    networks:\n      default:\n"
            "        aliases: [api]\n  api:\n    image: nginx:1.27\n"
        ),
        {},
        [
            (
                "stack.yaml:6:19: services.web.networks.default.aliases[0]: the alias 'api' would "
                "name a Service 'api', which is already the service 'api': a namespace has one "
                "Service of each name"
            )
        ],
    ),
    (
        # (a bad `image:` in the file is the loader's error, at its FILE:LINE:COL)
        "bad_image_reference",
        "services:\n  api:\n    command: [x]\n",
        {"images": {"api": "My/App:1"}},
        [
            (
                "--image-for api=My/App:1: 'My/App:1' is not an image reference: "
                "repository name must be lowercase"
            )
        ],
    ),
    (
        "image_id",
        "services:\n  api:\n    image: " + "a" * 64 + "\n",
        {},
        [
            "stack.yaml:3:5: services.api.image: '"
            + "a" * 64
            + "' is a local image ID, which a cluster cannot pull: name the image by "
            "repository and tag"
        ],
    ),
    (
        "bad_image_for",
        "services:\n  api:\n    command: [x]\n",
        {"images": {"api": "Bad Image"}},
        [
            (
                "--image-for api=Bad Image: 'Bad Image' is not an image reference: repository "
                "name must be lowercase"
            )
        ],
    ),
    (
        "image_for_an_unknown_service",
        "services:\n  api:\n    image: nginx:1.27\n",
        {"images": {"web": "nginx:1.27"}},
        ["--image-for web=…: no service 'web' in the stack (it has: api)"],
    ),
    (
        "unknown_service_selected",
        "services:\n  api:\n    image: nginx:1.27\n",
        {"services": ("api", "wbe")},
        ["no service 'wbe' in the stack (it has: api)"],
    ),
    (
        "bad_namespace",
        "services:\n  api:\n    image: nginx:1.27\n",
        {"namespace": "My_Team"},
        [
            (
                "--namespace 'My_Team' is not a namespace name (a DNS label: a-z, 0-9 and '-', at "
                "most 63 characters)"
            )
        ],
    ),
    (
        "bad_volume_size",
        "services:\n  api:\n    image: nginx:1.27\n",
        {"volume_size": "1GB"},
        ["--volume-size '1GB' is not a size Kubernetes reads: write e.g. 1Gi, 500Mi"],
    ),
    (
        "bad_published_as",
        "services:\n  api:\n    image: nginx:1.27\n",
        {"published_as": "ingress"},
        ["--published-as 'ingress': use one of clusterip, nodeport, loadbalancer"],
    ),
    (
        "bad_wait_image",
        "services:\n  api:\n    image: nginx:1.27\n",
        {"wait_image": "BusyBox"},
        ["--wait-image 'BusyBox' is not an image reference: repository name must be lowercase"],
    ),
    (
        "memory_reservation_above_limit",
        "services:\n  api:\n    image: nginx:1.27\n    mem_limit: 64m\n    mem_reservation: 128m\n",
        {},
        [
            (
                "stack.yaml:5:5: services.api.mem_reservation: it reserves 128Mi of memory, above "
                "its limit of 64Mi, which Kubernetes refuses (a request above its limit): lower "
                "one or raise the other"
            )
        ],
    ),
    (
        "cpu_shares_above_the_cpu_limit",
        "services:\n  api:\n    image: nginx:1.27\n    cpus: 0.5\n    cpu_shares: 2048\n",
        {},
        [
            (
                "stack.yaml:5:5: services.api.cpu_shares: it reserves 2 of cpu, above its limit "
                "of 500m, which Kubernetes refuses (a request above its limit): lower one or raise "
                "the other"
            )
        ],
    ),
    (
        "cpu_reservation_above_the_limit",
        (
            "services:\n  api:\n    image: nginx:1.27\n    deploy:\n      resources:\n"
            "        limits: {cpus: '0.5'}\n        reservations: {cpus: '1'}\n"
        ),
        {},
        [
            (
                "stack.yaml:7:24: services.api.deploy.resources.reservations.cpus: it reserves 1 "
                "of cpu, above its limit of 500m, which Kubernetes refuses (a request above its "
                "limit): lower one or raise the other"
            )
        ],
    ),
    (
        "external_volume_name",
        (
            "services:\n  api:\n    image: nginx:1.27\n    volumes: ['data:/data']\n"
            "volumes:\n  data:\n    external: true\n    name: Team_Data\n"
        ),
        {},
        [
            (
                "stack.yaml:6:3: volumes.data: the external volume 'Team_Data' cannot name a "
                "PersistentVolumeClaim (a DNS name: a-z, 0-9, '-' and '.'): write the claim's "
                "name in name:"
            )
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_refusal(convert_dir, text, options, expected):
    assert convert_dir.refusals(text, **options) == expected


def test_every_refusal_at_once_in_file_order(convert_dir):
    refused = convert_dir.refusals(
        "services:\n"
        "  api:\n    command: [x]\n    volumes: ['./app:/srv:ro']\n"
        "  db:\n    image: postgres:16\n    user: postgres\n",
        services=("api", "db", "nope"),
    )
    assert [line.split(": ")[0] for line in refused] == [
        "no service 'nope' in the stack (it has",
        "stack.yaml:2:3",
        "stack.yaml:4:15",
        "stack.yaml:7:5",
    ]


BUILD_IN = "build them into the image"


def large(conf: Path) -> None:
    (conf / "blob.bin").write_bytes(os.urandom(1 << 20))


def linked(conf: Path) -> None:
    (conf / "app.conf").write_text("x = 1\n")
    (conf / "current").symlink_to("app.conf")


def reserved(conf: Path) -> None:
    (conf / "..data").write_text("x\n")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (large, f"its files hold more than 1 MiB, the most a ConfigMap holds: {BUILD_IN}"),
        (linked, "current is a symbolic link, which a ConfigMap cannot hold"),
        (reserved, "..data: a ConfigMap volume cannot hold a name that starts with '..'"),
    ],
)  # fmt: skip
def test_files_a_config_map_cannot_carry(convert_dir, make, reason):
    (convert_dir.root / "conf").mkdir()
    make(convert_dir.root / "conf")
    refused = convert_dir.refusals(
        "services:\n  api:\n    image: nginx:1.27\n    volumes: ['./conf:/etc/app:ro']\n",
        binds_as_configmaps=True,
    )
    assert refused == [
        f"stack.yaml:4:15: services.api.volumes[0]: cannot carry ./conf as a ConfigMap: {reason}"
    ]


def test_unbundled_kubernetes_version_is_refused():
    oldest, newest = validate.versions()[0], validate.versions()[-1]
    with pytest.raises(StackrunError) as caught:
        validate.target("1.19")
    assert str(caught.value) == (
        f"--k8s-version 1.19: the schemas at hand are those of Kubernetes {oldest} to "
        f"{newest}: choose one of those (e.g. {newest}), or upgrade kubernetes-validate"
    )


def test_missing_validator_is_explained(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "kubernetes_validate", None)
    with pytest.raises(StackrunError) as caught:
        validate.target(None)
    assert str(caught.value) == (
        "converting to Kubernetes checks every object against the official schemas, which "
        "the kubernetes-validate package holds: pip install 'stackrun[kubernetes]'"
    )
