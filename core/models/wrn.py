"""WRN-28-k as the paper's CIFAR-100 model (METHOD.md §5.2).

3×3 conv to 16 channels; three groups of 4 pre-activation basic blocks (widths 16k, 32k, 64k;
strides 1, 2, 2); BatchNorm2d momentum 0.001; LeakyReLU slope 0.1; no dropout; final BN +
LeakyReLU. Conv weights ~ N(0, √(2/(k²·C_out))) (k the kernel side), BN weight 1, bias 0.
A block whose shape changes pre-activates its input once and feeds it to both the 3×3 conv and
the 1×1 shortcut conv (Zagoruyko & Komodakis); an unchanged block adds its raw input back.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from core.models.registries import BACKBONES, BackboneSpec

if TYPE_CHECKING:
    from core.config import ModelConfig

__all__ = ["WideResNetTrunk", "WideBasicBlock", "wrn_init", "BN_MOMENTUM", "LEAKY_SLOPE"]

BN_MOMENTUM = 0.001
LEAKY_SLOPE = 0.1
WRN_WIDTHS = (2, 4, 8, 10)  # registered k values: wrn28_2 … wrn28_10


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)


def _act() -> nn.LeakyReLU:
    return nn.LeakyReLU(LEAKY_SLOPE, inplace=True)


class WideBasicBlock(nn.Module):
    """BN → LeakyReLU → 3×3 conv (stride) → BN → LeakyReLU → 3×3 conv, plus the skip."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.bn1, self.act1 = _bn(cin), _act()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.act2 = _bn(cout), _act()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, 0, bias=False) if (cin != cout or stride != 1) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act1(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(pre)
        return skip + self.conv2(self.act2(self.bn2(self.conv1(pre))))


class WideResNetTrunk(nn.Module):
    """(B, C, 32, 32) → (B, 64k, 8, 8)."""

    def __init__(self, depth: int = 28, widen: int = 8, in_channels: int = 3):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n + 4, got {depth}")
        blocks = (depth - 4) // 6
        widths = (16, 16 * widen, 32 * widen, 64 * widen)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.block1 = self._group(widths[0], widths[1], blocks, 1)
        self.block2 = self._group(widths[1], widths[2], blocks, 2)
        self.block3 = self._group(widths[2], widths[3], blocks, 2)
        self.bn, self.act = _bn(widths[3]), _act()
        self.out_channels = widths[3]
        self.apply(wrn_init)

    @staticmethod
    def _group(cin: int, cout: int, blocks: int, stride: int) -> nn.Sequential:
        return nn.Sequential(*(WideBasicBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1)
                               for i in range(blocks)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(self.conv1(images))))
        return self.act(self.bn(x))


def wrn_init(module: nn.Module) -> None:
    """Conv weights ~ N(0, √(2/(k²·C_out))); BatchNorm2d weight 1, bias 0 (METHOD.md §5.2)."""
    if isinstance(module, nn.Conv2d):
        fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
        nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def _builder(widen: int):
    def build(cfg: ModelConfig, in_channels: int) -> nn.Module:
        return WideResNetTrunk(28, widen, in_channels)
    return build


for _k in WRN_WIDTHS:
    BACKBONES.add(f"wrn28_{_k}", f"WRN-28-{_k}, pre-activation, BN momentum 0.001 (32×32 inputs"
                  f"{'; the paper’s CIFAR-100 model' if _k == 8 else ''})",
                  BackboneSpec(build=_builder(_k), head_bn_momentum=BN_MOMENTUM, init=wrn_init))
