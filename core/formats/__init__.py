"""Readers and writers for hierarchy files and precomputed distance matrices.

:func:`load_hierarchy` is the one entry point for hierarchy files; every reader refuses files over
``common.MAX_FILE_BYTES`` (folders over ``common.MAX_FOLDER_ENTRIES`` sub-folders) before parsing,
is iterative (trees thousands of levels deep are fine), and turns any problem into a
:class:`~core.hierarchy.HierarchyError` whose message names the file and the spot (line, column,
node or row). No other exception escapes a reader for any bytes. Names read from files are data:
they never become paths.

Hierarchy formats (chosen by extension; an upload without one is recognised by its content), one
module each:

* :mod:`~core.formats.jsonfile` (``.json``): a tree ``{"name": ..., "children": [...]}``; or
  ``{"tree": <tree>, "classes": [...]}`` (the reference's files, whose ``classes`` fixes the class
  order); or an adjacency object ``{"parent": ["child", ...], ...}``.
* :mod:`~core.formats.edgelists`: a CSV edge list (``.csv``, a header row naming the columns
  ``parent`` and ``child``, other columns ignored, names stripped) and making-better-mistakes
  ``isa.txt`` (``.txt``: ``parent child`` per line; blank lines and ``#`` lines skipped).
* :mod:`~core.formats.newick` (``.nwk``, ``.newick``, ``.tre``, ``.tree``): ``((a,b)x,c)root;``.
  Labels after ``)`` name internal nodes; unlabeled internal nodes are named ``node_<n>``; branch
  lengths and ``[comments]`` are ignored; ``'quoted labels'`` (``''`` for a quote) keep spaces and
  punctuation. Every leaf needs a name.
* :mod:`~core.formats.folders`: nested sub-folders are the tree, the deepest folders the classes
  (as torchvision ``ImageFolder`` expects); hidden folders and files are ignored; class order is
  ``sorted()`` of the leaf folder names.
* :mod:`~core.formats.distances` (``.npz``): an ultrametric distance matrix; its tree is rebuilt
  with :meth:`Hierarchy.from_distances`.
* :mod:`~core.formats.pickles` (``.pkl``, ``.pickle``, optionally ``.xz``/``.gz``/``.bz2``): the
  field's nltk ``Tree`` pickles, distance dicts and HAF label rows, read by a restricted unpickler
  (:mod:`core.safe_pickle`) that loads no code.

For CSV, Newick, isa and nltk-tree files the class order is the depth-first order of the tree as
written.

Distance matrices (:func:`load_distances`): ``.npz`` with arrays ``distances`` (K×K) and ``classes``
(K strings), read with ``allow_pickle=False``; ``.csv`` with a header row of class names and K rows
of K numbers, optionally with a first label column; or a distance-dict pickle. All are checked:
square, symmetric, finite, non-negative, zero diagonal, names unique and as many as the rows.

Writers (:mod:`~core.formats.writers`; downloads, round trips): :func:`to_json`,
:func:`to_csv_edges`, :func:`to_newick`, :func:`to_isa`. :func:`match_classes` reorders a
hierarchy's or matrix's classes to a dataset's. Bundled hierarchies: :mod:`~core.formats.bundled`.
"""
from core.formats.bundled import bundled_hierarchies, load_bundled, resolve_hierarchy
from core.formats.common import MAX_FILE_BYTES, MAX_FOLDER_ENTRIES, MAX_NODES
from core.formats.distances import load_distances, parse_distances
from core.formats.matching import match_classes
from core.formats.reader import HIERARCHY_SUFFIXES, load_hierarchy, parse_hierarchy, read_hierarchy
from core.formats.writers import to_csv_edges, to_isa, to_json, to_newick

__all__ = [
    "MAX_FILE_BYTES", "MAX_FOLDER_ENTRIES", "MAX_NODES", "HIERARCHY_SUFFIXES", "bundled_hierarchies",
    "load_bundled", "resolve_hierarchy", "load_hierarchy", "read_hierarchy", "parse_hierarchy",
    "load_distances", "parse_distances", "match_classes", "to_json", "to_csv_edges", "to_newick", "to_isa",
]
