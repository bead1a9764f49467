"""Unit tests for core.frames (HAFrame and ETF construction, choosing m, diagnostics)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.frames import (
    FrameError,
    base_kernel,
    cosine_by_distance,
    critical_min_similarity,
    etf,
    feasibility_curve,
    grid_min_similarity,
    haframe,
    reference_grid_search,
    resolve_min_similarity,
    similarity_matrix,
    spectrum,
)
from core.hierarchy import Hierarchy


def balanced_tree(branching: tuple[int, ...]) -> Hierarchy:
    """Every leaf at depth len(branching); node names encode their path."""
    edges, frontier = [], ["r"]
    for b in branching:
        nxt = []
        for node in frontier:
            for i in range(b):
                child = f"{node}.{i}"
                edges.append((node, child))
                nxt.append(child)
        frontier = nxt
    return Hierarchy.from_edges(edges)


def unbalanced_tree() -> Hierarchy:
    edges = [("r", "a"), ("r", "b"), ("r", "x"), ("a", "a1"), ("a", "a2"), ("a1", "a1x"), ("a1", "a1y"),
             ("a1x", "p"), ("a1x", "q"), ("b", "b1"), ("b", "b2"), ("b", "b3")]
    return Hierarchy.from_edges(edges)


def brute_lambda_min(dist, ms, gamma=2.0, mapping="exponential"):
    kernel = base_kernel(dist, gamma, mapping)
    stack = (1.0 - ms)[:, None, None] * kernel[None] + ms[:, None, None]
    return np.linalg.eigvalsh(stack)[:, 0]


def assert_valid_frame(fr, atol=1e-10):
    assert np.isfinite(fr.weights).all()
    np.testing.assert_allclose(fr.weights @ fr.weights.T, fr.target, rtol=0, atol=atol)
    np.testing.assert_allclose(np.linalg.norm(fr.weights, axis=1), 1.0, rtol=0, atol=atol)


TREE = balanced_tree((3, 2, 2))  # K = 12, H = 3
DIST = TREE.distance_matrix()


# ----------------------------------------------------------------------------- ETF
@pytest.mark.parametrize("k", [2, 3, 10, 57])
def test_etf(k):
    fr = etf(k)
    off = ~np.eye(k, dtype=bool)
    assert fr.kind == "etf" and fr.weights.shape == (k, k)
    assert fr.min_similarity == pytest.approx(-1.0 / (k - 1))
    np.testing.assert_allclose(np.diag(fr.target), 1.0, atol=1e-14)
    np.testing.assert_allclose(fr.target[off], -1.0 / (k - 1), atol=1e-14)
    assert_valid_frame(fr)
    np.testing.assert_allclose(fr.weights.sum(axis=0), 0.0, atol=1e-12)  # centred simplex


def test_etf_dim_and_errors():
    fr = etf(5, dim=9, seed=3)
    assert fr.weights.shape == (5, 9) and fr.dim == 9
    assert_valid_frame(fr)
    with pytest.raises(FrameError):
        etf(1)
    with pytest.raises(FrameError):
        etf(5, dim=4)


def test_star_tree_haframe_is_the_etf():
    """All classes equidistant: the most separated HAFrame is the simplex ETF."""
    k = 7
    star = Hierarchy.from_edges([("root", f"c{i}") for i in range(k)])
    fr = haframe(star.distance_matrix(), gamma=3.0, min_similarity="exact")
    np.testing.assert_allclose(fr.target, etf(k).target, atol=1e-12)
    # equal off-diagonal cosine −1/(K−1) = (1 − m)e^{−γ} + m
    assert fr.min_similarity == pytest.approx((-1 / (k - 1) - np.exp(-3.0)) / (1 - np.exp(-3.0)), rel=1e-10)


# ----------------------------------------------------------------------------- HAFrame
@pytest.mark.parametrize("mode", ["exact", "grid", -0.2, 0.0, 0.5])
@pytest.mark.parametrize("mapping", ["exponential", "linear"])
def test_haframe_target_and_weights(mode, mapping):
    fr = haframe(DIST, gamma=2.0, min_similarity=mode, mapping=mapping)
    m = fr.min_similarity
    np.testing.assert_allclose(fr.target, similarity_matrix(DIST, m, 2.0, mapping), atol=1e-15)
    np.testing.assert_allclose(np.diag(fr.target), 1.0, atol=1e-15)
    np.testing.assert_array_equal(fr.target, fr.target.T)
    assert_valid_frame(fr)
    assert fr.mapping == mapping and fr.gamma == 2.0 and fr.kind == "haframe"
    if not isinstance(mode, str):
        assert m == mode


def test_similarity_levels():
    h = int(DIST.max())
    m, gamma = -0.3, 2.0
    s = similarity_matrix(DIST, m, gamma)
    for d in range(h + 1):
        np.testing.assert_allclose(s[DIST == d], (1 - m) * np.exp(-gamma * d / h) + m, atol=1e-15)
    lin = similarity_matrix(DIST, m, mapping="linear")
    np.testing.assert_allclose(lin[DIST == h], m, atol=1e-15)
    np.testing.assert_allclose(lin[DIST == 0], 1.0, atol=1e-15)


def test_exact_mode_is_singular_boundary():
    fr = haframe(DIST, gamma=2.0, min_similarity="exact")
    lam = np.linalg.eigvalsh(fr.target)
    assert abs(lam[0]) < 1e-10 and lam[1] > 1e-6
    assert fr.min_similarity == critical_min_similarity(DIST, 2.0)
    q = np.ones(len(DIST)) @ np.linalg.solve(base_kernel(DIST, 2.0), np.ones(len(DIST)))
    assert fr.min_similarity == pytest.approx(-1.0 / (q - 1.0), rel=1e-12)


def test_grid_mode_matches_reference_algorithm():
    for gamma in (0.5, 1.0, 2.0, 5.0):
        for mapping in ("exponential", "linear"):
            grid = grid_min_similarity(DIST, gamma, mapping)
            assert grid == reference_grid_search(DIST, gamma, mapping)
            m_star = critical_min_similarity(DIST, gamma, mapping)
            step = (1.0 - 1.0 / (len(DIST) - 1)) / 99
            assert m_star <= grid < m_star + step + 1e-12
            assert np.linalg.eigvalsh(similarity_matrix(DIST, grid, gamma, mapping))[0] > -1e-12


@pytest.mark.parametrize("dim", [12, 13, 40])
@pytest.mark.parametrize("seed", [0, 7, None])
def test_dim_larger_than_k_keeps_gram(dim, seed):
    fr = haframe(DIST, dim=dim, seed=seed)
    assert fr.weights.shape == (12, dim) and fr.dim == dim
    assert_valid_frame(fr)
    if seed is None:
        np.testing.assert_array_equal(fr.weights[:, 12:], 0.0)


def test_dim_smaller_than_k_raises():
    with pytest.raises(FrameError, match="dim"):
        haframe(DIST, dim=11)


def test_seed_reproducibility():
    a, b = haframe(DIST, seed=5), haframe(DIST, seed=5)
    np.testing.assert_array_equal(a.weights, b.weights)
    c = haframe(DIST, seed=6)
    assert not np.allclose(a.weights, c.weights)
    np.testing.assert_allclose(a.weights @ a.weights.T, c.weights @ c.weights.T, atol=1e-12)
    # a different seed is a rotation of the same frame
    rot = np.linalg.lstsq(a.weights, c.weights, rcond=None)[0]
    np.testing.assert_allclose(a.weights @ rot, c.weights, atol=1e-8)
    # the global NumPy RNG is neither used nor disturbed
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    haframe(DIST, seed=5)
    assert np.random.random() == before


def test_seed_none_is_deterministic():
    a, b = haframe(DIST, seed=None), haframe(DIST, seed=None)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert_valid_frame(a)
    e1, e2 = etf(6, seed=None), etf(6, seed=None)
    np.testing.assert_array_equal(e1.weights, e2.weights)


# ----------------------------------------------------------------------------- choosing m
def test_infeasible_numeric_min_similarity_raises():
    m_star = critical_min_similarity(DIST, 2.0)
    with pytest.raises(FrameError, match=r"m\*"):
        haframe(DIST, gamma=2.0, min_similarity=m_star - 0.01)
    with pytest.raises(FrameError, match=r"m\*"):
        resolve_min_similarity(DIST, m_star - 1e-6, 2.0)
    # right at the boundary (and just above) is accepted
    assert resolve_min_similarity(DIST, m_star, 2.0) == m_star
    assert_valid_frame(haframe(DIST, gamma=2.0, min_similarity=m_star + 1e-9))


@pytest.mark.parametrize("bad", [-1.5, 1.0, 2.0, "best", "EXACT"])
def test_bad_min_similarity_raises(bad):
    with pytest.raises(FrameError):
        haframe(DIST, min_similarity=bad)


def test_two_classes_clip_to_minus_one():
    """K = 2: q = 2/(1 + e^{−γ}) < 2, so m* would be < −1; both mappings require m ≥ −1."""
    dist = np.array([[0, 1], [1, 0]])
    assert critical_min_similarity(dist, 1.0) == -1.0
    assert grid_min_similarity(dist, 1.0) == -1.0 == reference_grid_search(dist, 1.0)
    fr = haframe(dist, gamma=1.0)
    assert fr.min_similarity == -1.0
    assert_valid_frame(fr)
    assert fr.target[0, 1] == pytest.approx(2 * np.exp(-1.0) - 1.0)


BAD_DISTANCES = {
    "not square": np.zeros((2, 3)),
    "1-D": np.array([0.0, 1.0]),
    "single class": np.zeros((1, 1)),
    "asymmetric": np.array([[0, 1, 2], [1, 0, 1], [1, 1, 0]]),
    "negative": np.array([[0, -1], [-1, 0]]),
    "non-zero diagonal": np.array([[1, 1], [1, 0]]),
    "all zero": np.zeros((3, 3)),
    "nan": np.array([[0, np.nan, 1], [np.nan, 0, 1], [1, 1, 0]]),
    "inf": np.array([[0, np.inf, 1], [np.inf, 0, 1], [1, 1, 0]]),
}


@pytest.mark.parametrize("name", list(BAD_DISTANCES))
def test_bad_distances_raise(name):
    with pytest.raises(FrameError):
        haframe(BAD_DISTANCES[name])
    with pytest.raises(FrameError):
        critical_min_similarity(BAD_DISTANCES[name])


def test_kernel_not_positive_definite_raises():
    """A non-tree metric whose linear kernel J − D/D_max is indefinite."""
    dist = np.array([[0, 0.1, 1], [0.1, 0, 0.1], [1, 0.1, 0]])
    with pytest.raises(FrameError, match="positive definite"):
        haframe(dist, mapping="linear")


@pytest.mark.parametrize("gamma", [0.0, -1.0, float("nan")])
def test_bad_gamma_raises(gamma):
    with pytest.raises(FrameError, match="gamma"):
        haframe(DIST, gamma=gamma)


def test_unknown_mapping_raises():
    with pytest.raises(FrameError, match="mapping"):
        haframe(DIST, mapping="cosine")


# ----------------------------------------------------------------------------- diagnostics
@pytest.mark.parametrize("tree", [TREE, unbalanced_tree(), balanced_tree((4, 4)), balanced_tree((2, 2, 2, 2))],
                         ids=["3x2x2", "unbalanced", "4x4", "2^4"])
@pytest.mark.parametrize("mapping,gamma", [("exponential", 0.7), ("exponential", 2.0), ("exponential", 6.0),
                                           ("linear", 1.0)])
def test_feasibility_curve_matches_brute_force(tree, mapping, gamma):
    dist = tree.distance_matrix()
    ms, lam, m_star = feasibility_curve(dist, gamma, mapping, num=41, m_min=-1.0, m_max=0.9)
    assert ms.shape == lam.shape == (41,)
    np.testing.assert_allclose(ms, np.linspace(-1.0, 0.9, 41))
    np.testing.assert_allclose(lam, brute_lambda_min(dist, ms, gamma, mapping), rtol=0, atol=1e-9)
    assert m_star == critical_min_similarity(dist, gamma, mapping)
    assert (lam[ms > m_star + 1e-9] > 0).all()
    assert (lam[ms < m_star - 1e-9] < 0).all()


def test_feasibility_curve_default_range():
    ms, lam, _ = feasibility_curve(DIST)
    assert len(ms) == 60 and ms[0] == -1.0 and ms[-1] == 0.0
    np.testing.assert_allclose(lam, brute_lambda_min(DIST, ms), atol=1e-9)


def test_cosine_by_distance():
    gamma = 2.0
    fr = haframe(DIST, gamma=gamma, min_similarity="grid")
    levels = cosine_by_distance(fr.target, DIST)
    h = int(DIST.max())
    assert list(levels) == list(range(1, h + 1))
    m = fr.min_similarity
    for d, s in levels.items():
        assert s == pytest.approx((1 - m) * np.exp(-gamma * d / h) + m, abs=1e-14)
    # decreasing with distance, and the realised W cosines give the same levels
    assert all(levels[d] > levels[d + 1] for d in range(1, h))
    realised = cosine_by_distance(fr.weights @ fr.weights.T, DIST)
    for d in levels:
        assert realised[d] == pytest.approx(levels[d], abs=1e-12)


def test_spectrum_ascending():
    fr = haframe(DIST, min_similarity="grid")
    eig = spectrum(fr.target)
    assert eig.shape == (12,)
    assert (np.diff(eig) >= 0).all()
    np.testing.assert_allclose(eig, np.linalg.eigvalsh(fr.target))
    assert eig[0] > 0
    assert eig.sum() == pytest.approx(12.0)  # trace = K (unit diagonal)


# ----------------------------------------------------------------------------- property test
@st.composite
def random_trees(draw):
    """Random rooted trees: node i ≥ 3 picks a parent among 0…i−1; nodes 1, 2 hang off the root,
    so there are always at least two leaves. Leaf depths vary (unbalanced trees included)."""
    n = draw(st.integers(min_value=3, max_value=16))
    parents = [0, 0] + [draw(st.integers(min_value=0, max_value=i - 1)) for i in range(3, n)]
    edges = [(f"n{p}", f"n{i}") for i, p in zip(range(1, n), parents)]
    return Hierarchy.from_edges(edges)


@settings(max_examples=80, deadline=None)
@given(tree=random_trees(), gamma=st.floats(min_value=0.3, max_value=8.0),
       mapping=st.sampled_from(["exponential", "exponential", "linear"]), seed=st.one_of(st.none(), st.integers(0, 99)))
def test_random_trees_exact_frame(tree, gamma, mapping, seed):
    dist = tree.distance_matrix()
    fr = haframe(dist, gamma=gamma, min_similarity="exact", mapping=mapping, seed=seed)
    np.testing.assert_allclose(fr.weights @ fr.weights.T, fr.target, rtol=0, atol=1e-8)
    assert np.linalg.eigvalsh(fr.target)[0] >= -1e-8

    # m* is the most negative feasible m: compare with a fine brute-force scan of [−1, 0]
    ms = np.linspace(-1.0, 0.0, 4001)
    feasible = brute_lambda_min(dist, ms, gamma, mapping) >= -1e-10
    brute = ms[feasible].min()
    step = ms[1] - ms[0]
    assert brute - step - 1e-9 <= fr.min_similarity <= brute + 1e-9
    assert fr.min_similarity >= -1.0
