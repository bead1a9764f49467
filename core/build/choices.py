"""User choices → :class:`RunConfig`: ``build_config`` is the one place where a flat dict of choices
(the CLI's flags, the Train page's widgets) becomes a RunConfig: the recipe preset first, then the
user's choices on top, then the rules that tie fields together (β from α, seeds, the dataset's own
hierarchy). Nobody else spells those rules.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from core.config import ConfigError, RunConfig, parse_min_similarity
from core.recipes import DEFAULT_RECIPE, RECIPES

__all__ = ["build_config", "settings", "SETTING_ALIASES"]

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

    1. the recipe (``recipe``, default "cpu") supplies its preset values, with its per-dataset
       values for the chosen dataset on top;
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
        preset = RECIPES.get(recipe).for_dataset(chosen.get("dataset"))
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


