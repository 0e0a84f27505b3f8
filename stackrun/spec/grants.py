"""Secrets and configs: files a service is granted, read-only, at a path of its choice.

    secrets:                                   configs:
      token: {file: ./token.txt}                 app: {content: "debug=${DEBUG}"}
      api_key: {environment: API_KEY}            nginx: {file: ./nginx.conf}
    services:
      web:
        secrets: [token]                         # /run/secrets/token, mode 0444, root
        configs:
          - {source: nginx, target: /etc/nginx/nginx.conf, uid: "101", mode: 0440}

A secret or config comes from a file, a variable of the project's environment, or
inline content (configs). Each instance gets its own copy (mode, owner), mounted
read-only; the value never goes into `config`'s output (only the file path or the
variable's name) nor into a log.
"""

from typing import Annotated, Literal

from pydantic import BeforeValidator, WithJsonSchema, model_validator

from stackrun.spec.base import LIST_OR_MAP, Model
from stackrun.spec.types import Mode, Name

SECRETS_DIR = "/run/secrets"
DEFAULT_MODE = 0o444


def _id(value):
    """A uid/gid: Compose writes them as text ("103"); numbers are accepted too."""
    if isinstance(value, bool) or not str(value).isdigit():
        raise ValueError(f"{value!r} is not a numeric user or group id")
    return str(int(value))


NumericId = Annotated[
    str, BeforeValidator(_id), WithJsonSchema({"type": ["string", "integer"], "pattern": r"^\d+$"})
]


class Grant(Model):
    """A service's `secrets:`/`configs:` item (long syntax; a name alone is `source`)."""

    source: Name
    target: str | None = None
    uid: NumericId | None = None
    gid: NumericId | None = None
    mode: Mode | None = None

    def path(self, kind: Literal["secrets", "configs"]) -> str:
        """Where it shows in the service: a secret's relative target is under /run/secrets."""
        target = self.target or self.source
        if target.startswith("/"):
            return target
        return f"{SECRETS_DIR}/{target}" if kind == "secrets" else f"/{target}"


class FileSource(Model):
    """A top-level secret or config: where its value comes from (`content` is Compose's
    for configs only; stackrun takes it for secrets too)."""

    name: str | None = None
    file: str | None = None
    environment: str | None = None
    content: str | None = None
    external: bool = False
    labels: Annotated[dict[str, str], LIST_OR_MAP] = {}

    @model_validator(mode="after")
    def _one_source(self) -> "FileSource":
        if self.external:
            raise ValueError(
                "external: a swarm or platform store holds it, which stackrun does not have; "
                "give file:, environment: or content: instead"
            )
        given = [k for k in ("file", "environment", "content") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of file:, environment: or content:")
        return self
