"""core.models: every backbone × head builds and gives the right shapes, parameter groups split
trunk (+1×1 conv) from the head, a fixed frame is never trained, WRN matches METHOD.md §5.2, and
a bad weights file is one clear error naming the file and the first mismatching key."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from core import ModelConfig, etf
from core.config import HEADS as CONFIG_HEADS
from core.config import ConfigError, FrameConfig
from core.models import BACKBONES, HEADS, WeightsError, build_model, load_weights, param_groups
from core.models.net import attach_head
from core.models.heads import FixedFrameClassifier
from core.models.wrn import WideBasicBlock, WideResNetTrunk

K = 5


def _model(backbone: str, head: str, in_channels: int = 3, dim: int = 0, **cfg):
    frame = etf(K, dim=dim or K).weights if HEADS.get(head).frame else None
    return build_model(ModelConfig(backbone=backbone, width=4, feature_dim=0 if frame is not None else dim, **cfg),
                       in_channels, K, frame, image_size=32, head=head)


def test_registries_drive_the_config_choices():
    assert BACKBONES.names()[0] == "small_cnn"  # the CPU default comes first in menus
    assert {"resnet18", "resnet34", "resnet50", "resnet18_cifar", "resnet50_cifar", "wrn28_8"} <= set(BACKBONES)
    assert HEADS.names() == ["haframe", "etf", "learnable", "ce_linear"]
    assert CONFIG_HEADS == tuple(HEADS.names())
    assert FrameConfig(head="ce_linear").head == "ce_linear"
    with pytest.raises(ConfigError, match="model.backbone"):
        ModelConfig(backbone="vgg11")


@pytest.mark.parametrize("backbone", BACKBONES.names())
def test_shapes_every_backbone_and_head(backbone):
    """One trunk per backbone (building the big ones is the slow part), every head attached to it."""
    spec = BACKBONES.get(backbone)
    trunk = spec.build(ModelConfig(backbone=backbone, width=4), 1)  # one input channel: Fashion-MNIST-like
    images = torch.randn(2, 1, 8, 8)  # tiny: every trunk still leaves at least a 1×1 map
    for head in HEADS.names():
        frame = etf(K, dim=7).weights if HEADS.get(head).frame else None
        model = attach_head(trunk, spec, head, K, frame).train()
        features = model.forward_features(images)
        dim = (7 if frame is not None else K) if HEADS.get(head).type_ii else trunk.out_channels
        assert features.shape == (2, dim), (backbone, head)
        assert model.forward_head(features).shape == (2, K)
        assert model.classifier_weights().shape == (K, dim)
    model.eval()
    assert torch.allclose(model(images), model.forward_head(model.forward_features(images)), atol=1e-5)


def test_imagenet_and_cifar_stems():
    imagenet, cifar = _model("resnet18", "ce_linear").eval(), _model("resnet18_cifar", "ce_linear").eval()
    assert imagenet.trunk.conv1.kernel_size == (7, 7) and isinstance(imagenet.trunk.maxpool, nn.MaxPool2d)
    assert cifar.trunk.conv1.kernel_size == (3, 3) and cifar.trunk.conv1.stride == (1, 1)
    assert isinstance(cifar.trunk.maxpool, nn.Identity)
    x = torch.randn(1, 3, 32, 32)
    assert imagenet.trunk(x).shape[-2:] == (1, 1) and cifar.trunk(x).shape[-2:] == (4, 4)
    assert _model("resnet50", "ce_linear").eval().trunk(torch.randn(1, 3, 64, 64)).shape == (1, 2048, 2, 2)


def test_param_groups_split_trunk_and_head():
    for head in HEADS.names():
        model = _model("small_cnn", head)
        groups = param_groups(model)
        assert set(groups) == {"trunk", "head"}
        ids = [id(p) for g in groups.values() for p in g]
        assert len(ids) == len(set(ids)) == len(list(model.parameters())), head  # each parameter exactly once
        trunk_ids = {id(p) for p in groups["trunk"]}
        assert {id(p) for p in model.trunk.parameters()} <= trunk_ids
        if HEADS.get(head).type_ii:
            assert id(model.reduce.weight) in trunk_ids  # the 1×1 conv learns at the trunk's rate
            assert model.reduce.kernel_size == (1, 1) and model.reduce.bias is None
            assert {id(p) for p in model.transform.parameters()} <= {id(p) for p in groups["head"]}
        if head in ("learnable", "ce_linear"):
            assert id(model.classifier.weight) in {id(p) for p in groups["head"]}


def test_fixed_frame_is_never_trained():
    frame = etf(K, dim=8)
    model = build_model(ModelConfig(width=4), 3, K, frame.weights)
    assert model.head == "haframe" and isinstance(model.classifier, FixedFrameClassifier)
    assert not any(n.startswith("classifier") for n, _ in model.named_parameters())
    before = model.classifier_weights().clone()
    groups = param_groups(model)
    opt = torch.optim.SGD([{"params": groups["trunk"]}, {"params": groups["head"]}], lr=0.5, momentum=0.9)
    for _ in range(3):
        loss = nn.functional.cross_entropy(model(torch.randn(4, 3, 16, 16)), torch.tensor([0, 1, 2, 3]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(model.classifier_weights(), before)
    assert torch.allclose(before.double(), torch.tensor(frame.weights), atol=1e-7)
    assert model.forward_features(torch.randn(2, 3, 16, 16)).shape == (2, 8)


def test_head_and_frame_must_agree():
    with pytest.raises(ValueError, match="needs fixed frame"):
        build_model(ModelConfig(width=4), 3, K, None, head="haframe")
    with pytest.raises(ValueError, match="takes no fixed frame"):
        build_model(ModelConfig(width=4), 3, K, etf(K).weights, head="ce_linear")
    with pytest.raises(ValueError, match="feature_dim"):
        build_model(ModelConfig(width=4, feature_dim=3), 3, K)
    with pytest.raises(ValueError, match="feature_dim applies to Type-II"):
        build_model(ModelConfig(width=4, feature_dim=8), 3, K, head="ce_linear")
    with pytest.raises(ValueError, match="at least 4"):
        build_model(ModelConfig(width=4), 3, K, image_size=2)
    with pytest.raises(KeyError, match="unknown head"):
        build_model(ModelConfig(width=4), 3, K, head="nope")


def test_learnable_heads_have_bias():
    model = build_model(ModelConfig(width=4), in_channels=1, num_classes=4)
    assert model.head == "learnable"
    assert {"classifier.weight", "classifier.bias"} <= {n for n, _ in model.named_parameters()}


# --------------------------------------------------------------------------- WRN (METHOD.md §5.2)
def test_wrn_structure():
    trunk = WideResNetTrunk(28, 2)
    blocks = [m for m in trunk.modules() if isinstance(m, WideBasicBlock)]
    assert len(blocks) == 12  # three groups of four
    assert [b.conv1.out_channels for b in blocks[::4]] == [32, 64, 128] and trunk.conv1.out_channels == 16
    assert [b.conv1.stride[0] for b in blocks[::4]] == [1, 2, 2]
    bns = [m for m in trunk.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(bn.momentum == 0.001 for bn in bns)
    acts = [m for m in trunk.modules() if isinstance(m, nn.LeakyReLU)]
    assert acts and all(a.negative_slope == 0.1 for a in acts)
    assert not any(isinstance(m, (nn.Dropout, nn.ReLU)) for m in trunk.modules())
    assert trunk(torch.randn(2, 3, 32, 32)).shape == (2, 128, 8, 8)
    model = _model("wrn28_2", "haframe")
    assert model.transform.bn.momentum == 0.001  # BatchNorm1d(K) of the head
    inner = [m for b in (model.transform.block1, model.transform.block2) for m in b.modules()
             if isinstance(m, nn.BatchNorm1d)]
    assert len(inner) == 4 and all(bn.momentum == 0.1 for bn in inner)


def test_wrn_init_statistics():
    torch.manual_seed(0)
    trunk = WideResNetTrunk(28, 4)
    conv = trunk.block3[1].conv2  # 3×3, 256 → 256
    expected = math.sqrt(2.0 / (9 * conv.out_channels))
    assert abs(conv.weight.std().item() / expected - 1) < 0.02 and abs(conv.weight.mean().item()) < 1e-3
    bn = trunk.block2[0].bn1
    assert torch.equal(bn.weight, torch.ones_like(bn.weight)) and torch.equal(bn.bias, torch.zeros_like(bn.bias))
    reduce = _model("wrn28_2", "haframe").reduce  # the head's 1×1 conv gets the same rule
    assert abs(reduce.weight.std().item() / math.sqrt(2.0 / K) - 1) < 0.2


# --------------------------------------------------------------------------- weights
def test_weights_roundtrip_torchvision_layout(tmp_path):
    import torchvision

    source = torchvision.models.resnet18(weights=None)  # a torchvision state dict, fc.* included
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    model = _model("resnet18", "haframe", weights=str(path))
    assert torch.equal(model.trunk.conv1.weight, source.conv1.weight)
    assert torch.equal(model.trunk.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var)
    # A HAFrame Studio checkpoint ({"model": {"trunk.…": …}}) loads too.
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "model": model.state_dict()}, ckpt)
    other = _model("resnet18", "learnable")
    load_weights(other, ckpt)
    assert torch.equal(other.trunk.layer2[0].conv1.weight, source.layer2[0].conv1.weight)


def test_weights_errors_name_file_and_key(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(WeightsError, match=f"{missing}.*not found"):
        _model("resnet18", "haframe", weights=str(missing))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="could not be read"):
        _model("resnet18", "haframe", weights=str(garbage))
    empty = tmp_path / "list.pth"
    torch.save([1, 2, 3], empty)
    with pytest.raises(WeightsError, match="holds no state dict"):
        _model("resnet18", "haframe", weights=str(empty))

    import torchvision
    imagenet = tmp_path / "imagenet_stem.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), imagenet)
    with pytest.raises(WeightsError, match=r"imagenet_stem.pth does not match resnet18_cifar: key 'conv1.weight' "
                                           r"has shape \(64, 3, 7, 7\) in the file, \(64, 3, 3, 3\)"):
        _model("resnet18_cifar", "haframe", weights=str(imagenet))
    partial = tmp_path / "partial.pth"
    state = torchvision.models.resnet18(weights=None).state_dict()
    del state["layer3.0.bn1.running_mean"]
    torch.save(state, partial)
    with pytest.raises(WeightsError, match="key 'layer3.0.bn1.running_mean' is missing"):
        _model("resnet18", "haframe", weights=str(partial))
    extra = tmp_path / "extra.pth"
    state = torchvision.models.resnet18(weights=None).state_dict()
    state["layer5.weight"] = torch.zeros(1)
    torch.save(state, extra)
    with pytest.raises(WeightsError, match="key 'layer5.weight' in the file is not part of the backbone"):
        _model("resnet18", "haframe", weights=str(extra))
    with pytest.raises(WeightsError, match="resnet50"):  # an 18-layer file for a 50-layer trunk
        _model("resnet50", "haframe", weights=str(imagenet))


def test_channels_last_forward_matches():
    model = _model("resnet18_cifar", "haframe").eval()
    x = torch.randn(2, 3, 32, 32)
    ref = model(x)
    out = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(ref, out, atol=1e-4)
