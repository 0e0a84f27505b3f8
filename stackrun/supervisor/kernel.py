"""What the supervisor asks of the runtime for its instances. Every call blocks: run them
in worker threads (`anyio.to_thread`), never on the event loop.

This is the supervisor's single doorway into `runtime/`: the cgroup driver, the fork
server, the instance files, the bridges and netfilter rules. It adds only the supervisor's own part:
the output pipes (read ends go to the sink) and the bookkeeping of what exists, so
that `handles()` can be written to the state file for an offline `down`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stackrun import dirs
from stackrun.errors import StackrunError
from stackrun.plan.model import Plan, PortPlan, ServicePlan
from stackrun.runtime.cgroups.base import CgroupDriver, Usage, Watch
from stackrun.runtime.network.firewall import Netfilter
from stackrun.runtime.spawn import ForkServer, JoinRequest, Spawned, SpawnRequest
from stackrun.supervisor.output import OutputSink

if TYPE_CHECKING:
    from stackrun.runtime.instance import InstanceLayout
    from stackrun.runtime.userns.idmap import IdMap


class Kernel:
    def __init__(self, plan: Plan, fork_server: ForkServer, driver: CgroupDriver):
        self.plan, self.fork_server, self.driver = plan, fork_server, driver
        self.peer_pid: Callable[[str], int | None] = lambda name: None  # set by the stack
        self._lock = threading.Lock()
        self._cgroups: set[str] = set()  # created and not removed yet
        self._killed: set[str] = set()  # emptied by kill_all since they were created
        self._netfilter: Netfilter | _Installing = Netfilter()  # the project's rules
        self.ids: IdMap | None = None  # the project's range, for its user namespaces
        self._prepared: Plan | None = None  # the plan `prepare` last made the host ready for
        # started by `prestart` before the supervisor ran, each with its output's read ends
        self._prestarted: dict[str, tuple[Spawned | StackrunError, int, int]] = {}

    # ------------------------------------------------------------ project

    def prepare(self) -> None:
        """Directories, networks and netfilter rules shared by every instance (once per
        plan: `up -d` prepares before the supervisor runs, daemon/early.py)."""
        from stackrun.runtime.network import bridges, firewall

        if self._prepared is self.plan:
            return
        dirs.run_dir(self.plan.project).mkdir(parents=True, exist_ok=True)
        if any(service.userns == "private" for service in self.plan.services):
            from stackrun.runtime.userns import ledger

            self.ids = ledger.allocate(self.plan.project)
            self._prefetch_userns(self.ids)
        bridges.ensure(self.plan.networks)
        # In a thread of its own (libnftables lets go of the GIL): the instances' cgroups,
        # files and mounts are made meanwhile; no veth is made before it is done.
        self._netfilter = _Installing(firewall.install, self.plan.names, self.plan.networks)
        self._prepared = self.plan

    def _prefetch_userns(self, ids: IdMap) -> None:
        """The user namespaces the instances' idmapped mounts will take, made by the fork
        server while the networks, cgroups and files are made here."""
        from stackrun.runtime.spawn.staging import likely_maps

        private = [s for s in self.plan.services if s.userns == "private"]
        self.fork_server.prefetch_userns(likely_maps(private, ids))

    @property
    def netfilter(self) -> Netfilter:
        """The project's rules, once installed (waits for `prepare`'s install)."""
        if isinstance(self._netfilter, _Installing):
            self._netfilter = self._netfilter.result()
        return self._netfilter

    def _rules_installed(self) -> None:
        """Before any instance gets a network: its traffic meets the project's rules from
        its first packet (conntrack keeps a flow's first verdict, NAT included)."""
        self.netfilter  # noqa: B018 - waits for the install

    def publish(self, ports: list[PortPlan]) -> None:
        """Send new connections to these published ports straight to the instances (DNAT),
        where the project's netfilter table exists; the proxy serves the rest."""
        from stackrun.runtime.network import firewall

        self._netfilter = firewall.publish(self.plan.names, self.netfilter, ports)

    def teardown(self, volumes: bool = False, exited: bool = False) -> None:
        """Remove every kernel object and run file of the project (and its named volumes);
        `exited`: every instance was seen to exit."""
        from stackrun.runtime.teardown import Handles, teardown

        if isinstance(self._netfilter, _Installing):
            self._netfilter.wait()  # its rules must not appear after teardown removed them
        try:
            teardown(self.plan.project, Handles(self.driver.parent), volumes, exited)
        finally:
            with self._lock:
                self._cgroups.clear()
                leftovers, self._prestarted = self._prestarted, {}
            for result, *read_ends in leftovers.values():  # started, never taken over
                if isinstance(result, Spawned):
                    result.close()
                for fd in read_ends:
                    if fd >= 0:
                        os.close(fd)
            reap_children()

    def handles(self) -> dict[str, Any]:
        """What an offline `down` needs, for the state file."""
        return {
            "cgroup_parent": self.driver.parent,
            "netfilter": self.netfilter.to_json(),
        }

    # ------------------------------------------------------------ instances

    def spawn(
        self, service: ServicePlan, sink: OutputSink, stdio: tuple[int, ...] = (), tty=False
    ) -> Spawned:
        """Start the instance in its cgroup and namespaces, its output going to `sink`, or
        with the given stdin, stdout, stderr (`run`). An instance `prestart` started is
        handed over instead (once)."""
        with self._lock:
            early = None if stdio else self._prestarted.pop(service.name, None)
        if early is not None:
            return _handed_over(service.name, early, sink)
        request = self._request(service, tty)
        self._rules_installed()
        if stdio:
            stdin, stdout, stderr = stdio
            return self.fork_server.spawn(request, stdout, stderr, stdin)
        pipes = [os.pipe2(os.O_CLOEXEC), os.pipe2(os.O_CLOEXEC)]
        try:
            spawned = self.fork_server.spawn(request, pipes[0][1], pipes[1][1])
        except BaseException:
            for read_end, _ in pipes:
                os.close(read_end)
            raise
        finally:
            for _, write_end in pipes:
                os.close(write_end)
        sink.attach(service.name, "stdout", pipes[0][0])
        sink.attach(service.name, "stderr", pipes[1][0])
        return spawned

    def prestart(self, services: list[ServicePlan]) -> dict[str, Spawned | StackrunError]:
        """Start these instances now, all at once, before the supervisor's runners exist
        (daemon/early.py): their output waits in the pipes, and each runner's `spawn`
        takes its instance over. Instances that need a running peer must not be here."""
        pipes: list[tuple[str, tuple[int, int], tuple[int, int]]] = []

        def requests():  # each sent before the next one's cgroup and files are made
            for service in services:
                try:
                    request = self._request(service)
                except StackrunError as failure:
                    self._prestarted[service.name] = (failure, -1, -1)
                    continue
                out, err = os.pipe2(os.O_CLOEXEC), os.pipe2(os.O_CLOEXEC)
                pipes.append((service.name, out, err))
                try:
                    yield request, out[1], err[1]
                finally:
                    os.close(out[1])  # the fork server holds its own copies now
                    os.close(err[1])

        results = self.fork_server.spawn_all(requests(), before_network=self._rules_installed)
        with self._lock:
            for (name, out, err), result in zip(pipes, results, strict=True):
                self._prestarted[name] = (result, out[0], err[0])
            return {name: early[0] for name, early in self._prestarted.items()}

    def _request(self, service: ServicePlan, tty: bool = False) -> SpawnRequest:
        procs = self._ensure_cgroup(service)
        where = self._prepare_files(service)
        shared = service.namespaces
        return SpawnRequest(
            service,
            procs,
            where.root,
            join_netns_pid=self._netns_peer(service),
            layer_dir=where.disk,
            join_ipc_pid=self._peer(shared.ipc_peer if shared.ipc == "service" else None),
            join_pid_pid=self._peer(shared.pid_peer if shared.pid == "service" else None),
            id_map=self.ids if service.userns == "private" else None,
            tty=tty,
        )

    def probe(self, service: ServicePlan, pid: int | None, output: int) -> Spawned:
        """Start the health check inside the running instance; stdout+stderr to `output`."""
        assert service.healthcheck is not None and pid is not None
        request = JoinRequest(
            service, service.healthcheck.argv, pid, self.driver.procs_files(service.cgroup)
        )
        return self.fork_server.run_in(request, None, output, output)

    def kill_all(self, service: ServicePlan) -> None:
        self.driver.kill(service.cgroup)
        with self._lock:
            self._killed.add(service.cgroup)

    def freeze(self, service: ServicePlan) -> None:
        self.driver.freeze(service.cgroup)

    def thaw(self, service: ServicePlan) -> None:
        self.driver.thaw(service.cgroup)

    def usage(self, service: ServicePlan) -> Usage | None:
        with self._lock:
            if service.cgroup not in self._cgroups:
                return None
        return self.driver.usage(service.cgroup)

    def oom_watch(self, service: ServicePlan) -> Watch:
        return self.driver.oom_watch(service.cgroup)

    def oom_kills(self, service: ServicePlan) -> int:
        with self._lock:
            if service.cgroup not in self._cgroups:
                return 0
        return self.driver.oom_kills(service.cgroup)

    def remove(self, service: ServicePlan) -> None:
        """Remove the instance's cgroup and files (after it stopped), e.g. to recreate it."""
        self.driver.kill(service.cgroup)
        self.driver.remove(service.cgroup)
        with self._lock:
            self._cgroups.discard(service.cgroup)
        from stackrun.runtime import instance

        instance.discard(self.plan.project, service.name)

    def _ensure_cgroup(self, service: ServicePlan) -> tuple[str, ...]:
        with self._lock:
            known = service.cgroup in self._cgroups
            killed = service.cgroup in self._killed
            self._killed.discard(service.cgroup)
        if killed:  # a fresh cgroup: after a cgroup.kill, this host's kernel (6.18) SIGKILLs
            self.driver.remove(service.cgroup)  # the next child cloned into the cgroup
            known = False
        if known:  # a restart: never into a cgroup a pause left frozen (an exit raced it)
            self.driver.thaw(service.cgroup)
            return self.driver.procs_files(service.cgroup)
        procs = self.driver.create(service.cgroup, service.limits)
        with self._lock:
            self._cgroups.add(service.cgroup)
        return procs

    def _prepare_files(self, service: ServicePlan) -> InstanceLayout:
        from stackrun.runtime import instance

        return instance.prepare(self.plan.project, service)

    def _netns_peer(self, service: ServicePlan) -> int | None:
        if service.network_mode != "service" or not service.network_peer:
            return None
        return self.peer_pid(service.network_peer)

    def _peer(self, instance: str | None) -> int | None:
        return self.peer_pid(instance) if instance else None


def _handed_over(name: str, early: tuple, sink: OutputSink) -> Spawned:
    """A prestarted instance's result, its output now read by `sink`."""
    result, stdout, stderr = early
    if stdout >= 0:
        sink.attach(name, "stdout", stdout)
        sink.attach(name, "stderr", stderr)
    if isinstance(result, StackrunError):
        raise result
    return result


def reap_children() -> None:
    """Reap every child that has exited: killed services whose runner is gone are our
    zombies (we are their subreaper) until we wait for them."""
    while True:
        try:
            if os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG) is None:
                return
        except ChildProcessError:
            return


class _Installing:
    """`install(*args)` running in a thread; `result()` waits for what it returned (or
    raises what it raised)."""

    def __init__(self, install: Callable[..., Netfilter], *args: Any):
        self._outcome: Netfilter | BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(install, *args), daemon=True)
        self._thread.start()

    def _run(self, install: Callable[..., Netfilter], *args: Any) -> None:
        try:
            self._outcome = install(*args)
        except BaseException as error:  # noqa: BLE001 - raised again by result()
            self._outcome = error

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> Netfilter:
        self.wait()
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        assert self._outcome is not None
        return self._outcome
