"""libnftables through ctypes: nftables' JSON API, commands in, ruleset out.

    with Nft() as nft:
        nft.run([{"add": {"table": {...}}}, ...], "install rules")   # one transaction
        items = nft.ruleset()            # [{"table": {...}}, {"chain": {...}}, {"rule": {...}}]

Why this and not pyroute2's nftables module or the `nft` command: libnftables is the
library `nft` itself is built on (and what firewalld drives); its JSON schema
(libnftables-json(5)) names matches and statements the way `nft list ruleset` shows
them, where pyroute2 would have us assemble register-level bytecode by hand; and a
library call neither forks nor parses text. The binding is five functions. The library
comes with the `nftables` package; where it is missing, `available()` says so and
stackrun falls back (docs/network.md).

Every call acts on the network namespace of the calling thread. A context is not
shared between threads: each `Nft()` makes its own.
"""

from __future__ import annotations

import ctypes
import json
from typing import Any, Self

from stackrun.errors import StackrunError

LIBRARY = "libnftables.so.1"
OUTPUT_JSON = 1 << 4  # NFT_CTX_OUTPUT_JSON: JSON output, and JSON input is accepted

_library: ctypes.CDLL | None = None


class NetfilterError(StackrunError):
    """A netfilter change or query failed: `step` says what stackrun was doing, `detail`
    what the kernel or the library answered."""

    def __init__(self, step: str, detail: str):
        self.step, self.detail = step, detail
        super().__init__(f"netfilter: {step}: {detail}")


def available() -> bool:
    """Whether libnftables can be loaded on this host."""
    try:
        _load()
    except NetfilterError:
        return False
    return True


class Nft:
    def __init__(self) -> None:
        self._lib = _load()
        self._ctx = self._lib.nft_ctx_new(0)
        if not self._ctx:
            raise NetfilterError("open a libnftables context", "out of memory")
        self._lib.nft_ctx_output_set_flags(self._ctx, OUTPUT_JSON)
        self._lib.nft_ctx_buffer_output(self._ctx)
        self._lib.nft_ctx_buffer_error(self._ctx)

    def run(self, commands: list[dict[str, Any]], step: str) -> list[dict[str, Any]]:
        """Run `commands` as one transaction (all or nothing); the JSON items printed back
        (a `list` command's objects), without the metainfo."""
        if not commands:
            return []
        text = json.dumps({"nftables": commands}).encode()
        if self._lib.nft_run_cmd_from_buffer(self._ctx, text) != 0:
            error = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode()
            raise NetfilterError(step, _first_error(error))
        output = (self._lib.nft_ctx_get_output_buffer(self._ctx) or b"").decode()
        return _items(output)

    def ruleset(self) -> list[dict[str, Any]]:
        """Every table, chain and rule of this network namespace."""
        return self.run([{"list": {"ruleset": None}}], "list the ruleset")

    def close(self) -> None:
        if self._ctx:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _load() -> ctypes.CDLL:
    global _library  # noqa: PLW0603 - loaded once per process, on first use
    if _library is None:
        try:
            lib = ctypes.CDLL(LIBRARY, use_errno=True)
        except OSError as error:
            raise NetfilterError(
                "load libnftables", f"{error} (install the nftables package)"
            ) from None
        _declare(lib)
        _library = lib
    return _library


def _declare(lib: ctypes.CDLL) -> None:
    ctx = ctypes.c_void_p
    lib.nft_ctx_new.restype, lib.nft_ctx_new.argtypes = ctx, [ctypes.c_uint32]
    lib.nft_ctx_free.restype, lib.nft_ctx_free.argtypes = None, [ctx]
    lib.nft_ctx_output_set_flags.restype = None
    lib.nft_ctx_output_set_flags.argtypes = [ctx, ctypes.c_uint]
    for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
        getattr(lib, name).restype, getattr(lib, name).argtypes = ctypes.c_int, [ctx]
    for name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
        getattr(lib, name).restype, getattr(lib, name).argtypes = ctypes.c_char_p, [ctx]
    lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
    lib.nft_run_cmd_from_buffer.argtypes = [ctx, ctypes.c_char_p]


def _items(output: str) -> list[dict[str, Any]]:
    if not output.strip():
        return []
    try:
        items = json.loads(output)["nftables"]
    except (ValueError, KeyError, TypeError):
        raise NetfilterError("read libnftables' answer", output[:200]) from None
    return [item for item in items if "metainfo" not in item]


def _first_error(text: str) -> str:
    """libnftables repeats the offending command under its error line: keep the error."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return "failed, without a message"
    return lines[0].split("Error: ", 1)[-1]  # "internal:0:0-0: Error: Could not process…"
