"""collapse_statistics against the reference's neural-collapse outputs (fixtures/neural_collapse_cifar100*)."""
import json

import numpy as np
import pytest
import torch

from core import metrics


@pytest.fixture(scope="module")
def nc(reference):
    z = np.load(reference / "fixtures" / "neural_collapse_cifar100.npz")
    outputs = json.loads((reference / "fixtures" / "neural_collapse_cifar100_outputs.json").read_text())
    return {k: z[k] for k in z.files}, outputs


def test_haframe_branch_matches_the_reference(nc):
    z, out = nc
    frame = z["haf_classifier"]
    target = metrics.cosine_matrix(frame)
    stats = metrics.collapse_statistics(z["features"], z["labels"], frame, target, target, 100)
    # raw class means against the fixed frame (the reference's HAFrame figure)
    assert stats["frame_dev_mean"] == pytest.approx(out["haf_rfeat_mean"], rel=1e-5)
    assert stats["frame_dev_std"] == pytest.approx(out["haf_rfeat_std"], rel=1e-5)
    assert stats["haf_dev_mean"] == pytest.approx(out["haf_rfeat_mean"], rel=1e-5)
    # centred on the global sample mean μ_G, as the reference centres
    assert stats["frame_dev_centered_mean"] == pytest.approx(out["haf_cfeat_mean"], rel=1e-5)
    assert stats["frame_dev_centered_std"] == pytest.approx(out["haf_cfeat_std"], rel=1e-5)
    assert stats["self_duality"] == pytest.approx(out["haf_duality_raw"], rel=1e-5)
    assert stats["self_duality_centered"] == pytest.approx(out["haf_duality_centered"], rel=1e-5)


def test_etf_branch_matches_the_reference(nc):
    z, out = nc
    etf = np.full((100, 100), -1 / 99)
    np.fill_diagonal(etf, 1.0)
    haf = metrics.cosine_matrix(z["haf_classifier"])
    stats = metrics.collapse_statistics(z["features"], z["labels"], z["learnable_classifier"], etf, haf, 100,
                                        centered=True)
    assert stats["frame_dev_mean"] == pytest.approx(out["etf_cfeat_mean"], rel=1e-5)
    assert stats["frame_dev_std"] == pytest.approx(out["etf_cfeat_std"], rel=1e-5)
    assert stats["frame_dev_centered_mean"] == pytest.approx(out["etf_cfeat_mean"], rel=1e-5)  # balanced data
    assert stats["self_duality_centered"] == pytest.approx(out["etf_duality_centered"], rel=1e-5)
    assert metrics.frame_deviation(z["learnable_classifier"], etf) == pytest.approx(
        (out["etf_cls_mean"], out["etf_cls_std"]), rel=1e-5)


def test_class_and_global_means_match_both_reference_paths(nc):
    z, _ = nc
    means = metrics.class_means(z["features"], z["labels"], 100)
    np.testing.assert_allclose(means, z["class_means_raw"], atol=1e-5)
    np.testing.assert_allclose(means, z["class_means_raw_cumulative"], atol=1e-5)
    np.testing.assert_allclose(z["features"].astype(np.float64).mean(0), z["global_mean"][0], atol=1e-5)
    np.testing.assert_allclose(means - z["global_mean"], z["class_means_centered"], atol=1e-5)


def test_nc1_and_nc4_on_the_fixture_features(nc):
    """NC1 against the textbook formula with an explicit pseudo-inverse; NC4 against a loop-free brute force."""
    z, _ = nc
    f, y = z["features"].astype(np.float64), z["labels"]
    mu = metrics.class_means(f, y, 100)
    within = f - mu[y]
    centred = mu - f.mean(0)
    expected_nc1 = np.trace((within.T @ within / len(f)) @ np.linalg.pinv(centred.T @ centred / 100)) / 100
    logits = torch.as_tensor(z["features"]) @ torch.as_tensor(z["haf_classifier"]).T
    target = metrics.cosine_matrix(z["haf_classifier"])
    stats = metrics.collapse_statistics(f, y, z["haf_classifier"], target, target, 100, predictions=logits)
    assert stats["nc1"] == pytest.approx(expected_nc1, rel=1e-8)
    nearest = np.linalg.norm(f[:, None, :] - mu[None], axis=2).argmin(1)
    assert stats["nc4_agreement"] == pytest.approx(100 * np.mean(nearest == logits.argmax(1).numpy()))
