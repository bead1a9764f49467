"""The two model registries and what an entry holds.

``BACKBONES``: name → :class:`BackboneSpec` (a trunk builder giving a (B, C, H, W) feature map).
``HEADS``: name → :class:`HeadSpec` (what sits on the trunk: the paper's Type-II transformation
head with a fixed or learnable classifier, or the Type-I linear classifier).
The CLI's choices, ``--help`` and the Train page's menus are generated from them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from torch import nn

from core.registry import Registry

if TYPE_CHECKING:
    from core.config import ModelConfig

__all__ = ["BACKBONES", "HEADS", "BackboneSpec", "HeadSpec"]


@dataclass(frozen=True)
class BackboneSpec:
    """build(cfg, in_channels) → a trunk module with an ``out_channels`` attribute.

    head_bn_momentum: momentum of the head's first BatchNorm1d (WRN: 0.001, METHOD.md §5.2).
    init: applied to the Type-II head's 1×1 conv, which the reference builds inside the backbone.
    min_size: the smallest input side the trunk accepts.
    """

    build: Callable[[ModelConfig, int], nn.Module]
    head_bn_momentum: float = 0.1
    init: Callable[[nn.Module], None] | None = None
    min_size: int = 1


@dataclass(frozen=True)
class HeadSpec:
    """Type-II (trunk → 1×1 conv to d → pool → BN → two residual blocks → f ∈ R^d → classifier)
    or Type-I (trunk → pool → f ∈ R^C → learnable Linear(C, K)).

    frame: the fixed classifier's kind ("haframe", "etf"), or None for a learnable one.
    """

    type_ii: bool
    frame: Literal["haframe", "etf"] | None


BACKBONES: Registry[BackboneSpec] = Registry("backbone")
HEADS: Registry[HeadSpec] = Registry("head")

HEADS.add("haframe", "Type-II transformation head, fixed HAFrame classifier (the paper's method)",
          HeadSpec(type_ii=True, frame="haframe"))
HEADS.add("etf", "Type-II transformation head, fixed simplex ETF classifier (hierarchy-blind)",
          HeadSpec(type_ii=True, frame="etf"))
HEADS.add("learnable", "Type-II transformation head, learnable linear classifier (Type-II cross-entropy)",
          HeadSpec(type_ii=True, frame=None))
HEADS.add("ce_linear", "Type-I cross-entropy baseline: learnable linear classifier on the pooled trunk features",
          HeadSpec(type_ii=False, frame=None))
