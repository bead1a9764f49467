"""HAFrame Studio core: a headless library (torch + numpy only; no UI imports).

Public façade::

    from core import load_hierarchy, haframe, etf, HAFrameLoss, RunConfig, Trainer, list_runs

Modules: hierarchy (trees, distances), formats (file readers/writers), frames (HAFrame, ETF,
diagnostics), losses, data, models, metrics, config, training, runs, train (CLI).
"""
from core.config import DataConfig, FrameConfig, ModelConfig, OptimConfig, RunConfig
from core.formats import bundled_hierarchies, load_bundled, load_hierarchy, resolve_hierarchy
from core.frames import Frame, FrameError, etf, haframe
from core.hierarchy import Hierarchy, HierarchyError
from core.losses import HAFrameLoss
from core.runs import RunDir, list_runs
from core.training import TrainEvent, Trainer

__all__ = [
    "DataConfig", "FrameConfig", "ModelConfig", "OptimConfig", "RunConfig",
    "bundled_hierarchies", "load_bundled", "resolve_hierarchy",
    "Frame", "FrameError", "etf", "haframe",
    "Hierarchy", "HierarchyError", "load_hierarchy",
    "HAFrameLoss", "RunDir", "list_runs", "TrainEvent", "Trainer",
]
