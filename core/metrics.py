"""Evaluation metrics (METHOD.md §8) and neural-collapse statistics (§9), vectorised.

Distances are looked up as ``D[pred, y]``; nothing loops over samples or classes in Python.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["hierarchical_metrics", "class_means", "cosine_matrix", "frame_deviation", "self_duality",
           "collapse_statistics", "epoch_arrays",
           "crm_scores"]


def hierarchical_metrics(logits, labels, distances, ks=(1, 5)) -> dict[str, float]:
    """Top-k accuracy (%), mistake severity and average hierarchical distance @k.

    logits: (N, K) scores, labels: (N,), distances: (K, K). Returns keys ``top1``, ``top{k}``,
    ``mistake_severity`` (mean D of wrong top-1 predictions; NaN when none are wrong) and
    ``hdist@{k}`` (mean over samples of the mean D of the top-k predictions; correct = 0).
    """
    logits, labels = torch.as_tensor(logits), torch.as_tensor(labels)
    dist = torch.as_tensor(np.asarray(distances), dtype=torch.float64, device=logits.device)
    labels = labels.to(logits.device)
    kmax = min(max(ks), logits.shape[1])
    ranked = logits.topk(kmax, dim=1).indices  # (N, kmax)
    ranked_dist = dist[ranked, labels[:, None]]  # (N, kmax)
    out: dict[str, float] = {}
    for k in ks:
        k_eff = min(k, kmax)
        out[f"top{k}"] = 100.0 * float((ranked[:, :k_eff] == labels[:, None]).any(dim=1).double().mean())
        out[f"hdist@{k}"] = float(ranked_dist[:, :k_eff].mean())
    wrong = ranked_dist[:, 0] > 0
    out["mistake_severity"] = float(ranked_dist[wrong, 0].mean()) if wrong.any() else float("nan")
    return out


def crm_scores(logits, distances) -> torch.Tensor:
    """CRM re-ranking (METHOD.md §8.2): −softmax(logits)·D, (N, K); rank by decreasing score."""
    probs = torch.softmax(torch.as_tensor(logits, dtype=torch.float64), dim=1)
    return -(probs @ torch.as_tensor(np.asarray(distances), dtype=torch.float64))


def class_means(features, labels, num_classes: int) -> np.ndarray:
    """(K, d) mean feature of each class (NaN rows for classes with no sample)."""
    feats = torch.as_tensor(features, dtype=torch.float64)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    sums = torch.zeros(num_classes, feats.shape[1], dtype=torch.float64).index_add_(0, labels, feats)
    counts = torch.bincount(labels, minlength=num_classes).double()[:, None]
    return (sums / counts).numpy()  # 0/0 → NaN marks empty classes


def cosine_matrix(vectors) -> np.ndarray:
    """(K, K) pairwise cosines of the rows of ``vectors`` (K, d)."""
    v = np.asarray(vectors, dtype=np.float64)
    unit = v / np.linalg.norm(v, axis=1, keepdims=True).clip(1e-12)
    return unit @ unit.T


def frame_deviation(vectors, target, centered: bool = False) -> tuple[float, float]:
    """(mean |Δ|, std Δ) over class pairs i < j, Δ_ij = cos(v_i, v_j) − target_ij (METHOD.md §9).

    vectors: (K, d) class means or classifier rows; ``centered`` subtracts their mean first.
    Classes with a NaN row are left out.
    """
    v = np.asarray(vectors, dtype=np.float64)
    keep = ~np.isnan(v).any(axis=1)
    v = v[keep]
    if centered:
        v = v - v.mean(axis=0)
    rows, cols = np.triu_indices(len(v), k=1)
    delta = cosine_matrix(v)[rows, cols] - np.asarray(target)[keep][:, keep][rows, cols]
    return float(np.abs(delta).mean()), float(delta.std())


def self_duality(weights, means) -> float:
    """‖W/‖W‖_F − M/‖M‖_F‖²_F between a classifier (K, d) and class means (K, d)."""
    w, m = np.asarray(weights, np.float64), np.asarray(means, np.float64)
    return float(np.sum((w / np.linalg.norm(w) - m / np.linalg.norm(m)) ** 2))


def collapse_statistics(features, labels, classifier, target, haf_target, num_classes: int,
                        centered: bool = False) -> dict[str, float]:
    """Neural-collapse statistics of one set of penultimate features (METHOD.md §9).

    features: (N, d); labels: (N,); classifier: (K, d) current classifier rows; target: (K, K) this
    run's frame cosines; haf_target: (K, K) the hierarchy's HAFrame cosines. ``centered`` measures
    centred class means (learnable heads: classic NC against the ETF). Keys are those of the
    metrics schema; the trainer calls this for the test set and for a fixed training subsample.
    """
    means = class_means(features, labels, num_classes)
    stats: dict[str, float] = {}
    stats["frame_dev_mean"], stats["frame_dev_std"] = frame_deviation(means, target, centered)
    stats["haf_dev_mean"], stats["haf_dev_std"] = frame_deviation(means, haf_target)
    stats["feature_norm"] = float(torch.as_tensor(features, dtype=torch.float64).norm(dim=1).mean())
    return stats


def epoch_arrays(logits, labels, distances) -> dict[str, np.ndarray]:
    """Per-sample arrays saved with an epoch's snapshot for the mistake views.

    logits: (N, K) over the whole evaluation set; labels: (N,). Returns ``eval_labels`` (N,),
    ``eval_predictions`` (N,) top-1 classes and ``eval_crm_predictions`` (N,) top-1 after CRM
    re-ranking, all int32 (a few kB even for 10,000 images).
    """
    logits = torch.as_tensor(logits)
    return {
        "eval_labels": np.asarray(labels, dtype=np.int32),
        "eval_predictions": logits.argmax(1).cpu().numpy().astype(np.int32),
        "eval_crm_predictions": crm_scores(logits.cpu(), distances).argmax(1).numpy().astype(np.int32),
    }
