"""Models: backbone trunks and heads as registries, one builder, parameter groups, local weights.

Modules: registries (BACKBONES, HEADS), small_cnn, resnet, wrn (trunks), heads (transformation
head, fixed-frame classifier), net (FrameNet, build_model, param_groups), weights (load_weights).
"""
from core.models import small_cnn, resnet, wrn  # noqa: F401, I001  (registers the backbones, CPU default first)
from core.models.heads import FixedFrameClassifier, ResidualBlock, TransformationHead
from core.models.net import FrameNet, build_model, param_groups
from core.models.registries import BACKBONES, HEADS, BackboneSpec, HeadSpec
from core.models.weights import WeightsError, load_weights

__all__ = ["BACKBONES", "HEADS", "BackboneSpec", "HeadSpec", "FrameNet", "FixedFrameClassifier",
           "ResidualBlock", "TransformationHead", "build_model", "param_groups", "load_weights", "WeightsError"]
