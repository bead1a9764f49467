"""Property-based fuzzing of every hierarchy/distance loader: malformed input ends in HierarchyError.

Each loader gets FUZZ_EXAMPLES generated inputs per run (derandomized, so CI is reproducible):
truncations and byte damage of valid files, wrong types, NaN/inf, huge numbers, cycles, duplicate
names, deep nesting, wrong encodings, and compression bombs (.npz, .xz). Whatever the bytes, a
loader returns a valid Hierarchy or raises HierarchyError with a message naming the file — no other
exception. Inputs stay small so the whole module runs in about two minutes on two cores
(``pytest tests/core/test_fuzz_formats.py --durations=0`` prints the time per loader).
"""
from __future__ import annotations

import contextlib
import io
import json
import lzma
import math
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from field_pickles import nltk_classes
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.formats import common, parse_distances, parse_hierarchy, read_hierarchy, to_csv_edges, to_json, to_newick
from core.hierarchy import Hierarchy, HierarchyError

SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # folder trees in memory: no disk I/O per example
FUZZ_EXAMPLES = 1200  # ≈ 1,000+ of them refused (see --hypothesis-show-statistics)
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

# ---------------------------------------------------------------------------------- building blocks
POOL = st.sampled_from(["a", "b", "c", "r", "x", "a b", "", " ", "NaN", "1e999", "ä", "../up", "/abs", "#c",
                        "'q'", "(p)", "a,b", "x;y", "\t", "\u00e9\u0301", "\U0001F600"])
NAMES = POOL | st.text(max_size=4)
NUMBERS = st.sampled_from([0, 1, 2, -1, 0.5, 1e308, -1e308, math.inf, -math.inf, math.nan, 2**63, 2**64, 10**40, True])
HUGE = st.builds(lambda: 10**5000)  # beyond Python's int → str limit (pickles only; JSON spells its own); built
# rather than st.just so hypothesis never has to repr it
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"])
STRUCTURAL = st.sampled_from([b"(", b")", b",", b";", b":", b"'", b"[", b"]", b"{", b"}", b'"', b"\n", b" ",
                              b"\x00", b"\xff", b"\\", b"#", b"-1", b"1e999", b"NaN", b"\x80", b"\xfd7zXZ"])


def corrupt(data, raw: bytes) -> bytes:
    """0–3 random truncations, byte flips, insertions or deletions."""
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(0, 3), label="damage")):
        if not out:
            break
        i = data.draw(st.integers(0, len(out) - 1))
        op = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        if op == "flip":
            out[i] = data.draw(st.integers(0, 255))
        elif op == "truncate":
            del out[i:]
        elif op == "insert":
            out[i:i] = data.draw(STRUCTURAL | st.binary(min_size=1, max_size=3))
        else:
            del out[i:i + data.draw(st.integers(1, 4))]
    return bytes(out)


def encode(data, text: str) -> bytes:
    """Text in a (possibly wrong) encoding; unencodable characters replaced."""
    return text.encode(data.draw(ENCODINGS, label="encoding"), "replace")


def edges_of(data, max_edges: int = 10) -> list[tuple[str, str]]:
    """Random (parent, child) pairs over a small name pool: cycles, two parents, self-loops, forests."""
    return data.draw(st.lists(st.tuples(NAMES, NAMES), max_size=max_edges), label="edges")


def check(call, filename: str):
    """The loader's contract: a valid Hierarchy/matrix, or HierarchyError with a message naming the file."""
    try:
        result = call()
    except HierarchyError as err:
        message = str(err)
        assert message and len(message) < 5000, message[:200]
        assert filename in message or not filename, message[:200]
        assert "too large to read" not in message, "a small input made the loader run out of memory"
        event("refused with HierarchyError")
        return None
    event("read as valid")
    if isinstance(result, Hierarchy):
        assert result.num_classes >= 2 and len(set(result.names)) == result.num_nodes
        assert result.parents[0] == -1 and (result.parents[1:] >= 0).all()
        assert np.isfinite(result.distance_matrix()).all()
    else:
        distances, names = result
        assert distances.shape == (len(names), len(names)) and np.isfinite(distances).all()
    return result


@contextlib.contextmanager
def limit(name: str, value: int):
    """Lower one of core.formats.common's limits inside the block (bombs stay cheap to build)."""
    saved = getattr(common, name)
    setattr(common, name, value)
    try:
        yield
    finally:
        setattr(common, name, saved)


# ------------------------------------------------------------------------------------------ JSON
def json_tree(data, depth: int = 0):
    """A tree-shaped JSON value whose nodes may have wrong types, duplicates or odd names."""
    kids = data.draw(st.integers(0, 3 if depth < 4 else 0))
    node = {"name": data.draw(NAMES | NUMBERS | st.none(), label="name")}
    kind = data.draw(st.sampled_from(["list", "list", "list", "missing", "string", "number", "dict"]))
    children = [json_tree(data, depth + 1) for _ in range(kids)]
    node["children"] = {"list": children, "missing": None, "string": "ab", "number": 3, "dict": {"a": 1}}[kind]
    if node["children"] is None:
        del node["children"]
    return node


def json_document(data) -> bytes:
    shape = data.draw(st.sampled_from(["tree", "wrapped", "adjacency", "deep", "valid", "value"]), label="json")
    if shape == "tree":
        doc = json_tree(data)
    elif shape == "wrapped":
        doc = {"tree": json_tree(data), "classes": data.draw(st.lists(NAMES | NUMBERS, max_size=4) | NAMES)}
    elif shape == "adjacency":
        doc = {}
        for parent, child in edges_of(data):
            doc.setdefault(parent, []).append(child)
    elif shape == "deep":
        depth = data.draw(st.integers(1, 3000))
        return ('{"name": "r", "children": ' * depth + "[]" + "}" * data.draw(st.integers(0, depth))).encode()
    elif shape == "valid":
        doc = json.loads(to_json(Hierarchy.from_edges([("r", "A"), ("r", "c"), ("A", "a"), ("A", "b")])))
    else:
        doc = data.draw(st.recursive(st.none() | st.booleans() | NUMBERS | NAMES,
                                     lambda inner: (st.lists(inner, max_size=3)
                                                    | st.dictionaries(NAMES, inner, max_size=3)),
                                     max_leaves=8))
    text = json.dumps(doc, ensure_ascii=data.draw(st.booleans()))
    if data.draw(st.booleans()):
        text = text.replace("1e+40", "1" * 5000)  # a number over Python's integer digit limit
    return corrupt(data, encode(data, text))


@FUZZ
@given(st.data())
def test_fuzz_json(data):
    raw = json_document(data)
    check(lambda: parse_hierarchy(raw, "t.json"), "t.json")


# -------------------------------------------------------------------------------- CSV and isa.txt
@FUZZ
@given(st.data())
def test_fuzz_csv_edges(data):
    edges = edges_of(data)
    header = data.draw(st.sampled_from(["parent,child", "child,parent", "parent,child,weight", "from,to", "",
                                        '"parent","child"', "parent;child"]))
    quote = data.draw(st.booleans())
    extra = st.sampled_from(["", ",1", ",", ',"x'])
    rows = [(f'"{p}","{c}"' if quote else f"{p},{c}") + data.draw(extra) for p, c in edges]
    raw = corrupt(data, encode(data, "\n".join([header, *rows]) + data.draw(st.sampled_from(["", "\n", "\r\n"]))))
    name = data.draw(st.sampled_from(["t.csv", "t"]))
    check(lambda: parse_hierarchy(raw, name), name)


@FUZZ
@given(st.data())
def test_fuzz_isa(data):
    edges = edges_of(data)
    lines = [data.draw(st.sampled_from(["{} {}", "{}\t{}", "{} {} extra", "{}", "# {} {}", ""])).format(p, c)
             for p, c in edges]
    raw = corrupt(data, encode(data, "\n".join(lines)))
    check(lambda: parse_hierarchy(raw, "isa.txt"), "isa.txt")


# ---------------------------------------------------------------------------------------- Newick
NEWICK_TOKENS = st.sampled_from(["(", ")", ",", ";", ":", ":1.5", ":x", ":-1", ":1e999", "'", "''", "'a b'", "[c]",
                                 "[", "]", " ", "\n", "a", "b", "c", "x", "_", "NaN"])


@FUZZ
@given(st.data())
def test_fuzz_newick(data):
    if data.draw(st.booleans(), label="from a tree"):
        edges = edges_of(data, 6) + [("r", "a"), ("r", "b")]
        try:
            text = to_newick(Hierarchy.from_edges(edges))
        except HierarchyError:
            text = "((a,b)x,(c,d)x);"
    else:
        depth = data.draw(st.integers(0, 2000))
        tokens = "".join(data.draw(st.lists(NEWICK_TOKENS, max_size=30)))
        text = "(" * depth + tokens + ")" * data.draw(st.integers(0, depth))
    raw = corrupt(data, encode(data, text))
    name = data.draw(st.sampled_from(["t.nwk", "t.tree", "t"]))
    check(lambda: parse_hierarchy(raw, name), name)


# --------------------------------------------------------------------------------------- folders
@FUZZ
@given(st.data())
def test_fuzz_folders(data):
    edges = data.draw(st.lists(st.tuples(st.integers(0, 8), st.sampled_from(["a", "b", "a", ".hidden", "x y", "é",
                                                                                b"\xff\xfe", "c", "deep"])),
                               max_size=10), label="folders")
    with tempfile.TemporaryDirectory(dir=SCRATCH) as base:
        root = Path(base) / "root"
        root.mkdir()
        made = [root]
        for parent, name in edges:
            path = os.path.join(os.fsencode(made[parent % len(made)]), os.fsencode(name))
            if not os.path.exists(path):
                os.mkdir(path)
                made.append(Path(os.fsdecode(path)))
            elif os.path.isdir(path) and data.draw(st.booleans()):
                Path(os.fsdecode(os.path.join(path, b"img.jpg"))).touch()  # files are ignored
        check(lambda: read_hierarchy(root), "")


# ---------------------------------------------------------------------------- distance matrices
MATRIX_VALUES = st.sampled_from([0, 1, 2, 3, -1, 0.5, math.nan, math.inf, 1e308, 2**62])
DTYPES = st.sampled_from(["int16", "int64", "uint8", "float32", "float64", "bool", "U2", "complex64"])


def matrix(data) -> np.ndarray:
    k = data.draw(st.integers(0, 5))
    shape = data.draw(st.sampled_from([(k, k), (k, k), (k, k + 1), (k,), (k, k, 1)]))
    values = data.draw(st.lists(MATRIX_VALUES, min_size=math.prod(shape), max_size=math.prod(shape)))
    array = np.array(values, dtype=np.float64).reshape(shape)
    if data.draw(st.booleans()) and array.ndim == 2 and array.shape[0] == array.shape[1]:
        array = np.triu(array, 1) + np.triu(array, 1).T  # often symmetric with a zero diagonal
    with np.errstate(all="ignore"):
        return array.astype(data.draw(DTYPES))


def class_names(data, k: int) -> np.ndarray:
    names = data.draw(st.lists(NAMES, min_size=max(k + data.draw(st.integers(-1, 1)), 0), max_size=max(k + 1, 0)))
    kind = data.draw(st.sampled_from([str, object, bytes]))
    if kind is bytes:
        names = [n.encode("utf-8", "surrogatepass") for n in names]
    return np.array(names, dtype=kind) if names else np.array([], dtype=str)


def bomb_npz(data) -> bytes:
    """An .npz whose 'distances' inflates to far more than the (lowered) array limit."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        zeros = np.zeros((512, 512))  # 2 MiB of zeros → a few KiB compressed
        npy = io.BytesIO()
        np.lib.format.write_array(npy, zeros)
        archive.writestr("distances.npy", npy.getvalue())
        archive.writestr("classes.npy", b"")
    return buffer.getvalue()


@FUZZ
@given(st.data())
def test_fuzz_npz(data):
    kind = data.draw(st.sampled_from(["arrays", "arrays", "bomb", "missing"]), label="npz")
    if kind == "bomb":
        raw = bomb_npz(data)
    else:
        distances = matrix(data)
        arrays = {"distances": distances, "classes": class_names(data, len(distances))}
        if kind == "missing":
            arrays.pop(data.draw(st.sampled_from(sorted(arrays))))
        buffer = io.BytesIO()
        (np.savez_compressed if data.draw(st.booleans()) else np.savez)(buffer, **arrays)
        raw = buffer.getvalue()
    raw = corrupt(data, raw)
    name = data.draw(st.sampled_from(["d.npz", "upload"]))
    with limit("MAX_ARRAY_BYTES", 1 << 16):
        check(lambda: parse_distances(raw, name), name)
        check(lambda: parse_hierarchy(raw, "d.npz"), "d.npz")


@FUZZ
@given(st.data())
def test_fuzz_distance_csv(data):
    distances = matrix(data)
    names = data.draw(st.lists(NAMES, max_size=len(distances) + 1), label="names")
    labelled = data.draw(st.booleans())
    lines = [("," if labelled else "") + ",".join(names)]
    for i, row in enumerate(np.atleast_2d(distances).tolist()):
        cells = [str(v) for v in (row if isinstance(row, list) else [row])]
        lines.append(((names[i] if i < len(names) else "?") + "," if labelled else "") + ",".join(cells))
    raw = corrupt(data, encode(data, "\n".join(lines)))
    check(lambda: parse_distances(raw, "d.csv"), "d.csv")


# --------------------------------------------------------------------------------------- pickles
LEAVES = NAMES | NUMBERS | HUGE | st.none() | st.binary(max_size=2) | st.tuples(NAMES) | st.just([])


def pickle_bytes(data, obj) -> bytes:
    """Pickled with a random protocol, sometimes xz-compressed, sometimes damaged."""
    raw = pickle.dumps(obj, protocol=data.draw(st.integers(2, 5), label="protocol"))
    if data.draw(st.booleans(), label="xz"):
        raw = lzma.compress(raw)
    return corrupt(data, raw)


def nltk_value(data, tree_class):
    """A random nltk-shaped tree: labels and leaves of any type, duplicates, shared or cyclic subtrees."""
    nodes = [tree_class(data.draw(NAMES | NUMBERS | HUGE | st.none(), label="root label"), [])]
    for _ in range(data.draw(st.integers(0, 12))):
        parent = nodes[data.draw(st.integers(0, len(nodes) - 1))]
        choice = data.draw(st.sampled_from(["leaf", "leaf", "tree", "tree", "shared", "cycle", "chain"]))
        if choice == "leaf":
            parent.append(data.draw(LEAVES))
        elif choice == "tree":
            nodes.append(tree_class(data.draw(NAMES | NUMBERS), []))
            parent.append(nodes[-1])
        elif choice == "shared":
            parent.append(nodes[data.draw(st.integers(0, len(nodes) - 1))])
        elif choice == "cycle":
            parent.append(parent)
        else:  # a chain deep enough to need an iterative walk (pickled within the raised limit)
            node = parent
            for depth in range(data.draw(st.integers(1, 300))):
                child = tree_class(f"deep{len(nodes)}-{depth}", [])
                node.append(child)
                node = child
            node.extend(["leaf1", "leaf2"])
    return nodes[0]


@FUZZ
@given(st.data())
def test_fuzz_tree_pickles(data):
    with nltk_classes() as classes:
        tree = nltk_value(data, classes[data.draw(st.sampled_from(sorted(classes)))])
        try:
            raw = pickle_bytes(data, tree)
        except RecursionError:  # the writer (not the loader) gave up on a very deep random tree
            return
    name = data.draw(st.sampled_from(["t_tree.pkl", "t_tree.pkl.xz", "upload"]))
    check(lambda: parse_hierarchy(raw, name), name if name != "upload" else "")


def distance_value(data) -> dict:
    keys = (st.tuples(NAMES, NAMES) | st.tuples(NAMES, HUGE) | st.tuples(NAMES) | st.tuples(NAMES, NAMES, NAMES)
            | NAMES | NUMBERS | st.none())
    values = NUMBERS | st.none() | NAMES | st.sampled_from([np.int64(2), np.float32(np.nan), np.uint8(1), 10**400])
    entries = data.draw(st.dictionaries(keys, values, max_size=8), label="dict")
    if data.draw(st.booleans(), label="complete"):  # a valid core the damage then breaks
        entries.update({("a", "b"): 1, ("a", "c"): 2, ("b", "c"): 2})
    return entries


@FUZZ
@given(st.data())
def test_fuzz_distance_pickles(data):
    if data.draw(st.integers(0, 9), label="bomb") == 0:
        raw = lzma.compress(pickle.dumps({("a", "b"): 1, ("x" * (1 << 21), "y"): 1}))
    else:
        raw = pickle_bytes(data, distance_value(data))
    name = data.draw(st.sampled_from(["d_distances.pkl.xz", "d.pkl", "upload"]))
    with limit("MAX_PICKLE_BYTES", 1 << 20):
        check(lambda: parse_hierarchy(raw, name), name if name != "upload" else "")
        check(lambda: parse_distances(raw, "d.pkl.xz"), "d.pkl.xz")


def label_value(data):
    if data.draw(st.booleans(), label="array"):
        shape = data.draw(st.sampled_from([(3, 2), (2,), (0, 2), (2, 3, 1), (4, 1), (1, 3)]))
        dtype = data.draw(st.sampled_from(["int64", "uint8", "int8", "float64", "bool", "U1", "uint64"]))
        values = data.draw(st.lists(st.integers(-3, 3), min_size=math.prod(shape), max_size=math.prod(shape)))
        return np.array(values).reshape(shape).astype(dtype)
    cell = st.integers(-2, 3) | NUMBERS | HUGE | st.none() | NAMES | st.just(10**30)
    return data.draw(st.lists(st.lists(cell, max_size=4) | st.tuples(cell, cell) | cell, max_size=6), label="rows")


@FUZZ
@given(st.data())
def test_fuzz_label_pickles(data):
    raw = pickle_bytes(data, label_value(data))
    name = data.draw(st.sampled_from(["t_tree_list_level3.pkl", "t.pkl"]))
    check(lambda: parse_hierarchy(raw, name), name)


# ------------------------------------------------------------------------------- names stay data
@settings(FUZZ, max_examples=100)
@given(st.lists(st.sampled_from(["../escape", "/tmp/abs", "..", ".", "a/b", "~", "$HOME", "c:\\x", "nul"]),
                min_size=2, max_size=5, unique=True))
def test_names_from_files_never_become_paths(names):
    edges = [("root", n) for n in names]
    hierarchy = Hierarchy.from_edges(edges)
    with tempfile.TemporaryDirectory() as folder:
        before = os.getcwd()
        os.chdir(folder)
        try:
            for text, filename in [(to_json(hierarchy), "t.json"), (to_csv_edges(hierarchy), "t.csv"),
                                   (to_newick(hierarchy), "t.nwk")]:
                loaded = parse_hierarchy(text.encode(), filename)
                assert sorted(loaded.leaves) == sorted(names)
            with nltk_classes() as classes:
                tree = pickle.dumps(classes["nltk.tree"]("root", list(names)), protocol=2)
            assert sorted(parse_hierarchy(tree, "t.pkl").leaves) == sorted(names)
            assert os.listdir(folder) == []
        finally:
            os.chdir(before)
