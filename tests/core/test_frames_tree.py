"""The tree-structured HAFrame route (core/ultrametric.py) against the dense K×K route of core/frames.py."""
import numpy as np
import pytest

from bench.common import balanced_tree, inat21_like_tree
from core import frames
from core.hierarchy import Hierarchy
from core.ultrametric import (TreeDistances, random_pairs_error, secular_roots, tree_critical, tree_spectral_measure,
                              tree_spectrum, tree_kernel_levels)


def uneven() -> Hierarchy:
    tree = {"name": "r", "children": [
        {"name": "x", "children": [{"name": "x1"}, {"name": "x2"}, {"name": "x3", "children": [{"name": "y"}]}]},
        {"name": "z"},
        {"name": "w", "children": [{"name": "w1", "children": [{"name": "w11"}, {"name": "w12"}]}]}]}
    return Hierarchy.from_tree(tree)


def chain_on_top() -> Hierarchy:  # a unary chain above the first branching node, and leaves in a shuffled order
    edges = [("r", "a"), ("a", "b"), ("b", "c1"), ("b", "c2"), ("c1", "l1"), ("c1", "l2"), ("c2", "l3"), ("c2", "l4"),
             ("c2", "l5")]
    return Hierarchy.from_edges(edges, classes=["l4", "l1", "l5", "l2", "l3"])


HIERARCHIES = {"balanced": lambda: balanced_tree(40, 3), "uneven": uneven, "chain": chain_on_top,
               "inat21-like": lambda: inat21_like_tree(1500, 2)}


@pytest.fixture(params=list(HIERARCHIES))
def hierarchy(request) -> Hierarchy:
    return HIERARCHIES[request.param]()


@pytest.mark.parametrize("convention", ["depth", "height"])
def test_distances_match_the_hierarchy(hierarchy, convention):
    tree = TreeDistances.from_hierarchy(hierarchy, convention)
    assert np.array_equal(tree.dense(), hierarchy.distance_matrix(convention))
    rows, cols = np.arange(0, hierarchy.num_classes, 2), np.arange(1, hierarchy.num_classes, 3)
    order = hierarchy.tree_order()
    expected = hierarchy.distance_matrix(convention)[np.ix_(order[rows], order[cols])]
    assert np.array_equal(tree.distances_between(rows, cols), expected)


@pytest.mark.parametrize("mapping", ["exponential", "linear"])
def test_frame_m_star_and_spectrum_match_the_dense_route(hierarchy, mapping):
    tree, dist = TreeDistances.from_hierarchy(hierarchy), hierarchy.distance_matrix()
    star = frames.critical_min_similarity(dist, 3.0, mapping)
    assert tree_critical(tree, 3.0, mapping) == pytest.approx(star, abs=1e-12)
    for m in ("exact", "grid", star + 0.07):
        dense = frames.haframe(dist, 3.0, m, seed=None, mapping=mapping)
        fast = frames.haframe(tree, 3.0, m, seed=None, mapping=mapping)
        assert fast.min_similarity == pytest.approx(dense.min_similarity, abs=1e-12)
        assert np.abs(fast.target - dense.target).max() < 1e-12
        assert np.abs(fast.weights @ fast.weights.T - fast.target).max() < 1e-10
        eig = np.linalg.eigvalsh(dense.target)
        assert np.abs(tree_spectrum(tree, 3.0, mapping, fast.min_similarity) - eig).max() < 1e-9
    with pytest.raises(frames.FrameError, match="infeasible"):
        frames.haframe(tree, 3.0, star - 0.05, mapping=mapping)


def test_spectral_measure_weights_sum_to_k_and_free_vectors_are_orthogonal_to_one(hierarchy):
    tree = TreeDistances.from_hierarchy(hierarchy)
    values, weights, free = tree_spectral_measure(tree, tree_kernel_levels(tree, 2.0, "exponential"))
    assert weights.sum() == pytest.approx(hierarchy.num_classes)
    assert len(values) + len(free) == hierarchy.num_classes
    kernel = frames.base_kernel(hierarchy.distance_matrix(), 2.0)
    vals, vecs = np.linalg.eigh(kernel)  # 1ᵀE⁻¹1 from the measure equals the dense one
    assert np.sum(weights / values) == pytest.approx(np.sum((vecs.T @ np.ones(len(vals))) ** 2 / vals))


@pytest.mark.parametrize("rho", [0.7, -0.3])
def test_secular_roots_are_the_eigenvalues_of_diagonal_plus_rank_one(rho):
    rng = np.random.default_rng(0)
    values, weights = np.sort(rng.uniform(0, 3, 60)), rng.uniform(0.01, 1, 60)
    z = np.sqrt(weights)
    expected = np.linalg.eigvalsh(np.diag(values) + rho * np.outer(z, z))
    assert np.abs(secular_roots(values, weights, rho) - expected).max() < 1e-12


def test_random_pairs_error_sees_a_wrong_entry():
    frame = frames.haframe(balanced_tree(30).distance_matrix(), 2.0, seed=None)
    assert random_pairs_error(frame.weights, lambda idx: frame.target[idx], rows=30) < 1e-12
    broken = frame.target.copy()
    broken[:, 5] += 0.01
    assert random_pairs_error(frame.weights, lambda idx: broken[idx], rows=30) == pytest.approx(0.01)
