"""Run store: everything a training run produces lives in one directory under ``checkpoints/``.

Layout of a run directory::

    config.json          RunConfig.to_dict()
    hierarchy.json       the hierarchy used (so a run is readable without its source file)
    frame.npz            weights (K×d, absent for a learnable head) and target (K×K) cosines
    status.json          {"state": running|finished|stopped|failed, "error": ..., "epoch": ...}
    metrics.jsonl        one JSON object per evaluated epoch, appended (epoch 0 = before training)
    snapshots/epoch_NNN.npz   features (n×d), labels (n,), predictions (n,), class_means (K×d)
    checkpoint.pt        model/optimiser state, written atomically (tmp file + os.replace)

Readers tolerate a run that is still being written (a half-written last metrics line is skipped),
so the app can show runs started by the CLI or on another machine.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.config import RunConfig
from core.hierarchy import Hierarchy

__all__ = ["RunDir", "list_runs", "DEFAULT_ROOT"]

# HAFRAME_RUNS_DIR moves the run store (tests use a temporary one).
DEFAULT_ROOT = Path(os.environ.get("HAFRAME_RUNS_DIR") or Path(__file__).resolve().parent.parent / "checkpoints")
_SNAPSHOT = re.compile(r"epoch_(\d+)\.npz$")


def _atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` and rename over ``path`` so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; runs are shared with other users/containers
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _save_npz(path: str, arrays: dict[str, np.ndarray], compressed: bool) -> None:
    with open(path, "wb") as f:  # a file object: numpy would otherwise append ".npz" to the name
        (np.savez_compressed if compressed else np.savez)(f, **arrays)


def _write_json(path: Path, obj) -> None:
    _atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=1)))


@dataclass(frozen=True)
class RunDir:
    """A run directory; all reads and writes of run files go through here."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, root: Path | str, config: RunConfig, name: str | None = None) -> RunDir:
        """A new, empty run directory (``name`` or a timestamped one) with config.json written."""
        root = Path(root)
        base = name or _default_name(config)
        path, n = root / base, 1
        while path.exists() and any(path.iterdir()):
            n += 1
            path = root / f"{base}-{n}"
        (path / "snapshots").mkdir(parents=True, exist_ok=True)
        run = cls(path)
        _write_json(path / "config.json", config.to_dict())
        run.write_status("created")
        return run

    # ------------------------------------------------------------------ config, hierarchy, frame
    def config(self) -> RunConfig:
        return RunConfig.from_dict(json.loads((self.path / "config.json").read_text()))

    def save_hierarchy(self, hierarchy: Hierarchy) -> None:
        _write_json(self.path / "hierarchy.json", hierarchy.to_dict())

    def hierarchy(self) -> Hierarchy:
        doc = json.loads((self.path / "hierarchy.json").read_text())
        return Hierarchy.from_tree(doc["tree"], doc["classes"], doc.get("name"))

    def save_frame(self, target: np.ndarray, weights: np.ndarray | None) -> None:
        arrays = {"target": np.asarray(target, np.float64)}
        if weights is not None:
            arrays["weights"] = np.asarray(weights, np.float64)
        _atomic_write(self.path / "frame.npz", lambda tmp: _save_npz(tmp, arrays, compressed=False))

    def frame(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "frame.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    # ------------------------------------------------------------------ status
    def write_status(self, state: str, **info) -> None:
        _write_json(self.path / "status.json", {"state": state, "updated": time.time(), **info})

    def status(self) -> dict:
        try:
            return json.loads((self.path / "status.json").read_text())
        except (OSError, ValueError):
            return {"state": "unknown"}

    # ------------------------------------------------------------------ metrics
    def append_metrics(self, row: dict) -> None:
        """Append one epoch's metrics as a JSON line (flushed and fsynced)."""
        with open(self.path / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def metrics(self) -> list[dict]:
        """All complete metrics rows, in epoch order."""
        try:
            lines = (self.path / "metrics.jsonl").read_text().splitlines()
        except OSError:
            return []
        rows = []
        for line in lines:
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue  # a line still being written
        return rows

    # ------------------------------------------------------------------ snapshots
    def save_snapshot(self, epoch: int, **arrays: np.ndarray) -> None:
        path = self.path / "snapshots" / f"epoch_{epoch:03d}.npz"
        _atomic_write(path, lambda tmp: _save_npz(tmp, arrays, compressed=True))

    def snapshot_epochs(self) -> list[int]:
        folder = self.path / "snapshots"
        found = (_SNAPSHOT.search(p.name) for p in folder.glob("epoch_*.npz")) if folder.exists() else ()
        return sorted(int(m.group(1)) for m in found if m)

    def snapshot(self, epoch: int) -> dict[str, np.ndarray]:
        with np.load(self.path / "snapshots" / f"epoch_{epoch:03d}.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    # ------------------------------------------------------------------ checkpoint
    def save_checkpoint(self, state: dict) -> None:
        _atomic_write(self.path / "checkpoint.pt", lambda tmp: torch.save(state, tmp))

    def load_checkpoint(self, map_location="cpu") -> dict:
        return torch.load(self.path / "checkpoint.pt", map_location=map_location, weights_only=True)


def _default_name(config: RunConfig) -> str:
    """'<time>-<head>-<dataset>[-<hierarchy>]', e.g. 20261127-101500-haframe-synthetic-cifar100."""
    parts = [time.strftime("%Y%m%d-%H%M%S"), config.frame.head, config.data.name]
    hierarchy = Path(config.data.hierarchy).stem
    if hierarchy != config.data.name:
        parts.append(hierarchy)
    return "-".join(parts)


def list_runs(root: Path | str = DEFAULT_ROOT) -> list[RunDir]:
    """Run directories under ``root`` (those with a config.json), newest first."""
    root = Path(root)
    if not root.exists():
        return []
    runs = [RunDir(p) for p in root.iterdir() if (p / "config.json").exists()]
    return sorted(runs, key=lambda r: (r.path / "config.json").stat().st_mtime, reverse=True)
