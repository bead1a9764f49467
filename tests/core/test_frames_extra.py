"""Exports and view helpers of core.frames."""
import csv
import io

import numpy as np
import pytest
import torch

from core import etf, haframe, load_bundled
from core.frames import EXPORT_FORMATS, FrameError, coordinates_3d, cosines_by_distance, export_frame


@pytest.fixture(scope="module")
def hier():
    return load_bundled("synthetic")


def test_exports_round_trip(hier):
    frame = haframe(hier.distance_matrix(), gamma=3.0, dim=15)
    assert np.array_equal(np.load(io.BytesIO(export_frame(frame, "npy"))), frame.weights)
    state = torch.load(io.BytesIO(export_frame(frame, "pt")), weights_only=True)
    assert torch.equal(state["weights"], torch.from_numpy(frame.weights))
    rows = list(csv.reader(io.StringIO(export_frame(frame, "csv", hier.leaves).decode())))
    assert rows[0][0] == "class" and len(rows[0]) == 16 and [r[0] for r in rows[1:]] == hier.leaves
    np.testing.assert_array_equal(np.array(rows[1:])[:, 1:].astype(float), frame.weights)
    with pytest.raises(FrameError, match="unknown export format"):
        export_frame(frame, "xlsx")
    assert set(EXPORT_FORMATS) == {"npy", "pt", "csv"}


def test_coordinates_3d_exact_for_small_frames():
    for k in (2, 3, 4):
        frame = etf(k)  # rank k − 1 ≤ 3
        coords, kept = coordinates_3d(frame.target)
        assert kept == pytest.approx(1.0)
        np.testing.assert_allclose(coords @ coords.T, frame.target, atol=1e-12)


def test_cosines_by_distance_groups_every_pair(hier):
    frame = haframe(hier.distance_matrix())
    groups = cosines_by_distance(frame.target, hier.distance_matrix())
    assert sum(len(v) for v in groups.values()) == 12 * 11 // 2
    assert all(np.ptp(v) < 1e-12 for v in groups.values())  # a function of the distance alone
    assert groups[1][0] > groups[2][0] > groups[3][0]


def test_coordinates_3d_reuses_a_given_decomposition(hier, monkeypatch):
    target = haframe(hier.distance_matrix(), gamma=3.0).target
    coords, kept = coordinates_3d(target)
    eig = np.linalg.eigh(target)

    def no_second_eigh(*args, **kwargs):
        raise AssertionError("coordinates_3d decomposed the target again")

    monkeypatch.setattr(np.linalg, "eigh", no_second_eigh)
    coords2, kept2 = coordinates_3d(target, eig)
    np.testing.assert_array_equal(coords2, coords)
    assert kept2 == kept and 0 < kept < 1
    # and the result comes from the decomposition given: flipped eigenvectors flip the coordinates
    flipped, _ = coordinates_3d(target, (eig[0], -eig[1]))
    np.testing.assert_array_equal(flipped, -coords)


@pytest.mark.parametrize("mapping", ["exponential", "linear"])
def test_min_eigenvalue_curve_matches_the_feasibility_curve(hier, mapping):
    from core.frames import feasibility_curve, min_eigenvalue_curve, similarity_matrix

    dist = hier.distance_matrix()
    ms, lam, m_star = feasibility_curve(dist, 3.0, mapping, num=25, m_min=-0.6, m_max=0.5)
    for m in (m_star, 0.2):  # from the singular S(m*) and from an interior S(m)
        target = similarity_matrix(dist, m, 3.0, mapping)
        np.testing.assert_allclose(min_eigenvalue_curve(np.linalg.eigh(target), m, ms), lam, atol=1e-9)
    direct = [np.linalg.eigvalsh(similarity_matrix(dist, m, 3.0, mapping))[0] for m in ms]
    np.testing.assert_allclose(lam, direct, atol=1e-9)
