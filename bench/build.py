"""A 10-step Dockerfile built cold (every step run) and fully cached (nothing to run):
`stackrun build` against `podman build` and `buildah bud`, side by side in one run.

    python bench/build.py [--runs 5]

The base image (busybox and a few files, tests/helpers/oci.py) is pushed to a loopback
registry (Debian's docker-registry) and pulled by every tool before timing: both timings
start with the base in the tool's store. "cold" is `--no-cache` (stackrun: `build
--no-cache`); "cached" builds the unchanged context again. podman and buildah run with a
temporary --root/--runroot; podman with `--runtime runc` (this host is hybrid cgroups).
Each tool is invoked as its CLI (process start-up included). Prints each median and its
ratio to podman's; the targets: cached under 0.3 s and faster than podman, cold within
1.5x of podman.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import timed

from tests.helpers.building import base_image
from tests.helpers.oci import push, write_layout
from tests.helpers.registry import Registry

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = """\
FROM {base}
ARG VERSION=1.0
ENV APP_HOME=/app VERSION=$VERSION
WORKDIR /app
COPY requirements.txt ./
RUN mkdir -p deps && for i in 1 2 3 4 5; do echo "dep $i" > deps/$i; done
COPY src/ ./src/
RUN cat src/*.txt > all.txt && wc -l all.txt > lines
RUN adduser -D -H -u 1001 app 2>/dev/null || echo "app:x:1001:1001::/app:/bin/sh" >> /etc/passwd
CMD ["sh", "-c", "cat /app/lines"]
"""


def context(root: Path, base: str) -> Path:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    (root / "requirements.txt").write_text("alpha==1\nbeta==2\n")
    (root / "src").mkdir()
    for number in range(20):
        (root / "src" / f"module{number}.txt").write_text(f"line of module {number}\n" * 50)
    (root / "stack.yaml").write_text("services:\n  app:\n    build: .\n")
    return root


class Stackrun:
    name = "stackrun build"

    def __init__(self, work: Path, base: str):
        self.env = {**os.environ, "STACKRUN_DATA_DIR": str(work / "data"),
                    "STACKRUN_RUN_DIR": str(work / "run"), "PYTHONPATH": str(REPO)}  # fmt: skip
        self.stack = work / "context" / "stack.yaml"
        timed([sys.executable, "-m", "stackrun", "pull", "-q", base], self.env)

    def build(self, cold: bool) -> float:
        argv = [sys.executable, "-m", "stackrun", "-f", str(self.stack), "-p", "bench",
                "build", "-q", *(["--no-cache"] if cold else [])]  # fmt: skip
        return timed(argv, self.env)

    def close(self) -> None:
        pass


class Containers:
    """podman or buildah, on a storage of their own."""

    def __init__(self, tool: str, work: Path, base: str):
        self.name = "podman build" if tool == "podman" else "buildah bud"
        self.runroot = tempfile.mkdtemp(prefix=f"{tool}-", dir="/tmp")  # podman: <= 50 chars
        self.storage = [tool, "--root", str(work / f"{tool}-root"), "--runroot", self.runroot,
                        "--storage-driver", "overlay"]  # fmt: skip
        if tool == "podman":
            self.storage += ["--runtime", "runc"]
        self.context = work / "context"
        timed([*self.storage, "pull", "--quiet", "--tls-verify=false", base])

    def build(self, cold: bool) -> float:
        verb = "build" if self.storage[0] == "podman" else "bud"
        argv = [*self.storage, verb, "--quiet", "--tls-verify=false", "-t", "bench-app",
                *(["--no-cache"] if cold else []), str(self.context)]  # fmt: skip
        return timed(argv)

    def close(self) -> None:
        subprocess.run([*self.storage, "system", "reset", "--force"] if self.storage[0] ==
                       "podman" else [*self.storage, "rmi", "--all", "--force"],
                       check=False, capture_output=True)  # fmt: skip
        shutil.rmtree(self.runroot, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tools", default="stackrun,podman,buildah")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-build-", dir="/var/tmp"))
    tools = []
    try:
        with Registry(work / "registry") as registry:
            write_layout(work / "layout", {"v1": base_image()})
            base = f"{registry.host}/bench/base:1"
            push(work / "layout", "v1", base)
            context(work / "context", base)
            tools = make_tools(args.tools.split(","), work, base)
            times = run_all(tools, args.runs)
        report(times)
    finally:
        for tool in tools:
            tool.close()
        shutil.rmtree(work, ignore_errors=True)


def make_tools(names: list[str], work: Path, base: str) -> list:
    made: list = []
    for name in names:
        made.append(Stackrun(work, base) if name == "stackrun" else Containers(name, work, base))
    return made


def run_all(tools: list, runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    for run in range(runs):
        ordered = tools if run % 2 == 0 else list(reversed(tools))  # no order favoured
        for tool in ordered:
            times.setdefault(f"{tool.name} cold", []).append(tool.build(cold=True))
            times.setdefault(f"{tool.name} cached", []).append(tool.build(cold=False))
    return times


def report(times: dict[str, list[float]]) -> None:
    print(
        f"10-step Dockerfile; python {sys.version.split()[0]}; medians of {len(next(iter(times.values())))} runs"
    )
    for kind in ("cold", "cached"):
        podman = times.get(f"podman build {kind}")
        base = statistics.median(podman) if podman else None
        for name, values in times.items():
            if not name.endswith(kind):
                continue
            median = statistics.median(values)
            ratio = f"({median / base:.2f}x podman)" if base else ""
            runs = " ".join(f"{v:.2f}" for v in values)
            print(f"{name:22s} median {median:6.3f} s  {ratio:16s} runs: {runs}")


if __name__ == "__main__":
    main()
