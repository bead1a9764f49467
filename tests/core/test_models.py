import torch

from core import ModelConfig, etf
from core.models import build_model


def test_features_head_split_and_frozen_frame():
    frame = etf(5, dim=8)
    model = build_model(ModelConfig(width=4), in_channels=3, num_classes=5, frame_weights=frame.weights)
    images = torch.randn(6, 3, 16, 16)
    features = model.forward_features(images)
    assert features.shape == (6, 8)
    assert torch.allclose(model.forward_head(features), model(images))
    names = [n for n, _ in model.named_parameters()]
    assert not any(n.startswith("classifier") for n in names), "a fixed frame is never trained"
    assert torch.allclose(model.classifier_weights().double(), torch.tensor(frame.weights), atol=1e-7)


def test_learnable_head_is_trained():
    model = build_model(ModelConfig(width=4), in_channels=1, num_classes=4)
    assert {"classifier.weight", "classifier.bias"} <= {n for n, _ in model.named_parameters()}
    assert model(torch.randn(2, 1, 12, 12)).shape == (2, 4)
