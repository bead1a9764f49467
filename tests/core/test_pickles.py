"""The field's pickles (nltk trees, distance dicts, HAF label rows) load safely and exactly.

Files are written in the originals' layout by tests/field_pickles.py; the reference hierarchies
(../shared/reference/hierarchies) give trees and distances to compare against. Every route to a
global outside the allow-list is refused by name, and no payload ever runs — through the loaders,
the library's file reader and the CLI (the upload is tested in tests/app/test_pickles_upload.py).
"""
from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import pickle
import pickletools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from field_pickles import (
    distance_dict,
    distance_pickle,
    ext_payloads,
    extension_code,
    label_rows,
    labels_pickle,
    nltk_classes,
    payloads,
    tree_pickle,
)

from core import safe_pickle
from core.formats import (
    load_bundled,
    load_distances,
    load_hierarchy,
    parse_distances,
    parse_hierarchy,
    to_csv_edges,
    to_json,
    to_newick,
)
from core.formats import common, pickles
from core.hierarchy import Hierarchy, HierarchyError

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = [2, 3, 4, 5]
LIVE_ROUTES = ["REDUCE (protocol 2)", "STACK_GLOBAL + REDUCE (protocol 4)", "INST", "OBJ", "STACK_GLOBAL",
               "builtins.eval", "object array with a payload", "payload inside a distance dict",
               "payload as a label row"]


def reference_tree(reference: Path, stem: str) -> tuple[Hierarchy, np.ndarray]:
    """A reference hierarchy (its JSON) and its distance matrix (its .npz), in the reference class order."""
    doc = json.loads((reference / "hierarchies" / f"{stem}.json").read_text())
    hierarchy = Hierarchy.from_tree(doc["tree"], doc["classes"], stem)
    with np.load(reference / "hierarchies" / f"{stem}_distances.npz") as z:
        return hierarchy, z["distances"]


def same_edges(a: Hierarchy, b: Hierarchy) -> None:
    assert a.edges() == b.edges()


# ----------------------------------------------------------------------------------- the writers
def test_tree_pickles_have_nltk_layout():
    """NEWOBJ of nltk's class, children by APPENDS, state {'_label': …} by BUILD; nltk is never imported."""
    h = load_bundled("synthetic")
    for module, opcode in [("nltk.tree", "GLOBAL"), ("nltk.tree.tree", "STACK_GLOBAL")]:
        data = tree_pickle(h, protocol=2 if opcode == "GLOBAL" else 4, module=module)
        ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
        names = [name for name, _ in ops]
        assert {"NEWOBJ", "APPENDS", "BUILD"} <= set(names)
        if opcode == "GLOBAL":
            assert ("GLOBAL", f"{module} Tree") in ops
        else:
            assert ("SHORT_BINUNICODE", module) in ops and "STACK_GLOBAL" in names
        assert ("SHORT_BINUNICODE", "_label") in ops or ("BINUNICODE", "_label") in ops
    assert "nltk" not in sys.modules


# ------------------------------------------------------------------------------ loading, exactly
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("module", ["nltk.tree", "nltk.tree.tree"])
def test_nltk_tree_pickle_gives_the_reference_tree(reference, module, protocol):
    h, distances = reference_tree(reference, "cifar100_l5")
    loaded = parse_hierarchy(tree_pickle(h, protocol, module), "cifar_100_tree.pkl")
    same_edges(h, loaded)
    assert loaded.leaves == [h.names[i] for i in sorted(h.leaf_ids)]  # tree order, as for Newick
    again = load_hierarchy_bytes(tree_pickle(h, protocol, module), "cifar_100_tree.pkl", h.leaves)
    assert again.leaves == h.leaves
    np.testing.assert_array_equal(again.distance_matrix(), distances)
    assert "nltk" not in sys.modules


def load_hierarchy_bytes(data: bytes, name: str, classes=None, tmp=None) -> Hierarchy:
    """load_hierarchy through a real file."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return load_hierarchy(path, classes)


@pytest.mark.parametrize("stem", ["fgvc_aircraft", "tiered_imagenet_h"])
def test_deep_and_unbalanced_reference_trees_as_nltk_pickles(reference, stem):
    h, distances = reference_tree(reference, stem)
    loaded = load_hierarchy_bytes(tree_pickle(h, 4), f"{stem}_tree.pkl", h.leaves)
    np.testing.assert_array_equal(loaded.distance_matrix(), distances)


@pytest.mark.parametrize("both_orders", [False, True])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_distance_dict_pickle_gives_the_reference_matrix(reference, protocol, both_orders):
    h, distances = reference_tree(reference, "fgvc_aircraft")
    data = distance_pickle(distance_dict(h, both_orders=both_orders), protocol)
    matrix, names = parse_distances(data, "fgvc_aircraft_ilsvrc_distances.pkl.xz")
    assert names == sorted(h.leaves) == h.leaves  # FGVC's classes are ImageFolder-sorted
    np.testing.assert_array_equal(matrix, distances)
    assert matrix.dtype == np.int64
    tree = parse_hierarchy(data, "fgvc_aircraft_ilsvrc_distances.pkl.xz")
    np.testing.assert_array_equal(tree.distance_matrix(), distances)
    assert tree.level_counts() == h.level_counts()


def test_distance_dict_class_order_and_internal_entries(reference):
    h, distances = reference_tree(reference, "cifar100_l5")  # classes L5-0 … L5-99, not sorted
    data = distance_pickle(distance_dict(h, internal=True))
    matrix, names = parse_distances(data, "cifar_100_ilsvrc_distances.pkl.xz", classes=h.leaves)
    assert names == h.leaves
    np.testing.assert_array_equal(matrix, distances)
    matrix, names = parse_distances(data, "cifar_100_ilsvrc_distances.pkl.xz")  # internal nodes dropped
    assert sorted(names) == sorted(h.leaves)
    tree = load_hierarchy_bytes(data, "cifar_100_ilsvrc_distances.pkl.xz", h.leaves)
    np.testing.assert_array_equal(tree.distance_matrix(), distances)
    assert load_distances_bytes(data, "d.pkl.xz", h.leaves)[1] == h.leaves


def load_distances_bytes(data: bytes, name: str, classes=None):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return load_distances(path, classes)


@pytest.mark.parametrize("as_array", [False, True])
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("stem", ["fgvc_aircraft", "cifar100_l5", "inaturalist19"])
def test_label_rows_give_the_reference_distances(reference, stem, protocol, as_array):
    h, distances = reference_tree(reference, stem)
    rows, _ = label_rows(h)
    loaded = parse_hierarchy(labels_pickle(rows, protocol, as_array), f"{stem}_tree_list_level{h.height}.pkl")
    assert loaded.num_classes == h.num_classes and loaded.height == h.height
    assert loaded.leaves == [f"L{h.height}-{row[0]}" for row in rows]  # row order is class order
    np.testing.assert_array_equal(loaded.distance_matrix(), distances)
    assert loaded.level_counts() == h.level_counts()


def test_pickled_hierarchies_export_like_any_other(reference):
    h, _ = reference_tree(reference, "fgvc_aircraft")
    rows, _ = label_rows(h)
    for data, name in [(tree_pickle(h), "t.pkl"), (distance_pickle(distance_dict(h)), "d.pkl.xz"),
                       (labels_pickle(rows), "l.pkl")]:
        loaded = parse_hierarchy(data, name)
        for text, ext in [(to_json(loaded), "json"), (to_csv_edges(loaded), "csv"), (to_newick(loaded), "nwk")]:
            again = parse_hierarchy(text.encode(), f"again.{ext}")
            assert set(again.edges()) == set(loaded.edges())
            np.testing.assert_array_equal(again.restrict_to(loaded.leaves).distance_matrix(),
                                          loaded.distance_matrix())


def test_uploads_without_extension_are_recognised_as_pickles():
    h = load_bundled("synthetic")
    same_edges(h, parse_hierarchy(tree_pickle(h), "upload"))
    assert parse_hierarchy(distance_pickle(distance_dict(h)), "upload").num_classes == h.num_classes


def test_a_deep_nltk_chain_loads_without_recursion():
    edges = [(f"c{i}", f"c{i + 1}") for i in range(3000)] + [("c3000", "a"), ("c3000", "b")]
    h = Hierarchy.from_edges(edges)
    assert parse_hierarchy(tree_pickle(h), "chain_tree.pkl").height == 3001


# --------------------------------------------------------------------------- malformed contents
def _dumps(obj, protocol=4) -> bytes:
    return pickle.dumps(obj, protocol=protocol)


def _tree(*children, label="root"):
    with nltk_classes() as classes:
        return _dumps(classes["nltk.tree.tree"](label, list(children)))


def _shared_subtree():
    with nltk_classes() as classes:
        tree = classes["nltk.tree.tree"]
        shared = tree("x", ["a", "b"])
        return _dumps(tree("root", [shared, shared]))


def _cyclic_tree():
    with nltk_classes() as classes:
        tree = classes["nltk.tree.tree"]
        root = tree("root", ["a"])
        root.append(root)
        return _dumps(root)


MALFORMED = [
    ("t.pkl", _dumps([1, 2, 3]), "the pickle holds a list"),
    ("t.pkl", _dumps("tree"), "the pickle holds a str 'tree', not a hierarchy"),
    ("t.pkl", _tree(label=None), "the root's label must be a non-empty name"),
    ("t.pkl", _tree(), "single node"),
    ("t.pkl", _tree("a", 3.5), "a leaf under 'root' must be a non-empty name (str or int), found a float"),
    ("t.pkl", _tree("a", "a"), "duplicate"),
    ("t.pkl", _tree("a"), "1 leaf"),
    ("t.pkl", _shared_subtree(), "appears twice"),
    ("t.pkl", _cyclic_tree(), "appears twice in the tree (or contains itself)"),
    ("t.pkl", _dumps(np.zeros((3, 2))), "the label array must hold integers, not float64"),
    ("t.pkl", _tree("a", 10**5000), "found an int of 16610 bits"),
    ("t.pkl", _dumps(10**5000), "the pickle holds an int of 16610 bits"),
    ("t.pkl", _dumps([[0, 1], [1, 10**5000]]), "row 1: labels must be integers, found an int of 16610 bits"),
    ("t.pkl", _dumps([[0, 1], [1]]), "different lengths"),
    ("t.pkl", _dumps([[0, 1], [1, "x"]]), "row 1: labels must be integers"),
    ("t.pkl", _dumps([[0, 1]]), "K ≥ 2 classes"),
    ("t.pkl", _dumps([[0, 1], [0, 1]]), "rows 0 and 1 are the same class 'L2-0'"),
    ("t.pkl", _dumps([[0, 1, 0], [1, 1, 1]]),
     "row 1: not a tree: 'L2-1' is under 'L1-1' here but under 'L1-0' in row 0"),
    ("d.pkl", _dumps({("a", "b"): 1, ("b", "a"): 2}), "stored twice with different values (1 and 2)"),
    ("d.pkl", _dumps({("a", "b"): float("nan")}), "is not a finite non-negative number"),
    ("d.pkl", _dumps({("a", "b"): -1}), "= -1 is not a finite non-negative number"),
    ("d.pkl", _dumps({("a", "b"): 10**400}), "= inf is not a finite"),
    ("d.pkl", _dumps({("a", "b"): "1"}), "must be a number, found a str"),
    ("d.pkl", _dumps({("a", "b"): True}), "must be a number, found a bool"),
    ("d.pkl", _dumps({"a": 1}), "keys must be (class_a, class_b) pairs"),
    ("d.pkl", _dumps({("a", "b", "c"): 1}), "keys must be (class_a, class_b) pairs"),
    ("d.pkl", _dumps({("a", "a"): 1}), "a class is at distance 0 from itself"),
    ("d.pkl", _dumps({("a", "a"): 0}), "no pairs of distinct classes"),
    ("d.pkl", _dumps({("a", "b"): 0}), "are at distance 0"),
    ("d.pkl", _dumps({("a", "b"): 1, ("b", "c"): 1, ("a", "c"): 3}), "not an ultrametric"),
    ("d.pkl", _dumps({}), "no pairs of distinct classes"),
    ("t.pkl", b"\x80\x04\x95", "not a readable pickle"),
    ("t.pkl", b"", "not a readable pickle"),
    ("t.pkl.xz", b"\xfd7zXZ\x00\x00garbage", "damaged compressed data"),
    ("t.pkl.xz", distance_pickle({("a", "b"): 1})[:-20], "truncated"),
]


@pytest.mark.parametrize("filename, data, message", MALFORMED)
def test_malformed_pickles_are_explained(filename, data, message):
    with pytest.raises(HierarchyError) as info:
        parse_hierarchy(data, filename)
    assert str(info.value).startswith(f"{filename}: ")
    assert message in str(info.value)


def test_distance_dict_with_a_class_missing_a_pair():
    data = _dumps({("a", "b"): 1, ("a", "c"): 2, ("b", "c"): 2, ("a", "d"): 2})
    with pytest.raises(HierarchyError, match="no distance between 'b' and 'd'"):
        parse_distances(data, "d.pkl", classes=["a", "b", "c", "d"])
    assert parse_distances(data, "d.pkl")[1] == ["a", "b", "c"]  # the complete set of names


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_gzip_bz2_and_xz_pickles_and_their_bombs(monkeypatch, compress):
    h = load_bundled("synthetic")
    same_edges(h, parse_hierarchy(compress(tree_pickle(h)), "synthetic_tree.pkl.gz"))
    monkeypatch.setattr(common, "MAX_PICKLE_BYTES", 1 << 20)
    bomb = compress(pickle.dumps({("a", "b"): 1, ("x" * (4 << 20), "y"): 1}))
    with pytest.raises(HierarchyError, match="decompresses to more than"):
        parse_hierarchy(bomb, "bomb.pkl.gz")
    with pytest.raises(HierarchyError, match="truncated|damaged"):
        parse_hierarchy(compress(tree_pickle(h))[:-8], "cut.pkl.gz")


def test_numpy_dtypes_from_python2_pickles_read_as_bytes():
    data = pickle.dumps(np.arange(3, dtype=np.int16), protocol=2)
    python2 = data.replace(b"X\x02\x00\x00\x00i2", b"U\x02i2")  # the dtype's name as a Python 2 str
    assert python2 != data
    assert safe_pickle.loads(python2, safe_pickle.NUMPY_ARRAYS, encoding="bytes").tolist() == [0, 1, 2]


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_honest_pickles_pass_the_memo_scan(protocol):
    many = {(f"n{i}", f"m{i}"): i for i in range(70_000)}  # memo indices past 2**16
    for obj in [many, np.arange(7), [b"x" * 300, "é" * 70_000, 2**100, -5, 1.5, None, (1, 2), {3}]]:
        assert safe_pickle.loads(pickle.dumps(obj, protocol=protocol), pickles.ALLOWED) is not None


@pytest.mark.parametrize("data", [
    b"\x80\x02]r\x00\x00\x00\x10.",  # LONG_BINPUT 2**28: CPython would zero-fill a 4 GiB memo table
    b"\x80\x02]r\xff\xff\xff\xff.",
    b"(lp99999999999\n.",  # PUT in protocol 0
    b"\x80\x04\x8e\xff\xff\xff\xff\xff\x00\x00\x00.",  # BINBYTES8 promising a terabyte
    b"\x80\x05\x96\x00\x00\x00\x00\x00\x01\x00\x00.",  # BYTEARRAY8
])
def test_memo_and_length_bombs_are_refused_before_unpickling(data):
    with pytest.raises(HierarchyError, match="memo index|runs past the end"):
        parse_hierarchy(data, "bomb.pkl")


def test_compression_bomb_is_refused_before_unpickling(monkeypatch):
    monkeypatch.setattr(common, "MAX_PICKLE_BYTES", 1 << 20)
    bomb = distance_pickle({("a", "b"): 1, ("x" * (4 << 20), "y"): 1})
    assert len(bomb) < 4096
    with pytest.raises(HierarchyError, match=f"decompresses to more than {1 << 20} bytes"):
        parse_hierarchy(bomb, "bomb.pkl.xz")


# ------------------------------------------------------------------------ payloads never run
@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "payload-ran"


def test_the_payloads_are_live(marker):
    """Plain unpickling (in a child process) does run them — so the refusals below can fail."""
    evil = payloads(marker)
    for route in LIVE_ROUTES:
        subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"],
                       input=evil[route], capture_output=True, check=False)
        assert marker.exists(), route
        marker.unlink()


REFUSED_BY_NAME = {
    "REDUCE": "'posix.system'", "STACK_GLOBAL": "'posix.system'", "INST": "'posix.system'",
    "OBJ": "'posix.system'", "NEWOBJ": "'posix.system'", "builtins.eval": "'builtins.eval'",
    "builtins.getattr": "'builtins.getattr'", "copyreg._reconstructor": "'copyreg._reconstructor'",
    "numpy.load": "'numpy.load'", "persistent id": "persistent references are not allowed",
    "object array": "numpy dtype 'O8' is not allowed", "numpy record dtype": "is not allowed in pickles",
    "_codecs.encode": "_codecs.encode is allowed only as encode(str, 'latin1')",
    "payload": "'posix.system'",
}


def expected_message(route: str) -> str:
    return next(text for key, text in REFUSED_BY_NAME.items() if route.startswith(key))


@pytest.mark.parametrize("name", ["evil.pkl", "evil_distances.pkl.xz", "evil_tree_list_level3.pkl", "upload"])
def test_every_route_to_a_global_is_refused_by_name(marker, name):
    for route, data in payloads(marker).items():
        with pytest.raises(HierarchyError) as info:
            parse_hierarchy(data, name)
        assert str(info.value).startswith(f"{name}: ") or name == "upload"
        if name != "upload" or data[:1] == b"\x80" or route == "payload in xz":
            assert expected_message(route) in str(info.value), (route, str(info.value))
        with pytest.raises(HierarchyError):
            parse_distances(data, name if name != "upload" else "evil.pkl")
        assert not marker.exists(), route


def test_extension_codes_are_refused_by_name(marker):
    for route, (code, data) in ext_payloads(marker).items():
        with pytest.raises(HierarchyError, match="not a readable pickle"):  # unregistered code
            parse_hierarchy(data, "ext.pkl")
        with extension_code(code):
            with pytest.raises(HierarchyError, match="refused to load 'posix.system'"):
                parse_hierarchy(data, "ext.pkl")
        assert not marker.exists(), route


def test_payloads_never_run_through_the_file_reader(marker, tmp_path):
    for i, data in enumerate(payloads(marker).values()):
        path = tmp_path / f"evil{i}.pkl"
        path.write_bytes(data)
        with pytest.raises(HierarchyError):
            load_hierarchy(path)
        with pytest.raises(HierarchyError):
            load_distances(path)
    assert not marker.exists()


def test_safe_pickle_refuses_with_its_own_error(marker):
    data = payloads(marker)["REDUCE (protocol 2)"]
    with pytest.raises(safe_pickle.UnsafePickleError, match="evil: refused to load 'posix.system'"):
        safe_pickle.loads(data, pickles.ALLOWED, "evil")
    assert not marker.exists()


def test_cli_refuses_a_payload_hierarchy_with_a_clear_message(marker, tmp_path):
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(payloads(marker)["REDUCE (protocol 2)"])
    env = {**os.environ, "HAFRAME_RUNS_DIR": str(tmp_path / "runs")}
    result = subprocess.run(
        [sys.executable, "-m", "core.train", "--hierarchy", str(evil), "--epochs", "1", "--device", "cpu",
         "--out", str(tmp_path / "runs" / "r")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "refused to load 'posix.system'" in output and "evil.pkl" in output, output
    assert "Traceback" not in output, output
    assert not marker.exists()
