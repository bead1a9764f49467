"""Input pipelines: device-resident batches with vectorised augmentation, DataLoader batches, the choice."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core import DataConfig
from core.config import ConfigError
from core.data import augment, load_dataset
from core.data.pipeline import DevicePipeline, LoaderPipeline, choose


def _synthetic(**kw):
    return load_dataset(DataConfig(train_per_class=6, test_per_class=2, image_size=8, **kw))


def _epoch(data, seed, split="train", batch_size=5, **kw):
    gen = torch.Generator().manual_seed(seed)
    return [(x.clone(), y.clone()) for x, y in data.batches(split, batch_size, "cpu", gen, train=True, **kw)]


def test_device_augmentation_equals_reflect_pad_crop_flip():
    images = torch.randint(0, 256, (64, 3, 7, 9), dtype=torch.uint8)
    params = augment.draw("pad_crop_flip", 64, torch.Generator().manual_seed(0))
    out = augment.apply(images, params)
    padded = F.pad(images.float(), (4, 4, 4, 4), mode="reflect")
    for i, ((oy, ox), flip) in enumerate(zip(params.offsets.tolist(), params.flips.tolist())):
        crop = padded[i, :, oy:oy + 7, ox:ox + 9]
        assert torch.equal(out[i].float(), crop.flip(-1) if flip else crop)


def test_crop_offsets_cover_zero_to_eight_and_flips_half():
    params = augment.draw("pad_crop_flip", 20000, torch.Generator().manual_seed(1))
    assert params.offsets.unique().tolist() == list(range(9))  # the reference never draws 8 (METHOD.md §12)
    assert 0.45 < params.flips.float().mean() < 0.55


def test_augmented_epochs_are_reproducible_by_generator():
    data = _synthetic(augment="pad_crop_flip")
    first, again, other = _epoch(data, 7), _epoch(data, 7), _epoch(data, 8)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other))
    assert sorted(torch.cat([y for _, y in first]).tolist()) == sorted(data.labels("train").tolist())


def test_evaluation_batches_are_plain_normalised_images_in_order():
    data = _synthetic(normalisation="none", augment="pad_crop_flip")
    batches = list(data.batches("test", 5, "cpu"))
    images = torch.cat([x for x, _ in batches])
    assert torch.allclose(images, data.test_images.float() / 255, atol=1e-6, rtol=0)
    assert torch.equal(torch.cat([y for _, y in batches]), data.test_labels)
    assert [len(y) for _, y in batches] == [5] * 4 + [4]


def test_normalisation_uses_the_datasets_constants():
    data = _synthetic()
    images, _ = next(data.batches("test", 24, "cpu"))
    expected = (data.test_images[:24].float() / 255 - 0.5) / 0.3
    assert torch.allclose(images, expected, atol=1e-5)
    with pytest.raises(ValueError, match="colour"):
        load_dataset(DataConfig(name="fashion_mnist", normalisation="imagenet", limit_train=10))


def test_drop_last_indices_and_subset():
    data = _synthetic()
    assert sum(len(y) for _, y in data.batches("train", 5, "cpu", drop_last=True)) == 70  # 72 → 14 batches
    assert data.num_batches("train", 5, drop_last=True) == 14 and data.num_batches("train", 5) == 15
    probe = data.balanced_indices("train", 24, seed=0)
    assert np.bincount(data.labels("train").numpy()[probe]).tolist() == [2] * 12
    labels = torch.cat([y for _, y in data.batches("train", 7, "cpu", indices=probe)])
    assert torch.equal(labels, data.labels("train")[probe])
    sub = data.subset("train", probe, "probe")
    assert sub.split_size("probe") == 24 and sub.split_size("train") == 72
    assert torch.equal(torch.cat([y for _, y in sub.batches("probe", 7, "cpu")]), labels)
    assert sub.pipeline("cpu") is data.pipeline("cpu")  # device copies are shared


def test_limit_train_is_explicit_and_class_balanced():
    data = _synthetic(limit_train=24)
    assert data.split_size("train") == 24 and data.labels("train").bincount().tolist() == [2] * 12
    assert data.split_size("test") == 24  # only the training split is limited


def test_pipeline_choice_is_automatic_and_printed(monkeypatch):
    data = _synthetic(augment="pad_crop_flip")
    assert isinstance(data.pipeline("cpu"), DevicePipeline)
    assert "uint8" in data.describe_pipeline("cpu") and "pad_crop_flip" in data.describe_pipeline("cpu")
    assert choose(_synthetic(augment="random_resized_crop_flip"), torch.device("cpu"))[0] == "loader"
    assert isinstance(_synthetic(pipeline="loader").pipeline("cpu"), LoaderPipeline)
    import core.data.pipeline as pipeline

    monkeypatch.setattr(pipeline, "_free_memory", lambda device: 10**12)
    assert choose(data, torch.device("cuda"))[0] == "device"
    monkeypatch.setattr(pipeline, "_free_memory", lambda device: 1000)  # the images would not fit
    mode, why = choose(data, torch.device("cuda"))
    assert mode == "loader" and "exceed" in why


def test_loader_pipeline_is_reproducible_whatever_the_workers():
    data = _synthetic(pipeline="loader", augment="pad_crop_flip", workers=0)
    in_process = _epoch(data, 3)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(in_process, _epoch(data, 3)))
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(in_process, _epoch(data, 4)))
    with_workers = _epoch(load_dataset(DataConfig(train_per_class=6, test_per_class=2, image_size=8,
                                                  pipeline="loader", augment="pad_crop_flip", workers=2)), 3)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(in_process, with_workers))


def test_device_pipeline_cannot_be_forced_on_transforms_it_lacks():
    with pytest.raises(ValueError, match="cannot run on the device"):
        _synthetic(pipeline="device", augment="random_resized_crop_flip").pipeline("cpu")


def test_data_config_rejects_unknown_choices():
    with pytest.raises(ConfigError, match="data.augment"):
        DataConfig(augment="mixup")
    with pytest.raises(ConfigError, match="data.name"):
        DataConfig(name="imagenet")
    with pytest.raises(ConfigError, match="val_fraction"):
        DataConfig(val_fraction=0.0)


@pytest.mark.parametrize("pipeline", ["device", "loader"])
def test_shards_of_a_global_batch_add_up_to_it(pipeline):
    data = _synthetic(pipeline=pipeline, augment="pad_crop_flip", workers=0)
    whole = _epoch(data, 5, batch_size=8, drop_last=True)
    ranks = [_epoch(data, 5, batch_size=8, drop_last=True, shard=(rank, 2)) for rank in range(2)]
    assert len(whole) == len(ranks[0]) == len(ranks[1]) == 9
    for (x, y), (x0, y0), (x1, y1) in zip(whole, *ranks):
        assert torch.equal(torch.cat([x0, x1]), x) and torch.equal(torch.cat([y0, y1]), y) and len(y0) == 4


def test_zero_padded_crop_equals_torchvisions_random_crop_with_padding():
    images = torch.randint(1, 256, (32, 3, 6, 5), dtype=torch.uint8)
    params = augment.draw("resize_crop_flip", 32, torch.Generator().manual_seed(2))
    out = augment.apply(images, params, "zeros")
    padded = F.pad(images, (4, 4, 4, 4))
    for i, ((oy, ox), flip) in enumerate(zip(params.offsets.tolist(), params.flips.tolist())):
        crop = padded[i, :, oy:oy + 6, ox:ox + 5]
        assert torch.equal(out[i], crop.flip(-1) if flip else crop)


def test_files_that_fit_are_decoded_once_and_held(tmp_path):
    from fixtures_data import write_fgvc

    write_fgvc(tmp_path)
    config = dict(name="fgvc_aircraft", root=str(tmp_path), image_size=16, workers=0)
    held = load_dataset(DataConfig(**config))
    streamed = load_dataset(DataConfig(**config, pipeline="loader"))
    assert isinstance(held.pipeline("cpu"), DevicePipeline) and "decoded once" in held.describe_pipeline("cpu")
    assert isinstance(streamed.pipeline("cpu"), LoaderPipeline)
    for (a, ya), (b, yb) in zip(held.batches("val", 5, "cpu"), streamed.batches("val", 5, "cpu")):
        assert torch.equal(a, b) and torch.equal(ya, yb)
    assert _epoch(held, 1)[0][0].shape == (5, 3, 16, 16)


def test_cifar_rule_holds_out_the_last_50_of_500_per_class():
    from core.data.splits import last_per_class, stratified_split

    labels = np.random.default_rng(0).permutation(np.repeat(np.arange(100), 500))
    kept, held = last_per_class(labels, 0.1)
    assert (len(kept), len(held)) == (45000, 5000) and np.bincount(labels[held]).tolist() == [50] * 100
    for k in (0, 57, 99):
        assert np.array_equal(held[labels[held] == k], np.flatnonzero(labels == k)[-50:])
    parts = stratified_split(labels, (0.1, 0.1), seed=3)
    assert [len(p) for p in parts] == [40000, 5000, 5000]
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(50000))
