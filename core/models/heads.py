"""What sits on the trunk's feature map (METHOD.md §5.1, §5.4).

Type-II: 1×1 conv to d channels (counted with the trunk for learning rates) → global average
pooling → BatchNorm1d(d) → two residual Linear–BN–PReLU blocks → f ∈ R^d → classifier, a fixed
frame (:class:`FixedFrameClassifier`) or a learnable Linear(d, K) with bias.
Type-I: global average pooling → f ∈ R^C → learnable Linear(C, K).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ResidualBlock", "TransformationHead", "GlobalPool", "FixedFrameClassifier"]


class ResidualBlock(nn.Module):
    """x + PReLU(BN(Lin(PReLU(BN(Lin(x)))))), Lin without bias, channel-wise PReLU: (B, d) → (B, d)."""

    def __init__(self, dim: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(dim, dim, bias=False), nn.BatchNorm1d(dim), nn.PReLU(dim),
            nn.Linear(dim, dim, bias=False), nn.BatchNorm1d(dim), nn.PReLU(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class GlobalPool(nn.Module):
    """(B, C, H, W) → (B, C) spatial mean; works on channels_last tensors without a copy."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class TransformationHead(nn.Module):
    """Pool, BatchNorm1d(d, momentum), two residual blocks: (B, d, H, W) → (B, d)."""

    def __init__(self, dim: int, bn_momentum: float = 0.1):
        super().__init__()
        self.pool = GlobalPool()
        self.bn = nn.BatchNorm1d(dim, momentum=bn_momentum)
        self.block1, self.block2 = ResidualBlock(dim), ResidualBlock(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block2(self.block1(self.bn(self.pool(x))))


class FixedFrameClassifier(nn.Module):
    """Logits f·Wᵀ for a frozen frame W (K×d), stored as a buffer so no optimiser touches it."""

    def __init__(self, weights):
        super().__init__()
        self.register_buffer("weight", torch.as_tensor(weights, dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.weight.to(features.dtype).T
