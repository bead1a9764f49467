"""Datasets and the input pipeline.

``load_dataset(cfg)`` returns a :class:`Dataset` (hierarchy, ``train``/``val``/``test`` splits,
normalisation, augmentation) whose ``batches(split, batch_size, device, generator, train)`` yields
normalised batches on the device. Datasets are a registry (``DATASETS``: name → loader and the
hierarchy it uses by default); the CLI's choices and the Train page's menu come from it.

Modules: dataset (the Dataset type, registry), splits (validation rules), locations (where data is
looked for; the missing-dataset message), augment (augmentations by name), pipeline (device-resident
vs DataLoader), and one module per dataset: synthetic, fashion_mnist, cifar100, imagefolder,
fgvc_aircraft.
"""
from __future__ import annotations

# Importing the dataset modules registers them; this order is the menus' order.
from core.data import synthetic, fashion_mnist, cifar100, imagefolder, fgvc_aircraft  # noqa: F401, I001
from core.data.augment import AUGMENTATIONS
from core.data.dataset import (DATASETS, NORMALISATIONS, ArraySplit, Dataset, DatasetSpec, FileSplit,
                               balanced_subset)
from core.data.fashion_mnist import FASHION_MNIST_CLASSES, FASHION_MNIST_DIRS, load_fashion_mnist
from core.data.locations import DATA_DIR, DatasetNotFound
from core.data.pipeline import choose as choose_pipeline
from core.data.synthetic import make_synthetic, synthetic_samples

__all__ = ["Dataset", "ArraySplit", "FileSplit", "DatasetSpec", "DATASETS", "AUGMENTATIONS", "NORMALISATIONS",
           "PIPELINES", "DatasetNotFound", "DATA_DIR", "load_dataset", "describe_pipeline", "choose_pipeline",
           "make_synthetic", "synthetic_samples", "load_fashion_mnist", "balanced_subset", "FASHION_MNIST_DIRS",
           "FASHION_MNIST_CLASSES", "dataset_locations"]

PIPELINES = {
    "auto": "device-resident when the decoded images fit and the augmentation runs there, else a DataLoader",
    "device": "uint8 images held on the device, augmented there in batches",
    "loader": "DataLoader with workers and pinned memory",
}


def load_dataset(cfg) -> Dataset:
    """Build the dataset a DataConfig names (hierarchy, splits, pipeline settings included)."""
    return DATASETS.get(cfg.name).load(cfg)


def describe_pipeline(data: Dataset, device="cpu") -> str:
    """How ``data``'s batches reach ``device`` (printed by the CLI, shown by the app)."""
    return data.describe_pipeline(device)


def dataset_locations(cfg) -> list[str]:
    """The folders ``cfg``'s dataset is looked for in (empty for generated data)."""
    return [str(p) for p in DATASETS.get(cfg.name).locations(cfg)]
