"""The projector's PCA: one basis for every epoch of a run (the frame's principal plane), deterministic signs."""
import numpy as np

from app.projector import basis_vectors, pca_2d, principal_axes, project


def test_axes_are_orthonormal_and_deterministic():
    vectors = np.random.default_rng(0).normal(size=(12, 6))
    axes = principal_axes(vectors)
    assert axes.shape == (2, 6)
    assert np.allclose(axes @ axes.T, np.eye(2))
    assert np.array_equal(axes, principal_axes(vectors.copy()))
    assert np.array_equal(principal_axes(-vectors), axes), "signs do not depend on the vectors' signs"


def test_fixed_basis_moves_points_only_when_features_move():
    rng = np.random.default_rng(1)
    frame = {"weights": rng.normal(size=(5, 8))}
    early = rng.normal(size=(50, 8))
    late = early.copy()
    late[:10] += 3.0  # only ten features change between the two epochs
    axes = principal_axes(basis_vectors(frame, {"features": late}))
    moved = np.linalg.norm(project(late, axes) - project(early, axes), axis=1)
    assert np.all(moved[10:] == 0) and np.all(moved[:10] > 0)
    # Per-epoch PCA, by contrast, re-orients everything when a few points move.
    assert not np.allclose(pca_2d(late)[10:], pca_2d(early)[10:])


def test_basis_falls_back_to_the_classifier_then_class_means():
    rng = np.random.default_rng(2)
    snapshot = {"features": rng.normal(size=(20, 4)), "classifier": rng.normal(size=(3, 4)),
                "class_means": rng.normal(size=(3, 4))}
    assert basis_vectors({}, snapshot) is snapshot["classifier"]
    snapshot["classifier"] = np.full((3, 4), np.nan)
    assert basis_vectors({}, snapshot) is snapshot["class_means"]


def test_one_dimensional_features_are_padded():
    points = project(np.arange(6.0).reshape(6, 1), principal_axes(np.arange(4.0).reshape(4, 1)))
    assert points.shape == (6, 2) and np.all(points[:, 1] == 0)
