"""Long-run fuzz targets (atheris, coverage-guided) for the stack-file loader and the
control protocol's request parser. CI runs the hypothesis tests instead
(tests/unit/spec/test_fuzz.py, tests/unit/test_control_fuzz.py); this is for hours.

Property of both targets: any input gives a result or the project's own error
(SpecError / ControlError); anything else is a crash, a run longer than the deadline
a hang.

With atheris (not a project dependency; atheris 3.0 installs on Python 3.11):

    .venv/bin/pip install atheris
    .venv/bin/python -m tests.fuzz.targets loader -max_total_time=3600 -timeout=10 corpus/
    .venv/bin/python -m tests.fuzz.targets control -max_total_time=3600 -timeout=10

(arguments after the target are libFuzzer's; the examples seed the loader's corpus.)
Without atheris, the fallback drives the same target with random mutations of the
seeds for N seconds and prints the cases tried:

    .venv/bin/python -m tests.fuzz.targets loader --random 600 [--seed 1]

A loader input may hold several files separated by a `---8<---` line: they are
loaded as `-f a -f b`.
"""

from __future__ import annotations

import atexit
import functools
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 10  # seconds per case in the fallback mode (libFuzzer has -timeout)
SPLIT = b"\n---8<---\n"


@functools.cache
def workdir() -> Path:
    """Where inputs are written to be loaded; removed at exit."""
    path = Path(tempfile.mkdtemp(prefix="stackrun-fuzz-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def seeds(target: str) -> list[bytes]:
    if target == "loader":
        return [path.read_bytes() for path in sorted(REPO.glob("examples/*/stack.yaml"))]
    from stackrun.control import protocol
    from stackrun.supervisor.state import UpRequest
    from tests.helpers.plans import a_plan

    lines = [protocol.request_line(name) for name in ("ps", "start", "stop", "down", "events")]
    return [*lines, protocol.request_line("up", request=UpRequest(), plan=a_plan())]


def fuzz_loader(data: bytes) -> str:
    from stackrun import spec
    from stackrun.errors import SpecError

    files = []
    for index, text in enumerate(data.split(SPLIT)[:3]):
        path = workdir() / f"stack{index}.yaml"
        path.write_bytes(text)
        files.append(str(path))
    try:
        spec.load(
            spec.LoadOptions(files=tuple(files), environ={"A": "1"}, working_dir=str(workdir()))
        )
    except SpecError:
        return "refused"
    return "accepted"


def fuzz_control(data: bytes) -> str:
    from stackrun.control import protocol
    from stackrun.errors import ControlError

    try:
        protocol.parse_request(data)
        outcome = "accepted"
    except ControlError:
        outcome = "refused"
    for method in protocol.METHODS.values():
        try:
            protocol.parse_reply(data, method)
        except ControlError:
            pass
    return outcome


TARGETS = {"loader": fuzz_loader, "control": fuzz_control}


# ---------------------------------------------------------------- fallback: random mutations

_TOKENS = [
    b"${A:-",
    b"}",
    b"$$",
    b"&a ",
    b"*a",
    b"<<: ",
    b"!reset ",
    b"!override ",
    b"[",
    b"{",
    b"\n  - ",
    b": ",
    b"\xff",
    b"\x00",
    b"9" * 400,
    b"../",
    b"/proc",
    b'"v": ',
    b'"params": {',
    b"1e400",
    SPLIT,
]


def mutate(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        at = rng.randint(0, len(out))
        choice = rng.randrange(4)
        if choice == 0 and out:
            del out[at : at + rng.randint(1, 16)]
        elif choice == 1:
            out[at:at] = rng.choice(_TOKENS)
        elif choice == 2:
            out[at:at] = rng.randbytes(rng.randint(1, 4))
        else:
            donor = rng.choice(pool)
            start = rng.randint(0, len(donor))
            out[at:at] = donor[start : start + rng.randint(1, 64)]
    return bytes(out)


def run_random(name: str, seconds: float, seed: int) -> Counter[str]:
    """Drive target `name` with mutated seeds for `seconds`; print the cases tried and
    return how many ended each way ("accepted", "refused"). A crash or a hang raises,
    after saving the input in the current directory (as libFuzzer does)."""
    from tests.helpers.fuzzing import deadline

    target, pool, rng = TARGETS[name], seeds(name), random.Random(seed)
    outcomes: Counter[str] = Counter()
    tried, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        data = mutate(rng.choice(pool), rng, pool)
        try:
            with deadline(DEADLINE):
                outcomes[target(data)] += 1
        except BaseException:
            crash = Path(f"crash-{name}-{seed}-{tried}").resolve()
            crash.write_bytes(data)
            print(f"{name}: crash after {tried} cases; input saved in {crash}", file=sys.stderr)
            raise
        tried += 1
        if len(pool) < 2000 and rng.random() < 0.05:
            pool.append(data)  # keep some mutants to mutate further
    print(f"{name}: {tried} cases in {seconds:g} s, seed {seed}, no crash, no hang")
    return outcomes


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in TARGETS:
        sys.exit(
            f"usage: python -m tests.fuzz.targets {{{','.join(TARGETS)}}} [--random SECONDS [--seed N] | LIBFUZZER ARGS]"
        )
    name, rest = argv[0], argv[1:]
    if rest[:1] == ["--random"]:
        seed = int(rest[rest.index("--seed") + 1]) if "--seed" in rest else int(time.time())
        run_random(name, float(rest[1]), seed)
        return
    try:
        import atheris
    except ImportError:
        sys.exit("atheris is not installed (pip install atheris); or run with --random SECONDS")
    with atheris.instrument_imports():
        import stackrun.control.protocol
        import stackrun.spec.loader  # noqa: F401
    corpus = _seed_corpus(name)
    atheris.Setup([sys.argv[0], *rest, str(corpus)], TARGETS[name])
    atheris.Fuzz()


def _seed_corpus(name: str) -> Path:
    """The seeds in a directory libFuzzer reads (and adds its finds to)."""
    corpus = workdir() / f"seeds-{name}"
    corpus.mkdir(exist_ok=True)
    for index, data in enumerate(seeds(name)):
        (corpus / f"seed{index}").write_bytes(data)
    return corpus


if __name__ == "__main__":
    main(sys.argv[1:])
