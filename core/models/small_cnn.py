"""The small CNN trunk: the CPU default (trains Fashion-MNIST in seconds per epoch)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from core.models.registries import BACKBONES, BackboneSpec

if TYPE_CHECKING:
    from core.config import ModelConfig

__all__ = ["SmallCNN"]


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallCNN(nn.Sequential):
    """Three conv stages (width, 2·width, 4·width), the last two halving the resolution:
    (B, C, H, W) → (B, 4·width, H/4, W/4)."""

    def __init__(self, in_channels: int, width: int = 16):
        super().__init__(
            _conv_block(in_channels, width),
            _conv_block(width, 2 * width), nn.MaxPool2d(2),
            _conv_block(2 * width, 4 * width), nn.MaxPool2d(2),
        )
        self.out_channels = 4 * width


def _build(cfg: ModelConfig, in_channels: int) -> nn.Module:
    return SmallCNN(in_channels, cfg.width)


BACKBONES.add("small_cnn", "small 3-stage CNN (width from --width); the CPU default",
              BackboneSpec(build=_build, min_size=4))
