"""The registry client against a real registry (docker-registry on 127.0.0.1): anonymous,
htpasswd Basic auth, token auth through a token server, TLS with our own CA, and a proxy
in front that fails, cuts and redirects."""

from __future__ import annotations

import base64
import hashlib
import json

import anyio
import pytest

from stackrun.errors import ImageError
from stackrun.images.reference import parse_reference
from stackrun.images.registry import credentials
from stackrun.images.registry.credentials import Credential
from stackrun.images.registry.manifest import parse_document
from stackrun.images.registry.transport import Policy, login, open_repository
from tests.helpers.oci import File, Image, Layer, busybox_layer, push, write_layout
from tests.helpers.registry import Certificates, Proxy, Registry, TokenServer, auth_file
from tests.helpers.waiting import free_port

FAST = Policy(retries=3, backoff=0.01, timeout=10)


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("layout")
    big = bytes(range(256)) * 4096  # 1 MiB, for cuts in the middle of a blob
    image = Image([busybox_layer(), Layer([File("data/big", big)], None)], cmd=("sh",))
    write_layout(root, {"v1": image})
    return root


@pytest.fixture(scope="module")
def anonymous(tmp_path_factory, layout):
    with Registry(tmp_path_factory.mktemp("anonymous")) as registry:
        push(layout, "v1", f"{registry.host}/test/app:v1")
        yield registry


def nobody(registry: str) -> None:
    return None


def fetch(reference: str, lookup=nobody, policy: Policy = FAST) -> dict:
    """Manifest, then every blob; what was received, by digest."""

    async def run():
        ref = parse_reference(reference)
        async with await open_repository(ref, lookup, policy) as repository:
            body, media_type, digest = await repository.manifest(ref.digest or ref.tag)
            manifest = parse_document(body, media_type)
            blobs = {}
            for descriptor in (manifest.config, *manifest.layers):
                data = b"".join(
                    [c async for c in repository.blob(descriptor.digest, descriptor.size)]
                )
                blobs[descriptor.digest] = data
            return {"digest": digest, "manifest": manifest, "blobs": blobs}

    return anyio.run(run)


def assert_intact(result: dict) -> None:
    for digest, data in result["blobs"].items():
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest


def test_anonymous_pull_of_manifest_and_blobs(anonymous):
    result = fetch(f"{anonymous.host}/test/app:v1")
    assert len(result["manifest"].layers) == 2
    assert_intact(result)
    pinned = fetch(f"{anonymous.host}/test/app@{result['digest']}")
    assert pinned["digest"] == result["digest"]


def test_unknown_repository_and_tag_say_so(anonymous):
    with pytest.raises(ImageError, match="repository nothing/here does not exist"):
        fetch(f"{anonymous.host}/nothing/here:v1")
    with pytest.raises(
        ImageError, match=r"tag v9 not found in 127\.0\.0\.1:\d+/test/app \(tags: v1\)"
    ):
        fetch(f"{anonymous.host}/test/app:v9")


def test_unreachable_registry_says_so():
    with pytest.raises(ImageError, match=r"registry 127\.0\.0\.1:\d+ is unreachable"):
        fetch(f"127.0.0.1:{free_port()}/test/app:v1")


def test_a_5xx_is_retried_with_back_off(anonymous):
    with Proxy(anonymous.url) as proxy:
        proxy.fail("GET", "/manifests/", 503, times=2)
        proxy.fail("GET", "/blobs/", 502, times=2)
        assert_intact(fetch(f"{proxy.host}/test/app:v1"))
        manifests = [s for s in proxy.seen if "/manifests/" in s.path]
        assert len(manifests) == 3  # two 503s, then the answer


def test_a_5xx_that_persists_is_an_error(anonymous):
    with Proxy(anonymous.url) as proxy:
        proxy.fail("GET", "/manifests/", 500, times=100)
        with pytest.raises(ImageError, match="answered 500"):
            fetch(f"{proxy.host}/test/app:v1")
        assert len([s for s in proxy.seen if "/manifests/" in s.path]) == FAST.retries + 1


def test_a_blob_cut_midway_resumes_with_range(anonymous):
    with Proxy(anonymous.url) as proxy:
        proxy.cut("GET", "/blobs/", after=300_000, times=2)
        result = fetch(f"{proxy.host}/test/app:v1")
        assert_intact(result)
        ranges = [s.headers.get("Range") for s in proxy.seen if "/blobs/" in s.path]
        offsets = [int(r[6:-1]) for r in ranges if r]
        assert offsets and all(0 < offset <= 2 * 300_000 for offset in offsets)  # not from 0


def test_redirect_to_blob_storage_drops_authorization(tmp_path, layout):
    """The registry (Basic auth) sends blob reads to another origin, as registries backed
    by object storage do: that origin must not see the registry's credentials."""
    users = {"ann": "pw"}
    with Registry(tmp_path / "registry", users=users) as registry:
        push(layout, "v1", f"{registry.host}/test/app:v1",
             REGISTRY_AUTH_FILE=str(auth_file(tmp_path, registry.host, "ann", "pw")))  # fmt: skip
        storage_auth = "Basic " + base64.b64encode(b"ann:pw").decode()
        with Proxy(registry.url, auth=storage_auth) as storage, Proxy(registry.url) as front:
            front.redirect("GET", "/blobs/", storage.url)
            result = fetch(f"{front.host}/test/app:v1", lambda r: Credential("ann", "pw"))
            assert_intact(result)
            assert all("Authorization" in s.headers for s in front.seen if "/v2/test" in s.path)
            assert storage.seen and all("Authorization" not in s.headers for s in storage.seen)


def test_basic_auth_with_credentials_and_refused_without(tmp_path, layout):
    with Registry(tmp_path / "registry", users={"ann": "pw"}) as registry:
        push(layout, "v1", f"{registry.host}/test/app:v1",
             REGISTRY_AUTH_FILE=str(auth_file(tmp_path, registry.host, "ann", "pw")))  # fmt: skip
        assert_intact(fetch(f"{registry.host}/test/app:v1", lambda r: Credential("ann", "pw")))
        with pytest.raises(ImageError, match="refused the credentials"):
            fetch(f"{registry.host}/test/app:v1", lambda r: Credential("ann", "wrong"))
        with pytest.raises(ImageError, match="needs credentials"):
            fetch(f"{registry.host}/test/app:v1")
        anyio.run(login, registry.host, Credential("ann", "pw"), FAST)
        with pytest.raises(ImageError, match="refused the credentials"):
            anyio.run(login, registry.host, Credential("ann", "nope"), FAST)


@pytest.fixture
def token_registry(tmp_path, layout):
    tokens = TokenServer(users={"ann": "pw"}, refresh_tokens={"refresh-1": "ann"})
    with tokens, Registry(tmp_path / "registry", tokens=tokens) as registry:
        push(layout, "v1", f"{registry.host}/test/app:v1",
             REGISTRY_AUTH_FILE=str(auth_file(tmp_path, registry.host, "ann", "pw")))  # fmt: skip
        tokens.requests.clear()
        yield registry, tokens


def test_token_auth_asks_the_repositorys_pull_scope(token_registry):
    registry, tokens = token_registry
    assert_intact(fetch(f"{registry.host}/test/app:v1", lambda r: Credential("ann", "pw")))
    assert [(r.method, r.user, r.scope) for r in tokens.requests] == [
        ("GET", "ann", "repository:test/app:pull")
    ]


def test_token_auth_refuses_wrong_password_and_anonymous(token_registry):
    registry, _ = token_registry
    with pytest.raises(ImageError, match="refused the credentials"):
        fetch(f"{registry.host}/test/app:v1", lambda r: Credential("ann", "wrong"))
    with pytest.raises(ImageError, match="needs credentials"):
        fetch(f"{registry.host}/test/app:v1")


def test_identity_token_is_exchanged_with_the_refresh_grant(token_registry):
    registry, tokens = token_registry
    assert_intact(
        fetch(f"{registry.host}/test/app:v1", lambda r: Credential(identity_token="refresh-1"))
    )
    assert [(r.method, r.grant, r.user) for r in tokens.requests] == [
        ("POST", "refresh_token", "ann")
    ]


def test_an_expired_token_is_renewed_once(token_registry):
    """The token server's tokens expire at once: every 401 gets a fresh token."""
    registry, tokens = token_registry
    tokens.lifetime = -100
    with pytest.raises(ImageError, match="refused the credentials"):
        fetch(f"{registry.host}/test/app:v1", lambda r: Credential("ann", "pw"))
    assert len(tokens.requests) == 2  # the first token, then one renewal, no loop


def test_login_and_credentials_from_config_json(token_registry, tmp_path, monkeypatch):
    registry, tokens = token_registry
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    anyio.run(login, registry.host, Credential("ann", "pw"), FAST)
    assert tokens.requests[-1].scope == ""  # login asks a token without scope
    credentials.save(registry.host, Credential("ann", "pw"))
    assert_intact(fetch(f"{registry.host}/test/app:v1", credentials.lookup))
    document = json.loads((tmp_path / "docker" / "config.json").read_text())
    assert registry.host in document["auths"]


def test_tls_with_an_unknown_ca_fails_and_the_systems_ca_store_is_used(
    tmp_path, layout, monkeypatch
):
    """A loopback registry that speaks TLS is verified: its certificate must chain to a CA
    that OpenSSL's default paths know (SSL_CERT_FILE stands for the system's store)."""
    certificates = Certificates(tmp_path / "tls")
    with Registry(tmp_path / "registry", tls=certificates) as registry:
        push(layout, "v1", f"{registry.host}/test/app:v1")  # skopeo: TLS, not verified
        with pytest.raises(ImageError, match=r"TLS with 127\.0\.0\.1:\d+ failed: .*certificate"):
            fetch(f"{registry.host}/test/app:v1")
        monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
        assert_intact(fetch(f"{registry.host}/test/app:v1"))


def test_https_proxy_from_the_environment_carries_the_requests(anonymous, monkeypatch):
    """HTTP_PROXY (the registry is plain HTTP here; HTTPS_PROXY works alike for https)."""
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        assert_intact(fetch(f"{anonymous.host}/test/app:v1"))
        assert any("/v2/test/app/manifests/v1" in line for line in proxy.requests)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        count = len(proxy.requests)
        assert_intact(fetch(f"{anonymous.host}/test/app:v1"))
        assert len(proxy.requests) == count


class ForwardProxy:
    """A forward proxy for plain HTTP (absolute-form requests), recording request lines."""

    def __enter__(self):
        import http.server
        import threading
        import urllib.request

        requests = self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                requests.append(self.requestline)
                upstream = urllib.request.Request(self.path, headers=dict(self.headers.items()))
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                try:
                    response = opener.open(upstream, timeout=10)
                except urllib.error.HTTPError as error:
                    response = error
                body = response.read()
                self.send_response(
                    response.status if hasattr(response, "status") else response.code
                )
                for key, value in response.headers.items():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_a_manifest_tampered_with_on_the_registrys_disk_is_refused(tmp_path, layout):
    with Registry(tmp_path / "registry") as registry:
        push(layout, "v1", f"{registry.host}/test/app:v1")
        digest = fetch(f"{registry.host}/test/app:v1")["digest"]
        path = registry.blob_file(digest)
        original = path.read_bytes()
        path.write_bytes(original.replace(b'"schemaVersion": 2', b'"schemaVersion":  2'))
        assert path.read_bytes() != original  # same meaning, other bytes
        for reference in (f"{registry.host}/test/app:v1", f"{registry.host}/test/app@{digest}"):
            with pytest.raises(ImageError, match=f"digest mismatch \\(expected {digest}"):
                fetch(reference)


def test_a_token_server_5xx_is_retried(tmp_path, layout):
    with (
        TokenServer(users={"ann": "pw"}) as tokens,
        Proxy(f"http://127.0.0.1:{tokens.port}") as front,
    ):
        tokens.realm = f"{front.url}/token"  # the registry sends clients through the proxy
        with Registry(tmp_path / "registry", tokens=tokens) as registry:
            push(layout, "v1", f"{registry.host}/test/app:v1",
                 REGISTRY_AUTH_FILE=str(auth_file(tmp_path, registry.host, "ann", "pw")))  # fmt: skip
            front.fail("GET", "/token", 503, times=2)
            assert_intact(fetch(f"{registry.host}/test/app:v1", lambda r: Credential("ann", "pw")))
            assert [s.path.startswith("/token") for s in front.seen[-3:]] == [True] * 3
