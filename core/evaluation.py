"""Evaluation passes of the trainer: batches of a split through the model, and the paper's test summary.

A pass collects the penultimate features and logits of a whole split (METHOD.md §8 metrics and §9
statistics need all of them). ``reference_quirks`` reproduces the reference's test loader: batch
256 with ``drop_last`` (CIFAR-100 then evaluates 9,984 of its 10,000 test images).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from core import metrics

__all__ = ["Outputs", "forward_pass", "hdist_ks", "paper_rows", "format_summary", "REFERENCE_EVAL_BATCH"]

REFERENCE_EVAL_BATCH = 256
HDIST_KS = (1, 5, 20)


@dataclass(frozen=True)
class Outputs:
    """features (N, d) float32, logits (N, K) float32, labels (N,) int64, all on the model's device."""

    features: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor


def hdist_ks(num_classes: int) -> tuple[int, ...]:
    """The k of hdist@k a run reports: 1, 5, 20 where K allows (METHOD.md §8.2: @20 only if K ≥ 20)."""
    return tuple(k for k in HDIST_KS if k <= num_classes)


@torch.no_grad()
def forward_pass(features_of: Callable[[torch.Tensor], torch.Tensor], head: Callable[[torch.Tensor], torch.Tensor],
                 batches: Iterable) -> Outputs:
    """Run every batch through ``features_of`` then ``head``; concatenate on the device (no host sync)."""
    feats, logits, labels = [], [], []
    for images, y in batches:
        f = features_of(images).float()
        feats.append(f)
        logits.append(head(f).float())
        labels.append(y)
    return Outputs(torch.cat(feats), torch.cat(logits), torch.cat(labels))


def paper_rows(logits, labels, distances) -> dict:
    """The paper's table row (METHOD.md §8) for the model's ranking and after CRM re-ranking.

    Returns {"model": row, "crm": row}, row = top1_error (%), top1 (%), mistake_severity and
    hdist@k for k in 1, 5, 20 (those K allows). Mistake severity is None when nothing is wrong.
    """
    logits = torch.as_tensor(logits).double().cpu()
    labels = torch.as_tensor(labels).cpu()
    ks = hdist_ks(logits.shape[1])
    out = {}
    for name, scores in (("model", logits), ("crm", metrics.crm_scores(logits, distances))):
        m = metrics.hierarchical_metrics(scores, labels, distances, ks=ks)
        sev = m["mistake_severity"]
        out[name] = {"top1_error": 100.0 - m["top1"], "top1": m["top1"],
                     "mistake_severity": None if np.isnan(sev) else sev,
                     **{f"hdist@{k}": m[f"hdist@{k}"] for k in ks}}
    return out


def format_summary(summary: dict) -> str:
    """The test summary as the paper's table: one line per ranking."""
    rows = summary["rows"]
    ks = [key for key in rows["model"] if key.startswith("hdist@")]
    head = f"{'':<14}{'top-1 err %':>12}{'severity':>10}" + "".join(f"{k:>10}" for k in ks)
    lines = [head]
    for name, label in (("model", "model"), ("crm", "model + CRM")):
        r = rows[name]
        sev = "—" if r["mistake_severity"] is None else f"{r['mistake_severity']:.3f}"
        lines.append(f"{label:<14}{r['top1_error']:>12.2f}{sev:>10}" + "".join(f"{r[k]:>10.3f}" for k in ks))
    return "\n".join(lines)
