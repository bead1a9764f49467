"""Edge lists: CSV with a ``parent,child`` header, and making-better-mistakes ``isa.txt`` (``parent child``)."""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from core.formats import common
from core.hierarchy import Hierarchy, HierarchyError

def csv_rows(text: str, filename: str) -> list[tuple[int, list[str]]]:
    """Non-blank CSV rows with the line each ends on; csv errors become HierarchyError."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((reader.line_num, row))
            if len(rows) > common.MAX_NODES + 1:
                raise HierarchyError(f"{filename}: line {reader.line_num}: more than {common.MAX_NODES} rows")
    except csv.Error as err:
        raise HierarchyError(f"{filename}: line {max(reader.line_num, 1)}: not valid CSV ({err})") from None
    if not rows:
        raise HierarchyError(f"{filename}: the file has no rows (empty?)")
    return rows


def parse_csv_edges(text: str, filename: str, classes: Sequence[str] | None) -> Hierarchy:
    """A CSV edge list with a ``parent,child`` header."""
    rows = csv_rows(text, filename)
    header_line, header = rows[0]
    columns = [cell.strip().lower() for cell in header]
    if "parent" not in columns or "child" not in columns:
        raise HierarchyError(
            f"{filename}: line {header_line}: the first row must be the header 'parent,child' "
            f"(found '{','.join(header)[:80]}')"
        )
    p_col, c_col = columns.index("parent"), columns.index("child")
    edges = []
    for line, row in rows[1:]:
        if len(row) <= max(p_col, c_col):
            raise HierarchyError(f"{filename}: line {line}: expected {len(header)} columns, found {len(row)}")
        parent, child = row[p_col].strip(), row[c_col].strip()
        if not parent or not child:
            raise HierarchyError(f"{filename}: line {line}: empty {'parent' if not parent else 'child'} name")
        edges.append((line, parent, child))
    return common.edges_to_hierarchy(edges, filename, classes)


def parse_isa(text: str, filename: str, classes: Sequence[str] | None) -> Hierarchy:
    """making-better-mistakes ``isa.txt``: ``parent child`` per line."""
    edges = []
    for line, content in enumerate(io.StringIO(text, newline="\n"), start=1):
        fields = content.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(edges) >= common.MAX_NODES:
            raise HierarchyError(f"{filename}: line {line}: more than {common.MAX_NODES} edges")
        if len(fields) != 2:
            raise HierarchyError(
                f"{filename}: line {line}: expected 'parent child' (two names separated by "
                f"whitespace), found {len(fields)} field(s)"
            )
        edges.append((line, fields[0], fields[1]))
    return common.edges_to_hierarchy(edges, filename, classes)


