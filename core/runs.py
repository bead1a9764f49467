"""Run store: everything a training run produces lives in one directory under ``checkpoints/``.

Layout of a run directory::

    config.json          RunConfig.to_dict()
    hierarchy.json       the hierarchy used (so a run is readable without its source file)
    frame.npz            weights (K×d, absent for a learnable head) and target (K×K) cosines
    status.json          {"state": queued|created|running|finished|stopped|failed, "error": ..., "epoch": ...}
    heartbeat.json       {"pid", "host", "started" (process start), "since", "time"}: rewritten every 2 s while training
    metrics.jsonl        one JSON object per evaluated epoch, appended (epoch 0 = before training)
    snapshots/epoch_NNN.npz   what the Collapse/Mistakes views read, bounded per epoch (core.training):
                         indices (n,) of the n ≤ data.snapshot_size test images (class-balanced, the same
                         every epoch), their features (n×d), labels (n,), predictions (n,); class_means (K×d)
                         of the whole test set; classifier (K×d) for learnt heads only; eval_labels,
                         eval_predictions, eval_crm_predictions (N,) int32. Floats as data.snapshot_dtype
                         (float16 by default; runs written before it: float32, read the same way).
    checkpoint_last.pt   model/optimiser state, epoch, best-so-far: what --resume continues from
    checkpoint_best.pt   the model with the best validation top-1 (what the final test pass uses)
                         (both written atomically: tmp file + os.replace; older runs: checkpoint.pt)
    test_summary.json    the final test pass in the paper's layout (model and CRM rows)

Readers tolerate a run that is still being written (a half-written last metrics line is skipped),
so the app can show runs started by the CLI or on another machine.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.config import RunConfig
from core.hierarchy import Hierarchy

__all__ = ["RunDir", "Heartbeat", "list_runs", "DEFAULT_ROOT", "RunSettings", "TRASH", "STATES", "LIVE_STATES"]

STATES = ("queued", "running", "stopped", "finished", "failed", "interrupted")
LIVE_STATES = ("queued", "running")
HEARTBEAT_INTERVAL_S = 2.0  # how often a training process rewrites heartbeat.json
STALE_AFTER_S = 30.0  # a heartbeat older than this means the training process is gone (or hung)

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


TRASH = ".trash"  # deleted runs are moved here, inside the run store (list_runs skips it: no config.json)


@dataclass(frozen=True)
class RunSettings:
    """What a run was trained with, as a comparison shows it."""

    dataset: str
    hierarchy: str
    head: str
    gamma: float
    alpha: float
    lr: float
    epochs: int
    seed: int


@dataclass(frozen=True)
class RunDir:
    """A run directory; all reads and writes of run files go through here."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, root: Path | str, config: RunConfig, name: str | None = None, state: str = "created",
               **status) -> RunDir:
        """A new, empty run directory (``name`` or a timestamped one) with status.json (``state`` and
        ``status``, e.g. "queued" and who asked) and config.json written, in that order."""
        root = Path(root)
        base = name or _default_name(config)
        path, n = root / base, 1
        while path.exists() and any(path.iterdir()):
            n += 1
            path = root / f"{base}-{n}"
        (path / "snapshots").mkdir(parents=True, exist_ok=True)
        run = cls(path)
        run.write_status(state, **status)  # before config.json: list_runs never sees a run without a state
        _write_json(path / "config.json", config.to_dict())
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

    # ------------------------------------------------------------------ status, heartbeat, state
    def write_status(self, state: str, **info) -> None:
        """Replace status.json; a "queued" status also names this process (see ``state``)."""
        if state == "queued":
            info = {**_process_identity(), **info}
        _write_json(self.path / "status.json", {"state": state, "updated": time.time(), **info})

    def status(self) -> dict:
        try:
            status = json.loads((self.path / "status.json").read_text())
        except (OSError, ValueError):
            return {"state": "unknown"}
        return status if isinstance(status, dict) else {"state": "unknown"}

    def write_heartbeat(self, since: float | None = None) -> None:
        """Record that this process is training the run now (pid, host, process start, time, and
        ``since``: when this training began, in seconds since the epoch)."""
        now = time.time()
        _write_json(self.path / "heartbeat.json", {**_process_identity(), "since": since or now, "time": now})

    def heartbeat(self) -> dict | None:
        try:
            beat = json.loads((self.path / "heartbeat.json").read_text())
        except (OSError, ValueError):
            return None
        return beat if isinstance(beat, dict) else None

    def beating(self, interval_s: float = HEARTBEAT_INTERVAL_S) -> Heartbeat:
        """A started :class:`Heartbeat` for this run; ``stop()`` it when training ends."""
        return Heartbeat(self, interval_s)

    def state(self, now: float | None = None) -> str:
        """What the run is doing: one of :data:`STATES` (or "unknown" for an unreadable status.json).

        "running" needs proof of life: a heartbeat fresher than ``STALE_AFTER_S`` from a process that still
        exists (checked by pid and process start time when the heartbeat was written on this host). A
        run whose process is gone is "interrupted", so it is never shown or polled as running forever.
        """
        status = self.status()
        state = status.get("state")
        if state in ("finished", "stopped", "failed"):
            return state
        now = time.time() if now is None else now
        if state == "queued":  # waits in a server's memory: alive only as long as that server
            return "queued" if _process_alive(status) else "interrupted"
        if state not in ("running", "created"):
            return "unknown"
        beat = self.heartbeat()
        if beat is not None:
            fresh = now - float(beat.get("time", 0)) < STALE_AFTER_S
            return "running" if fresh and _process_alive(beat) else "interrupted"
        # No heartbeat yet: a trainer between RunDir.create and its first beat, or a run written before
        # heartbeats existed. Only a recent status update counts as alive.
        return "running" if now - float(status.get("updated", 0)) < STALE_AFTER_S else "interrupted"

    def live(self) -> bool:
        """True while the run is queued or training (what pages poll)."""
        return self.state() in LIVE_STATES

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

    def snapshot_arrays(self, epoch: int, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Only the named arrays of a snapshot (the others are not decompressed); missing keys are absent."""
        with np.load(self.path / "snapshots" / f"epoch_{epoch:03d}.npz", allow_pickle=False) as z:
            return {k: z[k] for k in keys if k in z.files}

    # ------------------------------------------------------------------ typed readers, names, notes, trash
    def settings(self) -> RunSettings:
        """The settings a comparison shows beside a run's numbers (from config.json)."""
        cfg = self.config()
        return RunSettings(dataset=cfg.data.name, hierarchy=self.hierarchy_name(), head=cfg.frame.head,
                           gamma=cfg.frame.gamma, alpha=cfg.optim.alpha, lr=cfg.optim.lr, epochs=cfg.optim.epochs,
                           seed=cfg.seed)

    def frame_is_haframe(self) -> bool:
        """Whether this run's classifier is the hierarchy's HAFrame (so its frame deviation and its
        HAFrame deviation are one number), read from the config."""
        return self.config().frame.head == "haframe"

    def hierarchy_name(self) -> str:
        """The hierarchy's name as written with the run (falls back to the config's source)."""
        try:
            return str(json.loads((self.path / "hierarchy.json").read_text()).get("name") or "")
        except (OSError, ValueError):
            return Path(self.config().data.hierarchy).stem

    def comparable_key(self) -> tuple[str, str]:
        """(dataset, hierarchy digest): runs with equal keys have comparable mistake severities."""
        try:
            digest = hashlib.sha256((self.path / "hierarchy.json").read_bytes()).hexdigest()[:12]
        except OSError:
            digest = self.config().data.hierarchy
        return self.config().data.name, digest

    def seed_group(self) -> str:
        """A key equal for runs whose configs differ only by their seeds (and device)."""
        raw = self.config().to_dict()
        raw.pop("seed", None)
        raw.pop("device", None)
        for section in raw.values():
            if isinstance(section, dict):
                section.pop("seed", None)
        return hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:12]

    def meta(self) -> dict:
        """{"title": str, "notes": str} a person gave the run (empty when none)."""
        try:
            raw = json.loads((self.path / "meta.json").read_text())
        except (OSError, ValueError):
            raw = {}
        return {"title": str(raw.get("title") or ""), "notes": str(raw.get("notes") or "")}

    def set_meta(self, title: str | None = None, notes: str | None = None) -> None:
        """Name and/or annotate the run (the directory keeps its name; pickers show the title)."""
        meta = self.meta()
        if title is not None:
            meta["title"] = title.strip()
        if notes is not None:
            meta["notes"] = notes.strip()
        _write_json(self.path / "meta.json", meta)

    def title(self) -> str:
        """The name people gave the run, or its directory name."""
        return self.meta()["title"] or self.name

    def move_to_trash(self) -> Path:
        """Move the run into ``<run store>/.trash/`` (nothing is deleted); returns its new path."""
        trash = self.path.parent / TRASH
        trash.mkdir(exist_ok=True)
        target = trash / f"{self.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        os.replace(self.path, target)
        return target

    # ------------------------------------------------------------------ checkpoints, resume, test summary
    def save_checkpoint(self, state: dict, which: str = "last") -> None:
        """checkpoint_<which>.pt ("last": model, optimiser, epoch, best-so-far; "best": the model with the
        best validation top-1), written atomically so a kill never leaves half a file."""
        _atomic_write(self.path / f"checkpoint_{which}.pt", lambda tmp: torch.save(state, tmp))

    def checkpoint_path(self, which: str = "last") -> Path:
        """checkpoint_<which>.pt; runs written before best/last existed have one checkpoint.pt."""
        path = self.path / f"checkpoint_{which}.pt"
        legacy = self.path / "checkpoint.pt"
        return legacy if not path.exists() and legacy.exists() else path

    def load_checkpoint(self, which: str = "last", map_location="cpu") -> dict:
        """A checkpoint's state dict (tensors and plain values only: ``weights_only=True``)."""
        path = self.checkpoint_path(which)
        if not path.exists():
            raise FileNotFoundError(f"{self.name} has no checkpoint to load ({path.name} is missing)")
        return torch.load(path, map_location=map_location, weights_only=True)

    def write_config(self, config: RunConfig) -> None:
        """Replace config.json (e.g. a resumed run extended to more epochs)."""
        _write_json(self.path / "config.json", config.to_dict())

    def keep_metrics_through(self, epoch: int) -> None:
        """Drop metrics rows after ``epoch`` (and a half-written last line), atomically.

        A run killed after writing an epoch's row but before its checkpoint is resumed from the
        checkpoint's epoch; the row is written again, so the file never holds an epoch twice.
        """
        rows = [row for row in self.metrics() if row.get("epoch", 0) <= epoch]
        text = "".join(json.dumps(row) + "\n" for row in rows)
        _atomic_write(self.path / "metrics.jsonl", lambda tmp: Path(tmp).write_text(text))

    def save_test_summary(self, summary: dict) -> None:
        _write_json(self.path / "test_summary.json", summary)

    def test_summary(self) -> dict | None:
        """The final test pass (core.evaluation.test_summary layout), or None before the run finished."""
        try:
            return json.loads((self.path / "test_summary.json").read_text())
        except (OSError, ValueError):
            return None


class Heartbeat:
    """A daemon thread that rewrites a run's heartbeat.json every ``interval_s`` until ``stop()``."""

    def __init__(self, run: RunDir, interval_s: float = HEARTBEAT_INTERVAL_S):
        self.run, self.interval_s = run, interval_s
        self._stopped = threading.Event()
        self.since = time.time()
        run.write_heartbeat(self.since)  # proof of life before the first interval
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run.name}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stopped.wait(self.interval_s):
            try:
                self.run.write_heartbeat(self.since)
            except OSError:  # a full or vanished disk must not kill the training; state() will say so
                pass

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot) on Linux, else None; with the pid it
    identifies a process even when pids are reused (a restarted container's server has the same pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the command name before ")" may contain spaces


def _process_identity() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": _process_start(os.getpid())}


def _process_alive(record: dict) -> bool:
    """Whether the process a status/heartbeat names still exists. On another host we cannot tell: True."""
    if record.get("host") != socket.gethostname():
        return True
    pid = record.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    started = record.get("started")
    return started is None or _process_start(pid) in (None, started)


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
