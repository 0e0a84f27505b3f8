"""Start cost of a service through the fork server, against plain `unshare` as the floor.

    python bench/spawn.py [--services 30] [--rounds 5] [--network none|bridge] [--workers 8]
                          [--userns private|host|both]

Per round it measures:
  floor       `unshare --pid --fork --mount --uts --ipc --net true`, run and waited for
  true        one service running /bin/true: cgroup created, instance files written,
              spawned (namespaces, network, mounts, privileges), exec'd, exited, reaped
  start       the same for a `sleep` service, up to exec (what `up` waits for)
  N up        N `sleep` services started from a pool of worker threads (as the
              supervisor's to_thread does): time until every one has exec'd
  N down      SIGKILL through the pidfds, reap, remove the cgroups
and prints the median over the rounds, the cost beyond the floor, and the RSS of this
process (the supervisor's side) and of the fork server. `--userns both` runs every
round once in a user namespace (the default) and once as the host's root, interleaved,
and prints what the user namespace costs per service. Needs root; everything it
creates (cgroups, bridge, run directory, subuid files of its own) carries a unique
project name and is removed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stackrun import dirs
from stackrun.plan.model import Limits, MemberRequest, NetworkRequest, ServicePlan
from stackrun.plan.names import ProjectNames
from stackrun.runtime import instance, linux
from stackrun.runtime.cgroups import detect
from stackrun.runtime.spawn import ForkServer, Spawned, SpawnRequest
from stackrun.runtime.userns import ledger

FLOOR = ("unshare", "--pid", "--fork", "--mount", "--uts", "--ipc", "--net", "true")
CAPS = frozenset(
    {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_KILL",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_NET_BIND_SERVICE",
    }
)


class Bench:
    def __init__(
        self, server: ForkServer, names: ProjectNames, network: str, services: int, userns: str
    ):
        self.server, self.names, self.network, self.userns = server, names, network, userns
        self.ids = ledger.allocate(names.project) if userns == "private" else None
        self.driver = detect()
        self.null = os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC)
        self.layout = _network_layout(names, services) if network == "bridge" else None

    def plan(self, name: str, argv: tuple[str, ...]) -> ServicePlan:
        extra = {}
        if self.layout:
            extra = dict(networks=self.layout.attachments[name], hosts=self.layout.hosts[name])
        return ServicePlan(
            name=name,
            service=name,
            replica=1,
            argv=argv,
            env=(),
            network_mode=self.network,
            userns=self.userns,
            capabilities=CAPS,
            cgroup=self.names.cgroup(name),
            **extra,
        )

    def start(self, plan: ServicePlan) -> Spawned:
        """What the supervisor does per instance: cgroup, instance files, spawn."""
        self.driver.create(plan.cgroup, Limits(pids=100))
        where = instance.prepare(self.names.project, plan)
        procs = self.driver.procs_files(plan.cgroup)
        request = SpawnRequest(plan, procs, where.root, id_map=self.ids)
        return self.server.spawn(request, self.null, self.null)

    def stop(self, spawned: list[Spawned]) -> None:
        for one in spawned:
            signal.pidfd_send_signal(one.pidfd, signal.SIGKILL)
        for one in spawned:
            os.waitid(os.P_PIDFD, one.pidfd, os.WEXITED)
            one.close()
        self.driver.remove(self.names.cgroup_dir)

    def close(self) -> None:
        os.close(self.null)
        if self.layout:
            from stackrun.runtime.network import bridges

            bridges.remove(self.layout.networks)


def _network_layout(names: ProjectNames, services: int):
    from stackrun.plan.network import layout
    from stackrun.runtime.network import bridges, host

    members = tuple(
        MemberRequest(f"s{i}", f"s{i}", f"s{i}", networks=(("default", (), None),))
        for i in range(services)
    )
    result = layout(names, (NetworkRequest("default"),), members, taken=host.taken_subnets(names))
    bridges.ensure(result.networks)
    return result


def floor_ms(runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(FLOOR, check=True)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def one_by_one_ms(bench: Bench, argv: tuple[str, ...], runs: int, wait: bool) -> float:
    times, started = [], []
    for index in range(runs):
        began = time.perf_counter()
        spawned = bench.start(bench.plan(f"s{index}", argv))
        if wait:
            os.waitid(os.P_PIDFD, spawned.pidfd, os.WEXITED)
        times.append(time.perf_counter() - began)
        started.append(spawned)
    bench.stop([] if wait else started)
    for spawned in started if wait else ():
        spawned.close()
    return statistics.median(times) * 1000


def many_ms(bench: Bench, services: int, workers: int) -> tuple[float, float]:
    plans = [bench.plan(f"s{i}", ("/bin/sleep", "1000")) for i in range(services)]
    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        spawned = list(pool.map(bench.start, plans))
    up = time.perf_counter() - began
    began = time.perf_counter()
    bench.stop(spawned)
    return up * 1000, (time.perf_counter() - began) * 1000


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    options = _options()
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    server = ForkServer.start()
    root = tempfile.mkdtemp(prefix="stackrun-bench-")
    os.environ[dirs.RUN_ROOT_ENV] = root
    os.environ[dirs.DATA_ROOT_ENV] = f"{root}/data"
    os.environ[ledger.SUBUID_ENV] = f"{root}/subuid"  # the host's files are left alone
    os.environ[ledger.SUBGID_ENV] = f"{root}/subgid"
    modes = ("private", "host") if options.userns == "both" else (options.userns,)
    benches = {}
    rounds: dict[str, list] = {mode: [] for mode in modes}
    try:
        for mode in modes:
            names = ProjectNames(f"bench{uuid.uuid4().hex[:8]}")
            benches[mode] = Bench(server, names, options.network, options.services, mode)
            one_by_one_ms(benches[mode], ("/bin/true",), 3, wait=True)  # the server's preload
        for _ in range(options.rounds):
            for mode, bench in benches.items():
                rounds[mode].append(
                    (
                        floor_ms(10),
                        one_by_one_ms(bench, ("/bin/true",), 10, wait=True),
                        one_by_one_ms(bench, ("/bin/sleep", "1000"), 10, wait=False),
                        *many_ms(bench, options.services, options.workers),
                    )
                )
        for mode in modes:
            _report(options, mode, rounds[mode], rss_mb(), rss_mb(server.pid))
        if len(modes) == 2:
            _cost(options, rounds)
    finally:
        for bench in benches.values():
            bench.close()
        server.close()
        shutil.rmtree(root, ignore_errors=True)


def _cost(options, rounds: dict[str, list]) -> None:
    """The user namespace's cost: per round, private minus host (the same round, the
    same load), then the median of those differences."""
    columns = ("service /bin/true, to exit", "service start, to exec", "up, per service")

    def values(row) -> tuple[float, float, float]:
        return row[1], row[2], row[3] / options.services

    differences = [
        [p - h for p, h in zip(values(private), values(host), strict=True)]
        for private, host in zip(rounds["private"], rounds["host"], strict=True)
    ]
    print("cost of the user namespace (private - host, per round; median, ms):")
    for name, column in zip(columns, zip(*differences, strict=True), strict=True):
        shown = ", ".join(f"{d:+.2f}" for d in column)
        print(f"  {name:<28} {statistics.median(column):+6.2f}   ({shown})")


def _report(options, mode: str, rounds, own_rss: float, server_rss: float) -> None:
    floor, true, start, up, down = (
        statistics.median(column) for column in zip(*rounds, strict=True)
    )
    n = options.services
    print(
        f"spawn bench: network={options.network}, userns={mode}, {len(rounds)} rounds, "
        f"{os.cpu_count()} CPUs (medians, ms)"
    )
    print(f"  floor (unshare … true)         {floor:7.2f}")
    print(
        f"  service /bin/true, to exit     {true:7.2f}   beyond floor {true - floor:6.2f}"
        f"   ratio {true / floor:4.2f}"
    )
    print(f"  service start, to exec         {start:7.2f}   beyond floor {start - floor:6.2f}")
    print(f"  {n} services up ({options.workers} threads) {up:7.2f}   per service {up / n:6.2f}")
    print(f"  {n} services down (kill, reap, rmdir) {down:7.2f}")
    print(f"  RSS: caller {own_rss:.1f} MB, fork server {server_rss:.1f} MB")


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--network", choices=("none", "bridge"), default="none")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--userns", choices=("private", "host", "both"), default="private")
    return parser.parse_args()


if __name__ == "__main__":
    main()
