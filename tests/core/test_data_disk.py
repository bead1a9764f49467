"""Datasets read from disk (CIFAR-100, ImageFolder, FGVC-Aircraft), on tiny generated fixtures."""
import os
import pickle

import numpy as np
import pytest
import torch
from fixtures_data import (FGVC_TREE, write_cifar100, write_fashion_idx, write_fgvc, write_image_tree,
                           write_malicious_pickle)

from core import DataConfig, HierarchyError
from core.data import DATASETS, DatasetNotFound, dataset_locations, load_dataset
from core.safe_pickle import UnsafePickleError


def _sizes(data):
    return {name: data.split_size(name) for name in ("train", "val", "test")}


# ----------------------------------------------------------------------------- CIFAR-100
@pytest.fixture(params=[True, False], ids=["python2-pickles", "python3-pickles"])
def cifar_root(tmp_path, request):
    write_cifar100(tmp_path, train_per_class=10, test_per_class=2, python2=request.param)
    return tmp_path


def test_cifar100_split_labels_and_bundled_tree(cifar_root):
    data = load_dataset(DataConfig(name="cifar100", root=str(cifar_root)))
    assert _sizes(data) == {"train": 900, "val": 100, "test": 200}  # last 10 % of each class → val
    assert data.hierarchy.leaves[:3] == ["apple", "aquarium_fish", "baby"] and data.hierarchy.height == 2
    assert (data.channels, data.image_size, data.augment) == (3, 32, "pad_crop_flip")
    for split in ("train", "val", "test"):  # the fixture writes each image's label into its first row
        part = data.splits[split]
        assert torch.equal(part.images[:, 0, 0, 0].long(), part.labels)
    assert torch.equal(torch.bincount(data.labels("val")), torch.ones(100, dtype=torch.int64))


def test_cifar100_is_not_resized(cifar_root):
    with pytest.raises(ValueError, match="32×32"):
        load_dataset(DataConfig(name="cifar100", root=str(cifar_root), image_size=224))


def test_cifar100_val_is_the_last_images_of_each_class_in_file_order(cifar_root):
    from core.data.cifar100 import read_batch

    images, labels = read_batch(cifar_root / "cifar-100-python" / "train", 100)
    data = load_dataset(DataConfig(name="cifar100", root=str(cifar_root)))
    last = [int(np.flatnonzero(labels.numpy() == k)[-1]) for k in range(100)]
    assert torch.equal(data.splits["val"].images, images[sorted(last)])


def test_cifar100_with_the_papers_five_level_tree(cifar_root, reference):
    path = reference / "hierarchies" / "cifar100_l5.json"
    data = load_dataset(DataConfig(name="cifar100", root=str(cifar_root), hierarchy=str(path)))
    h = data.hierarchy
    assert h.leaves == [f"L5-{i}" for i in range(100)] and h.height == 5
    assert h.display(h.leaves[1]) == "aquarium_fish"  # L5-i is fine label i
    expected = np.load(reference / "hierarchies" / "cifar100_l5_distances.npz")["distances"]
    assert np.array_equal(h.distance_matrix(), expected)


def test_cifar100_hierarchy_that_misses_a_class_is_named(cifar_root, tmp_path):
    import json

    from core import Hierarchy, load_bundled

    h = load_bundled("cifar100")
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(Hierarchy.from_edges([(p, c) for p, c in h.edges() if c != "worm"]).to_dict()))
    with pytest.raises(HierarchyError, match="worm"):
        load_dataset(DataConfig(name="cifar100", root=str(cifar_root), hierarchy=str(partial)))


def test_a_malicious_cifar_pickle_never_runs(cifar_root, tmp_path):
    marker = tmp_path / "ran.txt"
    write_malicious_pickle(cifar_root / "cifar-100-python" / "train", marker)
    with pytest.raises(UnsafePickleError, match="exec"):
        load_dataset(DataConfig(name="cifar100", root=str(cifar_root)))
    assert not marker.exists()
    pickle.loads((cifar_root / "cifar-100-python" / "train").read_bytes())  # the fixture really is armed
    assert marker.exists()


def test_cifar100_download_only_when_asked(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    calls = []

    def fake_download(url, root, md5=None, **kwargs):
        calls.append(url)
        write_cifar100(root, train_per_class=10, test_per_class=1)

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", fake_download)
    with pytest.raises(DatasetNotFound):
        load_dataset(DataConfig(name="cifar100", root=str(tmp_path)))
    assert calls == []
    data = load_dataset(DataConfig(name="cifar100", root=str(tmp_path), download=True))
    assert len(calls) == 1 and data.split_size("test") == 100


@pytest.mark.parametrize("name, cls, write", [
    ("fgvc_aircraft", "FGVCAircraft", lambda root: write_fgvc(root)),
    ("fashion_mnist", "FashionMNIST", lambda root: write_fashion_idx(root / "FashionMNIST" / "raw")),
])
def test_torchvision_downloads_only_when_asked(tmp_path, monkeypatch, name, cls, write):
    import torchvision.datasets

    calls, real = [], getattr(torchvision.datasets, cls)

    def fake_dataset(root, *args, download=False, **kwargs):
        if not download:  # reading a present copy: the real loader
            return real(root, *args, **kwargs)
        calls.append(download)
        write(tmp_path)

    monkeypatch.setattr(torchvision.datasets, cls, fake_dataset)
    config = dict(name=name, root=str(tmp_path), image_size=8, workers=0)
    with pytest.raises(DatasetNotFound):
        load_dataset(DataConfig(**config))
    assert calls == []
    data = load_dataset(DataConfig(**config, download=True))
    assert calls == [True] and data.split_size("test") > 0


def test_fashion_mnist_from_a_local_folder(tmp_path):
    write_fashion_idx(tmp_path / "fashion-mnist", train_per_class=10, test_per_class=3)
    data = load_dataset(DataConfig(name="fashion_mnist", root=str(tmp_path)))
    assert _sizes(data) == {"train": 90, "val": 10, "test": 30}
    part = data.splits["train"]
    assert torch.equal(part.images[:, 0, 0, 0].long(), part.labels) and data.hierarchy.leaves[9] == "Ankle boot"


# ----------------------------------------------------------------------------- missing datasets
@pytest.mark.parametrize("name, expected", [
    ("cifar100", "cifar-100-python/{train,test,meta}"),
    ("fgvc_aircraft", "fgvc-aircraft-2013b/data"),
    ("fashion_mnist", "idx files"),
    ("imagefolder", "does not exist"),
])
def test_a_missing_dataset_is_one_clear_message(tmp_path, name, expected):
    where = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFound) as caught:
        load_dataset(DataConfig(name=name, root=str(where)))
    message = str(caught.value)
    assert expected in message and str(where) in message and "\n" not in message
    if name != "imagefolder":
        assert "--download" in message
    assert not where.exists()  # nothing was created, let alone downloaded


def test_locations_default_to_the_data_folder(monkeypatch, tmp_path):
    from core.data import DATA_DIR

    monkeypatch.delenv("HAFRAME_DATA", raising=False)
    assert dataset_locations(DataConfig(name="cifar100")) == [str(DATA_DIR)]
    monkeypatch.setenv("HAFRAME_DATA", str(tmp_path))
    assert dataset_locations(DataConfig(name="fgvc_aircraft")) == [str(tmp_path), str(DATA_DIR)]
    assert dataset_locations(DataConfig()) == []  # generated


def test_registry_lists_every_dataset_and_fills_its_default_hierarchy():
    assert DATASETS.names() == ["synthetic", "fashion_mnist", "cifar100", "imagefolder", "fgvc_aircraft"]
    assert DataConfig(name="cifar100").hierarchy == "cifar100"
    assert DataConfig(name="imagefolder").hierarchy == "folders"
    assert DataConfig().hierarchy == "synthetic"


# ----------------------------------------------------------------------------- ImageFolder
def _folder_config(root, **kw):
    return DataConfig(name="imagefolder", root=str(root), image_size=8, workers=0, **kw)


def test_imagefolder_nesting_is_the_hierarchy(tmp_path):
    write_image_tree(tmp_path, {"animals/cat": 5, "animals/dog": 5, "vehicles/car": 5,
                                "vehicles/boats/sail": 5, "vehicles/boats/motor": 5})
    data = load_dataset(_folder_config(tmp_path))
    h = data.hierarchy
    assert h.leaves == ["cat", "dog", "motor", "sail", "car"] and h.height == 3
    d = h.distance_matrix()
    assert (d[0, 1], d[2, 3], d[2, 4], d[0, 4]) == (2, 1, 2, 3)  # d = H − depth(LCA): animals, boats, vehicles, root
    assert _sizes(data) == {"train": 15, "val": 5, "test": 5}  # seeded stratified: 1 + 1 of each 5 held out
    labels = torch.cat([data.labels(s) for s in ("train", "val", "test")])
    assert torch.equal(torch.bincount(labels), torch.full((5,), 5))


def test_a_folder_with_images_and_class_folders_is_a_class_too(tmp_path):
    write_image_tree(tmp_path, {"birds": 3, "birds/owl": 3, "fish": 3})
    h = load_dataset(_folder_config(tmp_path)).hierarchy
    assert sorted(h.leaves) == ["birds (own images)", "fish", "owl"]
    assert h.ancestors("owl")[-2:] == ["birds", "owl"] and h.ancestors("birds (own images)")[-2] == "birds"


def test_imagefolder_with_a_hierarchy_file(tmp_path):
    tree = tmp_path / "tree.json"
    tree.write_text('{"tree": {"name": "all", "children": [{"name": "pets", "children": [{"name": "cat"}, '
                    '{"name": "dog"}]}, {"name": "car"}]}}')
    write_image_tree(tmp_path / "images", {"dog": 4, "cat": 4, "car": 4})
    data = load_dataset(_folder_config(tmp_path / "images", hierarchy=str(tree)))
    assert data.hierarchy.leaves == ["car", "cat", "dog"]  # folder order; the tree adopts it
    assert data.hierarchy.distance_matrix()[1, 2] == 1
    write_image_tree(tmp_path / "images", {"horse": 4})
    with pytest.raises(HierarchyError, match="horse"):
        load_dataset(_folder_config(tmp_path / "images", hierarchy=str(tree)))


@pytest.mark.parametrize("layout, sizes", [
    (("train", "val", "test"), {"train": 8, "val": 4, "test": 6}),
    (("train", "val"), {"train": 8, "val": 4, "test": 4}),  # test = val/
    (("train", "test"), {"train": 6, "val": 2, "test": 6}),  # val carved from train/
])
def test_imagefolder_splits_as_laid_out(tmp_path, layout, sizes):
    counts = {"train": 4, "val": 2, "test": 3}
    for split in layout:
        write_image_tree(tmp_path / split, {"a": counts[split], "b": counts[split]})
    data = load_dataset(_folder_config(tmp_path))
    assert _sizes(data) == sizes and data.hierarchy.leaves == ["a", "b"]
    assert torch.equal(data.labels("test").bincount(), torch.full((2,), sizes["test"] // 2))


def test_imagefolder_val_class_unknown_to_train_is_named(tmp_path):
    write_image_tree(tmp_path / "train", {"a": 2, "b": 2})
    write_image_tree(tmp_path / "val", {"a": 1, "zebra": 1})
    with pytest.raises(ValueError, match="zebra"):
        load_dataset(_folder_config(tmp_path))


def test_imagefolder_never_reads_outside_its_root(tmp_path):
    outside = tmp_path / "outside"
    write_image_tree(outside, {"secret": 3})
    root = tmp_path / "root"
    write_image_tree(root, {"a": 3, "b": 3})
    os.symlink(outside / "secret", root / "linked_dir")  # a folder link: not followed
    os.symlink(outside / "secret" / "img000.png", root / "a" / "linked.png")  # a file link out: ignored
    data = load_dataset(_folder_config(root))
    files = [f for s in data.splits.values() for f in s.files]
    assert data.hierarchy.leaves == ["a", "b"] and len(files) == 6
    assert all(os.path.realpath(f).startswith(str(root.resolve())) for f in files)


def test_imagefolder_batches_from_files(tmp_path):
    write_image_tree(tmp_path, {"a": 4, "b": 4}, size=12)
    data = load_dataset(_folder_config(tmp_path, normalisation="none"))
    images, labels = next(data.batches("train", 4, "cpu", torch.Generator().manual_seed(0), train=True))
    assert images.shape == (4, 3, 8, 8) and images.dtype == torch.float32 and 0 <= images.min() <= images.max() <= 1
    assert "DataLoader" in data.describe_pipeline("cpu")


def test_imagefolder_small_images_are_not_upsampled_by_default(tmp_path):
    write_image_tree(tmp_path, {"a": 3, "b": 3}, size=12)
    assert load_dataset(DataConfig(name="imagefolder", root=str(tmp_path))).image_size == 12
    assert load_dataset(DataConfig(name="imagefolder", root=str(tmp_path), image_size=20)).image_size == 20


def test_imagefolder_without_a_root_says_how(tmp_path):
    with pytest.raises(DatasetNotFound, match="--root"):
        load_dataset(DataConfig(name="imagefolder"))


# ----------------------------------------------------------------------------- FGVC-Aircraft
@pytest.fixture
def fgvc_root(tmp_path):
    variants = write_fgvc(tmp_path)
    return tmp_path, variants


def test_fgvc_tree_from_its_annotation_files(fgvc_root):
    root, variants = fgvc_root
    data = load_dataset(DataConfig(name="fgvc_aircraft", root=str(root), image_size=16, workers=0))
    h = data.hierarchy
    assert h.leaves == ["v-" + v.replace("/", "-slash-") for v in variants] and h.height == 3
    assert h.ancestors("v-737-200")[1:] == ["m-Boeing", "f-Boeing 737", "v-737-200"]
    assert h.display("v-F-16A-slash-B") == "F-16A/B"
    assert h.level_counts()[1:] == [len(FGVC_TREE), 4, len(variants)]
    assert _sizes(data) == {s: 2 * len(variants) for s in ("train", "val", "test")}
    assert (data.augment, data.image_size) == ("resize_crop_flip", 16)


def test_fgvc_images_lose_their_banner(fgvc_root):
    from core.data.fgvc_aircraft import read_without_banner

    root, _ = fgvc_root
    data = load_dataset(DataConfig(name="fgvc_aircraft", root=str(root), image_size=16, workers=0))
    image = read_without_banner(data.splits["train"].files[0])
    assert image.size == (40, 24) and np.asarray(image).max() < 40  # the white banner rows are gone
    images, _ = next(data.batches("test", 4, "cpu"))
    assert images.shape == (4, 3, 16, 16)


def test_fgvc_matches_a_hierarchy_file_by_the_papers_names(fgvc_root, tmp_path):
    root, variants = fgvc_root
    leaves = sorted("v-" + v.replace("/", "-slash-") for v in variants)
    tree = tmp_path / "tree.json"
    children = ", ".join(f'{{"name": "{leaf}"}}' for leaf in leaves)
    tree.write_text(f'{{"tree": {{"name": "unknown", "children": [{children}]}}}}')
    data = load_dataset(DataConfig(name="fgvc_aircraft", root=str(root), hierarchy=str(tree), workers=0))
    assert data.hierarchy.leaves == ["v-" + v.replace("/", "-slash-") for v in variants]  # label order


def test_fgvc_annotation_cannot_point_outside_the_images(fgvc_root):
    root, _ = fgvc_root
    listing = root / "fgvc-aircraft-2013b" / "data" / "images_variant_test.txt"
    listing.write_text("../../../../etc/passwd 737-200\n" + listing.read_text())
    with pytest.raises(ValueError, match="outside"):
        load_dataset(DataConfig(name="fgvc_aircraft", root=str(root), workers=0))


def test_file_datasets_never_unpickle(fgvc_root, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a loader unpickled something")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    root, _ = fgvc_root
    data = load_dataset(DataConfig(name="fgvc_aircraft", root=str(root), image_size=8, workers=0))
    next(data.batches("train", 2, "cpu", train=True))
    write_image_tree(tmp_path / "images", {"a": 3, "b": 3})
    next(load_dataset(_folder_config(tmp_path / "images")).batches("train", 2, "cpu", train=True))
