"""What every reader shares: size limits, reading a file safely, UTF-8 decoding, edge lists → trees.

The limits are module attributes read at call time (tests lower them with monkeypatch).
"""
from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import Path

from core.hierarchy import Hierarchy, HierarchyError, arrow_chain, find_cycle

MAX_FILE_BYTES = 50 * 1024 * 1024  # any file read from disk or uploaded
MAX_FOLDER_ENTRIES = 200_000  # sub-folders read from a folder hierarchy
MAX_NODES = 1_000_000  # tree nodes (edges) read from a Newick, CSV or isa file; JSON nesting/2
MAX_ARRAY_BYTES = 256 * 1024 * 1024  # one uncompressed array in a distance .npz
MAX_PICKLE_BYTES = 64 * 1024 * 1024  # a hierarchy pickle after decompression


def read_file(path: Path) -> bytes:
    """The bytes of a regular file, refusing missing, special or oversized files."""
    limit = MAX_FILE_BYTES
    try:
        info = path.stat()
        if stat.S_ISREG(info.st_mode) and info.st_size <= limit:
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
    except FileNotFoundError:
        raise HierarchyError(f"{path}: no such file") from None
    except OSError as err:
        raise HierarchyError(f"{path}: cannot read the file ({err.strerror or err})") from None
    except ValueError as err:  # e.g. a NUL in the path
        raise HierarchyError(f"{path!r}: invalid path ({err})") from None
    if not stat.S_ISREG(info.st_mode):
        raise HierarchyError(f"{path}: not a regular file")
    if info.st_size > limit or len(data) > limit:
        raise HierarchyError(f"{path.name}: file is larger than {limit // 2**20} MiB")
    return data


def check_size(data: bytes, filename: str) -> None:
    """Refuse uploads over MAX_FILE_BYTES before parsing."""
    if len(data) > MAX_FILE_BYTES:
        raise HierarchyError(f"{filename}: file is larger than {MAX_FILE_BYTES // 2**20} MiB")


def decode(data: bytes, filename: str) -> str:
    """UTF-8 text (a leading BOM is dropped); undecodable bytes are named by offset and line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise HierarchyError(
            f"{filename}: not UTF-8 text (undecodable byte 0x{data[err.start]:02x} at offset "
            f"{err.start}, line {line})"
        ) from None


def where(text: str, pos: int) -> str:
    """``line L, column C`` of a character offset (both 1-based)."""
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column}"


def edges_to_hierarchy(rows, filename: str, classes: Sequence[str] | None) -> Hierarchy:
    """``(line, parent, child)`` rows → Hierarchy, naming lines for cycles and two-parent nodes."""
    if not rows:
        raise HierarchyError(f"{filename}: no edges found (the file is empty or truncated)")
    if len(rows) > MAX_NODES:
        raise HierarchyError(f"{filename}: more than {MAX_NODES} edges")
    for line, parent, child in rows:
        if parent == child:
            raise HierarchyError(f"{filename}: line {line}: cycle: '{child}' is its own parent")
    edges = [(parent, child) for _, parent, child in rows]
    loop = find_cycle(edges)
    if loop:
        raise HierarchyError(f"{filename}: line {rows[loop[1]][0]}: cycle {arrow_chain(loop[0])}")
    first: dict[str, tuple[str, int]] = {}
    for line, parent, child in rows:
        if child in first and first[child][0] != parent:
            other, other_line = first[child]
            raise HierarchyError(
                f"{filename}: line {line}: not a tree: node '{child}' has two parents "
                f"('{other}' on line {other_line} and '{parent}')"
            )
        first.setdefault(child, (parent, line))
    return Hierarchy.from_edges(edges, classes, Path(filename).stem, where=filename)


def check_names(classes: Sequence[str], filename: str) -> None:
    """Class names must be non-empty and unique."""
    seen: set[str] = set()
    for i, name in enumerate(classes):
        if not name:
            raise HierarchyError(f"{filename}: class name #{i + 1} is empty")
        if name in seen:
            raise HierarchyError(f"{filename}: duplicate class name '{name}'")
        seen.add(name)
