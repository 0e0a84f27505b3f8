#!/usr/bin/env python3
"""A tiny blocking client for the store (RESP protocol), standard library only.

As a library: `Client().call("SET", "k", "v")`. As a command, for healthchecks and for poking
at the store by hand:

    python3 resp.py PING            # prints PONG, exit status 0
    python3 resp.py LRANGE jobs:queue 0 -1

The store's address comes from STORE_HOST (127.0.0.1) and STORE_PORT (6379).
"""

from __future__ import annotations

import os
import socket
import sys
import time


class RespError(Exception):
    """An error reply from the store (`-ERR …`, `-WRONGTYPE …`)."""


class Client:
    """One connection to the store; reconnects lazily after a failure."""

    def __init__(self, host: str | None = None, port: int | None = None, timeout: float = 5.0):
        self.host = host or os.environ.get("STORE_HOST", "127.0.0.1")
        self.port = port or int(os.environ.get("STORE_PORT", "6379"))
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._file = None

    def connect(self) -> None:
        """Open the connection if there is none; raises ConnectionError when the store is down."""
        if self._sock is not None:
            return
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise ConnectionError(f"store {self.host}:{self.port}: {exc}") from exc
        self._file = self._sock.makefile("rb")

    def close(self) -> None:
        if self._sock is not None:
            self._file.close()
            self._sock.close()
        self._sock = self._file = None

    def call(self, *args, timeout: float | None = None):
        """Send one command and return its reply: str, int, bytes, None or a list of those."""
        self.connect()
        try:
            self._sock.settimeout(timeout if timeout is not None else self.timeout)
            self._sock.sendall(encode_command(args))
            return self._read_reply()
        except OSError as exc:
            # After a timeout or a reset the stream is out of step: start over next time.
            self.close()
            raise ConnectionError(f"store {self.host}:{self.port}: {exc}") from exc

    def brpop(self, key: str, timeout: float):
        """BRPOP one key; returns the popped value (bytes) or None after `timeout` seconds."""
        reply = self.call("BRPOP", key, timeout, timeout=timeout + self.timeout)
        return None if reply is None else reply[1]

    def _read_reply(self):
        line = self._file.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionResetError("store closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        size = int(rest)
        if size < 0:
            return None
        if kind == b"$":
            return self._file.read(size + 2)[:-2]
        return [self._read_reply() for _ in range(size)]


def encode_command(args) -> bytes:
    """A command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def connect_with_backoff(client: Client, should_stop=lambda: False, log=print) -> bool:
    """Connect, waiting 0.1 s, 0.2 s, … up to 2 s between attempts; False if told to stop."""
    delay = 0.1
    while not should_stop():
        try:
            client.connect()
            return True
        except ConnectionError as exc:
            log(f"{exc}; retrying in {delay:.1f}s")
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not should_stop():
            time.sleep(0.05)  # short naps so a stop request is seen at once
        delay = min(delay * 2, 2.0)
    return False


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: resp.py COMMAND [ARG…]", file=sys.stderr)
        return 2
    try:
        reply = Client(timeout=2.0).call(*argv)
    except (ConnectionError, RespError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(reply.decode(errors="replace") if isinstance(reply, bytes) else reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
