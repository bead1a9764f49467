import math

import numpy as np
import torch

from core import metrics


def test_hierarchical_metrics_by_hand():
    distances = np.array([[0, 1, 2], [1, 0, 2], [2, 2, 0]])
    logits = torch.tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [0.0, 1.0, 3.0], [0.0, 3.0, 1.0]])
    labels = torch.tensor([0, 1, 2, 2])
    out = metrics.hierarchical_metrics(logits, labels, distances, ks=(1, 2))
    assert out["top1"] == 50.0
    assert out["top2"] == 100.0
    assert out["mistake_severity"] == 1.5  # wrong: sample 1 (d=1), sample 3 (d=2)
    assert out["hdist@1"] == (0 + 1 + 0 + 2) / 4
    assert out["hdist@2"] == ((0 + 1) + (1 + 0) + (0 + 2) + (2 + 0)) / 8


def test_no_mistakes_gives_nan_severity():
    out = metrics.hierarchical_metrics(torch.eye(3), torch.arange(3), np.ones((3, 3)) - np.eye(3), ks=(1,))
    assert math.isnan(out["mistake_severity"])


def test_frame_deviation_zero_on_the_frame_and_skips_empty_classes():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((5, 8))
    target = metrics.cosine_matrix(vectors)
    assert metrics.frame_deviation(vectors, target) == (0.0, 0.0)
    means = metrics.class_means(np.vstack([vectors[:4]] * 2), np.tile(np.arange(4), 2), 5)
    assert np.isnan(means[4]).all()
    mean_dev, _ = metrics.frame_deviation(means, target)
    assert mean_dev < 1e-12
