"""The metrics schema: every key a metrics row (``metrics.jsonl``) may hold, defined once.

Pages, the CLI's summary lines and exports read labels, units and directions from here; nobody
spells a metric's label on their own. Collapse statistics exist twice: measured on the test set
(plain key) and on a fixed class-balanced training subsample (key + ``TRAIN_SUFFIX``), which is
the paper's protocol (METHOD.md §9).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Metric", "METRICS", "GROUPS", "TRAIN_SUFFIX", "metric", "label", "keys_in", "format_value"]

TRAIN_SUFFIX = "@train"
GROUPS = ("accuracy", "severity", "collapse", "loss", "system")


@dataclass(frozen=True)
class Metric:
    """One column of a metrics row: its key, a human label, unit ("" for none) and direction."""

    key: str
    label: str
    unit: str
    lower_is_better: bool | None  # None: neither (e.g. the learning rate)
    group: str
    short: str = ""  # compact label for table headers; defaults to ``label``
    help: str = ""

    @property
    def title(self) -> str:
        """'label (unit)' for axes and legends."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def header(self) -> str:
        return self.short or self.label


def _entries() -> list[Metric]:
    acc = [Metric(f"top{k}", f"top-{k} accuracy", "%", False, "accuracy", f"top-{k} %",
                  f"share of evaluation images whose class is among the {k} highest scores") for k in (1, 5, 20)]
    severity = [
        Metric("mistake_severity", "mistake severity", "tree levels", True, "severity", "severity",
               "mean hierarchical distance of the wrong top-1 predictions (METHOD.md §8)"),
        *(Metric(f"hdist@{k}", f"avg. hier. distance @{k}", "tree levels", True, "severity", f"HD@{k}",
                 f"mean over images of the mean hierarchical distance of the top-{k} predictions (correct = 0)")
          for k in (1, 5, 20)),
    ]
    collapse = [
        Metric("frame_dev_mean", "frame deviation (mean)", "", True, "collapse", "frame dev",
               "mean |cos(μᵢ, μⱼ) − targetᵢⱼ| over class pairs, against this run's frame"),
        Metric("frame_dev_std", "frame deviation (std)", "", True, "collapse", "frame dev std"),
        Metric("frame_dev_centered_mean", "frame deviation, centred (mean)", "", True, "collapse",
               "frame dev (centred)", "as the frame deviation, with class means centred on the global sample mean"),
        Metric("frame_dev_centered_std", "frame deviation, centred (std)", "", True, "collapse",
               "frame dev std (centred)"),
        Metric("haf_dev_mean", "HAFrame deviation (mean)", "", True, "collapse", "HAFrame dev",
               "mean |cos(μᵢ, μⱼ) − Sᵢⱼ| against the hierarchy's HAFrame, whatever this run's head"),
        Metric("haf_dev_std", "HAFrame deviation (std)", "", True, "collapse", "HAFrame dev std"),
        Metric("nc1", "NC1 within/between variability", "", True, "collapse", "NC1",
               "tr(Σ_W Σ_B⁺)/K: within-class covariance relative to between-class (0 = collapsed)"),
        Metric("self_duality", "NC3 self-duality", "", True, "collapse", "NC3",
               "‖W/‖W‖ − M/‖M‖‖²_F between classifier rows and raw class means"),
        Metric("self_duality_centered", "NC3 self-duality, centred", "", True, "collapse", "NC3 (centred)",
               "as NC3 with class means centred on the global sample mean"),
        Metric("nc4_agreement", "NC4 nearest-mean agreement", "%", False, "collapse", "NC4 %",
               "share of images whose prediction equals the class with the nearest class mean"),
        Metric("feature_norm", "feature norm (mean)", "", None, "collapse", "‖h‖",
               "mean Euclidean norm of the penultimate features"),
        Metric("class_mean_norm_cv", "class-mean norm variation", "", True, "collapse", "norm CV",
               "std / mean of the class means' norms (0 = equinorm)"),
    ]
    loss = [
        Metric("train_loss", "training loss", "", True, "loss", "loss"),
        Metric("train_ce", "cross-entropy", "", True, "loss", "CE"),
        Metric("train_cos", "cosine loss", "", True, "loss", "cos loss"),
        Metric("train_acc", "training accuracy", "%", False, "accuracy", "train acc %",
               "top-1 on the training batches during the epoch (augmented, model in training mode)"),
        Metric("val_top1", "validation top-1 accuracy", "%", False, "accuracy", "val top-1 %",
               "top-1 on the validation split; checkpoint_best.pt keeps the epoch where it peaked"),
    ]
    system = [
        Metric("epoch", "epoch", "", None, "system"),
        Metric("seconds", "epoch time", "s", True, "system", "s/epoch",
               "the epoch's training passes alone (what watching it live must not slow down)"),
        Metric("wall_seconds", "epoch wall time", "s", True, "system", "wall s/epoch",
               "training, evaluation and feature snapshot of the epoch (what time remaining is estimated from)"),
        Metric("lr", "learning rate", "", None, "system", "lr"),
        Metric("head_lr", "learning rate, transformation head", "", None, "system", "head lr"),
        Metric("gpu_mem_gib", "peak GPU memory", "GiB", True, "system", "GPU mem",
               "largest GPU memory allocated by tensors during the epoch's training"),
    ]
    train_collapse = [replace(m, key=m.key + TRAIN_SUFFIX, label=f"{m.label} · train",
                              short=f"{m.header} · train") for m in collapse]
    return acc + severity + collapse + train_collapse + loss + system


METRICS: dict[str, Metric] = {m.key: m for m in _entries()}
TIMING_KEYS = ("seconds", "wall_seconds")  # clock readings: they differ between two otherwise identical runs


def metric(key: str) -> Metric:
    """The schema entry of ``key``; an unknown key (a newer run's column) gets a neutral entry."""
    found = METRICS.get(key)
    if found is not None:
        return found
    base = METRICS.get(key.removesuffix(TRAIN_SUFFIX))
    if base is not None and key.endswith(TRAIN_SUFFIX):
        return replace(base, key=key, label=f"{base.label} · train")
    return Metric(key, key, "", None, "system")


def label(key: str) -> str:
    """Axis/legend label of ``key`` with its unit, e.g. 'top-1 accuracy (%)'."""
    return metric(key).title


def keys_in(rows: list[dict], groups: tuple[str, ...] = GROUPS) -> list[str]:
    """Metric keys present (non-null somewhere) in ``rows``, in schema order, restricted to ``groups``."""
    present = {k for row in rows for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    ordered = [k for k in METRICS if k in present]
    ordered += sorted(present - set(METRICS))
    return [k for k in ordered if metric(k).group in groups and k != "epoch"]


def format_value(key: str, value) -> str:
    """A value as the CLI and tables print it: '71.2 %', '1.234', '—' for missing."""
    if value is None:
        return "—"
    m = metric(key)
    text = f"{value:.1f}" if m.unit == "%" else f"{value:.3f}"
    return f"{text} {m.unit}" if m.unit in ("%", "s") else text
