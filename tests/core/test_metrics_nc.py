"""Collapse statistics (NC1–NC4, centring, norms), the mistake computations and the metrics schema."""
import numpy as np
import pytest
import torch

from core import metrics, mistakes, schema
from core.formats import load_bundled


def _data(k=6, d=10, per_class=(5, 30), seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * 3
    counts = rng.integers(*per_class, size=k)
    labels = np.repeat(np.arange(k), counts)
    feats = centres[labels] + rng.standard_normal((len(labels), d))
    return feats, labels, centres


def test_nc1_matches_the_pseudo_inverse_formula_on_imbalanced_data():
    feats, labels, _ = _data()
    mu = metrics.class_means(feats, labels, 6)
    within = feats - mu[labels]
    between = mu - feats.mean(0)
    expected = np.trace((within.T @ within / len(feats)) @ np.linalg.pinv(between.T @ between / 6)) / 6
    stats = metrics.collapse_statistics(feats, labels, mu, np.eye(6), np.eye(6), 6)
    assert stats["nc1"] == pytest.approx(expected, rel=1e-9)


def test_perfect_collapse_gives_zero_nc1_full_nc4_and_zero_duality():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((5, 8))
    labels = np.repeat(np.arange(5), 4)
    feats = w[labels] * 2.0  # every sample exactly on its class vector
    target = metrics.cosine_matrix(w)
    stats = metrics.collapse_statistics(feats, labels, w, target, target, 5, predictions=feats @ w.T)
    assert stats["nc1"] == pytest.approx(0.0, abs=1e-20)
    assert stats["frame_dev_mean"] == pytest.approx(0.0, abs=1e-12)
    assert stats["self_duality"] == pytest.approx(0.0, abs=1e-12)
    assert stats["nc4_agreement"] == 100.0


def test_centring_uses_the_global_sample_mean_not_the_mean_of_class_means():
    feats, labels, _ = _data(per_class=(2, 60), seed=3)  # strongly imbalanced
    mu = metrics.class_means(feats, labels, 6)
    target = np.eye(6)
    stats = metrics.collapse_statistics(feats, labels, mu, target, target, 6, centered=True)
    by_sample = metrics.frame_deviation(mu - feats.mean(0), target)
    by_means = metrics.frame_deviation(mu, target, centered=True)
    assert (stats["frame_dev_centered_mean"], stats["frame_dev_centered_std"]) == pytest.approx(by_sample)
    assert (stats["frame_dev_mean"], stats["frame_dev_std"]) == pytest.approx(by_means)
    assert abs(by_sample[0] - by_means[0]) > 1e-4, "the two centrings differ on imbalanced data"


def test_nc4_counts_disagreements_and_accepts_predictions_or_logits():
    feats = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [9.9, 0.0]])
    labels = np.array([0, 0, 1, 1])
    preds = np.array([0, 1, 1, 1])  # sample 1 sits by class 0's mean but is predicted 1
    logits = np.eye(2)[preds]
    for given in (preds, logits):
        stats = metrics.collapse_statistics(feats, labels, np.eye(2), np.eye(2), np.eye(2), 2, predictions=given)
        assert stats["nc4_agreement"] == 75.0
    assert "nc4_agreement" not in metrics.collapse_statistics(feats, labels, np.eye(2), np.eye(2), np.eye(2), 2)


def test_empty_classes_are_left_out_and_norm_statistics():
    feats, labels, _ = _data(k=4)
    stats = metrics.collapse_statistics(feats, labels, np.ones((6, 10)), np.eye(6), np.eye(6), 6,
                                        predictions=np.zeros(len(labels), dtype=int))
    assert all(np.isfinite(v) for v in stats.values())
    assert stats["feature_norm"] == pytest.approx(np.linalg.norm(feats, axis=1).mean())
    norms = np.linalg.norm(metrics.class_means(feats, labels, 4), axis=1)
    assert stats["class_mean_norm_cv"] == pytest.approx(norms.std() / norms.mean())


def test_statistics_stay_on_the_features_device_and_accept_tensors():
    feats, labels, centres = _data()
    out_np = metrics.collapse_statistics(feats, labels, centres, np.eye(6), np.eye(6), 6, predictions=labels)
    out_t = metrics.collapse_statistics(torch.as_tensor(feats, dtype=torch.float32), torch.as_tensor(labels),
                                        torch.as_tensor(centres), np.eye(6), np.eye(6), 6,
                                        predictions=torch.as_tensor(labels))
    for key, value in out_np.items():
        assert out_t[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_every_statistic_and_metric_key_is_in_the_schema():
    feats, labels, centres = _data()
    keys = set(metrics.collapse_statistics(feats, labels, centres, np.eye(6), np.eye(6), 6, predictions=labels))
    keys |= set(metrics.hierarchical_metrics(torch.randn(20, 6), torch.randint(0, 6, (20,)),
                                             np.ones((6, 6)) - np.eye(6), ks=(1, 5)))
    keys |= {"train_loss", "train_ce", "train_cos", "train_acc", "lr", "seconds", "wall_seconds", "epoch"}
    for key in keys | {k + schema.TRAIN_SUFFIX for k in keys if schema.METRICS[k].group == "collapse"}:
        entry = schema.METRICS[key]
        assert entry.group in schema.GROUPS and entry.label
    assert schema.label("top1") == "top-1 accuracy (%)"
    assert schema.metric("nc1@train").label.endswith("· train")
    assert schema.metric("something_new").label == "something_new"
    assert schema.format_value("top1", 71.234) == "71.2 %" and schema.format_value("nc1", None) == "—"


# ---------------------------------------------------------------------------------------------- mistakes
@pytest.fixture(scope="module")
def tree():
    return load_bundled("synthetic")


def test_mistake_heights_and_counts(tree):
    dist = tree.distance_matrix()
    labels = np.array([0, 0, 1, 2, 3])
    preds = np.array([0, 1, 1, 11, 2])
    heights = mistakes.mistake_heights(labels, preds, dist)
    assert heights.tolist() == [0, dist[1, 0], 0, dist[11, 2], dist[2, 3]]
    counts = mistakes.height_counts(labels, preds, dist)
    assert counts.sum() == 5 and counts[0] == 2 and len(counts) == dist.max() + 1


def test_confusion_in_tree_order_and_pairs_with_their_lca(tree):
    dist = tree.distance_matrix()
    labels = np.array([0, 0, 0, 1, 1, 5])
    preds = np.array([1, 1, 0, 0, 1, 11])
    m = mistakes.confusion(labels, preds, 12)
    assert m[0, 1] == 2 and m[0, 0] == 1 and m.sum() == 6
    order = np.arange(12)[::-1]
    assert mistakes.confusion(labels, preds, 12, order)[11, 10] == 2
    pairs = mistakes.confused_pairs(labels, preds, tree, dist, top=5)
    leaves = tree.leaves
    assert pairs[0]["count"] == 2 and pairs[0]["true"] == tree.display(leaves[0])
    assert pairs[0]["lca"] == tree.display(tree.lca(leaves[0], leaves[1]))
    assert pairs[0]["share"] == pytest.approx(200 / 3)
    assert [p["count"] for p in pairs] == [2, 1, 1]
    assert mistakes.confused_pairs(labels, labels, tree, dist) == []


def test_outcomes_follow_the_crm_toggle_and_old_snapshots():
    arrays = {"eval_labels": np.array([0, 1]), "eval_predictions": np.array([1, 1]),
              "eval_crm_predictions": np.array([0, 1]), "labels": np.array([0]), "predictions": np.array([0])}
    assert mistakes.outcomes_of(arrays).predictions.tolist() == [1, 1]
    assert mistakes.outcomes_of(arrays, crm=True).predictions.tolist() == [0, 1]
    old = {"labels": np.array([0]), "predictions": np.array([0])}
    assert mistakes.outcomes_of(old).labels.tolist() == [0]
    with pytest.raises(KeyError, match="CRM"):
        mistakes.outcomes_of(old, crm=True)
    epochs, table = mistakes.heights_over_epochs({2: mistakes.outcomes_of(arrays), 1: mistakes.outcomes_of(
        arrays, crm=True)}, np.array([[0, 2], [2, 0]]))
    assert epochs == [1, 2] and table.tolist() == [[2, 0, 0], [1, 0, 1]]
