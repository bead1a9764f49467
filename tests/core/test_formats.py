"""Tests of core.formats: every reader and writer, every error, reference fidelity, properties."""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.formats import (
    common,
    jsonfile,
    load_distances,
    load_hierarchy,
    match_classes,
    parse_distances,
    parse_hierarchy,
    read_hierarchy,
    to_csv_edges,
    to_isa,
    to_json,
    to_newick,
)
from core.hierarchy import Hierarchy, HierarchyError

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "hierarchies"
REFERENCE_STEMS = ["cifar100_l5", "fgvc_aircraft", "inaturalist19", "tiered_imagenet_h"]

WRITERS = {"json": to_json, "csv": to_csv_edges, "nwk": to_newick, "txt": to_isa}
SMALL = [("r", "A"), ("r", "c"), ("A", "a"), ("A", "b")]
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture
def reference_hierarchies() -> Path:
    """../shared/reference/hierarchies; the fidelity tests fail loudly when it is missing."""
    assert REFERENCE.is_dir(), f"reference hierarchies not found at {REFERENCE}"
    return REFERENCE


def same_tree(h1: Hierarchy, h2: Hierarchy) -> None:
    """Same leaves (as sets), same edges, same distances once put in the same class order."""
    assert set(h1.leaves) == set(h2.leaves)
    assert set(h1.edges()) == set(h2.edges())
    h2 = h2.restrict_to(h1.leaves)
    for convention in ("depth", "height"):
        np.testing.assert_array_equal(h1.distance_matrix(convention), h2.distance_matrix(convention))


def chain(depth: int) -> Hierarchy:
    edges = [(f"c{i}", f"c{i + 1}") for i in range(depth)]
    return Hierarchy.from_edges(edges + [(f"c{depth}", "a"), (f"c{depth}", "b")])


def npz_bytes(compressed: bool = False, **arrays) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- folder helpers
_DIR = os.O_RDONLY | os.O_DIRECTORY


def write_folder(base: Path, h: Hierarchy, files: bool = True) -> Path:
    """Create ``base/<root>/…`` folders for ``h`` through descriptors (works past PATH_MAX)."""
    root = base / h.names[0]
    root.mkdir()
    pending = np.bincount(h.parents[h.parents >= 0], minlength=h.num_nodes)
    fds = {0: os.open(root, _DIR)}
    try:
        for i in range(1, h.num_nodes):
            parent = int(h.parents[i])
            os.mkdir(h.names[i], dir_fd=fds[parent])
            fd = os.open(h.names[i], _DIR, dir_fd=fds[parent])
            if pending[i]:
                fds[i] = fd
            else:
                if files:
                    os.close(os.open("img0.jpg", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
                os.close(fd)
            pending[parent] -= 1
            if pending[parent] == 0:
                os.close(fds.pop(parent))
    finally:
        for fd in fds.values():
            os.close(fd)
    return root


def remove_folder(root: Path) -> None:
    """Delete a folder tree of any depth, holding at most two descriptors."""
    below: list[str] = []
    fd = os.open(root, _DIR)
    while True:
        sub = None
        with os.scandir(fd) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    sub = entry.name
                    break
                os.unlink(entry.name, dir_fd=fd)
        if sub is not None:
            child = os.open(sub, _DIR, dir_fd=fd)
            os.close(fd)
            fd, below = child, below + [sub]
            continue
        if not below:
            os.close(fd)
            os.rmdir(root)
            return
        parent = os.open("..", _DIR, dir_fd=fd)
        os.close(fd)
        os.rmdir(below.pop(), dir_fd=parent)
        fd = parent


# ============================================================================= fidelity
@pytest.mark.usefixtures("reference_hierarchies")
@pytest.mark.parametrize("stem", REFERENCE_STEMS)
def test_reference_hierarchy_matches_reference_distances(stem):
    h = load_hierarchy(REFERENCE / f"{stem}.json")
    with np.load(REFERENCE / f"{stem}_distances.npz", allow_pickle=False) as ref:
        classes, distances = ref["classes"].tolist(), ref["distances"]
    assert h.leaves == classes
    np.testing.assert_array_equal(h.distance_matrix(), distances)
    loaded, names = load_distances(REFERENCE / f"{stem}_distances.npz")
    assert names == classes and loaded.dtype == np.int64
    np.testing.assert_array_equal(loaded, distances)


@pytest.mark.usefixtures("reference_hierarchies")
@pytest.mark.parametrize("stem", REFERENCE_STEMS)
def test_reference_hierarchy_round_trips_through_every_writer(stem):
    h = load_hierarchy(REFERENCE / f"{stem}.json")
    for ext, writer in WRITERS.items():
        try:
            text = writer(h)
        except HierarchyError as err:  # FGVC names hold spaces, which isa.txt cannot
            assert (ext, stem) == ("txt", "fgvc_aircraft") and "whitespace" in str(err), err
            continue
        again = parse_hierarchy(text.encode(), f"{stem}.{ext}")
        same_tree(h, again)
    assert parse_hierarchy(to_json(h).encode(), "x.json").leaves == h.leaves  # JSON keeps class order


@pytest.mark.usefixtures("reference_hierarchies")
def test_reference_display_names_survive_json():
    h = load_hierarchy(REFERENCE / "cifar100_l5.json")
    again = parse_hierarchy(to_json(h).encode(), "cifar.json")
    assert again.display_names == h.display_names and again.display("L5-0") == h.display("L5-0")
    assert again.name == h.name


# ============================================================================= readers
def test_json_forms():
    tree = {"name": "r", "children": [{"name": "A", "children": [{"name": "a"}, {"name": "b"}]},
                                      {"name": "c", "children": []}]}
    plain = parse_hierarchy(json.dumps(tree).encode(), "t.json")
    wrapped = parse_hierarchy(json.dumps({"tree": tree, "classes": ["c", "b", "a"]}).encode(), "t.json")
    adjacency = parse_hierarchy(json.dumps({"r": ["A", "c"], "A": ["a", "b"]}).encode(), "t.json")
    assert plain.leaves == ["a", "b", "c"] == adjacency.leaves
    assert wrapped.leaves == ["c", "b", "a"]
    same_tree(plain, adjacency)
    assert parse_hierarchy(b"\xef\xbb\xbf" + json.dumps(tree).encode(), "t.json").leaves == plain.leaves


def test_csv_edge_list():
    text = "Parent , child,weight\nr,A,1\nr,c,1\n\nA, a ,1\n\"A\",b,2\n"
    h = parse_hierarchy(text.encode(), "edges.csv")
    assert h.leaves == ["a", "b", "c"] and h.names[0] == "r" and h.name == "edges"
    swapped = parse_hierarchy(b"child,parent\nA,r\nc,r\na,A\nb,A\n", "e.csv")
    same_tree(h, swapped)


def test_csv_quoted_names():
    text = 'parent,child\nr,"a, b"\nr,"say ""hi"""\n'
    assert parse_hierarchy(text.encode(), "q.csv").leaves == ["a, b", 'say "hi"']


def test_newick_features():
    text = "(( 'a b':0.1, b_c : 2e-3 )[&&NHX:x=1] inner : 1, 'it''s', (d,e));\n"
    h = parse_hierarchy(text.encode(), "t.nwk")
    assert h.leaves == ["a b", "b_c", "it's", "d", "e"]
    assert "inner" in h.names
    unlabeled = [n for n in h.names if n.startswith("node_")]
    assert len(unlabeled) == 2 and h.names[0] in unlabeled  # root and (d,e) get generated names


def test_newick_generated_names_avoid_labels():
    h = parse_hierarchy(b"((node_0,node_1),(x,y));", "t.newick")
    assert len(set(h.names)) == h.num_nodes == 7
    assert {"node_0", "node_1"} <= set(h.leaves)


def test_newick_other_extensions():
    for name in ("t.tre", "t.tree", "T.NWK"):
        assert parse_hierarchy(b"((a,b)x,c)r;", name).leaves == ["a", "b", "c"]


def test_isa_txt():
    text = "# making-better-mistakes isa\nr A\n\nr\tc\nA  a\r\nA b\n"
    h = parse_hierarchy(text.encode(), "tiered_isa.txt")
    assert h.leaves == ["a", "b", "c"] and set(h.edges()) == set(SMALL)


@pytest.mark.parametrize("ext", list(WRITERS))
def test_sniffing_without_extension(ext):
    h = Hierarchy.from_edges(SMALL)
    same_tree(h, parse_hierarchy(WRITERS[ext](h).encode(), "upload"))


def test_folder(tmp_path):
    root = write_folder(tmp_path, Hierarchy.from_edges([("animals", "cat"), ("animals", "dog"),
                                                        ("dog", "wolf"), ("dog", "husky")]))
    (root / ".git" / "objects").mkdir(parents=True)  # hidden: ignored
    (root / "notes.txt").write_text("files are ignored")
    h = read_hierarchy(root)
    assert h.names[0] == "animals" and h.name == "animals"
    assert h.leaves == ["cat", "husky", "wolf"]  # sorted(), as ImageFolder over the class folders
    assert set(h.edges()) == {("animals", "cat"), ("animals", "dog"), ("dog", "husky"), ("dog", "wolf")}
    assert load_hierarchy(root, classes=["wolf", "cat", "husky"]).leaves == ["wolf", "cat", "husky"]
    assert read_hierarchy(root / ".").names[0] == "animals"


def test_folder_follows_symlinked_class_folders(tmp_path):
    elsewhere = tmp_path / "elsewhere" / "b"
    elsewhere.mkdir(parents=True)
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    (root / "b").symlink_to(elsewhere, target_is_directory=True)
    assert read_hierarchy(root).leaves == ["a", "b"]


# ============================================================================= deep trees
@pytest.mark.parametrize("ext", list(WRITERS))
def test_5000_level_chain_through_every_text_format(ext):
    h = chain(5000)
    text = WRITERS[ext](h)
    for name in (f"deep.{ext}", "deep"):
        again = parse_hierarchy(text.encode(), name)
        assert again.leaves == ["a", "b"] and again.height == 5001
        np.testing.assert_array_equal(again.distance_matrix(), [[0, 1], [1, 0]])


def test_5000_level_chain_folder(tmp_path):
    h = chain(5000)
    root = write_folder(tmp_path, h, files=False)
    try:
        again = read_hierarchy(root)
    finally:
        remove_folder(root)
    assert again.leaves == ["a", "b"] and again.height == 5001
    assert again.edges() == h.edges()


def test_json_nested_far_too_deep_is_an_error_not_a_crash():
    depth = 100_000  # json.loads with a raised recursion limit used to overflow the C stack here
    with pytest.raises(HierarchyError, match="JSON must be a tree"):
        parse_hierarchy(b"[" * depth + b"]" * depth, "deep.json")
    with pytest.raises(HierarchyError, match="truncated"):
        parse_hierarchy(b'{"a": ' * depth, "deep.json")


# ============================================================================= hierarchy errors
TREE_JSON = json.dumps({"name": "r", "children": [{"name": "a"}, {"name": "b"}]})

HIERARCHY_ERRORS = [
    # generic
    ("t.json", b"", "the file is empty"),
    ("t.nwk", b"  \n\t", "the file is empty"),
    ("t.json", b'{"name": "r", "children": [{"name": "\xff"}]}', "not UTF-8 text (undecodable byte 0xff"),
    ("t.pkl", b"\x80\x04K\x01.", "the pickle holds an int 1, not a hierarchy"),
    ("t.pkl.xz", b"\xfd7zXZ", "compressed data ends early (truncated file)"),
    ("t.yaml", b"r: [a, b]", "unknown hierarchy format '.yaml'"),
    # JSON
    ("t.json", b'{"name": "r", "children": [{"name": "a"}, {"name": "a"}]}', "duplicate leaf name 'a'"),
    ("t.json", b'{"name": "r"}', "single node"),
    ("t.json", b'{"name": "r", "children": [{"name": "a"}]}', "1 leaf; at least 2"),
    ("t.json", TREE_JSON[:20].encode(), "ends early (truncated?)"),
    ("t.json", b'{"name": "r", "children": [}', "not valid JSON: Expecting value (line 1, column 28)"),
    ("t.json", b'{"a": ["b"], "b": ["a"]}', "cycle"),
    ("t.json", b'{"r": ["a", "z"], "a": ["b"], "b": ["c"], "c": ["a"]}', "t.json: cycle a → b → c → a"),
    ("t.json", b'{"r": ["a", "b"], "s": ["c", "d"]}', "2 roots"),
    ("t.json", b'{"r": ["a", "b"], "x": ["y"], "y": ["x"]}', "cycle x → y → x"),
    ("t.json", b'{"r": ["a", "b"], "x": ["y"]}', "2 roots"),
    ("t.json", b'{"r": ["a", "b"], "s": ["a"]}', "node 'a' has two parents"),
    ("t.json", b'{"r": ["a", {"b": 1}]}', "children of 'r' must be names"),
    ("t.json", b"[1, 2]", "JSON must be a tree"),
    ("t.json", b'{"tree": ' + TREE_JSON.encode() + b', "classes": "ab"}', '"classes" must be a list'),
    ("t.json", b'{"tree": ' + TREE_JSON.encode() + b', "classes": ["a", "z"]}', "class list does not match"),
    ("t.json", b'{"name": "r", "children": [{"name": "a"}, {"name": ' + b"1" * 5000 + b"}]}",
     "not valid JSON"),
    # CSV
    ("t.csv", b"from,to\nr,a\nr,b\n", "line 1: the first row must be the header 'parent,child'"),
    ("t.csv", b"parent,child\n", "no edges found"),
    ("t.csv", b",,\n , \n", "no rows"),
    ("t.csv", b"parent,child\nr,a\nr\n", "line 3: expected 2 columns, found 1"),
    ("t.csv", b"parent,child\nr,a\nr,b\ns,a\n",
     "line 4: not a tree: node 'a' has two parents ('r' on line 2"),
    ("t.csv", b"parent,child\nr,\nr,b\n", "line 2: empty child name"),
    ("t.csv", b"parent,child\nr,a\nr,b\nb,b\n", "line 4: cycle: 'b' is its own parent"),
    ("t.csv", b"parent,child\nr,a\nr,\"" + b"x" * 200_000 + b"\"\n", "line 3: not valid CSV (field larger"),
    ("t.csv", b"parent,child\nr,a\nr,b\ns,c\ns,d\n", "2 roots"),
    ("t.csv", b"parent,child\nr,a\nr,b\nx,y\ny,z\nz,x\n", "line 6: cycle x → y → z → x"),
    ("t.csv", b"parent,child\na,b\nb,c\nc,a\n", "cycle"),
    ("t.csv", b"parent,child\nr,a\na,b\nb,c\nc,a\nr,z\n", "line 5: cycle a → b → c → a"),
    ("t.csv", b"parent,child\nr,a\nr,z\nb,a\na,b\n", "line 4: cycle a → b → a"),
    ("t.csv", b"parent,child\nr,a\n", "1 leaf"),
    # Newick
    ("t.nwk", b"((a,b),c", "unbalanced parentheses: 1 '(' never closed; the last one (line 1, column 1)"),
    ("t.nwk", b"(a,\n(b,c);", "unbalanced parentheses: ';' with 1 '(' still open (line 2, column 6)"),
    ("t.nwk", b"(a,b));", "unbalanced parentheses: ')' without a matching '(' (line 1, column 6)"),
    ("t.nwk", b"(a,b)", "no ';' at the end of the tree (truncated?)"),
    ("t.nwk", b"(a,(b,a));", "duplicate leaf name 'a' (also at line 1, column 2) (line 1, column 7)"),
    ("t.nwk", b"((a,b)x,(c,d)x);", "duplicate node name 'x'"),
    ("t.nwk", b"(a,);", "a leaf has no name (line 1, column 4)"),
    ("t.nwk", b"(a:x,b);", "branch length 'x' at line 1, column 3 is not a number"),
    ("t.nwk", b"(a,'b);", "quoted label is never closed (line 1, column 4)"),
    ("t.nwk", b"(a,b)[c;", "comment '[' is never closed"),
    ("t.nwk", b"(a,b);(c,d);", "one tree per file"),
    ("t.nwk", b"(a b,c);", "unexpected label 'b'"),
    ("t.nwk", b"(a,b)(c);", "unexpected '('"),
    ("t.nwk", b"(a,b),c;", "',' outside any '(...)'"),
    ("t.nwk", b"a;", "single node"),
    ("t.nwk", b";", "no tree before ';'"),
    ("t.nwk", b"(a:1:2,b);", "unexpected branch length"),
    ("t.nwk", b"(a,b)];", "']' without '['"),
    # isa.txt
    ("isa.txt", b"r a\nr b c\n", "line 2: expected 'parent child'"),
    ("isa.txt", b"r a\nr b\ns a\n", "line 3: not a tree: node 'a' has two parents"),
    ("isa.txt", b"# nothing here\n", "no edges found"),
    ("isa.txt", b"r a\n", "1 leaf"),
    ("isa.txt", b"r a\nr b\nx y\nx z\n", "2 roots"),
    ("isa.txt", b"r a\nr b\na a\n", "line 3: cycle"),
    ("isa.txt", b"r a\nr z\nb a\na b\n", "line 3: cycle a → b → a"),
    # no extension: content decides
    ("upload", b"((a,b)", "unbalanced parentheses"),
    ("upload", b"parent,child\nr,a\n", "1 leaf"),
    ("upload", b"one-field-lines\nhere\n", "line 1: expected 'parent child'"),
]


@pytest.mark.parametrize("filename, data, message", HIERARCHY_ERRORS)
def test_hierarchy_errors(filename, data, message):
    with pytest.raises(HierarchyError) as info:
        parse_hierarchy(data, filename)
    assert message in str(info.value)
    assert str(info.value).startswith(filename)


def test_oversized_file_refused_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "MAX_FILE_BYTES", 10)
    with pytest.raises(HierarchyError, match="larger than"):
        parse_hierarchy(b"(a,b,c,d,e,f);", "t.nwk")
    path = tmp_path / "t.nwk"
    path.write_bytes(b"(a,b,c,d,e,f);")
    with pytest.raises(HierarchyError, match=r"^t\.nwk: file is larger than"):
        read_hierarchy(path)
    with pytest.raises(HierarchyError, match=r"^t\.nwk: file is larger than"):
        load_distances(path)


@pytest.mark.parametrize(
    "filename, data",
    [
        ("t.nwk", b"(" * 20 + b"a,b" + b")" * 20 + b";"),
        ("t.nwk", b"(" + b"a,b,c,d,e,f,g,h,i,j,k,l" + b");"),
        ("t.csv", b"parent,child\n" + b"".join(b"r,%d\n" % i for i in range(12))),
        ("t.txt", b"".join(b"r %d\n" % i for i in range(12))),
        ("t.json", b"[" * 30 + b"]" * 30),
    ],
)
def test_node_cap(monkeypatch, filename, data):
    monkeypatch.setattr(common, "MAX_NODES", 10)
    monkeypatch.setattr(json, "loads", jsonfile.json_loads_iterative)  # as for very deep files
    with pytest.raises(HierarchyError, match="more than 10 |nested more than 20 levels"):
        parse_hierarchy(data, filename)


def test_missing_and_special_paths(tmp_path):
    with pytest.raises(HierarchyError, match="no such file"):
        read_hierarchy(tmp_path / "nope.json")
    with pytest.raises(HierarchyError, match="no such file"):
        load_distances(tmp_path / "nope.npz")
    with pytest.raises(HierarchyError, match="^/dev/null: not a regular file"):
        read_hierarchy("/dev/null")
    with pytest.raises(HierarchyError, match="invalid path"):
        read_hierarchy("bad\0name.json")


def test_folder_errors(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HierarchyError, match="no sub-folders"):
        read_hierarchy(empty)
    (empty / "only").mkdir()
    with pytest.raises(HierarchyError, match="1 leaf"):
        read_hierarchy(empty)
    dup = tmp_path / "dup"
    for path in ("A/x", "B/x"):
        (dup / path).mkdir(parents=True)
    with pytest.raises(HierarchyError, match="duplicate folder name 'x' \\(dup/A/x and dup/B/x\\)"):
        read_hierarchy(dup)
    loop = tmp_path / "loop"
    (loop / "a").mkdir(parents=True)
    (loop / "b").symlink_to(loop, target_is_directory=True)
    with pytest.raises(HierarchyError, match="loops back"):
        read_hierarchy(loop)
    monkeypatch.setattr(common, "MAX_FOLDER_ENTRIES", 3)
    wide = tmp_path / "wide"
    for name in "abcd":
        (wide / name).mkdir(parents=True)
    with pytest.raises(HierarchyError, match="more than 3 sub-folders"):
        read_hierarchy(wide)


def test_folder_read_closes_its_descriptors(tmp_path):
    before = len(os.listdir("/proc/self/fd"))  # Linux, as CI
    root = write_folder(tmp_path, chain(50))
    read_hierarchy(root)
    dup = tmp_path / "dup"
    for path in ("A/x", "B/C/x"):
        (dup / path).mkdir(parents=True)
    with pytest.raises(HierarchyError):
        read_hierarchy(dup)
    assert len(os.listdir("/proc/self/fd")) == before


# ============================================================================= distances
D3 = np.array([[0, 1, 2], [1, 0, 2], [2, 2, 0]])


def test_distances_npz_and_csv_forms(tmp_path):
    names = ["a", "b", "c"]
    for compressed in (False, True):
        path = tmp_path / f"d{compressed}.npz"
        path.write_bytes(npz_bytes(compressed, distances=D3.astype(np.int16), classes=np.array(names)))
        dist, classes = load_distances(path)
        assert classes == names and dist.dtype == np.int64
        np.testing.assert_array_equal(dist, D3)
    square = "a,b,c\n0,1,2\n1,0,2\n2,2,0\n"
    labelled = ",a,b,c\na,0,1,2\nb,1,0,2\nc,2,2,0\n"
    titled = "class,a,b,c\nb,1,0,2\nc,2,2,0\na,0,1,2\n"  # rows in another order
    for text in (square, labelled, titled):
        dist, classes = parse_distances(text.encode(), "d.csv")
        assert classes == names
        np.testing.assert_array_equal(dist, D3)
    dist, _ = parse_distances(b"a,b\n0,0.5\n0.5,0\n", "f.csv")
    assert dist.dtype == np.float64 and dist[0, 1] == 0.5
    assert parse_distances(npz_bytes(distances=D3, classes=np.array(names)), "upload")[1] == names
    assert parse_distances(b"p,q\n0,1\n1,0\n", "upload")[1] == ["p", "q"]


def test_distances_from_hierarchy_round_trip():
    h = Hierarchy.from_edges(SMALL)
    data = npz_bytes(distances=h.distance_matrix(), classes=np.array(h.leaves))
    dist, classes = parse_distances(data, "h.npz")
    np.testing.assert_array_equal(dist, h.distance_matrix())


NAMES3 = np.array(["a", "b", "c"])
DISTANCE_ERRORS = [
    ("d.npz", npz_bytes(distances=D3[:2], classes=NAMES3[:2]), "not square (shape (2, 3))"),
    ("d.npz", npz_bytes(distances=D3, classes=NAMES3[:2]), "2 class names for a 3×3 distance matrix"),
    ("d.npz", npz_bytes(distances=np.array([[0, 1], [2, 0]]), classes=NAMES3[:2]),
     "between 'a' and 'b' (row 1, column 2) = 1 differs from its mirror entry (not symmetric)"),
    ("d.npz", npz_bytes(distances=np.array([[0, -1], [-1, 0]]), classes=NAMES3[:2]), "= -1 is negative"),
    ("d.npz", npz_bytes(distances=np.array([[0, 1], [1, 3]]), classes=NAMES3[:2]),
     "between 'b' and 'b' (row 2, column 2) = 3 is on the diagonal but not 0"),
    ("d.npz", npz_bytes(distances=np.array([[0, np.nan], [np.nan, 0]]), classes=NAMES3[:2]),
     "not a finite number"),
    ("d.npz", npz_bytes(distances=np.zeros((1, 1)), classes=NAMES3[:1]), "at least 2 are needed"),
    ("d.npz", npz_bytes(distances=D3, classes=np.array(["a", "b", "a"])), "duplicate class name 'a'"),
    ("d.npz", npz_bytes(distances=D3, classes=np.array(["a", "", "c"])), "class name #2 is empty"),
    ("d.npz", npz_bytes(distances=D3, classes=np.array(["a", "b", "c"], dtype=object)),
     "'classes' is a pickled object array, which is never loaded"),
    ("d.npz", npz_bytes(distances=D3), "no 'classes' array"),
    ("d.npz", npz_bytes(distances=D3.astype(str), classes=NAMES3), "'distances' must hold numbers"),
    ("d.npz", npz_bytes(distances=D3, classes=np.arange(3)), "'classes' must be a 1-D array of strings"),
    ("d.npz", b"PK\x03\x04 definitely not a zip", "not a readable .npz file"),
    ("d.npz", b"", "not a readable .npz file"),
    ("d.npz", npz_bytes(distances=D3, classes=NAMES3)[:100], "not a readable .npz file"),
    ("d.pkl", b"\x80\x04", "not a readable pickle"),
    ("d.pkl", b"\x80\x04K\x01.", "a distance pickle must hold a dict"),
    ("d.pkl.xz", b"\xfd7zXZ", "compressed data ends early"),
    ("d.json", b"{}", "unknown distance format '.json'"),
    ("d.csv", b"", "the file has no rows"),
    ("d.csv", b"a,b,c\n", "no rows after the header"),
    ("d.csv", b"a,b,c\n0,1,2\n1,0,2\n", "not square: the header names 3 columns but there are 2 rows"),
    ("d.csv", b"a,b\n0,1\n1,0,5\n", "line 3: 3 cells, but the header has 2"),
    ("d.csv", b"a,b\n0,x\n1,0\n", "line 2, column 2: 'x' is not a number"),
    ("d.csv", b",a,b\na,0,1\nb,1,oops\n", "line 3, column 3: 'oops' is not a number"),
    ("d.csv", b",a,b\na,0,1\nz,1,0\n", "line 3: row name 'z' is not in the header"),
    ("d.csv", b",a,b\na,0,1\na,1,0\n", "row name 'a' appears twice"),
    ("d.csv", b"a,b\n0,1\n2,0\n", "not symmetric"),
    ("d.csv", b"a,b\n\xff,1\n1,0\n", "not UTF-8 text"),
    ("d.csv", b"a,b\n0,inf\ninf,0\n", "not a finite number"),
]


@pytest.mark.parametrize("filename, data, message", DISTANCE_ERRORS)
def test_distance_errors(filename, data, message):
    with pytest.raises(HierarchyError) as info:
        parse_distances(data, filename)
    assert message in str(info.value)


def test_npz_header_promising_a_huge_array_is_refused():
    header = {"descr": "<f8", "fortran_order": False, "shape": (100_000, 100_000)}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    huge = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(huge, "w") as archive:
        archive.writestr("distances.npy", buffer.getvalue() + b"\0" * 64)
        archive.writestr("classes.npy", b"")
    with pytest.raises(HierarchyError, match="'distances' is truncated"):
        parse_distances(huge.getvalue(), "huge.npz")


# ============================================================================= matching
def test_match_classes_hierarchy_matrix_and_names():
    h = Hierarchy.from_edges(SMALL)  # leaves a, b, c
    dataset = ["c", "a", "b"]
    matched = match_classes(h, dataset)
    assert matched.leaves == dataset
    dist, names = match_classes((h.distance_matrix(), h.leaves), dataset)
    assert names == dataset
    np.testing.assert_array_equal(dist, matched.distance_matrix())
    order = match_classes(h.leaves, dataset)
    assert [h.leaves[i] for i in order] == dataset


def test_match_classes_errors():
    h = Hierarchy.from_edges(SMALL)
    with pytest.raises(HierarchyError) as info:
        match_classes(h, ["a", "b", "zebra"])
    message = str(info.value)
    assert "1 dataset class(es) not in the hierarchy: ['zebra']" in message
    assert "1 hierarchy class(es) not in the dataset: ['c']" in message
    with pytest.raises(HierarchyError, match="differ only in case"):
        match_classes(["a", "b"], ["A", "b"], what="matrix")
    with pytest.raises(HierarchyError, match="duplicate class name 'a'"):
        match_classes(h, ["a", "a", "b"])


# ============================================================================= writers
def test_writers_output():
    h = Hierarchy.from_edges([("r", "a b"), ("r", "it's"), ("a b", "x"), ("a b", "y:z")])
    assert to_newick(h) == "((x,'y:z')'a b','it''s')r;\n"
    assert to_csv_edges(h).splitlines()[0] == "parent,child"
    with pytest.raises(HierarchyError, match="cannot be written as isa.txt"):
        to_isa(h)
    plain = Hierarchy.from_edges(SMALL)
    assert to_isa(plain) == "r A\nA a\nA b\nr c\n"
    assert json.loads(to_json(plain))["classes"] == ["a", "b", "c"]


# ============================================================================= properties
SAFE_NAME = st.from_regex(r"[A-Za-z0-9_-]{1,6}", fullmatch=True)
WIDE_NAME = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1,
                    max_size=6).filter(lambda s: s == s.strip())


@st.composite
def trees(draw, names=SAFE_NAME, max_nodes=18) -> Hierarchy:
    """A random tree from a random parent array (node i's parent is one of nodes 0…i−1)."""
    n = draw(st.integers(3, max_nodes))
    parents = [draw(st.integers(0, i - 1)) for i in range(1, n)]
    assume(n - len(set(parents)) >= 2)  # at least two leaves
    labels = draw(st.lists(names, min_size=n, max_size=n, unique=True))
    return Hierarchy.from_edges([(labels[p], labels[i + 1]) for i, p in enumerate(parents)])


@PROPERTY
@given(trees(WIDE_NAME), st.sampled_from(["json", "csv", "nwk"]), st.booleans())
def test_property_round_trip_any_names(h, ext, with_extension):
    again = parse_hierarchy(WRITERS[ext](h).encode(), f"t.{ext}" if with_extension or ext != "csv" else "t")
    same_tree(h, again)


@PROPERTY
@given(trees(), st.sampled_from(list(WRITERS)), st.booleans())
def test_property_round_trip_every_format(h, ext, with_extension):
    again = parse_hierarchy(WRITERS[ext](h).encode(), f"t.{ext}" if with_extension else "upload")
    same_tree(h, again)
    if ext == "json":
        assert again.leaves == h.leaves


@PROPERTY
@given(trees())
def test_property_round_trip_folder(h):
    with tempfile.TemporaryDirectory() as base:
        again = read_hierarchy(write_folder(Path(base), h))
    same_tree(h, again)
    assert again.leaves == sorted(h.leaves)


STRUCTURAL = st.sampled_from([b"(", b")", b",", b";", b":", b"'", b"[", b"]", b"{", b"}", b'"',
                              b"\n", b" ", b"\x00", b"\xff", b"\\", b"#", b"-1", b"1e999"])


def corrupt(data, raw: bytes) -> bytes:
    """Apply 1–3 random byte flips, truncations, insertions or deletions."""
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
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


def only_hierarchy_errors(call) -> None:
    try:
        result = call()
    except HierarchyError:
        return
    if isinstance(result, Hierarchy):
        assert result.num_classes >= 2 and len(set(result.names)) == result.num_nodes


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(WIDE_NAME), st.sampled_from(list(WRITERS)), st.booleans(), st.data())
def test_property_corrupted_files_raise_only_hierarchy_error(h, ext, with_extension, data):
    try:
        raw = WRITERS[ext](h).encode()
    except HierarchyError:  # isa cannot hold these names
        raw = to_isa(Hierarchy.from_edges(SMALL)).encode()
    bad = corrupt(data, raw)
    only_hierarchy_errors(lambda: parse_hierarchy(bad, f"t.{ext}" if with_extension else "t"))


@PROPERTY
@given(st.binary(max_size=300), st.sampled_from(["t.json", "t.csv", "t.nwk", "t.txt", "t", "t.tree"]))
def test_property_random_bytes_raise_only_hierarchy_error(raw, filename):
    only_hierarchy_errors(lambda: parse_hierarchy(raw, filename))


@PROPERTY
@given(trees(), st.booleans(), st.sampled_from(["npz", "csv"]), st.data())
def test_property_corrupted_distance_files_raise_only_hierarchy_error(h, compressed, kind, data):
    dist = h.distance_matrix()
    if kind == "npz":
        raw = npz_bytes(compressed, distances=dist, classes=np.array(h.leaves))
    else:
        raw = (",".join(h.leaves) + "\n" + "\n".join(",".join(map(str, row)) for row in dist)).encode()
    got, names = parse_distances(raw, f"d.{kind}")
    np.testing.assert_array_equal(got, dist)
    bad = corrupt(data, raw)
    try:
        parse_distances(bad, data.draw(st.sampled_from([f"d.{kind}", "d"])))
    except HierarchyError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@PROPERTY
@given(json_values, st.data())
def test_property_iterative_json_parser_agrees_with_json_loads(value, data):
    text = json.dumps(value, indent=data.draw(st.sampled_from([None, 1])))
    assert jsonfile.json_loads_iterative(text) == json.loads(text)
    bad = corrupt(data, text.encode()).decode("utf-8", "replace")
    try:
        expected = json.loads(bad)
    except json.JSONDecodeError as err:
        with pytest.raises(json.JSONDecodeError) as info:
            jsonfile.json_loads_iterative(bad)
        assert info.value.pos == err.pos
    except ValueError:  # e.g. an integer literal over Python's digit limit: refused as well
        with pytest.raises(ValueError):
            jsonfile.json_loads_iterative(bad)
    else:
        assert jsonfile.json_loads_iterative(bad) == expected
