"""A layer blob read as its uncompressed tar, forward only, hashed as it goes.

Layers are gzip, zstd or plain tar; the compression is read from the blob's first bytes,
as containers/image does, not trusted from the media type (registries mislabel). The
reader offers what `tarfile` needs of a file (read, tell, seek forward) plus `copy_to`,
which moves a member's data to a file descriptor without copying it through Python
objects: slices of the decompressed buffer, or `copy_file_range` straight from a plain
blob. Every byte handed out or skipped is counted and, unless the caller already trusts
the content, hashed: the digest of the whole stream is the layer's diff_id.
"""

from __future__ import annotations

import errno
import hashlib
import os
import zlib
from typing import BinaryIO, Protocol

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1 << 20  # decompressed bytes held at once
INPUT = 256 << 10  # compressed bytes read at once
HEADER_LIMIT = 16 << 20  # the largest read tarfile may ask for (a PAX or GNU long-name body)


_NO_COPY_RANGE = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP}


class LayerFormatError(ValueError):
    """The blob is not a readable (compressed) tar stream; the message says why."""


def compression_of(head: bytes) -> str | None:
    """ "gzip", "zstd" or None (plain tar), from a blob's first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


class TarStream:
    """The uncompressed tar of `file` (a blob opened for reading, at offset 0)."""

    def __init__(self, file: BinaryIO, blob_digest: str | None = None):
        """`blob_digest`: the verified digest of the blob, which is the digest of the tar
        when the blob is plain: then nothing is hashed again."""
        self._file = file
        head = os.pread(file.fileno(), 4, 0)
        self.compression = compression_of(head)
        self._source: _Source = _SOURCES[self.compression](file)
        self._known = blob_digest if self.compression is None else None
        self._hash = None if self._known else hashlib.sha256()
        self._buf = b""
        self._pos = 0  # in _buf
        self._start = 0  # stream offset of _buf[0]

    @property
    def size(self) -> int:
        """Bytes of tar read so far (all of it after `finish`)."""
        return self._start + len(self._buf)

    def digest(self) -> str:
        """The digest of the tar (complete after `finish`)."""
        return f"sha256:{self._hash.hexdigest()}" if self._hash else str(self._known)

    def tell(self) -> int:
        return self._start + self._pos

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > HEADER_LIMIT:
            raise LayerFormatError(f"a tar header of more than {HEADER_LIMIT} bytes")
        pieces = []
        while size > 0 and self._available():
            piece = self._buf[self._pos : self._pos + size]
            self._pos += len(piece)
            size -= len(piece)
            pieces.append(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self.tell()
        elif whence != os.SEEK_SET:
            raise OSError("a layer stream seeks from its start only")
        if offset < self.tell():
            raise OSError("a layer stream reads forward only")
        self._skip(offset - self.tell())
        return self.tell()

    def copy_to(self, fd: int, size: int) -> None:
        """Write the next `size` bytes of the stream to `fd`."""
        while size > 0:
            if self._pos >= len(self._buf):
                size -= self._direct(fd, size)
                if not size:
                    return
            if not self._available():
                raise LayerFormatError("the tar ends inside a file's data")
            view = memoryview(self._buf)[self._pos : self._pos + size]
            _write_all(fd, view)
            self._pos += len(view)
            size -= len(view)

    def finish(self) -> int:
        """Read what follows the tar's end marker (it must be zeros: anything else is a
        damaged header tarfile stopped at) and return the stream's size."""
        while self._available():
            rest = self._buf[self._pos :]
            if rest.count(0) != len(rest):
                raise LayerFormatError(f"data after the end of the tar, at byte {self.tell()}")
            self._pos = len(self._buf)
        return self.size

    def _skip(self, count: int) -> None:
        while count > 0:
            if not self._available():
                raise LayerFormatError("the tar ends early")
            step = min(count, len(self._buf) - self._pos)
            self._pos += step
            count -= step

    def _available(self) -> bool:
        """Whether unread bytes are buffered, reading the next chunk when none are."""
        if self._pos < len(self._buf):
            return True
        chunk = self._source.next_chunk()
        if not chunk:
            return False
        self._start += len(self._buf)
        self._buf, self._pos = chunk, 0
        if self._hash:
            self._hash.update(chunk)
        return True

    def _direct(self, fd: int, size: int) -> int:
        """Copy straight from a plain blob (kernel to kernel) when nothing is hashed;
        returns the bytes copied."""
        if self._hash or not isinstance(self._source, _Plain) or not self._source.direct:
            return 0
        copied = self._source.copy_to(fd, size)
        self._start += len(self._buf) + copied
        self._buf, self._pos = b"", 0
        if copied < size and self._source.direct:
            raise LayerFormatError("the tar ends inside a file's data")
        return copied


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        written = os.write(fd, view)
        view = view[written:]


class _Source(Protocol):
    def __init__(self, file: BinaryIO) -> None: ...

    def next_chunk(self) -> bytes: ...


class _Plain:
    def __init__(self, file: BinaryIO):
        self._fd = file.fileno()
        self.direct = True  # copy_file_range works between these files
        os.lseek(self._fd, 0, os.SEEK_SET)

    def next_chunk(self) -> bytes:
        return os.read(self._fd, 64 << 10)

    def copy_to(self, fd: int, size: int) -> int:
        copied = 0
        while copied < size:
            try:
                step = os.copy_file_range(self._fd, fd, size - copied)
            except OSError as error:
                if error.errno not in _NO_COPY_RANGE:
                    raise
                self.direct = False  # across file systems, or not offered: read and write
                return copied
            if step == 0:
                break
            copied += step
        return copied


class _Gzip:
    """Gzip, including several members one after the other (as Go's reader accepts)."""

    def __init__(self, file: BinaryIO):
        self._file = file
        self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._pending = b""

    def next_chunk(self) -> bytes:
        while True:
            if self._inflate.eof and not self._next_member():
                return b""
            data = self._inflate.unconsumed_tail or self._pending or self._file.read(INPUT)
            self._pending = b""
            if not data:
                raise LayerFormatError("the gzip stream is truncated")
            try:
                chunk = self._inflate.decompress(data, CHUNK)
            except zlib.error as error:
                raise LayerFormatError(f"gzip: {error}") from None
            if chunk:
                return chunk

    def _next_member(self) -> bool:
        rest = self._inflate.unused_data + self._file.read(INPUT)
        if not rest:
            return False
        if not rest.startswith(GZIP_MAGIC):
            raise LayerFormatError("data after the end of the gzip stream")
        self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._pending = rest
        return True


class _Zstd:
    def __init__(self, file: BinaryIO):
        import zstandard

        self._error = zstandard.ZstdError
        decompressor = zstandard.ZstdDecompressor()
        self._reader = decompressor.stream_reader(
            file, read_size=INPUT, read_across_frames=True, closefd=False
        )

    def next_chunk(self) -> bytes:
        try:
            return self._reader.read(CHUNK)
        except self._error as error:
            raise LayerFormatError(f"zstd: {error}") from None


_SOURCES: dict[str | None, type[_Source]] = {None: _Plain, "gzip": _Gzip, "zstd": _Zstd}
