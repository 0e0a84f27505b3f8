"""`ADD https://…`: the file fetched before the step (its content is part of the step's
cache key, as BuildKit checks it), named after the URL's last path component, mode 0600
and the server's Last-Modified time, as Docker gives it. `--checksum=sha256:…` must
match. A git URL is refused; an unreachable server is one line naming the URL.
"""

from __future__ import annotations

import email.utils
import hashlib
import posixpath
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from stackrun.errors import BuildError

TIMEOUT = 30.0
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Download:
    url: str
    path: str  # where it was saved
    name: str  # the file's name in the image
    digest: str
    mtime: int


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def is_git(source: str) -> bool:
    return source.startswith(("git@", "git://")) or source.endswith(".git")


def fetch(url: str, directory: Path, checksum: str | None = None) -> Download:
    import httpx

    name = _name(url)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    hasher = hashlib.sha256()
    try:
        client = httpx.Client(follow_redirects=True, timeout=TIMEOUT, trust_env=True)
        with client, client.stream("GET", url) as response:
            if response.status_code != 200:
                raise BuildError(f"ADD {url}: the server answered {response.status_code}")
            with open(path, "wb") as file:
                for chunk in response.iter_bytes(_CHUNK):
                    hasher.update(chunk)
                    file.write(chunk)
            modified = response.headers.get("Last-Modified")
    except httpx.HTTPError as error:
        raise BuildError(f"ADD {url}: cannot download it ({_reason(error)}); is the network "
                         "reachable? Put the file in the build context to build offline") from None  # fmt: skip
    digest = "sha256:" + hasher.hexdigest()
    if checksum and checksum != digest:
        raise BuildError(f"ADD {url}: checksum mismatch: expected {checksum}, got {digest}")
    return Download(url, str(path), name, digest, _mtime(modified))


def _name(url: str) -> str:
    name = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    if not name or name in (".", ".."):
        raise BuildError(f"ADD {url}: the URL names no file (its path ends with /)")
    return name


def _reason(error: Exception) -> str:
    text = str(error).strip()
    return text or type(error).__name__


def _mtime(header: str | None) -> int:
    if not header:
        return 0
    try:
        return int(email.utils.parsedate_to_datetime(header).timestamp())
    except (TypeError, ValueError):
        return 0
