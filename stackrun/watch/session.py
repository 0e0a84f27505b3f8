"""A watch session: follow the rules' paths, and after each burst of changes carry out
what each rule asks of its running instances, one line per action:

    ⦿ api: 3 files synced, restarted in 42 ms
    ⦿ worker: 1 file synced, ran `python3 -m compileall .` in 31 ms
    ✘ api: sync failed: cp: /app: Read-only file system (EROFS)

The time is from the first change seen to the action done (restarted: the new process
has exec'd). Syncs go through the instance's mount namespace (control/transfer.py),
restarts and execs through the supervisor's control socket, as `restart` and `exec` do.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from stackrun.errors import StackrunError
from stackrun.watch.rules import SYNCING, Batch, Rule, batches
from stackrun.watch.tree import Tree

QUIET = 0.015  # seconds without a new event that end a burst (an editor's save is several)
LIMIT = 0.1  # a burst is cut after this long, however busy the tree


class Session:
    def __init__(self, project: str, rules: list[Rule], out: TextIO = sys.stderr, opts=None):
        """`opts`: the ProjectOptions that load the stack file again (`rebuild`)."""
        self.project, self.rules, self.out, self.opts = project, rules, out, opts
        self.tree = Tree(sorted({rule.path for rule in rules}), keep=self._followed)

    def initial_sync(self) -> None:
        """initial_sync: the whole path goes in once, before the first change."""
        for rule in self.rules:
            if rule.initial_sync and rule.action in SYNCING and os.path.exists(rule.path):
                self._carry_out(Batch(rule, ((rule.path, rule.target_of(rule.path)),)), None)

    def step(self) -> None:
        """Wait for a burst of changes and act on it."""
        started = time.monotonic()
        changed, removed = self.tree.settle(QUIET, LIMIT)
        first = self.tree.first_event or started
        for batch in batches(self.rules, changed, removed):
            self._carry_out(batch, first)

    def close(self) -> None:
        self.tree.close()

    # ------------------------------------------------------------ actions

    def _carry_out(self, batch: Batch, since: float | None) -> None:
        since = since or time.monotonic()
        rule, done = batch.rule, []
        try:
            instances = self._instances(rule.service)
            if rule.action in SYNCING:
                done.append(self._sync(batch, instances))
            if rule.action.endswith("restart"):
                self._restart(rule.service)
                done.append("restarted")
            if rule.action == "rebuild":
                self._rebuild(rule.service)
                done.append("rebuilt and recreated")
            if rule.run is not None:
                done.append(self._exec(rule, instances))
        except StackrunError as error:
            print(f"✘ {rule.service}: {rule.action} failed: {error}", file=self.out, flush=True)
            return
        took = (time.monotonic() - since) * 1000
        print(f"⦿ {rule.service}: {', '.join(done)} in {took:.0f} ms", file=self.out, flush=True)

    def _instances(self, service: str) -> list:
        from stackrun.cli.running import supervisor_client
        from stackrun.control import blocking

        with supervisor_client(self.project) as client:
            statuses = blocking.run(client.ps())
        return [s for s in statuses if s.service == service and s.state == "running"]

    def _sync(self, batch: Batch, instances: list) -> str:
        from stackrun.control.transfer import sync_into

        copies = [(host, target) for host, target in batch.copies if os.path.lexists(host)]
        for status in instances:
            sync_into(status, copies, batch.removed, skip=batch.rule.skips)
        count = sum(_files(host, batch.rule.skips) for host, _ in copies) + len(batch.removed)
        return f"{count} file{'s' if count != 1 else ''} synced"

    def _restart(self, service: str) -> None:
        from stackrun.cli.running import supervisor_client
        from stackrun.control import blocking

        with supervisor_client(self.project) as client:
            blocking.run(client.restart([service]))

    def _rebuild(self, service: str) -> None:
        """Build the service's image again and recreate its instances on it (the stack
        file read again, as `up --build SERVICE` would)."""
        from stackrun.cli.project import load_stack
        from stackrun.cli.running import supervisor_client
        from stackrun.cli.starting import ImageOptions, plan_for
        from stackrun.cli.up_images import build_images
        from stackrun.control import blocking
        from stackrun.supervisor.state import UpRequest

        build_images(load_stack(self.opts), [service])
        plan = plan_for(self.opts, ImageOptions())
        with supervisor_client(self.project) as client:
            failures = blocking.run(client.up(UpRequest(services=(service,)), plan))
        if failures:
            raise StackrunError("\n".join(failures))

    def _exec(self, rule: Rule, instances: list) -> str:
        from stackrun.cli.running import cgroup_driver
        from stackrun.control.execute import ExecOptions, ExecTarget, execute

        assert rule.run is not None
        run = rule.run
        options = ExecOptions(run.argv, run.env, run.workdir, run.user, tty=False)
        driver = cgroup_driver(self.project)
        for status in instances:
            code = execute(ExecTarget(status, driver.procs_files(status.cgroup), {}), options)
            if code != 0:
                raise StackrunError(f"`{' '.join(run.argv)}` exited with {code}")
        return f"ran `{' '.join(run.argv)}`"

    def _followed(self, directory: str) -> bool:
        """A directory that the rules holding it ignore whole needs no watch (.git,
        node_modules when ignored)."""
        return any(rule.follows(directory) for rule in self.rules)


def _files(path: str, skip) -> int:
    """Files a copy of `path` carries: 1, or those below a directory that `skip` keeps."""
    if not os.path.isdir(path) or os.path.islink(path):
        return 1
    count = 0
    for top, subdirs, files in os.walk(path):
        subdirs[:] = [d for d in subdirs if not skip(os.path.join(top, d))]
        count += sum(not skip(os.path.join(top, f)) for f in files)
    return count
