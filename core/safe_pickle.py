"""Restricted unpickling: the only way this project reads a pickle.

A plain ``pickle.load`` runs whatever callable a file names. Here ``find_class`` resolves only the
(module, name) pairs of an explicit allow-list — each mapped to the object *we* choose (a stand-in
class, a numpy constructor) — and refuses every other global with an error naming it. Compressed
files (.xz, .gz, .bz2) are decompressed in a stream that stops at a size cap, so a compression bomb
costs nothing. Before unpickling, the opcodes are scanned for memo indices and argument lengths
that no honest pickle of that size uses (CPython's unpickler would allocate them first). numpy
arrays are rebuilt with number and string dtypes only (no object arrays). Users of this module: the
field's hierarchy pickles (core.formats.pickles) and CIFAR's python-format batches (core.data).
"""
from __future__ import annotations

import bz2
import io
import lzma
import pickle
import pickletools
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["UnsafePickleError", "loads", "load_file", "decompress", "NUMPY_ARRAYS", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_BYTES = 512 * 2**20  # decompressed size cap

def _plain_dtype(spec, align=False, copy=False) -> np.dtype:
    """``numpy.dtype`` for pickles: numbers, booleans and strings only (never object or record dtypes)."""
    if isinstance(spec, bytes):  # Python 2 pickles read with encoding="bytes"
        spec = spec.decode("latin1")
    dtype = np.dtype(spec, align=bool(align), copy=bool(copy)) if isinstance(spec, str) else None
    if dtype is None or dtype.kind not in "biufcUS":
        raise UnsafePickleError(f"numpy dtype {spec!r:.40} is not allowed in pickles (only numbers and strings)")
    return dtype


def _latin1_bytes(text, encoding="utf-8", errors="strict") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes: ``encode(str, "latin1")`` only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("_codecs.encode is allowed only as encode(str, 'latin1') (how pickles spell bytes)")
    return text.encode("latin1")


# numpy's array reconstruction, under its 1.x and 2.x module names (protocol 5 uses _frombuffer).
NUMPY_ARRAYS: dict[tuple[str, str], object] = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): np._core.multiarray._reconstruct for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): np._core.multiarray.scalar for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): np._core.numeric._frombuffer for core in ("core", "_core")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _plain_dtype,
    ("_codecs", "encode"): _latin1_bytes,  # protocol-2 pickles spell bytes as encode(str, "latin1")
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
                f"{self._what}: refused to load '{module}.{name}' — pickles are read only for plain data "
                "(and the few objects this format needs), never for code they name") from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self._what}: persistent references are not allowed in pickles")


def _argument_sizes() -> dict[int, tuple[str, int]]:
    """Opcode byte → how its argument is laid out: ("fixed", n), ("lines", count) or ("counted", width)."""
    layout: dict[int, tuple[str, int]] = {}
    counted = {pickletools.TAKEN_FROM_ARGUMENT1: 1, pickletools.TAKEN_FROM_ARGUMENT4: 4,
               pickletools.TAKEN_FROM_ARGUMENT4U: 4, pickletools.TAKEN_FROM_ARGUMENT8U: 8}
    for op in pickletools.opcodes:
        arg, code = op.arg, ord(op.code)
        if arg is None:
            layout[code] = ("fixed", 0)
        elif arg.n >= 0:
            layout[code] = ("fixed", arg.n)
        elif arg.n == pickletools.UP_TO_NEWLINE:
            layout[code] = ("lines", 2 if op.name in ("GLOBAL", "INST") else 1)
        else:
            layout[code] = ("counted", counted[arg.n])
    return layout


_LAYOUT = _argument_sizes()
_SIGNED_LENGTH = {ord(op.code) for op in pickletools.opcodes
                  if op.arg is not None and op.arg.n == pickletools.TAKEN_FROM_ARGUMENT4}  # LONG4, BINSTRING
_PUT, _LONG_BINPUT, _STOP = ord("p"), ord("r"), ord(".")


def _check_memo_indices(data: bytes, what: str) -> None:
    """Refuse memo indices and lengths no honest pickle of this size uses (before the C unpickler sees them).

    CPython's unpickler grows (and zero-fills) its memo table up to a PUT/LONG_BINPUT index, so a
    few bytes naming index 2³² would allocate tens of GiB. An honest pickle numbers its memo
    entries from 0, one per stored object, so every index is below the pickle's length; likewise a
    counted argument (bytes, strings) never runs past the end. The scan
    walks the opcodes without building anything; it stops at STOP, an unknown opcode or the end of
    the data (the unpickler reports those itself).
    """
    pos, end = 0, len(data)
    while pos < end:
        code = data[pos]
        if code == _STOP or code not in _LAYOUT:
            return
        kind, size = _LAYOUT[code]
        start = pos + 1
        if kind == "fixed":
            pos = start + size
        elif kind == "lines":
            pos = start
            for _ in range(size):
                newline = data.find(b"\n", pos)
                if newline < 0:
                    return
                pos = newline + 1
        else:
            length = int.from_bytes(data[start:start + size], "little", signed=code in _SIGNED_LENGTH)
            if length < 0:
                return
            pos = start + size + length
            if pos > end:  # refused here: the unpickler would first allocate the promised length
                raise UnsafePickleError(f"{what}: not a readable pickle (an argument of {length} bytes runs past "
                                        "the end; truncated?)")
        if code == _LONG_BINPUT:
            index = int.from_bytes(data[start:start + 4], "little")
        elif code == _PUT:
            digits = data[start:pos - 1]
            index = int(digits) if digits.isdigit() and len(digits) < 20 else end
        else:
            continue
        if index >= end:
            raise UnsafePickleError(f"{what}: memo index {index} is larger than a pickle of {end} bytes can use "
                                    "(damaged or hostile file)")


def loads(data: bytes, allowed: Mapping[tuple[str, str], object] = {}, what: str = "pickle",  # noqa: B006
          encoding: str = "ASCII") -> object:
    """Unpickle ``data`` resolving only ``allowed`` globals; every failure is an UnsafePickleError.

    ``encoding`` is passed to the unpickler (``"bytes"`` or ``"latin1"`` for Python-2 pickles such as
    CIFAR's batches).
    """
    try:
        _check_memo_indices(data, what)
        return _Restricted(io.BytesIO(data), allowed, what, encoding).load()
    except UnsafePickleError as err:  # from find_class, or from an allowed constructor (no file name yet)
        message = str(err)
        raise UnsafePickleError(message if message.startswith(f"{what}: ") else f"{what}: {message}") from None
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
        if data.startswith(magic) or (data and len(data) < len(magic) and magic.startswith(data)):
            break  # (a file cut inside the magic bytes is a truncated compressed file too)
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
