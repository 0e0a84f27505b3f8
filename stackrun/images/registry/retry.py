"""Sending a request to a registry or a token server: retries with exponential back-off
on lost connections, 429 and 5xx; TLS failures and refusals are not retried. And the
words for a registry that cannot be reached."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import httpx

from stackrun.errors import ImageError
from stackrun.images.registry import hosts

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Policy:
    """How hard to try: attempts after the first, the first back-off (doubled each time)."""

    retries: int = 4
    backoff: float = 0.5
    timeout: float = 30.0
    chunk: int = 1 << 18


DEFAULT = Policy()


async def send(client: httpx.AsyncClient, request: httpx.Request, policy: Policy) -> httpx.Response:
    """Send with retries and exponential back-off on lost connections and 429/5xx;
    the response is streamed (the caller closes it)."""
    for attempt in range(policy.retries + 1):
        last = attempt == policy.retries
        try:
            response = await client.send(request, stream=True)
        except httpx.TransportError as error:
            if last or is_certificate_error(error) or _is_refused_tls(error):
                raise
        else:
            if response.status_code not in RETRY_STATUSES or last:
                return response
            await response.aclose()
        await anyio.sleep(policy.backoff * 2**attempt)
    raise AssertionError("unreachable")


def is_certificate_error(error: BaseException) -> bool:
    return _in_chain(error, lambda e: isinstance(e, ssl.SSLCertVerificationError))


def _is_refused_tls(error: BaseException) -> bool:
    """A TLS handshake with a server that speaks plain HTTP: retrying will not help."""
    return _in_chain(error, lambda e: isinstance(e, ssl.SSLError))


def _in_chain(error: BaseException | None, test: Callable[[BaseException], bool]) -> bool:
    seen = 0
    while error is not None and seen < 10:
        if test(error):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def unreachable(registry: str, error: BaseException) -> ImageError:
    if is_certificate_error(error):
        return ImageError(
            f"TLS with {registry} failed: {_reason(error)}. Install its CA in the system's "
            f"store (update-ca-certificates), or list it in {hosts.INSECURE_ENV}"
        )
    return ImageError(
        f"registry {registry} is unreachable ({_reason(error)}): check the name, the network, "
        "and HTTPS_PROXY/NO_PROXY"
    )


def _reason(error: BaseException) -> str:
    while error.__cause__ or error.__context__:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return getattr(error, "verify_message", None) or str(error) or type(error).__name__
