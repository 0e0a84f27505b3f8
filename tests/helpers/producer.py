"""A service that writes numbered lines as fast as it can (for the logs tests and bench).

    python producer.py NAME COUNT [--size N] [--stderr-every K] [--start S] [--end TEXT] [--kill]
                                  [--same]

Line i is `NAME i xxxx…\\n`, N bytes with the newline (default 100). Every K-th line
goes to stderr instead of stdout. Lines are written in blocks of ~64 KiB with
os.write, so the writer is rarely the bottleneck. `--end` writes TEXT (no newline
added) after the lines; `--kill` then sends SIGKILL to the producer itself.
`--same` repeats the first block instead of numbering every line (for throughput
benchmarks, where making the lines would cost more than moving them).
"""

from __future__ import annotations

import argparse
import os
import signal


def lines(name: str, start: int, count: int, size: int) -> list[bytes]:
    head = name.encode()
    out = []
    for i in range(start, start + count):
        text = b"%s %d " % (head, i)
        out.append(text + b"x" * max(size - len(text) - 1, 0) + b"\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("count", type=int)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--stderr-every", type=int, default=0)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--end", default="")
    parser.add_argument("--kill", action="store_true")
    parser.add_argument("--same", action="store_true")
    args = parser.parse_args()
    per_block = max(65536 // args.size, 1)
    done, block = 0, []
    while done < args.count:
        if not (args.same and len(block) == min(per_block, args.count - done)):
            block = lines(
                args.name, args.start + done, min(per_block, args.count - done), args.size
            )
        _write(block, args.stderr_every, args.start + done)
        done += len(block)
    if args.end:
        os.write(1, args.end.encode("utf-8", "surrogateescape"))
    if args.kill:
        os.kill(os.getpid(), signal.SIGKILL)


def _write(block: list[bytes], stderr_every: int, first: int) -> None:
    if not stderr_every:
        _write_all(1, b"".join(block))
        return
    out = [line for i, line in enumerate(block) if (first + i) % stderr_every]
    err = [line for i, line in enumerate(block) if not (first + i) % stderr_every]
    _write_all(1, b"".join(out))
    _write_all(2, b"".join(err))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


if __name__ == "__main__":
    main()
