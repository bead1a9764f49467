"""ResNet-18/34/50 trunks from torchvision's builders (weights=None: nothing is downloaded).

The trunk keeps torchvision's module names (conv1, bn1, layer1…layer4), so a torchvision state
dict loads into it unchanged (its fc.* entries are skipped, see core.models.weights).
"ImageNet stem": 7×7/2 conv + 3×3/2 max-pool (224×224 inputs → 7×7 maps).
"CIFAR stem": 3×3/1 conv, no max-pool (32×32 inputs → 4×4 maps).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from core.models.registries import BACKBONES, BackboneSpec

if TYPE_CHECKING:
    from core.config import ModelConfig

__all__ = ["ResNetTrunk", "resnet_trunk"]

_OUT_CHANNELS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}


class ResNetTrunk(nn.Module):
    """torchvision ResNet without avgpool and fc: (B, C, H, W) → (B, out_channels, H/s, W/s)."""

    def __init__(self, arch: str, in_channels: int = 3, cifar_stem: bool = False):
        super().__init__()
        import torchvision  # imported here: only ResNet users pay for it

        net = getattr(torchvision.models, arch)(weights=None)
        if cifar_stem or in_channels != 3:
            kernel, stride, padding = (3, 1, 1) if cifar_stem else (7, 2, 3)
            net.conv1 = nn.Conv2d(in_channels, 64, kernel, stride, padding, bias=False)
            nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")  # torchvision's rule
        self.conv1, self.bn1, self.relu = net.conv1, net.bn1, net.relu
        self.maxpool = nn.Identity() if cifar_stem else net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.out_channels = _OUT_CHANNELS[arch]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def resnet_trunk(arch: str, cifar_stem: bool):
    def build(cfg: ModelConfig, in_channels: int) -> nn.Module:
        return ResNetTrunk(arch, in_channels, cifar_stem)
    return build


for _arch, _label in (("resnet18", "ResNet-18"), ("resnet34", "ResNet-34"), ("resnet50", "ResNet-50")):
    BACKBONES.add(_arch, f"{_label}, ImageNet stem (224×224 inputs; torchvision weights via --weights)",
                  BackboneSpec(build=resnet_trunk(_arch, cifar_stem=False)))
    BACKBONES.add(f"{_arch}_cifar", f"{_label}, CIFAR stem: 3×3 conv, no max-pool (32×32 inputs)",
                  BackboneSpec(build=resnet_trunk(_arch, cifar_stem=True)))
