"""HAFrame Studio core: a headless library (torch + numpy only; no UI imports).

Public façade::

    from core import load_hierarchy, haframe, etf, HAFrameLoss, build_config, Trainer, list_runs

Modules: hierarchy (trees, distances), formats (file readers/writers), frames (HAFrame, ETF,
diagnostics), losses, data, models, metrics, config, recipes, build (choices → config → run parts),
training, evaluation, rng, distributed, runs, train (CLI).
"""
from core.build import build_config, build_run
from core.config import DataConfig, EvalConfig, FrameConfig, ModelConfig, OptimConfig, RunConfig, RuntimeConfig
from core.formats import bundled_hierarchies, load_bundled, load_hierarchy, resolve_hierarchy
from core.frames import Frame, FrameError, etf, haframe
from core.hierarchy import Hierarchy, HierarchyError
from core.losses import HAFrameLoss
from core.runs import RunDir, list_runs
from core.training import TrainEvent, Trainer

__all__ = [
    "DataConfig", "EvalConfig", "FrameConfig", "ModelConfig", "OptimConfig", "RunConfig", "RuntimeConfig",
    "build_config", "build_run",
    "bundled_hierarchies", "load_bundled", "resolve_hierarchy",
    "Frame", "FrameError", "etf", "haframe",
    "Hierarchy", "HierarchyError", "load_hierarchy",
    "HAFrameLoss", "RunDir", "list_runs", "TrainEvent", "Trainer",
]
