"""What a registry asks before it answers: a Bearer token for a scope, or Basic auth.

Token requests follow the distribution spec's token auth: GET the realm with `service` and
`scope` (Basic auth when the user has a username and password), or, with an identity token
from `docker login`, the OAuth2 refresh-token grant (POST). The token answer's `token` or
`access_token` is then sent as `Authorization: Bearer …`.
"""

from __future__ import annotations

import base64
import json

import httpx

from stackrun.errors import ImageError
from stackrun.images.registry import credentials
from stackrun.images.registry.challenge import Challenge
from stackrun.images.registry.retry import DEFAULT, Policy, send, unreachable

CLIENT_ID = "stackrun"


class Authenticator:
    """The Authorization header for one registry and scope, renewed on demand."""

    def __init__(self, client: httpx.AsyncClient, registry: str, challenge: Challenge,
                 credential: credentials.Credential | None, scope: str,
                 policy: Policy = DEFAULT) -> None:  # fmt: skip
        self.client, self.registry, self.challenge = client, registry, challenge
        self.credential, self.scope, self.policy = credential, scope, policy
        self.header: dict[str, str] = {}

    @property
    def can_renew(self) -> bool:
        return self.challenge.scheme == "bearer"

    async def authorize(self) -> None:
        if self.challenge.scheme == "bearer":
            self.header = {"Authorization": f"Bearer {await self.token()}"}
        elif self.challenge.scheme == "basic" and self.credential:
            self.header = {"Authorization": basic(self.credential)}

    async def renew(self, challenge: Challenge) -> None:
        """After a 401: the new challenge may name another realm or a wider scope."""
        if challenge.scheme == "bearer":
            self.challenge = challenge
        await self.authorize()

    async def token(self) -> str:
        params = self.challenge.params
        realm = params.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise ImageError(f"{self.registry} asks for a token but names no realm URL")
        scope = params.get("scope") or self.scope
        request = self._token_request(realm, params.get("service", ""), scope)
        try:
            response = await send(self.client, request, self.policy)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except httpx.TransportError as error:
            raise unreachable(httpx.URL(realm).netloc.decode(), error) from None
        if response.status_code in (401, 403):
            raise refused(self.registry, self.credential, "a token", response.content)
        if response.status_code != 200:
            raise ImageError(f"token server {realm} answered {response.status_code}")
        return _token_of(response.content, realm)

    def _token_request(self, realm: str, service: str, scope: str) -> httpx.Request:
        credential = self.credential
        if credential and credential.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": credential.identity_token,
                    "service": service, "client_id": CLIENT_ID}  # fmt: skip
            if scope:
                form["scope"] = scope
            return self.client.build_request("POST", realm, data=form)
        query = {"service": service, **({"scope": scope} if scope else {})}
        headers = {"Authorization": basic(credential)} if credential else {}
        return self.client.build_request("GET", realm, params=query, headers=headers)


def _token_of(body: bytes, realm: str) -> str:
    try:
        answer = json.loads(body)
        token = answer.get("token") or answer.get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise ImageError(f"token server {realm} answered without a token")
    return token


def basic(credential: credentials.Credential) -> str:
    pair = f"{credential.username}:{credential.password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def refused(registry: str, credential: credentials.Credential | None, what: str,
            body: bytes) -> ImageError:  # fmt: skip
    if credential:
        return ImageError(
            f"{registry} refused the credentials for {what} (wrong, expired, or without "
            f"access to it): run `stackrun login {registry}`"
        )
    return ImageError(
        f"access to {what} denied: the repository does not exist or needs credentials "
        f"(`stackrun login {registry}`)"
    )
