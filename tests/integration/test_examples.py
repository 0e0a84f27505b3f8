"""The examples, run for real with `stackrun up -d`.

webapp: the API answers at its address on the stack's bridge (a network namespace this test
made) and on the published port, items go to the store by name, the worker does a job, and
the store's data outlives `down` (its named volume) but not `down -v`.
jobs: the migration runs first, three read-only replicas share the tasks, the poison task
costs one restart and lands in failed/.
profiles: the probe sees what the file asks for: names, extra_hosts, no capabilities.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stackrun import dirs
from tests.helpers.waiting import free_port, wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def http(address: str, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://{address}{path}", data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError as error:  # not listening yet, or the forwarder found nobody
        return None, str(error)


def make_stack(project, example: str, **environment: str):
    """run(verb, *args) for this project and the example's file; `down -v` when done."""
    env = project.env(**environment)
    stack_file = str(EXAMPLES / example / "stack.yaml")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        argv = project.cli(args[0], "--file", stack_file, *args[1:])
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        if check:
            assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"
        return done

    def inspect(service: str) -> dict:
        return json.loads(run("inspect", service, "--format", "json").stdout)[0]

    def address_of(service: str, port: int) -> str:
        """host:port of an instance on the stack's bridge, as `stackrun inspect` reports it."""
        return f"{inspect(service)['Networks']['default']['IPAddress'].split('/')[0]}:{port}"

    run.inspect, run.address_of = inspect, address_of
    return run


@pytest.fixture
def stack(project):
    """The webapp stack, published on a free port."""
    port = free_port()
    run = make_stack(project, "webapp", WEBAPP_PORT=str(port))
    run.port = port
    try:
        yield run
    finally:
        run("down", "-v", check=False)


def healthy_api(stack) -> str:
    api = stack.address_of("api", 8000)
    wait_until(lambda: http(api, "GET", "/health")[0] == 200, "the API's health", timeout=30)
    return api


def test_webapp_serves_items_and_jobs_and_keeps_its_data(stack):
    stack("up", "-d")
    api = healthy_api(stack)
    assert http(api, "POST", "/items", {"name": "pen"}) == (201, {"id": 1, "name": "pen"})
    status, job = http(api, "POST", "/jobs", {"text": "three little words"})
    assert status == 202

    def finished():
        _, body = http(api, "GET", f"/jobs/{job['id']}")
        return body if isinstance(body, dict) and body.get("status") == "done" else None

    assert wait_until(finished, "the worker to finish the job", timeout=30)["result"]["words"] == 3

    stack("down")  # the store saves its snapshot on SIGTERM; the volume stays
    stack("up", "-d")
    assert http(healthy_api(stack), "GET", "/items") == (200, [{"id": 1, "name": "pen"}])

    stack("down", "-v")
    stack("up", "-d")
    assert http(healthy_api(stack), "GET", "/items") == (200, [])


def test_webapp_api_is_published_on_the_host(stack):
    stack("up", "-d")
    healthy_api(stack)
    published = f"127.0.0.1:{stack.port}"  # WEBAPP_PORT -> the API's port 8000
    wait_until(
        lambda: http(published, "GET", "/health")[0] == 200, "the published port", timeout=10
    )
    assert http(published, "POST", "/items", {"name": "ink"}) == (201, {"id": 1, "name": "ink"})


# ---------------------------------------------------------------- jobs


def test_jobs_migrate_first_then_replicas_share_the_tasks(project):
    run = make_stack(project, "jobs", PRODUCER_COUNT="12", PRODUCER_INTERVAL="0.05")
    spool = dirs.volumes_dir(project.name) / "spool" / "spool"
    try:
        run("up", "-d")

        def done():
            return len(list((spool / "done").glob("*.json"))) == 11

        wait_until(done, "11 results (task 7 is poison)", timeout=30)
        failed = wait_until(
            lambda: list((spool / "failed").glob("*.json")), "the poison task", timeout=30
        )
        assert len(failed) == 1
        results = [json.loads(p.read_text()) for p in (spool / "done").glob("*.json")]
        workers = {f"{project.name}-worker-{n}" for n in (1, 2, 3)}  # their hostnames
        assert {r["worker"] for r in results} <= workers
        restarts = [run.inspect(f"worker-{n}")["RestartCount"] for n in (1, 2, 3)]
        assert sorted(restarts) == [0, 0, 1]
        assert run.inspect("worker-1")["Config"]["ReadOnly"] is True
        assert run.inspect("migrate")["State"]["ExitCode"] == 0
    finally:
        run("down", "-v", check=False)


# ---------------------------------------------------------------- profiles


def test_profiles_probe_sees_names_extra_hosts_and_no_capabilities(project):
    run = make_stack(project, "profiles", SITE_PORT=str(free_port()))
    try:
        run("up", "-d", "--profile", "debug")

        def finished():
            return run.inspect("probe")["State"]["ExitCode"] is not None

        wait_until(finished, "the probe to finish", timeout=30)
        lines = run("logs", "probe", "--no-log-prefix", "--no-color").stdout.splitlines()
        assert "probe: metrics.internal -> 192.0.2.10" in lines
        site = next(line for line in lines if line.startswith("probe: site -> "))
        assert site.replace("site", "www", 1) in lines  # both aliases name the web service
        assert "probe: CapEff 0000000000000000" in lines
        assert "probe: open files limit 1024/1024" in lines
        assert "probe: $GREETING = 'hello from .env'" in lines
        assert run("ps", "--services").stdout.split() == ["web"]  # loadgen: profile tools
    finally:
        run("down", "-v", check=False)


# ---------------------------------------------------------------- images


def test_images_example_runs_from_an_image_it_builds_and_loads_offline(project, tmp_path):
    """build.py makes the archive from local files, `load` stores it, and two services run
    from it: the page and the CGI of the image, a volume that took the image's count."""
    archive = tmp_path / "images.tar"
    build = [sys.executable, str(EXAMPLES / "images" / "build.py"), str(archive)]
    subprocess.run(build, check=True, capture_output=True, timeout=60)
    load = project.cli("load", "-i", str(archive))
    done = subprocess.run(
        load, env=project.env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    port = free_port()
    run = make_stack(project, "images", IMAGES_PORT=str(port))
    published = f"127.0.0.1:{port}"

    def counted(what: str, field: str = "visits") -> dict:
        return wait_until(lambda: visits(published, field), what, timeout=30)

    try:
        run("up", "-d", "--wait")
        first = counted("the CGI through the published port")
        served_by = f"{project.name}-web-1"  # its hostname: the instance name
        assert (first["visits"], first["served_by"], first["user"]) == (1, served_by, "www")
        counted("the ticker's time in the volume", "ticker")
        assert run("ps", "--format", "json").stdout.count('"Image": "example/site:1"') == 2
        stats = wait_until(lambda: _stats_line(run), "stats' line: its built image runs", 30)
        assert stats.startswith("visits counted by web: ")  # the ARG baked in by the build
        assert "CACHED RUN" in run("build").stderr  # built by `up`; again: nothing runs
        assert run.inspect("ticker")["Config"]["ReadOnly"] is True
        run("down")
        run("up", "-d", "--wait")
        assert counted("the CGI again")["visits"] >= 3  # kept
        run("down", "-v")
        run("up", "-d", "--wait")
        assert counted("the CGI afresh")["visits"] == 1
    finally:
        run("down", "-v", check=False)


def _stats_line(run) -> str | None:
    lines = run("logs", "--no-log-prefix", "stats").stdout.splitlines()
    return lines[-1] if lines else None


def visits(address: str, field: str = "visits") -> dict | None:
    """The CGI's answer (each call is a visit), once it holds `field`."""
    status, body = http(address, "GET", "/cgi-bin/visits")
    return body if status == 200 and body.get(field) else None
