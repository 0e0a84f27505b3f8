"""The error tree. Every error a user may see derives from StackrunError.

Errors carry data (file, key path, step, errno...) and build their own message;
low-level errors (OSError, yaml, pydantic) are translated once, at the layer edge
that knows the context. The CLI prints ``str(error)`` to stderr and exits 1:
never a traceback.
"""

from __future__ import annotations

import errno as errno_codes
import os
from dataclasses import dataclass


class StackrunError(Exception):
    """Base of every error stackrun reports to its user."""

    exit_code = 1


def user_error(error: BaseException) -> StackrunError | None:
    """The StackrunError `error` is, or the first one an exception group holds (a task
    group wraps what its tasks raise, alongside the cancellations it caused)."""
    if isinstance(error, StackrunError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            if (found := user_error(inner)) is not None:
                return found
    return None


@dataclass(frozen=True)
class Location:
    """A place in a stack file: 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a stack file, at a key path such as ``services.api.restart``."""

    location: Location | None
    path: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        key = f"{self.path}: " if self.path else ""
        return f"{where}{key}{self.message}"


class SpecError(StackrunError):
    """The stack file (or .env, env_file, CLI options about it) is invalid.

    Holds every problem found, so the user sees them all at once.
    """

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class PlanError(StackrunError):
    """A valid stack file that cannot be turned into a plan (e.g. no free subnet)."""


class HostError(StackrunError):
    """The host lacks something stackrun needs (root, a namespace, a cgroup controller)."""

    exit_code = 2


class RuntimeFailure(StackrunError):
    """A kernel operation failed while building or tearing down a service.

    ``step`` names what stackrun was doing ("join cgroup", "mount /proc", "exec"),
    ``errno``/``path`` say what the kernel refused.
    """

    def __init__(self, step: str, errno: int = 0, path: str = "", service: str = ""):
        self.step, self.errno, self.path, self.service = step, errno, path, service
        super().__init__(self._message())

    def _message(self) -> str:
        who = f"{self.service}: " if self.service else ""
        where = f" {self.path}" if self.path else ""
        if not self.errno:
            return f"{who}{self.step}{where} failed"
        name = errno_codes.errorcode.get(self.errno, str(self.errno))
        return f"{who}{self.step}{where}: {os.strerror(self.errno)} ({name})"


class ImageError(StackrunError):
    """An image cannot be had: a bad reference, a registry's refusal or bad answer, a blob
    that fails verification, a bad archive or layer, a full disk. `image` names the image
    and `service` the service that wanted it, when known."""

    def __init__(self, message: str, image: str = "", service: str = ""):
        self.reason, self.image, self.service = message, image, service
        super().__init__(self._message())

    def _message(self) -> str:
        who = f"{self.service}: " if self.service else ""
        what = f"image {self.image}: " if self.image else ""
        return f"{who}{what}{self.reason}"


class ControlError(StackrunError):
    """Talking to a project's supervisor failed, or it refused the request."""


class ConvertError(StackrunError):
    """A valid stack that cannot be carried to another platform (Kubernetes) as it is.

    Holds every refusal, each a `Diagnostic` at the key it is about, so the user sees them
    all at once; `cli.main` prints them like a SpecError's.
    """

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class ManifestError(StackrunError):
    """The converter wrote an object that Kubernetes would reject: a bug in stackrun.

    `kind`/`name` name the object, `version` the Kubernetes version checked, `where` the
    field path inside the object and `reason` what is wrong there.
    """

    def __init__(self, kind: str, name: str, version: str, where: str, reason: str):
        self.kind, self.name, self.version, self.where, self.reason = (
            kind, name, version, where, reason
        )  # fmt: skip
        super().__init__(
            f"internal error: {kind} {name!r} is not valid for Kubernetes {version} "
            f"at {where or 'the top'}: {reason}. Nothing was written; please report this bug"
        )


def closest(word: str, choices) -> str | None:
    """The choice most like `word`, for the "did you mean" hints of messages."""
    import difflib

    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


class BuildError(StackrunError):
    """A build cannot go on: a Dockerfile that does not parse or evaluate (at `location`), a
    build context file that is missing, a step that failed. `service` names the service
    being built and `step` the build step (`[api 3/7]`), when known."""

    def __init__(
        self, message: str, location: Location | None = None, service: str = "", step: str = ""
    ):
        self.reason, self.location, self.service, self.step = message, location, service, step
        super().__init__(self._message())

    def _message(self) -> str:
        who = f"{self.service}: " if self.service else ""
        where = f"{self.location}: " if self.location else ""
        return f"{who}{where}{self.reason}"
