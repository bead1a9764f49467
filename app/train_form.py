"""The Train page's settings: menus from the registries, only the controls that apply, each with its help,
remembered in the page's URL (a reload, a bookmark or a shared link brings them back) and in a cookie
(a new tab of the same browser starts from them), and turned
into a RunConfig by ``core.build.build_config`` — the same function the CLI uses.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import streamlit as st

from app.common import bundled
from core import Hierarchy, RunConfig, bundled_hierarchies
from core.build import build_config, check_config
from core.data import DATASETS
from core.models import BACKBONES, HEADS
from core.recipes import DEFAULT_RECIPE, RECIPES
from core.training import describe_device

_BASE = build_config({})  # the default recipe's values are the form's defaults
M_MODES = {"exact": "exact m*", "grid": "reference grid", "value": "value"}
FIXED_FRAMES = ("haframe", "etf")  # heads whose classifier is a fixed frame (γ, m and the cosine loss apply)
DATASET_FACTS = {
    "synthetic": "Generated offline for the sidebar's hierarchy in about a second: {k} classes, {size}×{size} "
                 "colour images; the number of training images per class is yours to choose.",
    "fashion_mnist": "10 classes, 54,000 training, 6,000 validation (the last 10 % of each class) and 10,000 test "
                     "images (28×28, grey). Its hierarchy: {hierarchy}. "
                     "Training on a subset is a visible setting below (0 = all 54,000).",
}
# Setting → default, as remembered in the URL (query parameter = the name without "t_").
DEFAULTS: dict[str, Any] = {
    "t_owner": "", "t_dataset": _BASE.data.name, "t_head": _BASE.frame.head, "t_epochs": _BASE.optim.epochs,
    "t_gamma": _BASE.frame.gamma, "t_alpha": _BASE.optim.alpha, "t_per_class": _BASE.data.train_per_class,
    "t_limit": _BASE.data.limit_train, "t_m_mode": "exact", "t_m_value": 0.0, "t_mapping": _BASE.frame.mapping,
    "t_lr": _BASE.optim.lr, "t_batch": _BASE.optim.batch_size, "t_dim": _BASE.model.feature_dim,
    "t_seed": _BASE.seed, "t_recipe": DEFAULT_RECIPE, "t_backbone": _BASE.model.backbone, "t_root": "",
}
# Recipe setting → the widget that shows it (a recipe or a dataset choice fills these in).
RECIPE_WIDGETS = {"dataset": "t_dataset", "epochs": "t_epochs", "batch_size": "t_batch", "lr": "t_lr",
                  "gamma": "t_gamma", "alpha": "t_alpha", "backbone": "t_backbone"}
NEEDS_FILES = ("cifar100", "fgvc_aircraft", "imagefolder")  # datasets read from a folder the user names
_SAVED = "_train_saved"  # a copy in session state: a page switch drops widget state, not this
COOKIE = "haframe_train"  # the same settings in a cookie: a new tab or a plain /train address gets them too


def _parse(raw: str, default: Any) -> Any:
    try:
        return type(default)(float(raw)) if isinstance(default, int) and not isinstance(default, bool) \
            else type(default)(raw)
    except (TypeError, ValueError):
        return default


def remembered() -> None:
    """Put the last settings (this session's, else the URL's, else the defaults) into session state
    before the widgets are drawn; unknown or malformed values fall back to the defaults."""
    saved = st.session_state.get(_SAVED, {})
    cookie = _cookie()
    for key, default in DEFAULTS.items():
        if key in st.session_state:
            continue
        raw = st.query_params.get(key[2:], cookie.get(key[2:]))
        st.session_state[key] = saved.get(key, default if raw is None else _parse(raw, default))
    if st.session_state["t_dataset"] not in DATASETS:
        st.session_state["t_dataset"] = DEFAULTS["t_dataset"]
    if st.session_state["t_head"] not in HEADS:
        st.session_state["t_head"] = DEFAULTS["t_head"]
    if st.session_state["t_m_mode"] not in M_MODES:
        st.session_state["t_m_mode"] = "exact"
    for key, registry in (("t_recipe", RECIPES), ("t_backbone", BACKBONES)):
        if st.session_state[key] not in registry:
            st.session_state[key] = DEFAULTS[key]


def _apply_recipe(dataset_changed: bool = False) -> None:
    """Fill the widgets a recipe presets (on a recipe change: its dataset too; on a dataset change: the
    recipe's values for that dataset, e.g. the CPU recipe's 2 epochs at batch 128 for Fashion-MNIST)."""
    s = st.session_state
    recipe = RECIPES.get(s.t_recipe)
    values = recipe.for_dataset(s.t_dataset if dataset_changed else None)
    if dataset_changed:
        values.pop("dataset", None)
    base = build_config({"recipe": s.t_recipe, **({"dataset": s.t_dataset} if dataset_changed else {})})
    current = {"dataset": base.data.name, "epochs": base.optim.epochs, "batch_size": base.optim.batch_size,
               "lr": base.optim.lr, "gamma": base.frame.gamma, "alpha": base.optim.alpha,
               "backbone": base.model.backbone}
    for setting, widget in RECIPE_WIDGETS.items():
        if setting == "dataset" and dataset_changed:
            continue
        s[widget] = values.get(setting, current[setting])


def _remember() -> None:
    values = {**st.session_state.get(_SAVED, {}),  # keeps settings of controls hidden now (e.g. per-class)
              **{key: st.session_state[key] for key in DEFAULTS if key in st.session_state}}
    st.session_state[_SAVED] = values
    wanted = {key[2:]: str(value) for key, value in values.items() if value != DEFAULTS[key]}
    current = {k: st.query_params.get(k) for k in list(st.query_params) if k != "run"}
    if wanted != current:
        run = st.query_params.get("run")
        st.query_params.from_dict({**wanted, **({"run": run} if run else {})})
    if wanted != _cookie():
        text = quote(json.dumps(wanted, separators=(",", ":")))
        st.html(f"<script>document.cookie = '{COOKIE}={text}; path=/; max-age=31536000; SameSite=Lax';</script>",
                unsafe_allow_javascript=True, width="content")


def _cookie() -> dict[str, str]:
    """The settings this browser saved last time (an unreadable cookie counts as none)."""
    raw = st.context.cookies.get(COOKIE)
    if not isinstance(raw, str):  # no cookie (or no browser: AppTest)
        return {}
    try:
        saved = json.loads(unquote(raw) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in saved.items()} if isinstance(saved, dict) else {}


@dataclass(frozen=True)
class Choices:
    """What the form holds: flat settings for ``build_config``, who asks, and the hierarchy to check against."""

    settings: dict[str, Any]
    owner: str
    hierarchy: Hierarchy | None  # None: the dataset's files define it (checked when the run loads them)

    def config(self) -> RunConfig:
        """The RunConfig (raises ConfigError naming the setting)."""
        config = build_config(self.settings)
        if self.hierarchy is not None:
            check_config(config, self.hierarchy)
        return config


def _dataset_hierarchy(dataset: str, hierarchy: Hierarchy, source: str) -> tuple[Hierarchy | None, str | None, str]:
    """The hierarchy a run on ``dataset`` uses: the sidebar's when the dataset takes any hierarchy or the
    sidebar's covers exactly its classes, else the dataset's own. Returns (hierarchy, source or None for
    the dataset's own, a sentence saying which); the hierarchy is None when it comes from the dataset's
    files, which are only read when the run starts."""
    own = DATASETS.get(dataset).default_hierarchy
    if dataset == "synthetic":
        return hierarchy, source, f"the sidebar's ({hierarchy.name or source})"
    if own in bundled_hierarchies():
        own_hierarchy = bundled(own)
        if set(own_hierarchy.leaves) == set(hierarchy.leaves):
            return hierarchy, source, f"the sidebar's ({hierarchy.name or source}), which covers its classes"
        return own_hierarchy, None, (f"its own ({own}); the sidebar's {hierarchy.name or source} does not cover "
                                     "exactly its classes")
    if source in bundled_hierarchies():  # a bundled tree is not this dataset's: use the one its files define
        return None, None, "its own, built from its files (upload a hierarchy file in the sidebar to use another)"
    return hierarchy, source, f"the uploaded {hierarchy.name or source}, matched to its classes by name"


def run_form(hierarchy: Hierarchy, source: str) -> Choices:
    """Draw the settings and return them (nothing is started here)."""
    owner = st.text_input("Your name", key="t_owner", max_chars=80, placeholder="shown on the Jobs page",
                          help="Free text shown next to your runs on the Jobs page, so people sharing this server "
                               "know whose training is whose. Remembered in this page's address.")
    st.selectbox("Recipe", RECIPES.names(), key="t_recipe", on_change=_apply_recipe,
                 format_func=lambda name: f"{name} — {RECIPES.describe(name)}",
                 help="A preset of METHOD.md §7 (backbone, γ, α, batch, epochs, learning rates); every control "
                      "below stays yours to change. The same presets as `python -m core.train --recipe`.")
    c1, c2, c3 = st.columns(3)
    dataset = c1.selectbox("Dataset", DATASETS.names(), key="t_dataset", help=DATASETS.help(),
                           on_change=_apply_recipe, kwargs={"dataset_changed": True})
    head = c2.selectbox("Classifier", HEADS.names(), key="t_head", help=HEADS.help(),
                        format_func=lambda name: f"{name} — {HEADS.describe(name).split(',')[-1].strip()}")
    c3.number_input("Epochs", 1, 1000, key="t_epochs", help="Passes over the training set; the model is "
                    "evaluated (metrics and a feature snapshot) after each, and before the first (epoch 0).")
    data_hierarchy, data_source, which = _dataset_hierarchy(dataset, hierarchy, source)
    size = _BASE.data.image_size or 32
    facts = DATASET_FACTS.get(dataset)
    st.caption(facts.format(k=data_hierarchy.num_classes, size=size, hierarchy=which) if facts
               else f"{DATASETS.describe(dataset)}. Its hierarchy: {which}.")
    if dataset in NEEDS_FILES:
        st.text_input("Data folder", key="t_root", placeholder="default: $HAFRAME_DATA, then <repo>/data",
                      help="The folder holding this dataset on the server (see the README's Datasets section). "
                           "Nothing is downloaded from here.")
    fixed = head in FIXED_FRAMES
    c4, c5, c6 = st.columns(3)
    c4.slider("γ", 0.5, 10.0, step=0.5, key="t_gamma", disabled=head != "haframe",
              help="HAFrame only: how fast target similarity decays with tree distance, "
                   "S = (1 − m)·exp(−γ·D/D_max) + m. Larger γ: distant classes further apart.")
    c5.slider("α (cosine-loss weight)", 0.0, 1.0, step=0.05, key="t_alpha", disabled=not fixed,
              help="Fixed frames only: weight of the squared-cosine loss pulling features onto their class "
                   "vector; cross-entropy gets β = 1 − α.")
    if dataset == "synthetic":
        c6.number_input("Training images per class (synthetic)", 1, 5000, step=10, key="t_per_class",
                        help="Generated training images per class (the test set has its own).")
    else:
        c6.number_input("Training images (subset)", 0, 1_000_000, step=1000, key="t_limit",
                        help="Train on a class-balanced subset of this many images; 0 = every training image.")
    with st.expander("Advanced"):
        a1, a2, a3 = st.columns(3)
        m_mode = a1.radio("Min similarity m", list(M_MODES), format_func=M_MODES.get, horizontal=True,
                          key="t_m_mode", disabled=head != "haframe",
                          help="HAFrame only. exact: the smallest feasible m*; grid: the reference's grid "
                               "search; value: the number below (must be ≥ m*)")
        a1.number_input("m (for 'value')", -1.0, 0.999, step=0.01, format="%.3f", key="t_m_value",
                        disabled=head != "haframe" or m_mode != "value",
                        help="The minimum target similarity, used when 'value' is chosen above.")
        a2.selectbox("Mapping", ["exponential", "linear"], key="t_mapping", disabled=head != "haframe",
                     help="HAFrame only: the distance → similarity kernel.")
        a2.number_input("Learning rate", 0.0, 10.0, step=0.005, format="%.4f", key="t_lr",
                        help="Peak SGD learning rate; it follows a cosine schedule over the epochs.")
        a3.number_input("Batch size", 2, 4096, step=16, key="t_batch", help="Training images per optimiser step.")
        a3.selectbox("Backbone", BACKBONES.names(), key="t_backbone", help=BACKBONES.help())
        a3.number_input("Feature dimension (0 = K)", 0, 65536, step=1, key="t_dim",
                        help="Penultimate feature size d; 0 uses d = K (the number of classes), as in the paper.")
        a1.number_input("Seed", 0, 2**31 - 1, step=1, key="t_seed",
                        help="Weights, data, batch order, augmentation and frame rotation all follow it.")
        a2.text_input("Device", describe_device(), disabled=True, help="CUDA when available, else CPU")
    _remember()
    s = st.session_state
    settings: dict[str, Any] = {
        "recipe": s.t_recipe, "dataset": dataset, "hierarchy": data_source, "head": head, "epochs": s.t_epochs,
        "lr": s.t_lr, "batch_size": s.t_batch, "feature_dim": s.t_dim, "seed": s.t_seed, "backbone": s.t_backbone,
    }
    if dataset in NEEDS_FILES and s.t_root.strip():
        settings["root"] = s.t_root.strip()
    if dataset == "synthetic":
        settings["train_per_class"] = s.t_per_class
    else:
        settings["limit_train"] = s.t_limit
    if fixed:
        settings["alpha"] = s.t_alpha
    else:
        settings.update(alpha=0.0, beta=1.0)  # no frame to pull towards: plain cross-entropy
    if head == "haframe":
        settings.update(gamma=s.t_gamma, mapping=s.t_mapping,
                        min_similarity=s.t_m_value if m_mode == "value" else m_mode)
    return Choices(settings, owner.strip(), data_hierarchy)
