"""Restricted unpickling: the only way this project reads a pickle.

A plain ``pickle.load`` runs whatever callable a file names. Here ``find_class`` resolves only the
(module, name) pairs of an explicit allow-list — each mapped to the object *we* choose (a stand-in
class, a numpy constructor) — and refuses every other global with an error naming it. Compressed
files (.xz, .gz, .bz2) are decompressed in a stream that stops at a size cap, so a compression bomb
costs nothing. Users of this module: the field's hierarchy pickles (core.formats) and CIFAR's
python-format batches (core.data).
"""
from __future__ import annotations

import bz2
import codecs
import io
import lzma
import pickle
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["UnsafePickleError", "loads", "load_file", "decompress", "NUMPY_ARRAYS", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_BYTES = 512 * 2**20  # decompressed size cap

# numpy's array reconstruction, under its 1.x and 2.x module names.
NUMPY_ARRAYS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # protocol-2 pickles spell bytes as encode(str, "latin1")
}


class UnsafePickleError(ValueError):
    """A pickle names a global outside the allow-list, is damaged, or is too large."""


class _Restricted(pickle.Unpickler):
    def __init__(self, stream, allowed: Mapping[tuple[str, str], object], what: str, encoding: str):
        super().__init__(stream, encoding=encoding)
        self._allowed, self._what = allowed, what

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._what}: refuses to load '{module}.{name}' — only plain data (and the objects this "
                "format needs) are read from pickles, never code") from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self._what}: persistent references are not allowed in pickles")


def loads(data: bytes, allowed: Mapping[tuple[str, str], object] = {}, what: str = "pickle",  # noqa: B006
          encoding: str = "ASCII") -> object:
    """Unpickle ``data`` resolving only ``allowed`` globals; every failure is an UnsafePickleError.

    ``encoding`` is passed to the unpickler (``"bytes"`` or ``"latin1"`` for Python-2 pickles such as
    CIFAR's batches).
    """
    try:
        return _Restricted(io.BytesIO(data), allowed, what, encoding).load()
    except UnsafePickleError:
        raise
    except RecursionError:
        raise UnsafePickleError(f"{what}: nested too deeply to read") from None
    except MemoryError:
        raise UnsafePickleError(f"{what}: too large to read") from None
    except Exception as err:  # noqa: BLE001 - any damage in the byte stream
        raise UnsafePickleError(f"{what}: not a readable pickle ({type(err).__name__}: {err})") from None


_DECOMPRESSORS = {
    b"\xfd7zXZ\x00": lambda: lzma.LZMADecompressor(),
    b"\x1f\x8b": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    b"BZh": lambda: bz2.BZ2Decompressor(),
}


def decompress(data: bytes, what: str = "file", max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Undo xz/gzip/bz2 compression (detected by magic bytes) with at most ``max_bytes`` of output.

    Uncompressed data is returned as is (after the same size check).
    """
    for magic, make in _DECOMPRESSORS.items():
        if data.startswith(magic):
            break
    else:
        if len(data) > max_bytes:
            raise UnsafePickleError(f"{what}: larger than {max_bytes} bytes")
        return data
    decompressor, out, pending = make(), bytearray(), data
    try:
        while pending or not _finished(decompressor):
            chunk = _step(decompressor, pending, max_bytes - len(out) + 1)
            pending = _unconsumed(decompressor)
            out += chunk
            if len(out) > max_bytes:
                raise UnsafePickleError(f"{what}: decompresses to more than {max_bytes} bytes; refused")
            if not chunk and not pending:
                break
    except (lzma.LZMAError, zlib.error, OSError, EOFError, ValueError) as err:
        if isinstance(err, UnsafePickleError):
            raise
        raise UnsafePickleError(f"{what}: damaged compressed data ({err})") from None
    if not _finished(decompressor):
        raise UnsafePickleError(f"{what}: compressed data ends early (truncated file)")
    return bytes(out)


def _step(decompressor, data: bytes, limit: int) -> bytes:
    if isinstance(decompressor, (lzma.LZMADecompressor, bz2.BZ2Decompressor)):
        if decompressor.needs_input or data:
            return decompressor.decompress(data if decompressor.needs_input else b"", max_length=limit)
        return decompressor.decompress(b"", max_length=limit)
    return decompressor.decompress(data, limit)


def _unconsumed(decompressor) -> bytes:
    if isinstance(decompressor, (lzma.LZMADecompressor, bz2.BZ2Decompressor)):
        return b""  # these keep unconsumed input internally
    return decompressor.unconsumed_tail


def _finished(decompressor) -> bool:
    return bool(decompressor.eof)


def load_file(path: Path | str, allowed: Mapping[tuple[str, str], object] = {},  # noqa: B006
              max_bytes: int = DEFAULT_MAX_BYTES, encoding: str = "ASCII") -> object:
    """Read, decompress (capped) and restrictedly unpickle one file."""
    path = Path(path)
    raw = path.read_bytes()
    return loads(decompress(raw, path.name, max_bytes), allowed, path.name, encoding)
