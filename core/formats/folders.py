"""Folder trees: nested sub-folders are the hierarchy, the deepest folders the classes (ImageFolder order).

Folder names are only read, never joined into paths: every step opens a sub-folder relative to its
parent's descriptor.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from core.formats import common
from core.hierarchy import Hierarchy, HierarchyError

def read_folder(root: Path, classes: Sequence[str] | None) -> Hierarchy:
    """A folder whose nested non-hidden sub-folders are the tree (leaves: deepest folders)."""
    try:
        root_name = root.resolve().name or "root"
        edges = _folder_edges(root, root_name)
    except OSError as err:
        raise HierarchyError(f"{root}: cannot read the folder ({err.strerror or err})") from None
    if not edges:
        raise HierarchyError(f"{root}: the folder has no sub-folders; at least 2 class folders are needed")
    children = {child for _, child in edges}
    parents = {parent for parent, _ in edges}
    leaves = sorted(children - parents)
    return Hierarchy.from_edges(edges, classes or leaves, root_name, where=str(root))


def _folder_edges(root: Path, root_name: str) -> list[tuple[str, str]]:
    """(parent, child) folder-name edges, children sorted; walks with directory file descriptors.

    Descriptors (not paths) keep trees deeper than PATH_MAX readable; a parent's descriptor is
    closed as soon as its last sub-folder is opened, so a chain holds only two at a time.
    """
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    held: dict[int, int] = {}  # open descriptor → sub-folders still to open through it
    parent_of: dict[str, str | None] = {root_name: None}
    visited: set[tuple[int, int]] = set()
    edges: list[tuple[str, str]] = []
    stack: list[tuple[int | None, str]] = [(None, root_name)]  # (parent's descriptor, folder name)
    try:
        while stack:
            parent_fd, name = stack.pop()
            fd = os.open(root, flags) if parent_fd is None else os.open(name, flags, dir_fd=parent_fd)
            held[fd] = 0
            if parent_fd is not None:
                _release(parent_fd, held)
            subdirs = _subfolders(fd, name, root, parent_of, visited)
            if len(parent_of) + len(subdirs) > common.MAX_FOLDER_ENTRIES:
                raise HierarchyError(f"{root}: more than {common.MAX_FOLDER_ENTRIES} sub-folders")
            parent_of.update((sub, name) for sub in subdirs)
            edges.extend((name, sub) for sub in subdirs)
            held[fd] = len(subdirs) + 1
            stack.extend((fd, sub) for sub in reversed(subdirs))
            _release(fd, held)
    finally:
        for fd in held:
            os.close(fd)
    return edges


def _release(fd: int, held: dict[int, int]) -> None:
    """One use of a descriptor is done; close it when nothing else needs it."""
    held[fd] -= 1
    if held[fd] <= 0:
        del held[fd]
        os.close(fd)


def _subfolders(fd: int, name: str, root: Path, parent_of: dict, visited: set) -> list[str]:
    """Sorted non-hidden sub-folder names of an open folder; rejects loops and duplicates."""
    info = os.fstat(fd)
    if (info.st_dev, info.st_ino) in visited:
        raise HierarchyError(f"{root}: folder '{_folder_path(name, parent_of)}' loops back (symlink cycle)")
    visited.add((info.st_dev, info.st_ino))
    with os.scandir(fd) as entries:
        subdirs = sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())
    for sub in subdirs:
        try:
            sub.encode("utf-8")
        except UnicodeEncodeError:
            raise HierarchyError(f"{root}: folder name {sub!r} under '{name}' is not UTF-8") from None
        if sub in parent_of:
            first = _folder_path(sub, parent_of)
            raise HierarchyError(
                f"{root}: duplicate folder name '{sub}' ({first} and {_folder_path(name, parent_of)}/{sub})"
            )
    return subdirs


def _folder_path(name: str, parent_of: dict[str, str | None], keep: int = 8) -> str:
    """``root/…/name`` of a folder already read (for messages)."""
    parts = [name]
    while parent_of.get(parts[-1]) is not None and len(parts) < keep:
        parts.append(parent_of[parts[-1]])
    if parent_of.get(parts[-1]) is not None:
        parts.append("…")
    return "/".join(reversed(parts))


