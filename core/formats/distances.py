"""Distance matrices: ``.npz`` (arrays ``distances`` and ``classes``, never pickled) and CSV matrices.

Both are checked the same way (:func:`check_distances`): square, symmetric, finite, non-negative,
zero diagonal, names unique and as many as the matrix's rows.
"""
from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.formats import common, pickles
from core.formats.common import check_names
from core.formats.edgelists import csv_rows
from core.hierarchy import HierarchyError

DISTANCE_SUFFIXES = (".npz", ".csv", ".pkl", ".pkl.xz")


def load_distances(path, classes: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Read a distance matrix file (``.npz``, ``.csv`` or a distance-dict pickle) → (K×K, K names)."""
    path = Path(path)
    return parse_distances(common.read_file(path), path.name, classes)


def parse_distances(data: bytes, filename: str,
                    classes: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Parse distance-matrix bytes; ``filename``'s extension picks ``.npz``, ``.csv`` or a pickle.

    Returns int64 distances when every value is a whole number, float64 otherwise. ``classes``
    picks the classes of a distance-dict pickle (its other names are ignored); for ``.npz`` and
    ``.csv`` the file's own class list is returned (reorder with ``match_classes``).
    """
    common.check_size(data, filename)
    suffix = Path(filename).suffix.lower()
    if pickles.is_pickle_name(filename) or (not suffix and pickles.looks_like_pickle(data)):
        distances, names = pickles.parse_distance_pickle(data, filename, classes)
    elif suffix == ".npz" or (not suffix and data[:4] == b"PK\x03\x04"):
        distances, names = read_npz(data, filename)
    elif suffix in (".csv", ""):
        distances, names = parse_distance_csv(common.decode(data, filename), filename)
    else:
        raise HierarchyError(f"{filename}: unknown distance format '{suffix}'; use .npz, .csv or a "
                             "distance-dict pickle (.pkl, .pkl.xz)")
    return check_distances(distances, names, filename), names


def read_npz(data: bytes, filename: str) -> tuple[np.ndarray, list[str]]:
    """``distances`` and ``classes`` arrays of an .npz (no pickles, sizes checked first)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            distances = _npz_member(archive, "distances", filename)
            classes = _npz_member(archive, "classes", filename)
        if distances.dtype.kind not in "iuf":
            raise HierarchyError(f"{filename}: 'distances' must hold numbers, not {distances.dtype}")
        if classes.ndim != 1 or classes.dtype.kind not in "US":
            raise HierarchyError(f"{filename}: 'classes' must be a 1-D array of strings (found "
                                 f"{classes.dtype}, shape {classes.shape}); use np.array(names, dtype=str)")
        names = [c.decode("utf-8") if isinstance(c, bytes) else str(c) for c in classes.tolist()]
    except HierarchyError:
        raise
    except Exception as err:  # zipfile, zlib and numpy's header parser raise many kinds
        raise HierarchyError(f"{filename}: not a readable .npz file ({type(err).__name__}: {err})") from None
    return distances, names


def _npz_member(archive: zipfile.ZipFile, key: str, filename: str) -> np.ndarray:
    """One ``<key>.npy`` of an npz, refusing object (pickled) arrays and oversized shapes."""
    try:
        info = archive.getinfo(f"{key}.npy")
    except KeyError:
        raise HierarchyError(
            f"{filename}: no '{key}' array (the .npz needs 'distances' and 'classes')"
        ) from None
    if info.file_size > common.MAX_ARRAY_BYTES:
        raise HierarchyError(f"{filename}: '{key}' is larger than {common.MAX_ARRAY_BYTES // 2**20} MiB")
    raw = archive.read(info)
    handle = io.BytesIO(raw)
    version = np.lib.format.read_magic(handle)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise HierarchyError(f"{filename}: '{key}' uses unsupported .npy version {version}")
    shape, _, dtype = readers[version](handle)
    if dtype.hasobject:
        raise HierarchyError(f"{filename}: '{key}' is a pickled object array, which is never loaded; "
                             "save names with np.array(names, dtype=str) and distances as numbers")
    if math.prod(shape) * dtype.itemsize > len(raw) - handle.tell():
        raise HierarchyError(f"{filename}: '{key}' is truncated (its header promises shape {shape})")
    return np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)


def parse_distance_csv(text: str, filename: str) -> tuple[np.ndarray, list[str]]:
    """A CSV matrix: header of class names, then K rows of K numbers (optionally labelled)."""
    rows = csv_rows(text, filename)
    header = [cell.strip() for cell in rows[0][1]]
    body = rows[1:]
    width = len(header)
    if not body:
        raise HierarchyError(f"{filename}: no rows after the header line (empty or truncated?)")
    bad = next(((line, row) for line, row in body if len(row) != width), None)
    if bad:
        raise HierarchyError(f"{filename}: line {bad[0]}: {len(bad[1])} cells, but the header has {width}")
    row_names = [row[0].strip() for _, row in body]
    labelled = not header[0] or set(row_names) <= set(header[1:])
    if len(body) == width - 1 and labelled:  # labelled rows: first column holds the class names
        classes = header[1:]
        order = _row_order(row_names, classes, [line for line, _ in body], filename)
        body = [body[i] for i in order]
        cells = [row[1:] for _, row in body]
    elif len(body) == width:
        classes, cells = header, [row for _, row in body]
    else:
        raise HierarchyError(
            f"{filename}: not square: the header names {width} columns but there are {len(body)} rows"
        )
    return _csv_numbers(cells, [line for line, _ in body], filename, offset=width - len(classes)), classes


def _row_order(row_names: list[str], classes: list[str], lines: list[int], filename: str) -> list[int]:
    """Row indices that put labelled rows in the header's class order."""
    position = {name: i for i, name in enumerate(row_names)}
    header_names = set(classes)
    for name, line in zip(row_names, lines):
        if name not in header_names:
            raise HierarchyError(f"{filename}: line {line}: row name '{name}' is not in the header")
    if len(position) < len(row_names):
        dupe = next(n for n in row_names if row_names.count(n) > 1)
        raise HierarchyError(f"{filename}: row name '{dupe}' appears twice")
    missing = [c for c in classes if c not in position]
    if missing:
        raise HierarchyError(f"{filename}: no row for class '{missing[0]}' named in the header")
    return [position[c] for c in classes]


def _csv_numbers(cells: list[list[str]], lines: list[int], filename: str, offset: int) -> np.ndarray:
    """Float matrix from CSV cells; a bad cell is named by line and column."""
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        for r, row in enumerate(cells):
            for c, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    raise HierarchyError(
                        f"{filename}: line {lines[r]}, column {c + 1 + offset}: '{cell[:20]}' is not a number"
                    ) from None
        raise HierarchyError(f"{filename}: the matrix holds values that are not numbers") from None


def check_distances(distances: np.ndarray, classes: list[str], filename: str) -> np.ndarray:
    """Validate a distance matrix against its class names; returns int64 or float64."""
    if distances.ndim != 2 or distances.shape[0] != distances.shape[1]:
        raise HierarchyError(f"{filename}: the distance matrix is not square (shape {distances.shape})")
    k = distances.shape[0]
    if len(classes) != k:
        raise HierarchyError(f"{filename}: {len(classes)} class names for a {k}×{k} distance matrix")
    if k < 2:
        raise HierarchyError(f"{filename}: the distance matrix has {k} class(es); at least 2 are needed")
    check_names(classes, filename)
    values = distances.astype(np.float64)
    problems = [
        (~np.isfinite(values), "is not a finite number"),
        (values < 0, "is negative"),
        (np.eye(k, dtype=bool) & (values != 0), "is on the diagonal but not 0"),
        (values != values.T, "differs from its mirror entry (not symmetric)"),
    ]
    for mask, what in problems:
        if mask.any():
            i, j = np.argwhere(mask)[0]
            raise HierarchyError(
                f"{filename}: distance between '{classes[i]}' and '{classes[j]}' (row {i + 1}, "
                f"column {j + 1}) = {values[i, j]:g} {what}"
            )
    if np.array_equal(values, np.round(values)) and values.max() <= 2**53:
        return values.astype(np.int64)
    return values
