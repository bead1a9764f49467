"""The HAFrame loss ("mixed-ce-gscsl", METHOD.md §6), vectorised."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HAFrameLoss"]


class HAFrameLoss(nn.Module):
    """β·CE(f Wᵀ, y) + α·(1/B)·Σ_b Σ_k (cos(f_b, w_k) − S[y_b, k])².

    weights: (K, d) fixed frame W. target_similarity: (K, K) target cosines S.
    Called as ``loss(features, labels)`` with features (B, d) and labels (B,) int64; returns a
    scalar. ``terms`` holds the detached (ce, cosine) parts of the latest call as tensors (no device
    sync); ``last_terms`` gives them as floats.
    """

    def __init__(self, weights, target_similarity, alpha: float = 0.4, beta: float = 0.6):
        super().__init__()
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))
        self.register_buffer("target", torch.as_tensor(target_similarity, dtype=torch.float32))
        self.alpha, self.beta = float(alpha), float(beta)
        self.terms: tuple[torch.Tensor, torch.Tensor] = (torch.zeros(()), torch.zeros(()))

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        weights = self.weights.to(features.dtype)
        ce = F.cross_entropy(features @ weights.T, labels)
        # Each norm clamped at 1e-8 separately (current torch cosine_similarity rule).
        cosines = F.normalize(features, dim=1, eps=1e-8) @ F.normalize(weights, dim=1, eps=1e-8).T
        cosine_term = (cosines - self.target.to(features.dtype)[labels]).pow(2).sum(dim=1).mean()
        self.terms = (ce.detach(), cosine_term.detach())
        return self.beta * ce + self.alpha * cosine_term

    @property
    def last_terms(self) -> tuple[float, float]:
        """(cross-entropy, cosine term) of the latest call."""
        return float(self.terms[0]), float(self.terms[1])
