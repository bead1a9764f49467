"""Choosing the reader: by extension, or by content for uploads without one; folders and pickles too."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.formats import common, pickles
from core.formats.distances import parse_distances
from core.formats.edgelists import parse_csv_edges, parse_isa
from core.formats.folders import read_folder
from core.formats.jsonfile import parse_json
from core.formats.newick import NEWICK_SUFFIXES, parse_newick
from core.hierarchy import Hierarchy, HierarchyError

PARSERS = {".json": parse_json, ".csv": parse_csv_edges, ".txt": parse_isa,
           **{suffix: parse_newick for suffix in NEWICK_SUFFIXES}}  # text formats by extension
HIERARCHY_SUFFIXES = tuple(PARSERS) + (".npz", ".pkl", ".pkl.xz")


def load_hierarchy(path, classes: Sequence[str] | None = None) -> Hierarchy:
    """Read a hierarchy file or folder; ``classes`` (e.g. a dataset's) fixes the class order.

    The one entry point for hierarchy files: JSON, CSV edge list, Newick, isa.txt, a folder tree,
    a distance matrix (.npz) or one of the field's pickles (nltk tree, distance dict, label rows).
    Raises HierarchyError naming the problem and the file.
    """
    return read_hierarchy(path, classes)


def read_hierarchy(path, classes: Sequence[str] | None = None) -> Hierarchy:
    """Read a hierarchy file (format by extension) or a folder tree from disk."""
    path = Path(path)
    if path.is_dir():
        return read_folder(path, classes)
    return parse_hierarchy(common.read_file(path), path.name, classes)


def parse_hierarchy(data: bytes, filename: str, classes: Sequence[str] | None = None) -> Hierarchy:
    """Parse hierarchy bytes; ``filename`` picks the format and names the file in errors."""
    common.check_size(data, filename)
    suffix = Path(filename).suffix.lower()
    if pickles.is_pickle_name(filename) or (not suffix and pickles.looks_like_pickle(data)):
        return pickles.parse_pickle(data, filename, classes)
    if suffix == ".npz":
        distances, names = parse_distances(data, filename)
        hierarchy = Hierarchy.from_distances(distances, names, Path(filename).stem, filename)
        return hierarchy.restrict_to(classes) if classes is not None else hierarchy
    text = common.decode(data, filename)
    if not text.strip():
        raise HierarchyError(f"{filename}: the file is empty")
    parser = PARSERS.get(suffix) if suffix else _sniff(text)
    if parser is None:
        raise HierarchyError(
            f"{filename}: unknown hierarchy format '{suffix}'; use one of {', '.join(HIERARCHY_SUFFIXES)} "
            "or a folder"
        )
    return parser(text, filename, classes)


def _sniff(text: str):
    """Pick a parser from the content of a text file without an extension."""
    head = text.lstrip()
    if head[0] in "{[":
        return parse_json
    if head[0] == "(":
        return parse_newick
    first_line = head.split("\n", 1)[0]
    cells = {c.strip().strip('"').lower() for c in first_line.split(",")}
    if {"parent", "child"} <= cells:
        return parse_csv_edges
    return parse_isa
