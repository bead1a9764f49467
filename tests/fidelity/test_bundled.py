"""The hierarchies shipped in assets/hierarchies: structure and agreement with public metadata."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from core.formats import bundled_hierarchies, load_bundled
from core.frames import haframe

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "reference"

# torchvision.datasets.FashionMNIST.classes (label order)
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR100_COARSE = ["aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
                   "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
                   "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
                   "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
                   "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2"]


def test_bundled_names():
    assert {"cifar100", "fashion_mnist", "synthetic"} <= set(bundled_hierarchies())


@pytest.mark.parametrize("name", ["cifar100", "fashion_mnist", "synthetic"])
def test_bundled_loads_and_builds_a_frame(name):
    hier = load_bundled(name)
    dist = hier.distance_matrix()
    assert dist.shape == (hier.num_classes, hier.num_classes)
    assert (dist[~np.eye(len(dist), dtype=bool)] >= 1).all()
    fr = haframe(dist, gamma=2.0, min_similarity="grid")
    np.testing.assert_allclose(fr.weights @ fr.weights.T, fr.target, atol=1e-10)
    # every leaf sits at depth H, so distance = LCA height
    np.testing.assert_array_equal(dist, hier.distance_matrix("height"))


def test_fashion_mnist():
    hier = load_bundled("fashion_mnist")
    assert hier.leaves == FASHION_MNIST_CLASSES
    assert hier.height == 3
    assert (hier.depths[hier.leaf_ids] == 3).all()
    # sanity of the grouping: footwear together, tops together
    footwear = {FASHION_MNIST_CLASSES.index(c) for c in ("Sandal", "Sneaker", "Ankle boot")}
    tops = {FASHION_MNIST_CLASSES.index(c) for c in ("T-shirt/top", "Pullover", "Coat", "Shirt")}
    dist = hier.distance_matrix()
    assert max(dist[i, j] for i in footwear for j in footwear) <= 2
    assert max(dist[i, j] for i in tops for j in tops) == 1
    assert min(dist[i, j] for i in tops for j in footwear) == 3


def test_fashion_mnist_matches_torchvision():
    import torchvision as tv

    assert load_bundled("fashion_mnist").leaves == list(tv.datasets.FashionMNIST.classes)


def test_synthetic():
    hier = load_bundled("synthetic")
    assert hier.num_classes == 12
    assert hier.height == 3
    assert hier.level_counts() == [1, 3, 6, 12]
    np.testing.assert_array_equal(hier.tree_order(), np.arange(12))  # leaf order = tree order
    assert all(0 < len(c) <= 20 for c in hier.leaves)


def test_cifar100_structure():
    hier = load_bundled("cifar100")
    assert hier.num_classes == 100 and hier.height == 2
    assert hier.leaves == sorted(hier.leaves)  # torchvision fine labels are alphabetical
    assert hier.leaves[0] == "apple" and hier.leaves[-1] == "worm"
    coarse = hier.ancestor_at(1)
    assert sorted(set(coarse)) == CIFAR100_COARSE
    assert all(coarse.count(c) == 5 for c in CIFAR100_COARSE)
    assert hier.names[0] == "cifar100"


def test_cifar100_matches_reference_display_names():
    """Fine names and the 100 → 20 fine → coarse mapping agree with the reference tree's L5/L4 labels."""
    ref = json.loads((SHARED / "hierarchies" / "cifar100_l5.json").read_text())
    fine_to_coarse: dict[str, str] = {}
    stack = [(ref["tree"], None)]
    while stack:
        node, coarse = stack.pop()
        if node["name"].startswith("L4-"):
            coarse = node["display_name"]
        if node["name"].startswith("L5-"):
            fine_to_coarse[node["display_name"]] = coarse
        stack.extend((kid, coarse) for kid in node.get("children", []))
    ref_fine = [ref["display_names"][i] for i in range(100)]

    hier = load_bundled("cifar100")
    assert hier.leaves == ref_fine
    assert dict(zip(hier.leaves, hier.ancestor_at(1))) == fine_to_coarse

    # same partition into superclasses as the reference's level-4 nodes
    groups = defaultdict(set)
    for fine, coarse in fine_to_coarse.items():
        groups[coarse].add(fine)
    assert len(groups) == 20 and all(len(g) == 5 for g in groups.values())
