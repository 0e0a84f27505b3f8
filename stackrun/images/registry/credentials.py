"""Registry credentials where Docker keeps them: `$DOCKER_CONFIG/config.json` (default
~/.docker/config.json), so `docker login` and `stackrun login` serve each other.

    {"auths": {"ghcr.io": {"auth": base64("user:password")},
               "https://index.docker.io/v1/": {"identitytoken": "…"}},
     "credsStore": "secretservice",            # docker-credential-secretservice for all
     "credHelpers": {"123.dkr.ecr.…": "ecr-login"}}   # …or per registry (wins)

A helper is run as `docker-credential-NAME get|store|erase` with the server on stdin, as
Docker does. The file is rewritten whole, 0600, by a rename: other keys are kept.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stackrun.images.model import DOCKER_HUB

DOCKER_HUB_KEY = "https://index.docker.io/v1/"  # the key Docker writes for Docker Hub
HUB_ALIASES = (DOCKER_HUB, "index.docker.io", "registry-1.docker.io")
TOKEN_USER = "<token>"  # a helper's Username when Secret is an identity token
HELPER_TIMEOUT = 30.0


class CredentialsError(Exception):
    """The config file or a helper failed; the message says which and why."""


@dataclass(frozen=True)
class Credential:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth2 refresh token: exchanged at the token realm

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Credential(username={self.username!r}, …)"


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    directory = environ.get("DOCKER_CONFIG") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".docker"
    )
    return Path(directory) / "config.json"


def server_key(registry: str) -> str:
    """How config.json names `registry`: Docker Hub under its historical URL."""
    return DOCKER_HUB_KEY if registry in HUB_ALIASES else registry


def lookup(registry: str, path: Path | None = None) -> Credential | None:
    """The credential for `registry` (host[:port] as a reference names it), or None."""
    path = path or config_path()
    document = _read(path)
    helper = _helper_for(document, registry)
    if helper:
        return _helper_get(helper, server_key(registry))
    entry = _auth_entry(document, registry)
    return _decode(entry, path) if entry else None


def save(registry: str, credential: Credential, path: Path | None = None) -> None:
    """What `login` does once the registry accepted the credential."""
    path = path or config_path()
    document = _read(path)
    key = server_key(registry)
    auths = _drop_aliases(document, registry)
    helper = _helper_for(document, registry)
    if helper:
        secret = credential.identity_token or credential.password
        user = TOKEN_USER if credential.identity_token else credential.username
        _helper_run(
            helper, "store", json.dumps({"ServerURL": key, "Username": user, "Secret": secret})
        )
        auths[key] = {}
    else:
        pair = f"{credential.username}:{credential.password}".encode()
        auths[key] = {"auth": base64.b64encode(pair).decode()}
        if credential.identity_token:
            auths[key] = {"auth": base64.b64encode(f"{credential.username}:".encode()).decode(),
                          "identitytoken": credential.identity_token}  # fmt: skip
    document["auths"] = auths
    _write(path, document)


def erase(registry: str, path: Path | None = None) -> bool:
    """What `logout` does; False when nothing was stored for `registry`."""
    path = path or config_path()
    document = _read(path)
    before = dict(document.get("auths") or {})
    auths = _drop_aliases(document, registry)
    helper = _helper_for(document, registry)
    if helper:
        _helper_run(helper, "erase", server_key(registry), missing_ok=True)
    if auths == before and not helper:
        return False
    document["auths"] = auths
    _write(path, document)
    return True


def _read(path: Path) -> dict:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise CredentialsError(f"{path}: {error.strerror}") from None
    try:
        document = json.loads(text) if text.strip() else {}
    except ValueError as error:
        raise CredentialsError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("auths", {}), dict):
        raise CredentialsError(f"{path}: expected an object with an 'auths' object")
    return document


def _write(path: Path, document: dict) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".config.json.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as file:  # mkstemp made it 0600
            json.dump(document, file, indent="\t")
            file.write("\n")
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def normalise(key: str) -> str:
    """`https://host:5000/v1/` -> `host:5000`; Docker Hub's names -> docker.io."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return DOCKER_HUB if host in HUB_ALIASES else host


def _auth_entry(document: dict, registry: str) -> dict | None:
    wanted = normalise(registry)
    auths = document.get("auths") or {}
    exact = auths.get(server_key(registry))
    if isinstance(exact, dict) and exact:
        return exact
    for key, entry in auths.items():
        if normalise(key) == wanted and isinstance(entry, dict) and entry:
            return entry
    return None


def _drop_aliases(document: dict, registry: str) -> dict:
    wanted = normalise(registry)
    return {k: v for k, v in (document.get("auths") or {}).items() if normalise(k) != wanted}


def _decode(entry: dict, path: Path) -> Credential | None:
    username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    if entry.get("auth"):
        try:
            username, _, password = (
                base64.b64decode(entry["auth"], validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError, TypeError):
            raise CredentialsError(
                f"{path}: an 'auth' value is not base64 of user:password"
            ) from None
    token = str(entry.get("identitytoken") or "")
    if not (username or password or token):
        return None
    return Credential(username, password, token)


def _helper_for(document: dict, registry: str) -> str:
    helpers = document.get("credHelpers") or {}
    for key, name in helpers.items():
        if normalise(key) == normalise(registry):
            return str(name)
    return str(document.get("credsStore") or "")


def _helper_get(helper: str, server: str) -> Credential | None:
    answer = _helper_run(helper, "get", server, missing_ok=True)
    if not answer:
        return None
    try:
        found = json.loads(answer)
        username, secret = str(found.get("Username") or ""), str(found.get("Secret") or "")
    except (ValueError, AttributeError):
        raise CredentialsError(f"docker-credential-{helper} get: its answer is not JSON") from None
    if username == TOKEN_USER:
        return Credential(identity_token=secret)
    return Credential(username, secret) if (username or secret) else None


def _helper_run(helper: str, verb: str, stdin: str, missing_ok: bool = False) -> str:
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run(
            [program, verb], input=stdin, capture_output=True, text=True,
            timeout=HELPER_TIMEOUT, check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise CredentialsError(
            f"{program} is not installed (config.json names the helper {helper!r})"
        ) from None
    except subprocess.TimeoutExpired:
        raise CredentialsError(f"{program} {verb}: no answer in {HELPER_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        said = (done.stdout.strip() or done.stderr.strip())[:200]
        if missing_ok and "credentials not found" in said.lower():
            return ""
        raise CredentialsError(f"{program} {verb} failed: {said or f'exit {done.returncode}'}")
    return done.stdout
