"""Models split timm-style: ``forward_features`` gives the penultimate feature f, ``forward_head``
the logits. The frame is just a head, so the collapse views read ``forward_features``.

Architecture (METHOD.md §5.1, scaled down): a small CNN trunk → 1×1 conv to d channels → global
average pooling → BatchNorm1d(d) → two residual Linear–BatchNorm–PReLU blocks → f ∈ R^d → a
classifier that is a fixed frame (HAFrame or ETF, no bias, never trained) or a learnable Linear.
"""
from __future__ import annotations

import torch
from torch import nn

from core.config import ModelConfig

__all__ = ["FrameNet", "FixedFrameClassifier", "build_model"]


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallCNN(nn.Sequential):
    """Trunk: three conv stages (width, 2·width, 4·width), the last two halving the resolution."""

    def __init__(self, in_channels: int, width: int = 32):
        super().__init__(
            _conv_block(in_channels, width),
            _conv_block(width, 2 * width), nn.MaxPool2d(2),
            _conv_block(2 * width, 4 * width), nn.MaxPool2d(2),
        )
        self.out_channels = 4 * width


class ResidualBlock(nn.Module):
    """x + PReLU(BN(Lin(PReLU(BN(Lin(x)))))), Lin without bias (METHOD.md §5.1)."""

    def __init__(self, dim: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(dim, dim, bias=False), nn.BatchNorm1d(dim), nn.PReLU(dim),
            nn.Linear(dim, dim, bias=False), nn.BatchNorm1d(dim), nn.PReLU(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformationHead(nn.Sequential):
    """1×1 conv to d channels, average pooling, BN, two residual blocks: (B, C, H, W) → (B, d)."""

    def __init__(self, in_channels: int, dim: int):
        super().__init__(
            nn.Conv2d(in_channels, dim, 1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.BatchNorm1d(dim), ResidualBlock(dim), ResidualBlock(dim),
        )


class FixedFrameClassifier(nn.Module):
    """Logits f·Wᵀ for a frozen frame W (K×d), stored as a buffer so no optimiser touches it."""

    def __init__(self, weights):
        super().__init__()
        self.register_buffer("weight", torch.as_tensor(weights, dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.weight.T


class FrameNet(nn.Module):
    """trunk → transformation head → classifier."""

    def __init__(self, trunk: nn.Module, transform: nn.Module, classifier: nn.Module):
        super().__init__()
        self.trunk, self.transform, self.classifier = trunk, transform, classifier

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) normalised images → (B, d) penultimate features."""
        return self.transform(self.trunk(images))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, d) features → (B, K) logits."""
        return self.classifier(features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(images))

    def classifier_weights(self) -> torch.Tensor:
        """(K, d) current classifier weights (the fixed frame, or the learnable layer's)."""
        return self.classifier.weight.detach()


def build_model(cfg: ModelConfig, in_channels: int, num_classes: int, frame_weights=None) -> FrameNet:
    """A FrameNet; ``frame_weights`` (K×d) fixes the classifier, ``None`` makes it learnable."""
    dim = cfg.feature_dim or num_classes
    if frame_weights is not None:
        dim = len(frame_weights[0])
    if dim < num_classes:
        raise ValueError(f"feature_dim must be at least the number of classes ({num_classes}), got {dim}")
    trunk = SmallCNN(in_channels, cfg.width)
    classifier = FixedFrameClassifier(frame_weights) if frame_weights is not None else nn.Linear(dim, num_classes)
    return FrameNet(trunk, TransformationHead(trunk.out_channels, dim), classifier)
