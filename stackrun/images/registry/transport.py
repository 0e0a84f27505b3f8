"""One repository of one registry over HTTP, with auth, retries and redirects inside.

Modelled on go-containerregistry's transport: ping `/v2/`; a 401 there carries the
challenge (Bearer: fetch a token for the repository's scope from the realm, anonymously
or with the user's credential; Basic: send the credential); a 401 later means the token
expired or lacks scope, so fetch one again and retry once. Callers never see auth.

    repository = await open_repository(reference)        # pings, authenticates
    body, media_type, digest = await repository.manifest("7")
    async for chunk in repository.blob(digest, size): …  # resumed with Range when cut
    await repository.aclose()

TLS uses the system's CAs (OpenSSL's default paths: /etc/ssl/certs, SSL_CERT_FILE), not
certifi's bundle, so a corporate CA installed on the host works. Loopback registries try
HTTPS first and fall back to plain HTTP only when the server does not speak TLS (a bad
certificate stays an error); registries the user lists as insecure (hosts.py) also skip
verification. Redirects are followed; httpx drops Authorization when one leaves the
registry's origin (blob storage must not see the registry's token). Proxies come from
HTTPS_PROXY / HTTP_PROXY / NO_PROXY (httpx's trust_env).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Self

import anyio
import httpx

from stackrun.errors import ImageError
from stackrun.images.model import Reference
from stackrun.images.registry import credentials, hosts
from stackrun.images.registry.auth import Authenticator, refused
from stackrun.images.registry.challenge import NONE, Challenge, parse_challenge
from stackrun.images.registry.manifest import ACCEPT
from stackrun.images.registry.retry import DEFAULT, Policy, is_certificate_error, send, unreachable

USER_AGENT = "stackrun/0.1"


CredentialLookup = Callable[[str], "credentials.Credential | None"]


def make_client(registry: str, policy: Policy = DEFAULT) -> httpx.AsyncClient:
    listed_insecure = hosts.is_insecure(registry) and not hosts.is_loopback(registry)
    return httpx.AsyncClient(
        verify=False if listed_insecure else system_tls(),
        timeout=httpx.Timeout(policy.timeout, connect=min(policy.timeout, 10.0)),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        trust_env=True,
    )


def system_tls() -> ssl.SSLContext:
    """The system's CAs, as OpenSSL finds them (SSL_CERT_FILE / SSL_CERT_DIR honoured)."""
    return ssl.create_default_context()


async def open_repository(
    reference: Reference,
    lookup: CredentialLookup = credentials.lookup,
    policy: Policy = DEFAULT,
    actions: str = "pull",
) -> Repository:
    """Ping the registry and authenticate for `reference.repository`."""
    client = make_client(reference.registry, policy)
    try:
        base, challenge = await ping(client, reference.registry, policy)
        credential = _lookup(lookup, reference.registry)
        scope = f"repository:{reference.repository}:{actions}"
        auth = Authenticator(client, reference.registry, challenge, credential, scope, policy)
        await auth.authorize()
    except BaseException:
        await client.aclose()
        raise
    return Repository(reference, client, base, auth, policy)


async def login(
    registry: str, credential: credentials.Credential, policy: Policy = DEFAULT
) -> None:
    """Check `credential` against the registry as `login` does: a token without a scope
    (Bearer), or /v2/ itself (Basic). Raises ImageError when refused."""
    async with make_client(registry, policy) as client:
        base, challenge = await ping(client, registry, policy)
        auth = Authenticator(client, registry, challenge, credential, "", policy)
        await auth.authorize()
        if challenge.scheme != "basic":
            return
        request = client.build_request("GET", f"{base}/", headers=auth.header)
        try:
            response = await send(client, request, policy)
        except httpx.TransportError as error:
            raise unreachable(registry, error) from None
        await response.aclose()
        if response.status_code != 200:
            raise refused(registry, credential, registry, b"")


def _lookup(lookup: CredentialLookup, registry: str) -> credentials.Credential | None:
    try:
        return lookup(registry)
    except credentials.CredentialsError as error:
        raise ImageError(f"credentials: {error}") from None


async def ping(
    client: httpx.AsyncClient, registry: str, policy: Policy = DEFAULT
) -> tuple[str, Challenge]:
    """The API's base URL (`https://host/v2`) and what it asks of a client without auth."""
    schemes = ("https", "http") if hosts.is_insecure(registry) else ("https",)
    for scheme in schemes:
        base = f"{scheme}://{registry}/v2"
        try:
            response = await send(client, client.build_request("GET", f"{base}/"), policy)
        except httpx.TransportError as error:
            if scheme == schemes[-1] or is_certificate_error(error):
                raise unreachable(registry, error) from None
            continue
        await response.aclose()
        if response.status_code == 401:
            return base, parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if response.status_code == 200:
            return base, NONE
        raise ImageError(
            f"{registry} does not answer as a registry (GET /v2/: {response.status_code})"
        )
    raise AssertionError("unreachable")


class Repository:
    """One repository, authenticated: manifests and blobs."""

    def __init__(self, reference: Reference, client: httpx.AsyncClient, base: str,
                 auth: Authenticator, policy: Policy) -> None:  # fmt: skip
        self.reference, self.client, self.base = reference, client, base
        self.auth, self.policy = auth, policy

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(self, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
        """A streamed response, authenticated; one new token and a retry after a 401."""
        url = f"{self.base}/{self.reference.repository}/{path}"
        for fresh in (False, True):
            request = self.client.build_request(
                method, url, headers={**headers, **self.auth.header}
            )
            try:
                response = await send(self.client, request, self.policy)
            except httpx.TransportError as error:
                raise unreachable(self.reference.registry, error) from None
            if response.status_code != 401 or fresh or not self.auth.can_renew:
                return response
            await response.aclose()
            await self.auth.renew(parse_challenge(response.headers.get("WWW-Authenticate", "")))
        raise AssertionError("unreachable")

    async def manifest(self, tag_or_digest: str, accept: str = ACCEPT) -> tuple[bytes, str, str]:
        """The document, its media type and its digest (checked when pinned or announced)."""
        response = await self.request("GET", f"manifests/{tag_or_digest}", {"Accept": accept})
        try:
            if response.status_code == 404:
                raise ImageError(await self.missing(tag_or_digest, await response.aread()))
            await self.check(response, f"manifest {tag_or_digest}")
            body = await response.aread()
        except httpx.TransportError as error:
            raise unreachable(self.reference.registry, error) from None
        finally:
            await response.aclose()
        digest = "sha256:" + _sha256(body)
        announced = response.headers.get("Docker-Content-Digest", "")
        expected = tag_or_digest if tag_or_digest.startswith("sha256:") else announced
        if expected.startswith("sha256:") and expected != digest:
            raise ImageError(
                f"manifest {tag_or_digest}: digest mismatch (expected {expected}, got {digest}): "
                "the registry's copy is corrupt or was tampered with"
            )
        return body, response.headers.get("Content-Type", ""), digest

    async def blob(self, digest: str, size: int | None = None) -> AsyncIterator[bytes]:
        """The blob's bytes as they arrive. A connection lost midway is resumed with Range
        (or the bytes already had are skipped when the server ignores Range)."""
        received, failures = 0, 0
        while True:
            headers = {"Accept-Encoding": "identity"}
            if received:
                headers["Range"] = f"bytes={received}-"
            response = await self.request("GET", f"blobs/{digest}", headers)
            try:
                await self.check(response, f"blob {digest}")
                skip = received if response.status_code == 200 else 0
                async for chunk in response.aiter_raw(self.policy.chunk):
                    if skip:
                        chunk, skip = chunk[skip:], max(0, skip - len(chunk))
                    if chunk:
                        received += len(chunk)
                        yield chunk
                if size is None or received >= size:
                    return
            except httpx.TransportError as error:
                failures += 1
                if failures > self.policy.retries:
                    raise unreachable(self.reference.registry, error) from None
            finally:
                await response.aclose()
            await anyio.sleep(self.policy.backoff * 2 ** min(failures, 6))

    async def missing(self, tag_or_digest: str, body: bytes) -> str:
        """Why a manifest is not found: no such repository, or no such tag (and which
        tags there are). Registries answer MANIFEST_UNKNOWN for both; the tag list tells."""
        response = await self.request("GET", "tags/list?n=1000", {})
        try:
            listing = await response.aread() if response.status_code == 200 else b""
            codes = error_codes(await response.aread()) + error_codes(body)
        finally:
            await response.aclose()
        name = self.reference.name
        if response.status_code == 404 or "NAME_UNKNOWN" in codes:
            return f"repository {self.reference.repository} does not exist on {self.reference.registry}"
        try:
            tags = sorted(json.loads(listing).get("tags") or [])
        except (ValueError, AttributeError):
            tags = []
        shown = ", ".join(tags[:10]) + (", …" if len(tags) > 10 else "")
        what = "manifest" if tag_or_digest.startswith("sha256:") else "tag"
        return f"{what} {tag_or_digest} not found in {name}" + (f" (tags: {shown})" if tags else "")

    async def check(self, response: httpx.Response, what: str) -> None:
        if response.status_code in (200, 206):
            return
        body = (await response.aread())[:4096]
        if response.status_code in (401, 403):
            raise refused(self.reference.registry, self.auth.credential, what, body)
        raise ImageError(registry_problem(response.status_code, body, what, self.reference))


def registry_problem(status: int, body: bytes, what: str, reference: Reference) -> str:
    """The registry's error (distribution spec: {"errors": [{"code", "message"}]}) in words."""
    codes = error_codes(body)
    if "NAME_UNKNOWN" in codes or (status == 404 and "MANIFEST_UNKNOWN" not in codes and
                                   what.startswith("manifest") and not codes):  # fmt: skip
        return f"repository {reference.repository} does not exist on {reference.registry}"
    if "MANIFEST_UNKNOWN" in codes or (status == 404 and what.startswith("manifest")):
        return f"{what} not found in {reference.name}"
    if status == 404:
        return f"{what} not found in {reference.name} (the registry lost it)"
    detail = ", ".join(codes) or body.decode("utf-8", "replace").strip()[:200]
    return f"{what}: the registry answered {status}{f' ({detail})' if detail else ''}"


def error_codes(body: bytes) -> list[str]:
    try:
        errors = json.loads(body).get("errors") or []
        return [str(e.get("code")) for e in errors if isinstance(e, dict)]
    except (ValueError, AttributeError):
        return []


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
