#!/usr/bin/env python3
"""HTTP JSON API of the webapp example, standard library only. Data lives in the store.

    GET    /health       200 {"status": "ok"} when the store answers PING, else 503
    GET    /items        every item
    POST   /items        {"name": …} -> 201 the new item, with its id
    GET    /items/<id>   one item (404 when unknown);  DELETE /items/<id> removes it
    POST   /jobs         {"text": …} -> 202 {"id": N, "status": "queued"}; the worker takes it
    GET    /jobs/<id>    the job, with its result once the worker is done

Environment: API_BIND (0.0.0.0), API_PORT (8000), STORE_HOST, STORE_PORT (see resp.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from resp import Client, RespError

MAX_BODY = 1024 * 1024
ITEMS = "items"  # hash: id -> item JSON
ITEM_IDS = "items:last_id"
JOB_IDS = "jobs:last_id"
JOB_QUEUE = "jobs:queue"  # list of job ids; LPUSH here, the worker BRPOPs


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class StorePool:
    """Store connections for the server's threads: each request borrows one and gives it back."""

    def __init__(self):
        self._idle: queue.LifoQueue[Client] = queue.LifoQueue()

    @contextlib.contextmanager
    def borrow(self):
        try:
            client = self._idle.get_nowait()
        except queue.Empty:
            client = Client(timeout=2.0)
        try:
            yield client
        finally:
            self._idle.put(client)  # after a failure it reconnects on its next call


def job_key(job_id) -> str:
    return f"job:{job_id}"


# ---------------------------------------------------------------- routes


def health(store, _match, _body):
    store.call("PING")
    return 200, {"status": "ok"}


def list_items(store, _match, _body):
    pairs = store.call("HGETALL", ITEMS)
    items = [json.loads(value) for value in pairs[1::2]]
    return 200, sorted(items, key=lambda item: item["id"])


def create_item(store, _match, body):
    name = _required_text(body, "name")
    item = {"id": store.call("INCR", ITEM_IDS), "name": name}
    store.call("HSET", ITEMS, item["id"], json.dumps(item))
    return 201, item


def get_item(store, match, _body):
    return 200, json.loads(_found(store.call("HGET", ITEMS, match["id"]), "item"))


def delete_item(store, match, _body):
    _found(store.call("HDEL", ITEMS, match["id"]), "item")
    return 200, {"deleted": int(match["id"])}


def create_job(store, _match, body):
    text = _required_text(body, "text")
    job = {"id": store.call("INCR", JOB_IDS), "status": "queued", "text": text}
    store.call("SET", job_key(job["id"]), json.dumps(job))
    store.call("LPUSH", JOB_QUEUE, job["id"])
    return 202, {"id": job["id"], "status": "queued"}


def get_job(store, match, _body):
    return 200, json.loads(_found(store.call("GET", job_key(match["id"])), "job"))


def _required_text(body, key: str) -> str:
    if not isinstance(body, dict) or not isinstance(body.get(key), str):
        raise HttpError(400, f'expected a JSON object with a string "{key}"')
    return body[key]


def _found(value, what: str):
    if not value:
        raise HttpError(404, f"no such {what}")
    return value


ROUTES = [
    ("GET", r"/health", health),
    ("GET", r"/items", list_items),
    ("POST", r"/items", create_item),
    ("GET", r"/items/(?P<id>\d+)", get_item),
    ("DELETE", r"/items/(?P<id>\d+)", delete_item),
    ("POST", r"/jobs", create_job),
    ("GET", r"/jobs/(?P<id>\d+)", get_job),
]


def route(method: str, path: str):
    """The handler and the path's match; HttpError 404/405 when none fits."""
    allowed = False
    for route_method, pattern, handler in ROUTES:
        match = re.fullmatch(pattern, path)
        if match and route_method == method:
            return handler, match
        allowed = allowed or bool(match)
    raise HttpError(405 if allowed else 404, "method not allowed" if allowed else "not found")


# ---------------------------------------------------------------- HTTP


class Handler(BaseHTTPRequestHandler):
    server_version = "webapp-api/1"
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self._respond()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _respond(self):
        try:
            body = self._body()  # read first: an unread body would spoil the next request
            handler, match = route(self.command, self.path.split("?", 1)[0])
            with self.server.stores.borrow() as store:
                status, payload = handler(store, match, body)
        except HttpError as error:
            status, payload = error.status, {"error": str(error)}
        except (ConnectionError, RespError) as error:
            status, payload = 503, {"error": f"store unavailable: {error}"}
        self._send_json(status, payload)

    def _body(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True  # the body is left unread
            raise HttpError(413 if length > 0 else 400, f"Content-Length must be 0 to {MAX_BODY}")
        if not length:
            return None
        try:
            return json.loads(self.rfile.read(length))
        except ValueError:
            raise HttpError(400, "body is not valid JSON") from None

    def _send_json(self, status: int, payload) -> None:
        data = json.dumps(payload).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        print(f"api: {self.address_string()} {format % args}", flush=True)


def main() -> int:
    bind = os.environ.get("API_BIND", "0.0.0.0")
    port = int(os.environ.get("API_PORT", "8000"))
    try:
        server = ThreadingHTTPServer((bind, port), Handler)
        server.stores = StorePool()
    except OSError as error:
        print(f"api: cannot listen on {bind}:{port}: {error}", flush=True)
        return 1

    # Explicit handlers: as PID 1 of its namespace the API gets no default signal actions.
    # shutdown() waits for serve_forever() to return, so it must run on another thread.
    def stop(signum, _frame):
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    store = Client()
    print(f"api: listening on {bind}:{port}, store at {store.host}:{store.port}", flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    print("api: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
