"""What each key becomes, asserted on the objects (every one also validated): the meaning
the service had under stackrun is the meaning it has in the cluster, or a note says not."""

from __future__ import annotations

import re

import pytest

IMAGE = "    image: nginx:1.27\n"


def kubelet_expansion(text: str, env: dict[str, str]) -> str:
    """What the kubelet makes of command, args and env values: `$$` is `$`, `$(NAME)` is
    NAME's value when defined (Kubernetes' expansion rules)."""

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, text)


def container(objects, name: str, kind: str = "Deployment") -> dict:
    return objects[(kind, name)]["spec"]["template"]["spec"]["containers"][0]


def pod(objects, name: str, kind: str = "Deployment") -> dict:
    return objects[(kind, name)]["spec"]["template"]["spec"]


# ---------------------------------------------------------------- environment and command


def test_the_process_sees_the_values_it_saw_under_stackrun(convert_dir):
    objects = convert_dir.objects(
        "services:\n  api:\n" + IMAGE + "    restart: always\n"
        "    command: [sh, -c, 'echo $$HOME $$(HOME) $$$$']\n"
        "    environment:\n      HOME: /root\n      PRICE: 'costs $$5 or $$(HOME)'\n"
    )
    spec = container(objects, "api")
    env = {e["name"]: e["value"] for e in spec["env"]}
    seen = {name: kubelet_expansion(value, {"HOME": "/root"}) for name, value in env.items()}
    assert seen == {"HOME": "/root", "PRICE": "costs $5 or $(HOME)"}
    assert [kubelet_expansion(a, env) for a in spec["args"]] == [
        "sh",
        "-c",
        "echo $HOME $(HOME) $$",
    ]


def test_env_file_values_come_from_a_shared_config_map_and_environment_wins(convert_dir):
    convert_dir.write("common.env", "MODE=staging\nWORKERS=4\n")
    objects = convert_dir.objects(
        "services:\n"
        "  api:\n" + IMAGE + "    restart: always\n    env_file: [common.env]\n"
        "    environment: {MODE: production, EXTRA: '1'}\n"
        "  worker:\n" + IMAGE + "    restart: always\n    env_file: [common.env]\n"
    )
    assert objects[("ConfigMap", "common-env")]["data"] == {"MODE": "staging", "WORKERS": "4"}
    for name, effective in (
        ("api", {"MODE": "production", "WORKERS": "4", "EXTRA": "1"}),
        ("worker", {"MODE": "staging", "WORKERS": "4"}),
    ):
        spec = container(objects, name)
        assert spec["envFrom"] == [{"configMapRef": {"name": "common-env"}}]
        # Kubernetes: envFrom first, then env over it
        assert name != "worker" or "env" not in spec  # nothing said twice
        values = {**objects[("ConfigMap", "common-env")]["data"]}
        values.update({e["name"]: e["value"] for e in spec.get("env", [])})
        assert values == effective


def test_entrypoint_is_command_and_command_is_args(convert_dir):
    spec = container(
        convert_dir.objects(
            "services:\n  api:\n" + IMAGE + "    restart: always\n"
            "    entrypoint: [/bin/tini, --]\n    command: [nginx, -g, 'daemon off;']\n"
            "    working_dir: /srv\n"
        ),
        "api",
    )
    assert (spec["command"], spec["args"], spec["workingDir"]) == (
        ["/bin/tini", "--"],
        ["nginx", "-g", "daemon off;"],
        "/srv",
    )


# ---------------------------------------------------------------- which controller


@pytest.mark.parametrize(
    ("service", "kind"),
    [
        ("    restart: always\n", "Deployment"),
        ("    restart: unless-stopped\n", "Deployment"),
        ("    restart: on-failure\n", "Deployment"),
        ("    restart: 'no'\n", "Job"),
        ("", "Job"),  # runs once in Compose, serves nothing
        ("    expose: ['80']\n", "Deployment"),  # serves: kept running
        ("    healthcheck: {test: [CMD, 'true']}\n", "Deployment"),
        ("    restart: always\n    volumes: ['data:/data']\n", "StatefulSet"),
        ("    restart: always\n    scale: 2\n    volumes: ['data:/data']\n", "Deployment"),
        ("    restart: always\n    volumes: ['data:/data:ro']\n", "Deployment"),
    ],
)
def test_controller(convert_dir, service, kind):
    objects = convert_dir.objects(
        "services:\n  api:\n" + IMAGE + service + "volumes:\n  data: {}\n"
    )
    assert (kind, "api") in objects


def test_a_service_others_wait_to_complete_is_a_job_restarted_on_failure(convert_dir):
    objects = convert_dir.objects(
        "services:\n"
        "  migrate:\n" + IMAGE + "    restart: on-failure:4\n    scale: 2\n"
        "  api:\n" + IMAGE + "    restart: always\n"
        "    depends_on: {migrate: {condition: service_completed_successfully}}\n"
    )
    job = objects[("Job", "migrate")]["spec"]
    assert (job["completions"], job["parallelism"], job["backoffLimit"]) == (2, 2, 4)
    assert job["template"]["spec"]["restartPolicy"] == "OnFailure"


def test_restart_no_is_a_job_never_restarted(convert_dir):
    job = convert_dir.objects("services:\n  once:\n" + IMAGE + "    restart: 'no'\n")
    spec = job[("Job", "once")]["spec"]
    assert (spec["backoffLimit"], spec["template"]["spec"]["restartPolicy"]) == (0, "Never")


# ---------------------------------------------------------------- volumes


def test_a_volume_of_several_pods_asks_for_read_write_many(convert_dir):
    conversion = convert_dir.convert(
        "services:\n"
        "  a:\n" + IMAGE + "    restart: always\n    volumes: ['shared:/s', 'own:/o']\n"
        "  b:\n" + IMAGE + "    restart: always\n    volumes: ['shared:/s']\n"
        "volumes:\n  shared: {}\n  own: {}\n"
    )
    claims = {o["metadata"]["name"]: o for o in conversion.objects if o["kind"] != "Deployment"}
    assert claims["shared"]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claims["own"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert convert_dir.notes(conversion) == [
        (
            "stack.yaml:11:3: volumes.shared: note: mounted by 2 pods: its claim asks for "
            "ReadWriteMany, which needs a storage class that offers it (NFS, CephFS, a cloud "
            "file store)"
        )
    ]


def test_an_external_volume_is_claimed_by_name_and_not_created(convert_dir):
    objects = convert_dir.objects(
        "services:\n  a:\n" + IMAGE + "    restart: always\n    volumes: ['data:/d']\n"
        "volumes:\n  data: {external: true, name: team-data}\n"
    )
    assert ("PersistentVolumeClaim", "team-data") not in objects
    assert pod(objects, "a")["volumes"] == [
        {"name": "team-data", "persistentVolumeClaim": {"claimName": "team-data"}}
    ]
    assert objects[("Deployment", "a")]["spec"]["strategy"] == {"type": "Recreate"}


def test_tmpfs_and_anonymous_volumes_are_empty_dirs(convert_dir):
    spec = pod(
        convert_dir.objects(
            "services:\n  a:\n" + IMAGE + "    restart: always\n"
            "    tmpfs: ['/run', '/tmp:size=64m,mode=1777']\n"
            "    volumes: [{type: volume, target: /cache}]\n"
        ),
        "a",
    )
    assert {v["name"]: v["emptyDir"] for v in spec["volumes"]} == {
        "scratch-cache": {},
        "tmpfs-run": {"medium": "Memory"},
        "tmpfs-tmp": {"medium": "Memory", "sizeLimit": "64Mi"},
    }


def test_bind_mounts_as_config_maps_keep_the_tree_and_the_modes(convert_dir):
    site = convert_dir.root / "site"
    (site / "css").mkdir(parents=True)
    (site / "index.html").write_text("<h1>hi</h1>\n")
    (site / "css" / "main.css").write_text("h1 { color: red }\n")
    (site / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff")
    (site / "run.sh").write_text("#!/bin/sh\n")
    (site / "run.sh").chmod(0o755)
    objects = convert_dir.objects(
        "services:\n  web:\n" + IMAGE + "    restart: always\n"
        "    volumes: ['./site:/usr/share/nginx/html:ro', './site/index.html:/index.html:ro']\n",
        binds_as_configmaps=True,
    )
    files = objects[("ConfigMap", "site-files")]
    assert files["data"] == {
        "css__main.css": "h1 { color: red }\n",
        "index.html": "<h1>hi</h1>\n",
        "run.sh": "#!/bin/sh\n",
    }
    assert files["binaryData"] == {"logo.png": "iVBORw0KGgr/"}
    volumes = {v["name"]: v["configMap"] for v in pod(objects, "web")["volumes"]}
    assert volumes["site-files"]["items"] == [
        {"key": "css__main.css", "path": "css/main.css"},
        {"key": "index.html", "path": "index.html"},
        {"key": "logo.png", "path": "logo.png"},
        {"key": "run.sh", "path": "run.sh", "mode": 0o755},
    ]
    mounts = container(objects, "web")["volumeMounts"]
    assert mounts[1] == {
        "name": "site-index-html-file",
        "mountPath": "/index.html",
        "readOnly": True,
        "subPath": "index.html",
    }


# ---------------------------------------------------------------- ports and names


def test_ports_keep_their_meaning_inside_and_are_published_as_asked(convert_dir):
    text = (
        "services:\n  web:\n" + IMAGE + "    restart: always\n"
        "    ports: ['8080:80', '127.0.0.1:9000:9000', '30053:53/udp']\n"
    )
    objects = convert_dir.objects(text, published_as="nodeport")
    inside = objects[("Service", "web")]["spec"]
    assert [(p["port"], p["targetPort"], p["protocol"]) for p in inside["ports"]] == [
        (80, 80, "TCP"),
        (9000, 9000, "TCP"),
        (53, 53, "UDP"),
    ]
    outside = objects[("Service", "web-published")]["spec"]
    assert outside["type"] == "NodePort"
    assert outside["ports"] == [
        {"name": "tcp-8080", "port": 8080, "targetPort": 80, "protocol": "TCP"},
        {
            "name": "udp-30053",
            "port": 30053,
            "targetPort": 53,
            "protocol": "UDP",
            "nodePort": 30053,
        },
    ]
    balanced = convert_dir.objects(text, published_as="loadbalancer")
    assert balanced[("Service", "web-published")]["spec"]["type"] == "LoadBalancer"
    kept_inside = convert_dir.convert(text)
    assert ("Service", "web-published") not in {
        (o["kind"], o["metadata"]["name"]) for o in kept_inside.objects
    }
    assert convert_dir.notes(kept_inside) == [
        (
            "stack.yaml:5:5: services.web.ports: note: published ports are reachable inside the "
            "cluster only: kubectl port-forward service/web 8080:80 30053:53, or convert with "
            "--published-as nodeport (or loadbalancer)"
        ),
        (
            "stack.yaml:5:24: services.web.ports[1]: note: published on 127.0.0.1 only: kept "
            "inside the cluster"
        ),
    ]


def test_aliases_are_services_and_names_become_dns_labels(convert_dir):
    conversion = convert_dir.convert(
        "services:\n  My_Web:\n" + IMAGE + "    restart: always\n    expose: ['80']\n"
        "    networks: {default: {aliases: [site, WWW]}}\n"
    )
    services = {o["metadata"]["name"] for o in conversion.objects if o["kind"] == "Service"}
    assert services == {"my-web", "site", "www"}
    assert convert_dir.notes(conversion) == [
        (
            "stack.yaml:2:3: services.My_Web: note: 'My_Web' is named 'my-web' in Kubernetes (no "
            "'_' or '.' in its names): other services must reach it as 'my-web'"
        )
    ]


def test_only_the_selected_services_and_what_they_use(convert_dir):
    conversion = convert_dir.convert(
        "services:\n"
        "  a:\n" + IMAGE + "    restart: always\n    volumes: ['one:/d']\n"
        "  b:\n" + IMAGE + "    restart: always\n    volumes: ['two:/d']\n"
        "volumes:\n  one: {}\n  two: {}\n",
        services=("b",),
        namespace="team",
    )
    assert [(o["kind"], o["metadata"]["name"]) for o in conversion.objects] == [
        ("PersistentVolumeClaim", "two"),
        ("StatefulSet", "b"),
    ]
    assert {o["metadata"]["namespace"] for o in conversion.objects} == {"team"}


# ---------------------------------------------------------------- dependencies and health


def test_a_healthy_dependency_is_waited_for_at_its_service(convert_dir):
    conversion = convert_dir.convert(
        "services:\n"
        "  db:\n" + IMAGE + "    expose: ['5432', '9187']\n"
        "    healthcheck: {test: [CMD, pg_isready]}\n"
        "  api:\n" + IMAGE + "    restart: always\n"
        "    depends_on: {db: {condition: service_healthy}, cache: {condition: service_started}}\n"
        "  cache:\n" + IMAGE + "    expose: ['6379']\n",
        wait_image="registry.local/tools:1",
    )
    api = next(o for o in conversion.objects if o["metadata"]["name"] == "api")
    assert api["spec"]["template"]["spec"]["initContainers"] == [
        {
            "name": "wait-for-db",
            "image": "registry.local/tools:1",
            "command": [
                "sh",
                "-c",
                "until nc -z -w 2 db 5432; do echo waiting for db:5432; sleep 2; done",
            ],
        }
    ]


def test_a_wait_never_takes_the_name_of_the_container(convert_dir):
    objects = convert_dir.objects(
        "services:\n"
        "  db:\n" + IMAGE + "    expose: ['5432']\n    healthcheck: {test: [CMD, x]}\n"
        "  wait-for-db:\n" + IMAGE + "    restart: always\n"
        "    depends_on: {db: {condition: service_healthy}}\n"
    )
    spec = pod(objects, "wait-for-db")
    assert [c["name"] for c in spec["initContainers"] + spec["containers"]] == [
        "wait-for-db-2",
        "wait-for-db",
    ]


def test_probes_follow_the_healthcheck(convert_dir):
    objects = convert_dir.objects(
        "services:\n"
        "  plain:\n" + IMAGE + "    healthcheck: {test: [CMD, check]}\n"
        "  restarted:\n" + IMAGE + "    healthcheck:\n      test: [CMD, check]\n"
        "      interval: 2s\n      timeout: 500ms\n      retries: 2\n      start_period: 4s\n"
        "      start_interval: 1s\n    x-stackrun: {restart_on_unhealthy: true}\n"
        "  off:\n"
        + IMAGE
        + "    expose: ['80']\n    healthcheck: {test: [CMD, check], disable: true}\n"
    )
    plain = container(objects, "plain")
    assert plain["readinessProbe"] == {
        "exec": {"command": ["check"]},
        "periodSeconds": 30,
        "timeoutSeconds": 30,
        "failureThreshold": 3,
    }
    assert "livenessProbe" not in plain and "startupProbe" not in plain
    restarted = container(objects, "restarted")
    steady = {"exec": {"command": ["check"]}, "periodSeconds": 2, "timeoutSeconds": 1}
    assert (
        restarted["livenessProbe"]
        == restarted["readinessProbe"]
        == {
            **steady,
            "failureThreshold": 2,
        }
    )
    # unhealthy in Compose after 4s + 2 x 2s without a pass: 8 checks, one a second
    assert restarted["startupProbe"] == {**steady, "periodSeconds": 1, "failureThreshold": 8}
    assert not {"readinessProbe", "livenessProbe"} & set(container(objects, "off"))


# ---------------------------------------------------------------- the pod and its security


def test_security_and_pod_settings(convert_dir):
    objects = convert_dir.objects(
        "services:\n  api:\n" + IMAGE + "    restart: always\n"
        "    user: '1000:1000'\n    read_only: true\n    init: true\n"
        "    cap_drop: [ALL]\n    cap_add: [cap_net_bind_service]\n"
        "    security_opt: [no-new-privileges, seccomp=unconfined]\n"
        "    hostname: api-host\n    stop_grace_period: 2500ms\n"
        "    extra_hosts: ['a.internal=192.0.2.1', 'b.internal=192.0.2.1', 'c.internal=192.0.2.2']\n"
        "    dns: [1.1.1.1]\n"
    )
    assert container(objects, "api")["securityContext"] == {
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "seccompProfile": {"type": "Unconfined"},
    }
    spec = pod(objects, "api")
    assert spec["shareProcessNamespace"] is True
    assert spec["terminationGracePeriodSeconds"] == 3
    assert spec["hostname"] == "api-host"
    assert spec["hostAliases"] == [
        {"ip": "192.0.2.1", "hostnames": ["a.internal", "b.internal"]},
        {"ip": "192.0.2.2", "hostnames": ["c.internal"]},
    ]
    assert spec["dnsConfig"] == {"nameservers": ["1.1.1.1"]}


def test_resources(convert_dir):
    objects = convert_dir.objects(
        "services:\n"
        "  a:\n" + IMAGE + "    restart: always\n    cpus: 1.5\n    mem_limit: 1g\n"
        "    mem_reservation: 300000000\n    cpu_shares: 256\n"
        "  b:\n" + IMAGE + "    restart: always\n    deploy:\n      resources:\n"
        "        limits: {cpus: '0.001', memory: 100m}\n        reservations: {cpus: '0.0001'}\n"
    )
    assert container(objects, "a")["resources"] == {
        "limits": {"cpu": "1500m", "memory": "1Gi"},
        "requests": {"cpu": "250m", "memory": "300000000"},
    }
    assert container(objects, "b")["resources"] == {
        "limits": {"cpu": "1m", "memory": "100Mi"},
        "requests": {"cpu": "1m"},
    }
