"""Writing a blob: hashed and counted as it streams, verified before it is renamed into
the store (the renaming is the store's, under its lock)."""

from __future__ import annotations

import errno as errnos
import os
from pathlib import Path

from stackrun.errors import ImageError

_FULL = {errnos.ENOSPC, errnos.EDQUOT}


class BlobWriter:
    """What `Store.blob_writer` hands out: `write(bytes)` as the content arrives."""

    def __init__(self, path: Path, digest: str, size: int | None):
        self.path, self.digest, self.size = path, digest, size
        self.written = 0
        import hashlib  # OpenSSL's: a pull's, not a lookup's

        self._hash = hashlib.sha256()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)

    def write(self, data: bytes | memoryview) -> None:
        self.written += len(data)
        if self.size is not None and self.written > self.size:
            raise ImageError(f"blob {self.digest}: more than the {self.size} bytes announced")
        self._hash.update(data)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as error:
            raise write_error(error, f"writing blob {self.digest}", self.path) from None

    def verify(self) -> None:
        """ImageError unless what was written has the announced size and digest."""
        if self.size is not None and self.written != self.size:
            raise ImageError(
                f"blob {self.digest}: {self.written} bytes received, {self.size} announced"
            )
        actual = f"sha256:{self._hash.hexdigest()}"
        if actual != self.digest:
            raise ImageError(f"blob {self.digest}: the content's digest is {actual}")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def write_error(error: OSError, doing: str, path: Path | str) -> ImageError:
    """One line for a failed write: a full disk said so, with where. A relative
    `error.filename` names what was being written (a layer's entry)."""
    name = errnos.errorcode.get(error.errno or 0, "")
    if isinstance(error.filename, str) and not error.filename.startswith("/"):
        doing = f"{doing}: {error.filename}"
    if error.errno in _FULL:
        return ImageError(f"{doing}: no space left on the device of {path} ({name})")
    reason = error.strerror or str(error)
    return ImageError(f"{doing}: {reason}" + (f" ({name})" if name else ""))
