"""Where datasets are looked for, and the one message a missing dataset produces.

Search order for every dataset read from disk: ``DataConfig.root`` when given (then only it);
otherwise ``$HAFRAME_DATA`` (when set) and ``<repo>/data``. ``--download`` writes into the first of
those. Nothing is downloaded unless ``DataConfig.download`` is true.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["DatasetNotFound", "DATA_DIR", "search_roots", "find_root", "download_root"]

DATA_DIR = Path(__file__).resolve().parents[2] / "data"


class DatasetNotFound(FileNotFoundError):
    """A dataset's files are not where they were looked for; the message says where and how to get them."""

    def __str__(self) -> str:  # FileNotFoundError would prefix an errno
        return self.args[0] if self.args else "dataset not found"


def search_roots(root: str) -> list[Path]:
    """The folders a dataset is looked for in (see the module docstring)."""
    if root:
        return [Path(root).expanduser()]
    env = os.environ.get("HAFRAME_DATA", "")
    return [Path(env).expanduser()] * bool(env) + [DATA_DIR]


def download_root(root: str) -> Path:
    return search_roots(root)[0]


def find_root(candidates: Sequence[Path], present: Callable[[Path], bool], title: str, expected: str,
              how: str) -> Path:
    """The first candidate folder for which ``present`` holds, else DatasetNotFound.

    expected: the layout looked for under each folder (e.g. "cifar-100-python/{train,test,meta}").
    how: how to get the data (the --download flag and/or a manual step).
    """
    for folder in candidates:
        if present(folder):
            return folder
    where = ", ".join(str(c) for c in candidates)
    raise DatasetNotFound(f"{title} not found: looked for {expected} in {where}. {how}")
