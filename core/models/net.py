"""The model: trunk → reduce (1×1 conv, Type-II only) → transform → classifier, split timm-style.

``forward_features`` gives the penultimate feature f, ``forward_head`` the logits, so the collapse
views read f and the frame is just a head. ``param_groups`` splits the parameters into the two
learning-rate groups of METHOD.md §7.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from core.models.heads import FixedFrameClassifier, GlobalPool, TransformationHead
from core.models.registries import BACKBONES, HEADS, BackboneSpec
from core.models.weights import load_weights

if TYPE_CHECKING:
    from core.config import ModelConfig

__all__ = ["FrameNet", "build_model", "attach_head", "param_groups"]


class FrameNet(nn.Module):
    """images (B, C, H, W) → features f (B, d) → logits (B, K)."""

    def __init__(self, trunk: nn.Module, reduce: nn.Module, transform: nn.Module, classifier: nn.Module,
                 head: str = "haframe"):
        super().__init__()
        self.trunk, self.reduce, self.transform, self.classifier = trunk, reduce, transform, classifier
        self.head = head  # HEADS name

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) normalised images → (B, d) penultimate features."""
        return self.transform(self.reduce(self.trunk(images)))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, d) features → (B, K) logits."""
        return self.classifier(features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(images))

    def classifier_weights(self) -> torch.Tensor:
        """(K, d) current classifier weights (the fixed frame, or the learnable layer's)."""
        return self.classifier.weight.detach()

    @property
    def fixed_frame(self) -> bool:
        return isinstance(self.classifier, FixedFrameClassifier)


def build_model(cfg: ModelConfig, in_channels: int, num_classes: int, frame_weights=None,
                image_size: int | None = None, head: str | None = None) -> FrameNet:
    """A FrameNet for ``cfg.backbone`` and ``head`` (a HEADS name).

    frame_weights: (K, d) fixed frame for the "haframe"/"etf" heads (d ≥ K is the feature
    dimension); None for learnable heads. head None means "haframe" when frame_weights is given,
    else "learnable" (Type-II). image_size (input side in pixels) is checked against the
    backbone's minimum. ``cfg.weights`` (a local torchvision state dict) is loaded into the trunk.
    Raises ValueError (WeightsError for the weights file) naming the problem.
    """
    head = head or ("haframe" if frame_weights is not None else "learnable")
    spec, kind = BACKBONES.get(cfg.backbone), HEADS.get(head)
    if (kind.frame is not None) != (frame_weights is not None):
        raise ValueError(f"head '{head}' {'needs' if kind.frame else 'takes no'} fixed frame weights")
    if image_size is not None and image_size < spec.min_size:
        raise ValueError(f"backbone '{cfg.backbone}' needs inputs of at least {spec.min_size}×{spec.min_size} "
                         f"pixels, got {image_size}")
    trunk = spec.build(cfg, in_channels)
    if cfg.weights:
        load_weights(trunk, cfg.weights, cfg.backbone)
    return attach_head(trunk, spec, head, num_classes, frame_weights, cfg.feature_dim)


def attach_head(trunk: nn.Module, spec: BackboneSpec, head: str, num_classes: int, frame_weights=None,
                feature_dim: int = 0) -> FrameNet:
    """The FrameNet of ``head`` (a HEADS name) on a built ``trunk`` of backbone ``spec``."""
    if not HEADS.get(head).type_ii:
        if feature_dim:
            raise ValueError(f"model.feature_dim applies to Type-II heads; head '{head}' uses the trunk's "
                             f"{trunk.out_channels} pooled channels")
        return FrameNet(trunk, nn.Identity(), GlobalPool(), nn.Linear(trunk.out_channels, num_classes), head)
    dim = len(frame_weights[0]) if frame_weights is not None else (feature_dim or num_classes)
    if dim < num_classes:
        raise ValueError(f"feature_dim must be at least the number of classes ({num_classes}), got {dim}")
    reduce = nn.Conv2d(trunk.out_channels, dim, 1, bias=False)
    if spec.init is not None:
        spec.init(reduce)
    transform = TransformationHead(dim, spec.head_bn_momentum)
    classifier = FixedFrameClassifier(frame_weights) if frame_weights is not None else nn.Linear(dim, num_classes)
    return FrameNet(trunk, reduce, transform, classifier, head)


def param_groups(model: FrameNet) -> dict[str, list[nn.Parameter]]:
    """{"trunk": trunk + 1×1 conv, "head": transformation head + learnable classifier}.

    METHOD.md §7 gives each group its own peak learning rate (e.g. FGVC: head 0.1, trunk 0.01).
    A fixed frame has no parameters, so it is in neither group and never trained.
    """
    trunk = [*model.trunk.parameters(), *model.reduce.parameters()]
    head = [*model.transform.parameters(), *model.classifier.parameters()]
    return {"trunk": trunk, "head": head}
