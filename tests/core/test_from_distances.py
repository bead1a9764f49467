"""A distance matrix file (.npz) uploaded as a hierarchy: its tree is rebuilt exactly."""
import io

import numpy as np
import pytest

from core import HierarchyError, load_bundled
from core.formats import parse_hierarchy
from core.hierarchy import Hierarchy

STEMS = ["cifar100_l5", "fgvc_aircraft", "inaturalist19", "tiered_imagenet_h"]


@pytest.mark.parametrize("stem", STEMS)
def test_reference_matrices_give_back_their_distances(reference, stem):
    path = reference / "hierarchies" / f"{stem}_distances.npz"
    hierarchy = parse_hierarchy(path.read_bytes(), path.name)
    with np.load(path) as z:
        assert hierarchy.leaves == list(z["classes"])
        np.testing.assert_array_equal(hierarchy.distance_matrix(), z["distances"])


def test_bundled_tree_round_trips_through_its_matrix():
    tree = load_bundled("cifar100")
    rebuilt = Hierarchy.from_distances(tree.distance_matrix(), tree.leaves)
    np.testing.assert_array_equal(rebuilt.distance_matrix(), tree.distance_matrix())
    assert rebuilt.level_counts() == tree.level_counts()


def test_non_ultrametric_matrix_is_refused():
    dist = np.array([[0, 1, 3], [1, 0, 1], [3, 1, 0]])
    buffer = io.BytesIO()
    np.savez(buffer, distances=dist, classes=np.array(["a", "b", "c"]))
    with pytest.raises(HierarchyError, match="not an ultrametric"):
        parse_hierarchy(buffer.getvalue(), "d.npz")
