import numpy as np
import torch

from core import DataConfig, load_bundled
from core.data import FASHION_MNIST_DIRS, load_dataset, load_fashion_mnist, make_synthetic


def test_synthetic_is_deterministic_by_seed():
    h = load_bundled("synthetic")
    a = make_synthetic(h, 5, 3, image_size=16, seed=1)
    b = make_synthetic(h, 5, 3, image_size=16, seed=1)
    c = make_synthetic(h, 5, 3, image_size=16, seed=2)
    assert torch.equal(a.train_images, b.train_images) and not torch.equal(a.train_images, c.train_images)
    assert a.train_images.shape == (5 * 12, 3, 16, 16) and a.train_images.dtype == torch.uint8
    assert torch.equal(torch.bincount(a.test_labels), torch.full((12,), 3))


def test_synthetic_images_share_traits_along_the_tree():
    """Class-mean images of siblings are closer than those of classes that meet at the root."""
    h = load_bundled("synthetic")
    data = make_synthetic(h, 40, 1, image_size=16, noise=0.0)
    flat = data.train_images.reshape(len(data.train_labels), -1).double()
    means = torch.stack([flat[data.train_labels == k].mean(0) for k in range(12)]).numpy()
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)
    dist = h.distance_matrix()
    near = gaps[dist == 1].mean()
    far = gaps[dist == dist.max()].mean()
    assert near < 0.8 * far


def test_synthetic_works_for_any_hierarchy():
    data = load_dataset(DataConfig(hierarchy="cifar100", train_per_class=2, test_per_class=1, image_size=8))
    assert data.num_classes == 100 and len(data.train_labels) == 200


def test_fashion_mnist_from_debian_idx_files():
    assert any((d / "train-images-idx3-ubyte.gz").exists() for d in FASHION_MNIST_DIRS), \
        "install Debian's dataset-fashion-mnist (the README's test command does)"
    data = load_fashion_mnist()
    assert data.train_images.shape == (54000, 1, 28, 28) and data.test_images.shape == (10000, 1, 28, 28)
    assert torch.equal(torch.bincount(data.train_labels), torch.full((10,), 5400))
    assert torch.equal(torch.bincount(data.labels("val")), torch.full((10,), 600))  # last 10 % of each class
    assert data.hierarchy.leaves[0] == "T-shirt/top" and data.hierarchy.height == 3


def test_limit_train_is_class_balanced():
    data = load_dataset(DataConfig(name="fashion_mnist", hierarchy="fashion_mnist", limit_train=500))
    assert torch.equal(torch.bincount(data.train_labels), torch.full((10,), 50))


def test_fashion_mnist_takes_any_hierarchy_over_its_classes_in_label_order():
    import pytest

    from core import Hierarchy, HierarchyError
    from core.data import FASHION_MNIST_CLASSES

    shuffled = Hierarchy.from_edges([("all", c) for c in reversed(FASHION_MNIST_CLASSES)])
    data = load_fashion_mnist(shuffled)
    assert data.hierarchy.leaves == list(FASHION_MNIST_CLASSES)
    with pytest.raises(HierarchyError, match="not in the hierarchy.*'Bag'"):
        load_fashion_mnist(Hierarchy.from_edges([("all", c) for c in FASHION_MNIST_CLASSES if c != "Bag"]))


def test_balanced_subset():
    from core.data import balanced_subset

    labels = np.repeat(np.arange(4), [10, 10, 10, 3])
    keep = balanced_subset(labels, 12, seed=0)
    assert np.bincount(labels[keep]).tolist() == [3, 3, 3, 3]
    assert np.array_equal(keep, np.sort(keep)) and np.array_equal(keep, balanced_subset(labels, 12, seed=0))
    assert len(balanced_subset(labels, 0, 0)) == 0 and len(balanced_subset(labels, 100, 0)) == len(labels)


def test_synthetic_samples_are_the_datasets_training_images():
    from core.data import synthetic_samples

    h = load_bundled("synthetic")
    samples = synthetic_samples(h, per_class=3, seed=4, image_size=16)
    data = make_synthetic(h, 3, 1, image_size=16, seed=4)
    assert samples.shape == (12, 3, 16, 16, 3) and samples.dtype == np.uint8
    assert np.array_equal(samples[5, 2], data.train_images[5 * 3 + 2].permute(1, 2, 0).numpy())


def test_synthetic_validation_split_leaves_train_and_test_unchanged():
    small = load_dataset(DataConfig(train_per_class=10, test_per_class=2, image_size=8, val_fraction=0.1))
    large = load_dataset(DataConfig(train_per_class=10, test_per_class=2, image_size=8, val_fraction=0.5))
    assert torch.equal(small.train_images, large.train_images) and torch.equal(small.test_images, large.test_images)
    assert (small.split_size("val"), large.split_size("val")) == (12, 60)


def test_configs_saved_before_dataset_defaults_still_load():
    data = load_dataset(DataConfig(name="fashion_mnist", hierarchy="synthetic", limit_train=20))
    assert data.hierarchy.leaves[0] == "T-shirt/top"
