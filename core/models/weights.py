"""Pretrained trunk weights from a local file (a torchvision state dict); nothing is downloaded.

Accepted: a state dict of the trunk with torchvision's names (``conv1.weight``, ``layer1.0…``),
optionally with the ImageNet classifier's ``fc.*`` entries (skipped); or a checkpoint dict holding
such a state dict under "state_dict" or "model", whose keys may carry a "module." (DataParallel)
or "trunk." (a HAFrame Studio model) prefix. Read with torch.load(weights_only=True).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

__all__ = ["WeightsError", "load_weights", "read_state_dict"]

SKIPPED_PREFIXES = ("fc.",)  # torchvision's ImageNet classifier: not part of a trunk


class WeightsError(ValueError):
    """A weights file is missing, unreadable or does not match the backbone; the message names the file."""


def read_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """name → tensor from ``path``, prefixes stripped as described in the module docstring."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} not found")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise WeightsError(f"weights file {path} could not be read as a torch state dict "
                           f"({type(err).__name__}: {err})") from None
    if isinstance(raw, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(raw.get(key), Mapping):
                raw = raw[key]
                break
    if not isinstance(raw, Mapping) or not raw or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise WeightsError(f"weights file {path} holds no state dict (a mapping of names to tensors)")
    state = {str(k).removeprefix("module."): v for k, v in raw.items()}
    if any(k.startswith("trunk.") for k in state):
        state = {k.removeprefix("trunk."): v for k, v in state.items() if k.startswith("trunk.")}
    return state


def load_weights(model: nn.Module, path: Path | str, backbone: str = "backbone") -> None:
    """Copy the file's tensors into the trunk of ``model`` (a FrameNet, or a trunk itself);
    strict: every trunk entry, same shapes.

    Raises WeightsError naming the file and the first mismatching key (in the trunk's order).
    """
    trunk = getattr(model, "trunk", model)
    state = read_state_dict(path)
    expected = trunk.state_dict()
    where = f"weights file {path} does not match {backbone}"
    for key, tensor in expected.items():
        if key not in state:
            raise WeightsError(f"{where}: key '{key}' is missing from the file")
        if state[key].shape != tensor.shape:
            raise WeightsError(f"{where}: key '{key}' has shape {tuple(state[key].shape)} in the file, "
                               f"{tuple(tensor.shape)} in the model")
    extra = [k for k in state if k not in expected and not k.startswith(SKIPPED_PREFIXES)]
    if extra:
        raise WeightsError(f"{where}: key '{extra[0]}' in the file is not part of the backbone")
    trunk.load_state_dict({k: state[k] for k in expected})
