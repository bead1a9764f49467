"""The build seam: user choices → :class:`RunConfig` → the parts of a run.

``build_config`` is the one place where a flat dict of user choices (the CLI's flags, the Train
page's widgets) becomes a RunConfig: the recipe preset first, then the user's choices on top, then
the rules that tie fields together (β from α, seeds, the dataset's own hierarchy). Nobody else
spells those rules.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core import frames
from core.config import ConfigError, RunConfig, parse_min_similarity
from core.data import load_dataset
from core.losses import HAFrameLoss
from core.models import HEADS, FrameNet, build_model, param_groups
from core.recipes import DEFAULT_RECIPE, RECIPES
from core.rng import own_generator

__all__ = ["build_config", "settings", "SETTING_ALIASES", "RunParts", "build_run", "build_frame", "check_config",
           "cosine_factor"]

# Sections in the order that claims a plain field name first; every field also has a prefixed name.
_PREFIX = {"optim": "optim_", "frame": "frame_", "data": "data_", "model": "model_", "runtime": "runtime_",
           "evaluation": "eval_"}
# Friendlier names for a few fields.
SETTING_ALIASES = {"dataset": ("data", "name"), "head": ("frame", "head")}


def settings() -> dict[str, tuple[str | None, str]]:
    """Every flat setting name → (section, or None for a top-level field, field name).

    Generated from the config dataclasses, so a field added to a section is a setting at once:
    its plain name unless an earlier section (or the top level) has it (``batch_size`` → optim,
    ``seed`` → the run), and always ``<prefix><name>`` (``eval_batch_size``, ``data_seed``).
    """
    index: dict[str, tuple[str | None, str]] = {f.name: (None, f.name) for f in dataclasses.fields(RunConfig)
                                                 if f.name not in _PREFIX}
    for section, prefix in _PREFIX.items():
        for f in dataclasses.fields(_section_type(section)):
            if f.name != "name":
                index.setdefault(f.name, (section, f.name))
            index[prefix + f.name] = (section, f.name)
    index.update(SETTING_ALIASES)
    return index


def _section_type(section: str):
    return next(f.default_factory for f in dataclasses.fields(RunConfig) if f.name == section)


def build_config(choices: Mapping[str, Any]) -> RunConfig:
    """A RunConfig from flat user choices; raises ConfigError naming the bad setting.

    choices: setting → value (see :func:`settings`; e.g. dataset, hierarchy, head, recipe, gamma,
    alpha, beta, mapping, min_similarity, epochs, batch_size, lr, head_lr, seed, limit_train,
    device). ``None`` means "not chosen". Rules, in order:

    1. the recipe (``recipe``, default "cpu") supplies its preset values;
    2. the user's choices replace any of them;
    3. β = 1 − α for α ≤ 1, else 1 (METHOD.md §6), unless β itself was chosen;
    4. the data and frame seeds follow ``seed`` unless chosen separately;
    5. no hierarchy chosen → the dataset's own (``DataConfig`` fills it in from core.data.DATASETS);
    6. ``limit_train`` is whatever was chosen (default 0 = every training image) for every dataset:
       a subset is always a visible setting, never a dataset-specific cap.
    """
    chosen = {k: v for k, v in choices.items() if v is not None}
    recipe = str(chosen.pop("recipe", DEFAULT_RECIPE))
    try:
        preset = dict(RECIPES.get(recipe).settings)
    except KeyError as err:
        raise ConfigError(f"recipe: {err.args[0]}") from None
    merged = {**preset, **chosen}
    if "beta" not in chosen and "alpha" in merged:
        alpha = float(merged["alpha"])
        merged["beta"] = 1.0 - alpha if alpha <= 1 else 1.0
    seed = merged.get("seed", RunConfig.seed)
    merged.setdefault("data_seed", seed)
    merged.setdefault("frame_seed", seed)
    merged.setdefault("hierarchy", "")  # "" = the dataset's own, filled in by DataConfig
    return _assemble(merged, recipe)


def _assemble(values: Mapping[str, Any], recipe: str) -> RunConfig:
    index = settings()
    base = RunConfig()
    sections: dict[str, dict[str, Any]] = {s: {} for s in _PREFIX}
    top: dict[str, Any] = {"recipe": recipe}
    for key, value in values.items():
        if key not in index:
            raise ConfigError(f"unknown setting '{key}' (recipe '{recipe}'); known: {', '.join(sorted(index))}")
        section, name = index[key]
        default = getattr(base if section is None else getattr(base, section), name)
        value = _coerce(key, value, default, name)
        (top if section is None else sections[section])[name] = value
    parts = {s: dataclasses.replace(getattr(base, s), **fields) for s, fields in sections.items()}
    try:
        return RunConfig(**parts, **top)
    except TypeError as err:  # a field of the wrong kind reached a dataclass
        raise ConfigError(str(err)) from None


def _coerce(key: str, value: Any, default: Any, name: str) -> Any:
    """Numbers from widgets (numpy scalars, floats that are whole) to the field's type."""
    if name == "min_similarity":
        return parse_min_similarity(value)
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                return {"true": True, "false": False, "1": True, "0": False}[value.lower()]
            return bool(value)
        if isinstance(default, int):
            if float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        if isinstance(default, float) or (default is None and name.endswith("lr")):
            return float(value)
    except (KeyError, TypeError, ValueError):
        kind = {bool: "true or false", int: "a whole number"}.get(type(default), "a number")
        raise ConfigError(f"{key} must be {kind}, got {value!r}") from None
    return value


# --------------------------------------------------------------------------- the parts of a run
@dataclass(frozen=True, eq=False)
class RunParts:
    """Everything a Trainer needs, built from a RunConfig by :func:`build_run`.

    distances: (K, K) hierarchical distances; frame: the fixed frame (None for learnable heads);
    target: (K, K) the cosines the class means should reach (the frame's; the ETF's for learnable
    heads); haf_target: (K, K) the hierarchy's HAFrame cosines at m*; loss: ``(features, logits,
    labels) → (loss, ce, cosine term)`` scalars; schedule: epoch (1-based) → each group's lr.
    """

    data: Any
    distances: np.ndarray
    frame: frames.Frame | None
    target: np.ndarray
    haf_target: np.ndarray
    model: Any
    loss: Callable
    optimizer: torch.optim.Optimizer
    schedule: Callable[[int], list[float]]


def build_frame(config: RunConfig, distances: np.ndarray, dim: int) -> frames.Frame | None:
    """The fixed frame a run config asks for (None for a learnable head)."""
    fc = config.frame
    kind = HEADS.get(fc.head).frame
    if kind == "haframe":
        return frames.haframe(distances, fc.gamma, fc.min_similarity, dim, fc.seed, fc.mapping)
    if kind == "etf":
        return frames.etf(len(distances), dim, fc.seed)
    return None


def check_config(config: RunConfig, hierarchy) -> None:
    """What RunConfig cannot check alone: the feature dimension and a numeric m against the hierarchy.

    Raises ConfigError naming the field.
    """
    k = hierarchy.num_classes
    if config.model.feature_dim and config.model.feature_dim < k:
        raise ConfigError(f"model.feature_dim must be 0 (= K) or at least K = {k}, got {config.model.feature_dim}")
    fc = config.frame
    if HEADS.get(fc.head).frame == "haframe" and not isinstance(fc.min_similarity, str):
        try:
            frames.resolve_min_similarity(hierarchy.distance_matrix(), fc.min_similarity, fc.gamma, fc.mapping)
        except ValueError as err:
            raise ConfigError(f"frame.min_similarity: {err}") from None


def build_model_seeded(config: RunConfig, in_channels: int, num_classes: int, frame, image_size) -> FrameNet:
    """``core.models.build_model`` with initial weights drawn from the run's own generator (seeded by
    ``config.seed``), whatever other threads of this process draw meanwhile (see :mod:`core.rng`)."""
    with own_generator(torch.Generator().manual_seed(config.seed)):
        return build_model(config.model, in_channels, num_classes, None if frame is None else frame.weights,
                           image_size=image_size, head=config.frame.head)


def cosine_factor(epoch: int, epochs: int) -> float:
    """METHOD.md §7: ½(1 + cos(π(e − 1)/E)) for epoch e = 1…E (1 at the first epoch)."""
    return 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / epochs))


def build_run(config: RunConfig, device: torch.device | str = "cpu", data=None) -> RunParts:
    """Data, frame, model (on ``device``), loss, SGD with the trunk/head groups and the cosine schedule.

    ``data``: an already loaded dataset (resuming, tests); default ``load_dataset(config.data)``.
    """
    device = torch.device(device)
    data = load_dataset(config.data) if data is None else data
    hierarchy = data.hierarchy
    check_config(config, hierarchy)
    distances = hierarchy.distance_matrix()
    k = hierarchy.num_classes
    frame = build_frame(config, distances, config.model.feature_dim or k)
    model = build_model_seeded(config, data.channels, k, frame, getattr(data, "image_size", None)).to(device)
    fc = config.frame
    target = frame.target if frame is not None else frames.etf(k).target
    haf_target = frames.similarity_matrix(distances, frames.critical_min_similarity(distances, fc.gamma, fc.mapping),
                                          fc.gamma, fc.mapping)
    loss = _frame_loss(frame, config, device) if frame is not None else _cross_entropy
    optim = config.optim
    peaks = {"trunk": optim.lr, "head": optim.head_lr or optim.lr}
    groups = [{"params": [p for p in params if p.requires_grad], "name": name, "peak_lr": peaks[name],
               "lr": peaks[name]} for name, params in param_groups(model).items()]
    optimizer = torch.optim.SGD([g for g in groups if g["params"]], lr=optim.lr, momentum=optim.momentum,
                                weight_decay=optim.weight_decay)

    def schedule(epoch: int) -> list[float]:
        factor = cosine_factor(epoch, optim.epochs)
        return [group["peak_lr"] * factor for group in optimizer.param_groups]

    return RunParts(data, distances, frame, target, haf_target, model, loss, optimizer, schedule)


def _frame_loss(frame: frames.Frame, config: RunConfig, device: torch.device) -> Callable:
    hafloss = HAFrameLoss(frame.weights, frame.target, config.optim.alpha, config.optim.beta).to(device)

    def loss(features, logits, labels):
        value = hafloss(features, labels)
        return (value, *hafloss.terms)
    return loss


def _cross_entropy(features, logits, labels):
    value = F.cross_entropy(logits, labels)
    return value, value.detach(), torch.zeros((), device=logits.device)
