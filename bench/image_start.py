"""What running from an image costs: the warm start of an image service against a
host-command service, and 30 instances of one image sharing its layers.

    python bench/image_start.py [--rounds 15] [--layers 5] [--instances 30] [--podman]

warm start (the image already in the store, its layers unpacked), median of --rounds:
  spawn       through the fork server, as the supervisor starts an instance: cgroup,
              instance files (and the writable layer's directories), namespaces, mounts
              (the overlay of the image's layers and pivot_root, or the host's root made
              read-only), exec of `sleep`; the image one also read_only (no writable layer)
  up -d       `stackrun up -d` of a one-service stack, CLI to return (the CLI finds the
              image in the store, then plans, starts the supervisor, waits for the start)
  podman      with --podman: `podman run -d` of the same image (loaded into a private
              podman root, --runtime runc), the tool Compose users reach for
The target: an image service starts at most 10 ms later than a host command.

30 instances: `up -d` of one service with deploy.replicas 30 from an image whose layers
hold --mib of files; `du` of the store, of the writable layers and of the whole data
root before and after, against what 30 copies of the image would take.

Needs root. Everything lives under a temporary data/run root, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stackrun import dirs
from stackrun.images.reference import parse_reference
from stackrun.images.store import Store
from stackrun.plan.image import image_plan
from stackrun.plan.model import ImagePlan, Limits, ServicePlan
from stackrun.plan.names import ProjectNames
from stackrun.runtime import instance, linux
from stackrun.runtime.cgroups import detect
from stackrun.runtime.spawn import ForkServer, Spawned, SpawnRequest
from tests.helpers.imagestore import store_image
from tests.helpers.oci import File, Image, Layer, busybox_layer, docker_archive, write_layout

REPO = Path(__file__).resolve().parent.parent
REFERENCE = "localhost:5000/bench/app:1"
# podman's default rlimits exceed this sandbox's hard limits (runc: "error setting rlimit")
LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
CAPS = frozenset({"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETUID",
                  "CAP_SETGID", "CAP_NET_BIND_SERVICE"})  # fmt: skip


def bench_image(layers: int, mib: int) -> Image:
    """busybox, then layers of files: half random bytes, half text (like real layers)."""
    rng, extra = random.Random(7), []
    per_layer = (mib << 20) // max(layers - 1, 1)
    for index in range(layers - 1):
        half = per_layer // 2
        extra.append(Layer([File(f"data/{index}", rng.randbytes(half) + b"x" * half)], "gzip"))
    return Image([busybox_layer(), *extra], cmd=("sleep", "1000"), env=("PATH=/bin",))


# ---------------------------------------------------------------- spawn, through the fork server


class Spawns:
    def __init__(self, server: ForkServer, names: ProjectNames):
        self.server, self.names, self.driver = server, names, detect()
        self.null = os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC)

    def plan(self, name: str, image: ImagePlan | None, read_only: bool = False) -> ServicePlan:
        argv = ("sleep", "1000") if image else ("/bin/sleep", "1000")
        return ServicePlan(name=name, service=name, replica=1, argv=argv, env=(("PATH", "/bin"),),
                           network_mode="none", capabilities=CAPS, image=image,
                           read_only=read_only, cgroup=self.names.cgroup(name))  # fmt: skip

    def start_ms(self, plan: ServicePlan) -> tuple[float, Spawned]:
        began = time.perf_counter()
        self.driver.create(plan.cgroup, Limits(pids=100))
        where = instance.prepare(self.names.project, plan)
        request = SpawnRequest(plan, self.driver.procs_files(plan.cgroup), where.root,
                               layer_dir=where.disk)  # fmt: skip
        spawned = self.server.spawn(request, self.null, self.null)
        return (time.perf_counter() - began) * 1000, spawned

    def median_ms(self, kind: str, image: ImagePlan | None, runs: int, **extra) -> float:
        times, started = [], []
        for index in range(runs):
            elapsed, spawned = self.start_ms(self.plan(f"{kind}{index}", image, **extra))
            times.append(elapsed)
            started.append(spawned)
        for spawned in started:
            signal.pidfd_send_signal(spawned.pidfd, signal.SIGKILL)
            os.waitid(os.P_PIDFD, spawned.pidfd, os.WEXITED)
            spawned.close()
        self.driver.remove(self.names.cgroup_dir)
        shutil.rmtree(dirs.run_dir(self.names.project), ignore_errors=True)
        shutil.rmtree(dirs.layers_dir(self.names.project), ignore_errors=True)
        return statistics.median(times)


def spawn_figures(image: ImagePlan, rounds: int) -> dict[str, float]:
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    server = ForkServer.start()
    spawns = Spawns(server, ProjectNames(f"b{uuid.uuid4().hex[:8]}"))
    try:
        spawns.median_ms("w", image, 3)  # warm the fork server and the page cache
        columns = [[], [], []]
        for _ in range(rounds):
            columns[0].append(spawns.median_ms("h", None, 5))
            columns[1].append(spawns.median_ms("i", image, 5))
            columns[2].append(spawns.median_ms("r", image, 5, read_only=True))
        return dict(
            zip(("host", "image", "image ro"), map(statistics.median, columns), strict=True)
        )
    finally:
        os.close(spawns.null)
        server.close()


# ---------------------------------------------------------------- up -d, through the CLI


def stackrun(directory: Path, *args: str) -> float:
    argv = [sys.executable, "-m", "stackrun", "-f", str(directory / "stack.yaml"), *args]
    began = time.perf_counter()
    done = subprocess.run(argv, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"stackrun {' '.join(args)} failed: {done.stderr[-2000:]}")
    return (time.perf_counter() - began) * 1000


def up_figures(work: Path, rounds: int) -> dict[str, float]:
    stacks = {
        "host": "  app:\n    command: [/bin/sleep, '1000']\n    network_mode: none\n",
        "image": f"  app:\n    image: {REFERENCE}\n    network_mode: none\n",
    }
    times: dict[str, list[float]] = {kind: [] for kind in stacks}
    for index in range(rounds + 1):
        for kind, service in stacks.items():
            directory = work / f"up-{kind}"
            directory.mkdir(exist_ok=True)
            (directory / "stack.yaml").write_text(f"name: bup{kind}\nservices:\n{service}")
            elapsed = stackrun(directory, "up", "-d")
            stackrun(directory, "down", "-t", "0")
            if index:  # the first round warms the caches
                times[kind].append(elapsed)
    return {kind: statistics.median(values) for kind, values in times.items()}


def podman_ms(archive: Path, work: Path, rounds: int) -> float:
    runroot = tempfile.mkdtemp(prefix="podman-", dir="/tmp")  # podman: at most 50 characters
    base = ["podman", "--root", str(work / "podman"), "--runroot", runroot,
            "--runtime", "runc", "--storage-driver", "overlay"]  # fmt: skip
    try:
        subprocess.run([*base, "load", "-q", "-i", str(archive)], check=True, capture_output=True)
        times = []
        for index in range(rounds + 1):
            began = time.perf_counter()
            run = [*base, "run", "-d", "--network", "none", *LIMITS, REFERENCE, "sleep", "1000"]
            container = subprocess.run(run, check=True, capture_output=True, text=True).stdout
            elapsed = (time.perf_counter() - began) * 1000
            rm = [*base, "rm", "-f", "-t", "0", container.strip()]
            subprocess.run(rm, check=True, capture_output=True)
            if index:
                times.append(elapsed)
        return statistics.median(times)
    finally:
        subprocess.run([*base, "system", "reset", "--force"], check=False, capture_output=True)
        shutil.rmtree(runroot, ignore_errors=True)


# ---------------------------------------------------------------- 30 instances


def du(path: Path) -> int:
    """Bytes on disk (`du -s`: hard links and shared extents counted once)."""
    if not path.exists():
        return 0
    done = subprocess.run(["du", "-s", "--block-size=1", str(path)], capture_output=True,
                          text=True, check=True)  # fmt: skip
    return int(done.stdout.split()[0])


def instances_figures(work: Path, count: int) -> dict[str, int]:
    directory = work / "many"
    directory.mkdir()
    service = f"  app:\n    image: {REFERENCE}\n    network_mode: none\n"
    service += f"    deploy: {{replicas: {count}}}\n"
    (directory / "stack.yaml").write_text(f"name: bmany\nservices:\n{service}")
    data = dirs.data_root()
    before = {"store": du(dirs.image_root()), "data": du(data)}
    stackrun(directory, "up", "-d")
    try:
        after = {
            "store": du(dirs.image_root()),
            "layers": du(dirs.layers_dir("bmany")),
            "data": du(data),
            "layer dirs": len(os.listdir(dirs.image_root() / "layers")),
        }
    finally:
        stackrun(directory, "down", "-t", "0")
    return {**{f"{k} before": v for k, v in before.items()}, **after}


# ---------------------------------------------------------------- main


def main() -> None:
    options = _options()
    work = Path(tempfile.mkdtemp(prefix="stackrun-bench-images-", dir="/var/tmp"))
    os.environ[dirs.DATA_ROOT_ENV] = str(work / "data")
    os.environ[dirs.RUN_ROOT_ENV] = str(work / "run")
    try:
        image = bench_image(options.layers, options.mib)
        with Store() as store:
            record = store_image(store, image, REFERENCE, work / "oci")
        plan = image_plan(parse_reference(REFERENCE), record)
        spawn = spawn_figures(plan, options.rounds)
        up = up_figures(work, options.rounds)
        podman = None
        if options.podman:
            write_layout(work / "layout", {"v1": image})
            docker_archive(work / "layout", "v1", work / "image.tar", REFERENCE)
            podman = podman_ms(work / "image.tar", work, options.rounds)
        many = instances_figures(work, options.instances)
        report(options, record, spawn, up, podman, many)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(options, record, spawn, up, podman, many) -> None:
    size = record.size
    print(f"image bench: {len(record.layers)} layers, {size / 2**20:.1f} MiB unpacked, "
          f"{options.rounds} rounds, {os.cpu_count()} CPUs (medians, ms)")  # fmt: skip
    print(f"  spawn to exec   host command {spawn['host']:7.2f}   image {spawn['image']:7.2f}"
          f"   ({spawn['image'] - spawn['host']:+.2f})   image read_only {spawn['image ro']:7.2f}"
          f"   ({spawn['image ro'] - spawn['host']:+.2f})")  # fmt: skip
    print(f"  up -d           host command {up['host']:7.2f}   image {up['image']:7.2f}"
          f"   ({up['image'] - up['host']:+.2f}, ratio {up['image'] / up['host']:.2f})")  # fmt: skip
    if podman is not None:
        print(f"  podman run -d   {podman:7.2f}   stackrun up -d of the image / podman: "
              f"{up['image'] / podman:.2f}")  # fmt: skip
    n, mib = options.instances, 2**20
    grew = many["store"] - many["store before"]
    print(f"  {n} instances of one image: store {many['store before'] / mib:.1f} MiB before, "
          f"{many['store'] / mib:.1f} MiB after (+{grew / 1024:.0f} KiB), "
          f"{many['layer dirs']} layer directories")  # fmt: skip
    print(f"    writable layers of the {n}: {many['layers'] / 1024:.0f} KiB in all "
          f"({many['layers'] / n / 1024:.1f} KiB each); data root "
          f"{many['data before'] / mib:.1f} -> {many['data'] / mib:.1f} MiB; "
          f"{n} copies of the image would take {n * size / mib:.0f} MiB")  # fmt: skip


def _options():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--mib", type=int, default=20, help="MiB of files in the layers")
    parser.add_argument("--instances", type=int, default=30)
    parser.add_argument("--podman", action="store_true", help="also time `podman run -d`")
    return parser.parse_args()


if __name__ == "__main__":
    main()
