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


def _as_float64(x, device=None) -> torch.Tensor:
    t = torch.as_tensor(x)
    return t.to(device=device if device is not None else t.device, dtype=torch.float64)


def _class_means_t(feats: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    sums = torch.zeros(num_classes, feats.shape[1], dtype=feats.dtype, device=feats.device).index_add_(0, labels, feats)
    counts = torch.bincount(labels, minlength=num_classes).to(feats.dtype)[:, None]
    return sums / counts  # 0/0 → NaN marks empty classes


def class_means(features, labels, num_classes: int) -> np.ndarray:
    """(K, d) mean feature of each class (NaN rows for classes with no sample)."""
    feats = _as_float64(features)
    labels = torch.as_tensor(labels, dtype=torch.int64, device=feats.device)
    return _class_means_t(feats, labels, num_classes).cpu().numpy()


def _cosines_t(v: torch.Tensor) -> torch.Tensor:
    unit = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return unit @ unit.T


def cosine_matrix(vectors) -> np.ndarray:
    """(K, K) pairwise cosines of the rows of ``vectors`` (K, d)."""
    return _cosines_t(_as_float64(vectors)).cpu().numpy()


def _deviation_t(v: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """(mean |Δ|, population std Δ) over pairs i < j of Δ = cos(v) − target (rows already selected)."""
    rows, cols = torch.triu_indices(len(v), len(v), offset=1, device=v.device)
    delta = _cosines_t(v)[rows, cols] - target[rows, cols]
    if delta.numel() == 0:
        return float("nan"), float("nan")
    return float(delta.abs().mean()), float(delta.std(correction=0))


def frame_deviation(vectors, target, centered: bool = False) -> tuple[float, float]:
    """(mean |Δ|, std Δ) over class pairs i < j, Δ_ij = cos(v_i, v_j) − target_ij (METHOD.md §9).

    vectors: (K, d) class means or classifier rows; ``centered`` subtracts their mean first.
    Classes with a NaN row are left out.
    """
    v = _as_float64(vectors)
    keep = ~torch.isnan(v).any(dim=1)
    v = v[keep]
    if centered:
        v = v - v.mean(dim=0)
    return _deviation_t(v, _as_float64(target, v.device)[keep][:, keep])


def _duality_t(w: torch.Tensor, m: torch.Tensor) -> float:
    return float(((w / w.norm() - m / m.norm()) ** 2).sum())


def self_duality(weights, means) -> float:
    """‖W/‖W‖_F − M/‖M‖_F‖²_F between a classifier (K, d) and class means (K, d)."""
    m = _as_float64(means)
    return _duality_t(_as_float64(weights, m.device), m)


def _nc1_t(feats: torch.Tensor, labels: torch.Tensor, means: torch.Tensor, global_mean: torch.Tensor) -> float:
    """tr(Σ_W Σ_B⁺)/K (Papyan et al.), without forming a d×d pseudo-inverse.

    With M̃ the (K, d) class means centred on the global sample mean, Σ_B = M̃ᵀM̃/K and
    Σ_B⁺ = K·V S⁻² Vᵀ from the SVD M̃ = U S Vᵀ (rank-truncated); with Z the (N, d) features centred
    on their class means, Σ_W = ZᵀZ/N, so tr(Σ_W Σ_B⁺)/K = ‖Z V S⁻¹‖²_F / N: O(N·d·K), no d×d inverse.
    ``means``/``labels`` cover the present classes only (labels re-indexed into them).
    """
    centred = means - global_mean
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    keep = s > s.max() * max(centred.shape) * torch.finfo(s.dtype).eps
    if not keep.any():
        return float("nan")
    basis = vh[keep].T / s[keep]  # (d, r)
    within = feats - means[labels]
    return float((within @ basis).square().sum() / len(feats))


def _nearest_mean_t(feats: torch.Tensor, means: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """(N,) index of the nearest class mean (Euclidean), in chunks so N×K never lives at once."""
    bias = means.square().sum(dim=1)
    out = [(2 * feats[i:i + chunk] @ means.T - bias).argmax(dim=1) for i in range(0, len(feats), chunk)]
    return torch.cat(out)


def collapse_statistics(features, labels, classifier, target, haf_target, num_classes: int,
                        centered: bool = False, predictions=None) -> dict[str, float]:
    """Neural-collapse statistics of one set of penultimate features (METHOD.md §9), on the features' device.

    features: (N, d); labels: (N,); classifier: (K, d) current classifier rows; target: (K, K) this
    run's frame cosines; haf_target: (K, K) the hierarchy's HAFrame cosines; predictions: (N,) the
    network's top-1 classes (or (N, K) logits) for NC4, omitted when None. ``centered`` measures the
    frame deviation on class means centred on their mean (learnable heads: classic NC against the
    ETF). Classes without a sample are left out. Keys are those of :mod:`core.schema`:

    * ``frame_dev_mean/std``: class means vs ``target`` (raw, or centred as above);
    * ``frame_dev_centered_mean/std``: class means centred on the global *sample* mean (the
      reference's μ̃ = μ_k − μ_G; differs from the mean of class means on imbalanced data);
    * ``haf_dev_mean/std``: raw class means vs ``haf_target``;
    * ``nc1``: tr(Σ_W Σ_B⁺)/K; ``self_duality`` / ``self_duality_centered`` (NC3, raw / μ̃);
    * ``nc4_agreement``: % of samples whose prediction is the class of the nearest class mean;
    * ``feature_norm``: mean ‖h‖; ``class_mean_norm_cv``: std/mean of ‖μ_k‖ (equinorm).
    """
    feats = _as_float64(features)
    device = feats.device
    labels = torch.as_tensor(labels, dtype=torch.int64, device=device)
    means_all = _class_means_t(feats, labels, num_classes)
    present = ~torch.isnan(means_all).any(dim=1)
    means = means_all[present]
    global_mean = feats.mean(dim=0)
    target_p = _as_float64(target, device)[present][:, present]
    haf_p = _as_float64(haf_target, device)[present][:, present]
    weights = _as_float64(classifier, device)[present]
    stats: dict[str, float] = {}
    stats["frame_dev_mean"], stats["frame_dev_std"] = _deviation_t(
        means - means.mean(dim=0) if centered else means, target_p)
    stats["frame_dev_centered_mean"], stats["frame_dev_centered_std"] = _deviation_t(means - global_mean, target_p)
    stats["haf_dev_mean"], stats["haf_dev_std"] = _deviation_t(means, haf_p)
    remap = torch.cumsum(present.long(), 0) - 1  # class id → row of ``means``
    stats["nc1"] = _nc1_t(feats, remap[labels], means, global_mean)
    stats["self_duality"] = _duality_t(weights, means)
    stats["self_duality_centered"] = _duality_t(weights, means - global_mean)
    if predictions is not None:
        pred = torch.as_tensor(predictions).to(device)
        pred = pred.argmax(dim=1) if pred.ndim == 2 else pred.long()
        nearest = present.nonzero().squeeze(1)[_nearest_mean_t(feats, means)]
        stats["nc4_agreement"] = 100.0 * float((nearest == pred).double().mean())
    stats["feature_norm"] = float(feats.norm(dim=1).mean())
    norms = means.norm(dim=1)
    stats["class_mean_norm_cv"] = float(norms.std(correction=0) / norms.mean().clamp_min(1e-12))
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
