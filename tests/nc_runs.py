"""Run directories written straight to disk for the Collapse/Mistakes/Compare tests (no training):
features that collapse onto a random frame over the epochs, evaluated with the real metrics code."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core import DataConfig, FrameConfig, OptimConfig, RunConfig, RunDir, load_bundled, load_hierarchy
from core import metrics

INAT19 = Path(__file__).resolve().parents[2] / "shared" / "reference" / "hierarchies" / "inaturalist19.json"


def write_run(root: Path, name: str, hierarchy: str = "synthetic", epochs: int = 3, per_class: int = 4,
              head: str = "haframe", seed: int = 0, gamma: float = 2.0, dim: int = 16) -> RunDir:
    """A finished run with ``epochs`` + 1 evaluations of ``per_class`` images per class (test-only data)."""
    tree = load_bundled(hierarchy) if not hierarchy.endswith(".json") else load_hierarchy(hierarchy)
    config = RunConfig(data=DataConfig(hierarchy=hierarchy), frame=FrameConfig(head=head, gamma=gamma),
                       optim=OptimConfig(epochs=epochs), seed=seed, device="cpu")
    run = RunDir.create(root, config, name=name)
    run.save_hierarchy(tree)
    rng = np.random.default_rng(seed)
    k = tree.num_classes
    weights = rng.standard_normal((k, dim))
    weights /= np.linalg.norm(weights, axis=1, keepdims=True)
    target = metrics.cosine_matrix(weights)
    run.save_frame(target, weights if head != "learnable" else None)
    distances = tree.distance_matrix()
    labels = np.repeat(np.arange(k), per_class)
    for epoch in range(epochs + 1):
        noise = 1.5 / (1 + epoch)
        features = 2.0 * weights[labels] + noise * rng.standard_normal((len(labels), dim))
        logits = torch.as_tensor(features @ weights.T)
        row = {"epoch": epoch, "seconds": 0.1, "train_loss": 2.0 / (1 + epoch) + 0.05 * seed,
               **metrics.hierarchical_metrics(logits, labels, distances, ks=(1, 5, 20))}
        row.update(metrics.collapse_statistics(features, labels, weights, target, target, k, predictions=logits))
        row.update({f"{key}@train": value for key, value in metrics.collapse_statistics(
            features, labels, weights, target, target, k).items()})
        run.append_metrics({key: (None if isinstance(v, float) and np.isnan(v) else v) for key, v in row.items()})
        run.save_snapshot(epoch, features=features.astype(np.float32), labels=labels,
                          predictions=logits.argmax(1).numpy(),
                          class_means=metrics.class_means(features, labels, k).astype(np.float32),
                          classifier=weights.astype(np.float32), **metrics.epoch_arrays(logits, labels, distances))
    run.write_status("finished", epoch=epochs, epochs=epochs)
    return run
