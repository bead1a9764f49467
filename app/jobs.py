"""Background training jobs shared by every session (held in ``st.cache_resource``).

The training thread never touches Streamlit: the registry is just another Trainer listener that
keeps the latest event per run; pages poll it from ``st.fragment(run_every=...)``.
"""
from __future__ import annotations

import threading
from pathlib import Path

from core import RunConfig, TrainEvent, Trainer


class JobRegistry:
    """Starts, stops and reports on Trainer threads by run name."""

    def __init__(self, root: Path):
        self.root = root
        self._lock = threading.Lock()
        self._trainers: dict[str, Trainer] = {}
        self._latest: dict[str, TrainEvent] = {}

    def start(self, config: RunConfig) -> str:
        """Create the run directory, start its thread and return the run name."""
        trainer = Trainer(config, root=self.root, callbacks=[self._record])
        with self._lock:
            self._trainers[trainer.run_dir.name] = trainer
        trainer.start()
        return trainer.run_dir.name

    def stop(self, run: str) -> None:
        with self._lock:
            trainer = self._trainers.get(run)
        if trainer is not None:
            trainer.stop()

    def is_running(self, run: str) -> bool:
        with self._lock:
            trainer = self._trainers.get(run)
        return trainer is not None and trainer.running

    def latest(self, run: str) -> TrainEvent | None:
        with self._lock:
            return self._latest.get(run)

    def _record(self, event: TrainEvent) -> None:
        with self._lock:
            self._latest[event.run] = event
            if event.kind == "end":  # let the finished trainer (data, model, optimiser) be freed
                self._trainers.pop(event.run, None)
