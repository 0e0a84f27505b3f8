"""A real registry for tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1,
with its own config and storage directory, and what stands around registries in the wild.

    with Registry(tmp_path) as registry:                       # anonymous, plain HTTP
        push(layout, "v1", f"{registry.host}/test/app:v1")
    with Registry(tmp_path, users={"ann": "pw"}) as registry:  # htpasswd Basic auth
    with TokenServer(users={"ann": "pw"}) as tokens, Registry(tmp_path, tokens=tokens): …
    with Registry(tmp_path, tls=Certificates(tmp_path)) as registry:   # HTTPS, own CA
    with Proxy(registry.url) as proxy: proxy.fail("GET", "/blobs/", 503, times=2)

`TokenServer` is the distribution spec's token service, small: it checks Basic auth (or a
refresh token), grants what a user may do and signs a JWT that the registry verifies
against the certificate it was configured with. `Proxy` forwards to a registry and
injects faults (5xx, a connection cut midway, a redirect to another origin), recording the
requests it saw.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from tests.helpers.waiting import free_port, wait_until

SERVICE = "stackrun-test-registry"
ISSUER = "stackrun-test-tokens"
START_TIMEOUT = 20.0


def wait_listening(port: int, process: subprocess.Popen | None = None,
                   timeout: float = START_TIMEOUT) -> None:  # fmt: skip
    """Until 127.0.0.1:port accepts; fails on timeout, at once when `process` died."""

    def accepts() -> bool:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the registry exited ({process.returncode}) before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    wait_until(accepts, f"a listener on 127.0.0.1:{port}", timeout)


# ---------------------------------------------------------------- keys and certificates


class Certificates:
    """A CA, a server certificate for 127.0.0.1/localhost signed by it, and an RSA key
    for signing tokens, all as PEM files under `directory`."""

    def __init__(self, directory: Path):
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ca_cert = self._certificate(
            "stackrun test CA", self.ca_key, self.ca_key, None, ca=True
        )
        self.server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        server = self._certificate("127.0.0.1", self.server_key, self.ca_key, self.ca_cert)
        self.ca = self._write("ca.pem", self.ca_cert)
        self.cert = self._write("server.pem", server)
        self.key = self._write_key("server.key", self.server_key)

    def _certificate(self, name, key, signer, issuer, ca: bool = False):
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import NameOID

        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    def _write(self, name: str, certificate) -> Path:
        from cryptography.hazmat.primitives.serialization import Encoding

        path = self.directory / name
        path.write_bytes(certificate.public_bytes(Encoding.PEM))
        return path

    def _write_key(self, name: str, key) -> Path:
        from cryptography.hazmat.primitives import serialization as s

        path = self.directory / name
        path.write_bytes(key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
        return path


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(public_key) -> str:
    """The `kid` distribution 2.8 looks its trusted keys up by (docker/libtrust): base32 of
    the first 240 bits of sha256(SubjectPublicKeyInfo DER), in groups of four."""
    from cryptography.hazmat.primitives import serialization as s

    der = public_key.public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


# ---------------------------------------------------------------- the token server


@dataclass
class TokenRequest:
    method: str
    user: str  # "" when anonymous
    scope: str
    service: str
    grant: str = ""  # "refresh_token" for an identity-token exchange


@dataclass
class TokenServer:
    """Grants pull+push to known users, pull to anyone when `anonymous_pull`; refuses a
    wrong password with 401. `refresh_tokens` maps an identity token to a user."""

    users: dict[str, str] = field(default_factory=dict)
    anonymous_pull: bool = False
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    lifetime: int = 300  # seconds a token is valid
    requests: list[TokenRequest] = field(default_factory=list)

    def __enter__(self) -> Self:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.directory = Path(os.environ.get("TMPDIR", "/tmp")) / f"tokens-{uuid.uuid4().hex[:8]}"
        self.certificates = Certificates(self.directory)
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.bundle = self.certificates._write(
            "token.pem",
            self.certificates._certificate(ISSUER, self.signing_key, self.signing_key, None),
        )
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(self))
        self.port = self.server.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def grant(self, user: str, scope: str) -> list[dict]:
        """The access entries of a token for `user` ("" = anonymous) asking `scope`."""
        access = []
        for item in filter(None, scope.split(" ")):
            kind, _, rest = item.partition(":")
            name, _, actions = rest.rpartition(":")
            allowed = (
                {"pull", "push", "*"} if user else ({"pull"} if self.anonymous_pull else set())
            )
            granted = [a for a in actions.split(",") if a in allowed]
            if kind == "repository" and granted:
                access.append({"type": kind, "name": name, "actions": granted})
        return access

    def token(self, user: str, scope: str) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "kid": libtrust_key_id(self.signing_key.public_key()),
        }
        claims = {"iss": ISSUER, "sub": user, "aud": SERVICE, "exp": now + self.lifetime,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                  "access": self.grant(user, scope)}  # fmt: skip
        signed = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.signing_key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signed}.{_b64url(signature)}"


def _token_handler(server: TokenServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            user = self._basic_user()
            if user is None:
                return self._answer(401, {"details": "wrong user name or password"})
            scope = " ".join(query.get("scope", []))
            server.requests.append(TokenRequest("GET", user, scope, _one(query, "service")))
            self._answer(200, {"token": server.token(user, scope), "expires_in": server.lifetime})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            refresh = _one(form, "refresh_token")
            user = server.refresh_tokens.get(refresh)
            scope = _one(form, "scope")
            server.requests.append(TokenRequest("POST", user or "", scope, _one(form, "service"),
                                                _one(form, "grant_type")))  # fmt: skip
            if _one(form, "grant_type") != "refresh_token" or user is None:
                return self._answer(401, {"error": "invalid_grant"})
            self._answer(200, {"access_token": server.token(user, scope), "expires_in": 300})

        def _basic_user(self) -> str | None:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return ""
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return user if server.users.get(user) == password else None

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _one(query: dict, key: str) -> str:
    values = query.get(key) or [""]
    return values[0]


# ---------------------------------------------------------------- the registry


class Registry:
    """`docker-registry serve` on 127.0.0.1:<free port>, storage under `directory`."""

    def __init__(self, directory: Path, users: dict[str, str] | None = None,
                 tokens: TokenServer | None = None, tls: Certificates | None = None):  # fmt: skip
        self.directory, self.users, self.tokens, self.tls = directory, users, tokens, tls
        self.storage = directory / "storage"
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def __enter__(self) -> Self:
        binary = shutil.which("docker-registry")
        if not binary:
            raise RuntimeError("docker-registry is missing: .ci/run installs it")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = self.directory / "config.yml"
        config.write_text(json.dumps(self._config()))  # YAML is a superset of JSON
        log = open(self.directory / "registry.log", "wb")
        self.process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
        log.close()
        try:
            wait_listening(self.port, self.process)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _config(self) -> dict:
        http_section: dict = {"addr": self.host, "secret": uuid.uuid4().hex}
        if self.tls:
            http_section["tls"] = {"certificate": str(self.tls.cert), "key": str(self.tls.key)}
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)},
                        "delete": {"enabled": True}},
            "http": http_section,
        }  # fmt: skip
        if self.users is not None:
            config["auth"] = {"htpasswd": {"realm": "test", "path": str(self._htpasswd())}}
        if self.tokens is not None:
            config["auth"] = {"token": {"realm": self.tokens.realm, "service": SERVICE,
                                        "issuer": ISSUER, "rootcertbundle": str(self.tokens.bundle)}}  # fmt: skip
        return config

    def _htpasswd(self) -> Path:
        import bcrypt

        path = self.directory / "htpasswd"
        lines = [
            f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}"
            for user, password in (self.users or {}).items()
        ]
        path.write_text("\n".join(lines) + "\n")
        return path

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps a blob on disk (to tamper with it)."""
        hexpart = digest.removeprefix("sha256:")
        return self.storage / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"


def auth_file(directory: Path, registry: str, user: str, password: str) -> Path:
    """A containers-auth.json for skopeo (REGISTRY_AUTH_FILE) to push with credentials."""
    path = directory / f"auth-{uuid.uuid4().hex[:6]}.json"
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {registry: {"auth": pair}}}))
    return path


# ---------------------------------------------------------------- a proxy with faults


@dataclass
class Fault:
    method: str
    pattern: str  # a regex searched in the path
    action: str  # "status", "cut" (send `value` bytes of the body, then close), "redirect"
    value: object
    times: int  # how many matching requests it applies to


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class Proxy:
    """Forwards every request to `upstream` (http://host:port), except those a fault
    matches. `auth` (a header value) is added to forwarded requests that have none."""

    def __init__(self, upstream: str, auth: str = ""):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.auth = auth
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    def fail(self, method: str, pattern: str, status: int, times: int = 1) -> None:
        self.faults.append(Fault(method, pattern, "status", status, times))

    def cut(self, method: str, pattern: str, after: int, times: int = 1) -> None:
        self.faults.append(Fault(method, pattern, "cut", after, times))

    def redirect(self, method: str, pattern: str, base: str, times: int = 1_000_000) -> None:
        self.faults.append(Fault(method, pattern, "redirect", base, times))

    def __enter__(self) -> Self:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(self))
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and re.search(fault.pattern, path):
                    fault.times -= 1
                    return fault
        return None


def _proxy_handler(proxy: Proxy):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            self._handle()

        def do_HEAD(self) -> None:
            self._handle()

        def _handle(self) -> None:
            proxy.seen.append(Seen(self.command, self.path, dict(self.headers.items())))
            fault = proxy.take_fault(self.command, self.path)
            if fault and fault.action == "status":
                return self._status(int(fault.value))  # type: ignore[arg-type]
            if fault and fault.action == "redirect":
                self.send_response(307)
                self.send_header("Location", f"{fault.value}{self.path}")
                self.send_header("Content-Length", "0")
                return self.end_headers()
            self._forward(int(fault.value) if fault else None)  # type: ignore[arg-type]

        def _status(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _forward(self, cut_after: int | None) -> None:
            upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port,
                                                  timeout=30)  # fmt: skip
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            if proxy.auth and "Authorization" not in headers:
                headers["Authorization"] = proxy.auth
            upstream.request(self.command, self.path, headers=headers)
            response = upstream.getresponse()
            body = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if cut_after is not None:
                self.wfile.write(body[:cut_after])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif self.command != "HEAD":
                self.wfile.write(body)
            upstream.close()

    return Handler
