"""Fidelity of core.frames against numbers produced by the HAFrame reference code.

Fixtures: ../shared/reference/fixtures/frames_<stem>.npz (see that folder's README) and the
hierarchies in ../shared/reference/hierarchies/. A missing reference folder fails the module (never a skip).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from core.formats import read_hierarchy
from core.frames import (
    critical_min_similarity,
    grid_min_similarity,
    haframe,
    reference_grid_search,
    similarity_matrix,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
STEMS = ("cifar100_l5", "fgvc_aircraft", "inaturalist19", "tiered_imagenet_h")
GAMMAS = (1.0, 2.0, 3.0, 5.0)
FULL_MATRICES = ("cifar100_l5", "fgvc_aircraft")  # fixtures that also hold the full S and seeded W

# CI has ../shared: a missing copy is a failure, never a silent skip.
assert (SHARED / "fixtures").is_dir(), f"reference material not found at {SHARED}"


@lru_cache(maxsize=None)
def fixture(stem: str) -> dict[str, np.ndarray]:
    with np.load(SHARED / "fixtures" / f"frames_{stem}.npz") as data:
        return {k: data[k] for k in data.files}


@lru_cache(maxsize=None)
def distances(stem: str) -> np.ndarray:
    with np.load(SHARED / "hierarchies" / f"{stem}_distances.npz") as data:
        return data["distances"].astype(np.int64)


@lru_cache(maxsize=None)
def frame(stem: str, gamma: float, mode: str):
    return haframe(distances(stem), gamma=gamma, min_similarity=mode)


def gamma_index(stem: str, gamma: float) -> int:
    gammas = fixture(stem)["gammas"]
    (idx,) = np.flatnonzero(gammas == gamma)
    return int(idx)


CASES = [(s, g) for s in STEMS for g in GAMMAS]
IDS = [f"{s}-g{g:g}" for s, g in CASES]


# ----------------------------------------------------------------------------- distances
@pytest.mark.parametrize("stem", STEMS)
def test_hierarchy_json_reproduces_distance_matrix(stem):
    hier = read_hierarchy(SHARED / "hierarchies" / f"{stem}.json")
    with np.load(SHARED / "hierarchies" / f"{stem}_distances.npz") as data:
        classes = [str(c) for c in data["classes"]]
    assert hier.leaves == classes
    computed = hier.distance_matrix()
    np.testing.assert_array_equal(computed, distances(stem))
    assert computed.max() == hier.height
    assert int(fixture(stem)["num_classes"]) == hier.num_classes


@pytest.mark.parametrize("stem", STEMS)
def test_fixture_gammas_and_grid(stem):
    fx = fixture(stem)
    k = int(fx["num_classes"])
    np.testing.assert_array_equal(fx["gammas"], GAMMAS)
    np.testing.assert_allclose(fx["grid"], np.linspace(-1.0 / (k - 1), -1.0, 100), rtol=0, atol=1e-15)


# ----------------------------------------------------------------------------- choosing m
@pytest.mark.parametrize("stem,gamma", CASES, ids=IDS)
def test_closed_form_min_similarity(stem, gamma):
    fx, g = fixture(stem), gamma_index(stem, gamma)
    m_star = fx["closed_form_min_similarity"][g]
    assert frame(stem, gamma, "exact").min_similarity == pytest.approx(m_star, rel=1e-10, abs=1e-13)
    assert critical_min_similarity(distances(stem), gamma) == pytest.approx(m_star, rel=1e-10, abs=1e-13)
    # m* = −1/(q − 1), q = 1ᵀE⁻¹1
    assert m_star == pytest.approx(-1.0 / (fx["ones_Einv_ones"][g] - 1.0), rel=1e-12)


@pytest.mark.parametrize("stem,gamma", CASES, ids=IDS)
def test_grid_mode_reproduces_reference_search(stem, gamma):
    fx, g = fixture(stem), gamma_index(stem, gamma)
    got = frame(stem, gamma, "grid").min_similarity
    assert got == fx["ref_min_similarity"][g]
    assert got == fx["grid"][fx["ref_grid_index"][g]]
    assert grid_min_similarity(distances(stem), gamma) == fx["ref_min_similarity"][g]


@pytest.mark.parametrize("stem", STEMS)
def test_linear_mapping(stem):
    fx, dist = fixture(stem), distances(stem)
    assert critical_min_similarity(dist, mapping="linear") == pytest.approx(
        float(fx["linear_closed_form_min_similarity"]), rel=1e-10, abs=1e-13)
    assert grid_min_similarity(dist, mapping="linear") == float(fx["linear_ref_min_similarity"])
    lin = haframe(dist, min_similarity="grid", mapping="linear")
    assert lin.min_similarity == float(fx["linear_ref_min_similarity"])
    h = int(dist.max())
    levels = 1.0 - (1.0 - lin.min_similarity) * np.arange(h + 1) / h
    np.testing.assert_allclose(lin.target, levels[dist], rtol=0, atol=1e-14)
    np.testing.assert_allclose(lin.weights @ lin.weights.T, lin.target, rtol=0, atol=1e-10)
    exact = haframe(dist, min_similarity="exact", mapping="linear")
    np.testing.assert_allclose(exact.weights @ exact.weights.T, exact.target, rtol=0, atol=1e-10)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_reference_grid_search_baseline_agrees(gamma):
    """The slow baseline (100 eigendecompositions) gives the grid mode's answer (K = 100)."""
    stem = "cifar100_l5"
    fx, g = fixture(stem), gamma_index(stem, gamma)
    slow = reference_grid_search(distances(stem), gamma)
    assert slow == frame(stem, gamma, "grid").min_similarity == fx["ref_min_similarity"][g]


# ----------------------------------------------------------------------------- targets and frames
@pytest.mark.parametrize("stem,gamma", CASES, ids=IDS)
def test_grid_target_matches_reference(stem, gamma):
    fx, g, dist = fixture(stem), gamma_index(stem, gamma), distances(stem)
    fr = frame(stem, gamma, "grid")
    expected = fx["similarity_levels"][g][dist]
    np.testing.assert_allclose(fr.target, expected, rtol=0, atol=1e-14)
    np.testing.assert_allclose(similarity_matrix(dist, fr.min_similarity, gamma), expected, rtol=0, atol=1e-14)
    assert ("similarity" in fx) == (stem in FULL_MATRICES), sorted(fx)
    if stem in FULL_MATRICES:
        np.testing.assert_allclose(fr.target, fx["similarity"][g], rtol=0, atol=1e-14)
    assert fr.gamma == gamma and fr.mapping == "exponential" and fr.kind == "haframe"


@pytest.mark.parametrize("mode", ["grid", "exact"])
@pytest.mark.parametrize("stem,gamma", CASES, ids=IDS)
def test_frame_is_exact_factorisation(stem, gamma, mode):
    fr = frame(stem, gamma, mode)
    k = int(fixture(stem)["num_classes"])
    assert fr.weights.shape == (k, k) and fr.dim == k and fr.num_classes == k
    assert np.isfinite(fr.weights).all()
    np.testing.assert_allclose(fr.weights @ fr.weights.T, fr.target, rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(fr.weights, axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.diag(fr.target), 1.0, rtol=0, atol=1e-15)


@pytest.mark.parametrize("stem,gamma", CASES, ids=IDS)
def test_grid_target_is_strictly_positive_definite(stem, gamma):
    fx, g = fixture(stem), gamma_index(stem, gamma)
    fr = frame(stem, gamma, "grid")
    lam_min = np.linalg.eigvalsh(fr.target)[0]
    assert lam_min > 0
    assert lam_min == pytest.approx(fx["min_eig_at_ref"][g], rel=1e-7)
    # one grid step more negative is infeasible, as the reference found
    assert fx["min_eig_at_next_grid_point"][g] < 0


@pytest.mark.parametrize("stem", FULL_MATRICES)
@pytest.mark.parametrize("gamma", GAMMAS)
def test_reference_weights_are_a_rotation_of_ours(stem, gamma):
    """The reference W (seeded global RNG) and ours differ only by an orthogonal matrix."""
    fx, g = fixture(stem), gamma_index(stem, gamma)
    ref_w = fx["weights_seed0"][g]
    ours = frame(stem, gamma, "grid").weights
    np.testing.assert_allclose(ref_w @ ref_w.T, fx["similarity"][g], rtol=0, atol=1e-9)
    rotation = np.linalg.solve(ours, ref_w)  # ours @ rotation = ref_w
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(len(ours)), rtol=0, atol=1e-8)
