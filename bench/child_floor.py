"""How much faster `up -d` could be with no Python between a service child's clone and its
exec: stackrun as it is, and stackrun whose children exec at once, against honcho, in
alternating rounds of one run (the ratios of bench/startup.py).

    sudo .venv/bin/python bench/child_floor.py [--runs 7] [--size 30] [--image]
    .venv/bin/python bench/child_floor.py --hook-into DIR   # DIR/sitecustomize.py, for
        PYTHONPATH=DIR sudo -E .venv/bin/python bench/child_cost.py .venv   # (CPU, faults)

The second build is the same code with a hook loaded as `sitecustomize` in every stackrun
process: the fork server's service child, once it may go (the fork server wrote its user
namespace's maps), execs its command with nothing else, and skips every step
of runtime/spawn/child.py (cgroups joined, network and cgroup namespaces, veths, mounts,
root, capabilities, user). The supervisor still stages everything (cgroups, instance files,
the mount table); no veth is made, since no child asks for one. What it measures is an
upper bound: what any pre-exec path faster than the Python one (a compiled one) could save,
minus the kernel work that path would still do.

Not a way to run services: those "floor" services run as root of their user namespace in
the host's filesystem. Runs in a network namespace of its own (bench/netns.py); needs root;
everything lives under a temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from leftovers import down_everything
from netns import isolated
from startup import (
    _honcho_round,
    _spread,
    _stackrun_round,
    bench_env,
    honcho_path,
    options_parser,
    store_busybox,
)

HOOK = '''
"""bench/child_floor.py's hook: a service child execs as soon as it may."""
import importlib.abc, importlib.machinery, os, sys

class _Floor(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "stackrun.runtime.spawn.child":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)

            def run_service(request, channel, given, born_in_unified, go):
                if os.read(go, 1):
                    argv = request.plan.argv
                    os.execve("/bin/" + argv[0], argv, {"PATH": "/bin:/usr/bin"})
                os._exit(127)

            module.run_service = run_service

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _Floor())
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--size", type=int, default=30)
    parser.add_argument("--image", action="store_true", help="services run from an image")
    parser.add_argument("--hook-into", type=Path, help="only write the hook there, and stop")
    args = parser.parse_args()
    if args.hook_into:
        args.hook_into.mkdir(parents=True, exist_ok=True)
        (args.hook_into / "sitecustomize.py").write_text(HOOK)
        return
    isolated()
    honcho = honcho_path()
    work = Path(tempfile.mkdtemp(prefix="stackrun-bench-floor-", dir="/var/tmp"))
    try:
        _measure(work, args, honcho)
    finally:
        down_everything(work)
        shutil.rmtree(work, ignore_errors=True)


def _measure(work: Path, args, honcho: str) -> None:
    env = bench_env(work)
    hooks = work / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(HOOK)
    floor_env = dict(env, PYTHONPATH=str(hooks))
    if args.image:
        store_busybox(env)
    options = options_parser().parse_args(["--image"] if args.image else [])  # its defaults
    times: dict[str, list[float]] = {"honcho": [], "stackrun": [], "floor": []}
    for index in range(args.runs + 1):  # the first round warms the caches
        rounds = [
            ("honcho", lambda d: _honcho_round(args.size, options, honcho, d, env)["honcho up"]),
            ("stackrun", lambda d: _stackrun_round(args.size, options, honcho, d, env)["up"]),
            ("floor", lambda d: _stackrun_round(args.size, options, honcho, d, floor_env)["up"]),
        ]
        for name, run in rounds if index % 2 else reversed(rounds):
            directory = work / f"{name}-{index}"
            directory.mkdir()
            took = run(directory)
            if index:
                times[name].append(took)
    kind = "image services (warm)" if args.image else "host commands"
    print(f"{args.runs} rounds, `up -d` of {args.size} {kind}; load {os.getloadavg()[0]:.2f}")
    print("medians in ms [min-max]; ratio = / honcho")
    base = statistics.median(times["honcho"])
    for name, values in times.items():
        print(f"  {name:<9} {_spread(values)}   ratio {statistics.median(values) / base:4.2f}")


if __name__ == "__main__":
    main()
