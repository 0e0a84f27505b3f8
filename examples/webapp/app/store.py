#!/usr/bin/env python3
"""A small Redis-like key/value server speaking a subset of RESP, standard library only.

Strings, lists and hashes live in memory. A JSON snapshot is loaded at start, written
STORE_SAVE_DELAY seconds after a change (changes in between are saved together) and on
SIGTERM/SIGINT. Speaks RESP arrays (what clients send) and inline commands (`nc`, `telnet`).

Environment: STORE_BIND (0.0.0.0), STORE_PORT (6379), STORE_SNAPSHOT (file; empty: keep
nothing), STORE_SAVE_DELAY (1.0 seconds).
"""

from __future__ import annotations

import asyncio
import collections
import fnmatch
import os
import signal
import sys

from snapshot import Snapshot

MAX_BULK = 16 * 1024 * 1024  # largest argument accepted, bytes
MAX_ARGS = 1024 * 1024


def log(message: str) -> None:
    print(f"store: {message}", flush=True)


# ---------------------------------------------------------------- protocol


class Simple(str):
    """A simple-string reply (`+OK`)."""


class CommandError(Exception):
    """An error reply; the text starts with its kind (`ERR`, `WRONGTYPE`)."""


class ProtocolError(Exception):
    """The client sent something that is not RESP; the connection is closed."""


NULL_ARRAY = object()  # BRPOP's reply when it times out
OK = Simple("OK")


def encode(reply) -> bytes:
    if isinstance(reply, Simple):
        return b"+%s\r\n" % reply.encode()
    if isinstance(reply, CommandError):
        return b"-%s\r\n" % str(reply).encode()
    if reply is None:
        return b"$-1\r\n"
    if reply is NULL_ARRAY:
        return b"*-1\r\n"
    if isinstance(reply, int):
        return b":%d\r\n" % reply
    if isinstance(reply, bytes):
        return b"$%d\r\n%s\r\n" % (len(reply), reply)
    return b"*%d\r\n" % len(reply) + b"".join(encode(item) for item in reply)


async def read_command(reader: asyncio.StreamReader) -> list[bytes] | None:
    """The next command's arguments; None at end of stream."""
    line = await reader.readline()
    if not line:
        return None
    if not line.startswith(b"*"):
        return line.split()  # inline command
    count = _header_number(line, MAX_ARGS)
    args = []
    for _ in range(count):
        header = await reader.readline()
        if not header.startswith(b"$"):
            raise ProtocolError(f"expected '$', got {header[:1]!r}")
        size = _header_number(header, MAX_BULK)
        args.append((await reader.readexactly(size + 2))[:-2])
    return args


def _header_number(line: bytes, limit: int) -> int:
    try:
        number = int(line[1:])
    except ValueError:
        raise ProtocolError(f"invalid length {line[1:].strip()!r}") from None
    if not 0 <= number <= limit:
        raise ProtocolError(f"length {number} out of range")
    return number


# ---------------------------------------------------------------- commands


class Store:
    """The keyspace and the commands on it. Values: bytes, deque (list), dict (hash)."""

    def __init__(self, snapshot: Snapshot, save_delay: float):
        self.snapshot = snapshot
        self.save_delay = save_delay
        self.data = snapshot.load()
        self._pushed = asyncio.Event()  # replaced after each push; BRPOP waiters wake up
        self._blocked: set = set()  # the client_gone of each client waiting in BRPOP
        self._save_timer: asyncio.TimerHandle | None = None

    async def execute(self, args: list[bytes], client_gone) -> object:
        name = args[0].decode(errors="replace").upper()
        command = COMMANDS.get(name)
        if command is None:
            return CommandError(f"ERR unknown command '{name}'")
        method, least, most = command
        if not least <= len(args) - 1 <= (most if most is not None else len(args)):
            return CommandError(f"ERR wrong number of arguments for '{name.lower()}' command")
        try:
            if method is Store.brpop:
                return await self.brpop(*args[1:], client_gone=client_gone)
            return method(self, *args[1:])
        except CommandError as error:
            return error

    def save_now(self) -> None:
        if self._save_timer is not None:
            self._save_timer.cancel()
            self._save_timer = None
        self.snapshot.save(self.data)

    def _changed(self) -> None:
        if self._save_timer is None and self.snapshot.path:
            loop = asyncio.get_running_loop()
            self._save_timer = loop.call_later(self.save_delay, self._save_later)

    def _save_later(self) -> None:
        self._save_timer = None
        try:
            self.snapshot.save(self.data)
        except OSError as error:  # e.g. the disk is full: keep serving, try again on SIGTERM
            log(f"cannot save the snapshot: {error}")
            return
        log(f"saved {len(self.data)} keys to {self.snapshot.path}")

    def _typed(self, key: bytes, kind: type, create: bool = False):
        value = self.data.get(key)
        if value is None and create:
            value = self.data[key] = kind()
        if value is not None and not isinstance(value, kind):
            raise CommandError("WRONGTYPE Operation against a key holding the wrong kind of value")
        return value

    def _drop_if_empty(self, key: bytes) -> None:
        if not self.data.get(key, True):
            del self.data[key]

    # -- connection and keys

    def ping(self, message: bytes | None = None):
        return Simple("PONG") if message is None else message

    def echo(self, message: bytes):
        return message

    def dbsize(self):
        return len(self.data)

    def info(self, section: bytes = b"clients"):
        """Redis's `INFO clients`, in part: the clients blocked in BRPOP that are still
        connected (one that left is not counted, though its BRPOP ends at the next push)."""
        blocked = sum(not gone() for gone in self._blocked)
        return b"# Clients\r\nblocked_clients:%d\r\n" % blocked

    def keys(self, pattern: bytes):
        return [key for key in self.data if fnmatch.fnmatchcase(key, pattern)]

    def exists(self, *keys: bytes):
        return sum(key in self.data for key in keys)

    def delete(self, *keys: bytes):
        removed = sum(self.data.pop(key, None) is not None for key in keys)
        if removed:
            self._changed()
        return removed

    def save(self):
        self.save_now()
        return OK

    # -- strings

    def get(self, key: bytes):
        return self._typed(key, bytes)

    def set(self, key: bytes, value: bytes):
        self.data[key] = value
        self._changed()
        return OK

    def incr(self, key: bytes):
        return self.incrby(key, b"1")

    def incrby(self, key: bytes, amount: bytes):
        try:
            number = int(self._typed(key, bytes) or b"0") + int(amount)
        except ValueError:
            raise CommandError("ERR value is not an integer or out of range") from None
        self.data[key] = b"%d" % number
        self._changed()
        return number

    # -- lists: LPUSH adds at the head, RPOP/BRPOP take from the tail (a queue)

    def lpush(self, key: bytes, *values: bytes):
        return self._push(key, values, collections.deque.appendleft)

    def rpush(self, key: bytes, *values: bytes):
        return self._push(key, values, collections.deque.append)

    def _push(self, key, values, add) -> int:
        items = self._typed(key, collections.deque, create=True)
        for value in values:
            add(items, value)
        self._changed()
        self._pushed.set()
        self._pushed = asyncio.Event()
        return len(items)

    def rpop(self, key: bytes):
        items = self._typed(key, collections.deque)
        if not items:
            return None
        value = items.pop()
        self._drop_if_empty(key)
        self._changed()
        return value

    def llen(self, key: bytes):
        return len(self._typed(key, collections.deque) or ())

    def lrange(self, key: bytes, start: bytes, stop: bytes):
        items = list(self._typed(key, collections.deque) or ())
        first, last = _integer(start), _integer(stop)
        first = max(first + len(items) if first < 0 else first, 0)
        last = last + len(items) if last < 0 else last
        return items[first : last + 1]

    async def brpop(self, *args: bytes, client_gone):
        """Pop from the first non-empty list; wait up to `timeout` seconds (0: forever)."""
        *keys, timeout_arg = args
        timeout = _timeout(timeout_arg)
        loop = asyncio.get_running_loop()
        deadline = None if timeout == 0 else loop.time() + timeout
        self._blocked.add(client_gone)
        try:
            while not client_gone():  # never pop for a client that has gone: it would be lost
                for key in keys:
                    if self._typed(key, collections.deque):
                        return [key, self.rpop(key)]
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._pushed.wait(), remaining)
                except TimeoutError:
                    break
            return NULL_ARRAY
        finally:
            self._blocked.discard(client_gone)

    # -- hashes

    def hset(self, key: bytes, *pairs: bytes):
        if len(pairs) % 2:
            raise CommandError("ERR wrong number of arguments for 'hset' command")
        fields = self._typed(key, dict, create=True)
        added = 0
        for field, value in zip(pairs[::2], pairs[1::2], strict=True):
            added += field not in fields
            fields[field] = value
        self._changed()
        return added

    def hget(self, key: bytes, field: bytes):
        return (self._typed(key, dict) or {}).get(field)

    def hgetall(self, key: bytes):
        fields = self._typed(key, dict) or {}
        return [item for pair in fields.items() for item in pair]

    def hdel(self, key: bytes, *names: bytes):
        fields = self._typed(key, dict) or {}
        removed = sum(fields.pop(name, None) is not None for name in names)
        self._drop_if_empty(key)
        if removed:
            self._changed()
        return removed


def _integer(arg: bytes) -> int:
    try:
        return int(arg)
    except ValueError:
        raise CommandError("ERR value is not an integer or out of range") from None


def _timeout(arg: bytes) -> float:
    try:
        timeout = float(arg)
    except ValueError:
        raise CommandError("ERR timeout is not a float or out of range") from None
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    return timeout


# name: (method, fewest arguments, most arguments or None for no limit)
COMMANDS = {
    "PING": (Store.ping, 0, 1),
    "ECHO": (Store.echo, 1, 1),
    "DBSIZE": (Store.dbsize, 0, 0),
    "INFO": (Store.info, 0, 1),
    "KEYS": (Store.keys, 1, 1),
    "EXISTS": (Store.exists, 1, None),
    "DEL": (Store.delete, 1, None),
    "SAVE": (Store.save, 0, 0),
    "GET": (Store.get, 1, 1),
    "SET": (Store.set, 2, 2),
    "INCR": (Store.incr, 1, 1),
    "INCRBY": (Store.incrby, 2, 2),
    "LPUSH": (Store.lpush, 2, None),
    "RPUSH": (Store.rpush, 2, None),
    "RPOP": (Store.rpop, 1, 1),
    "LLEN": (Store.llen, 1, 1),
    "LRANGE": (Store.lrange, 3, 3),
    "BRPOP": (Store.brpop, 2, None),
    "HSET": (Store.hset, 3, None),
    "HGET": (Store.hget, 2, 2),
    "HGETALL": (Store.hgetall, 1, 1),
    "HDEL": (Store.hdel, 2, None),
}


# ---------------------------------------------------------------- server


async def serve_client(store: Store, reader, writer) -> None:
    try:
        while (args := await read_command(reader)) is not None:
            if not args:
                continue
            if args[0].upper() == b"QUIT":
                writer.write(encode(OK))
                break
            writer.write(encode(await store.execute(args, reader.at_eof)))
            await writer.drain()
    except ProtocolError as error:
        writer.write(encode(CommandError(f"ERR Protocol error: {error}")))
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    except asyncio.CancelledError:
        pass  # the server is stopping: end this connection quietly
    finally:
        writer.close()


async def main() -> None:
    bind = os.environ.get("STORE_BIND", "0.0.0.0")
    port = int(os.environ.get("STORE_PORT", "6379"))
    snapshot = Snapshot(os.environ.get("STORE_SNAPSHOT", ""))
    store = Store(snapshot, float(os.environ.get("STORE_SAVE_DELAY", "1.0")))
    store.save_now()  # fail now, not at the first change, when the snapshot cannot be written
    server = await asyncio.start_server(lambda r, w: serve_client(store, r, w), bind, port)
    # Explicit handlers: as PID 1 of its namespace the store gets no default signal actions.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log(f"listening on {bind}:{port}, {len(store.data)} keys loaded from {snapshot.path or '-'}")
    await stop.wait()
    server.close()
    store.save_now()
    log(f"stopping: saved {len(store.data)} keys")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (OSError, ValueError) as error:  # port taken, snapshot unreadable or unwritable
        log(f"error: {error}")
        sys.exit(1)
