"""The engine around the loop: checkpoints, the test pass, resume through the API, per-run RNGs."""
import dataclasses
import json
import threading
import time

import pytest
import torch

from core import Trainer, schema
from core.build import build_config, build_run
from core.config import ConfigError
from core.evaluation import hdist_ks

VOLATILE = schema.TIMING_KEYS  # wall-clock fields differ between any two runs


def stable(rows):
    return [{k: v for k, v in row.items() if k not in VOLATILE} for row in rows]


def test_best_last_and_the_test_summary(tmp_path, tiny_config):
    run = Trainer(tiny_config, root=tmp_path, run_name="r").fit()
    rows = run.metrics()
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    k = run.hierarchy().num_classes
    assert hdist_ks(k) == (1, 5) and hdist_ks(20) == (1, 5, 20)
    for row in rows:
        assert {"top1", "val_top1", "hdist@1", "hdist@5", "frame_dev_mean@train", "nc1@train"} <= set(row)
        assert "hdist@20" not in row  # K = 12 < 20
    last, best = run.load_checkpoint("last"), run.load_checkpoint("best")
    assert last["epoch"] == 2 and set(last) >= {"model", "optimizer", "best", "config"}
    best_epoch = max(rows, key=lambda r: (r["val_top1"], -r["epoch"]))["epoch"]
    assert best["epoch"] == last["best"]["epoch"] == best_epoch and "optimizer" not in best
    summary = run.test_summary()
    assert summary["epoch"] == best_epoch and summary["selected_by"] == "validation top-1"
    assert summary["images"] == len(run.snapshot(0)["eval_labels"])
    model, crm = summary["rows"]["model"], summary["rows"]["crm"]
    assert set(model) == set(crm) == {"top1_error", "top1", "mistake_severity", "hdist@1", "hdist@5"}
    assert model["top1_error"] == pytest.approx(100 - model["top1"])
    if best_epoch == 2:  # the test pass used the same weights as the last evaluation
        assert model["top1"] == pytest.approx(rows[-1]["top1"])


def test_reference_quirks_drop_the_last_partial_batch(tmp_path, tiny_config):
    config = tiny_config.replace(evaluation=dataclasses.replace(tiny_config.evaluation, reference_quirks=True),
                                 optim=dataclasses.replace(tiny_config.optim, epochs=1),
                                 data=dataclasses.replace(tiny_config.data, test_per_class=30))
    run = Trainer(config, root=tmp_path).fit()
    assert run.test_summary()["images"] == 256  # 12 × 30 = 360 test images → one batch of 256


def test_resume_api_extends_a_finished_run(tmp_path, tiny_config):
    run = Trainer(tiny_config, root=tmp_path, run_name="r").fit()
    with pytest.raises(ValueError, match="finished all 2 epochs"):
        Trainer.resume(run.path)
    with pytest.raises(ValueError, match="at least 2"):
        Trainer.resume(run.path, epochs=1)
    events = []
    Trainer.resume(run.path, epochs=3, callbacks=[events.append]).fit()
    assert [r["epoch"] for r in run.metrics()] == [0, 1, 2, 3]
    assert run.config().optim.epochs == 3 and run.status()["state"] == "finished"
    assert [e.epoch for e in events if e.kind == "epoch"] == [3]
    assert run.load_checkpoint("last")["epoch"] == 3


def test_resume_before_the_first_checkpoint_starts_afresh_in_the_same_directory(tmp_path, tiny_config):
    solo = Trainer(tiny_config, root=tmp_path, run_name="solo").fit()
    trainer = Trainer(tiny_config, root=tmp_path, run_name="early")
    trainer._save_checkpoints = lambda epoch, row: (_ for _ in ()).throw(KeyboardInterrupt)  # dies after row 0
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert [r["epoch"] for r in trainer.run_dir.metrics()] == [0]
    Trainer.resume(trainer.run_dir.path).fit()
    assert stable(trainer.run_dir.metrics()) == stable(solo.metrics())


def test_resume_drops_a_row_its_checkpoint_does_not_cover(tmp_path, tiny_config):
    """A kill between an epoch's metrics row and its checkpoint: the row is trained and written again."""
    config = tiny_config.replace(optim=dataclasses.replace(tiny_config.optim, epochs=3))
    solo = Trainer(config, root=tmp_path, run_name="solo").fit()
    trainer = Trainer(config, root=tmp_path, run_name="cut")
    saved = trainer._save_checkpoints

    def die_before_checkpoint_2(epoch, row):
        if epoch == 2:
            raise KeyboardInterrupt  # the process "dies" with row 2 written and checkpoint 1 on disk
        saved(epoch, row)

    trainer._save_checkpoints = die_before_checkpoint_2
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert [r["epoch"] for r in trainer.run_dir.metrics()] == [0, 1, 2]
    Trainer.resume(trainer.run_dir.path).fit()
    rows = trainer.run_dir.metrics()
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
    assert stable(rows) == stable(solo.metrics())
    assert trainer.run_dir.test_summary() == solo.test_summary() | {"checkpoint": "checkpoint_best.pt"}


def test_concurrent_runs_with_one_seed_match_a_solo_run(tmp_path, tiny_config):
    """Each run draws from its own generators: two runs in threads, while the main thread keeps
    drawing from torch's global generator, give exactly the metrics of one run alone."""
    solo = stable(Trainer(tiny_config, root=tmp_path, run_name="solo").fit().metrics())
    trainers = [Trainer(tiny_config, root=tmp_path, run_name=f"twin{i}") for i in range(2)]
    threads = [threading.Thread(target=t.fit) for t in trainers]
    torch.manual_seed(123)
    replay = torch.Generator().manual_seed(123)
    for thread in threads:
        thread.start()
    global_draws_undisturbed = True
    while any(thread.is_alive() for thread in threads):
        global_draws_undisturbed &= torch.equal(torch.rand(100), torch.rand(100, generator=replay))
        time.sleep(0.002)
    assert global_draws_undisturbed  # the runs never touched the global generator
    assert all(t.run_dir.status()["state"] == "finished" for t in trainers)
    for t in trainers:
        assert stable(t.run_dir.metrics()) == solo


def test_own_generator_is_thread_local():
    from torch import nn

    from core.rng import own_generator

    def build():
        with own_generator(torch.Generator().manual_seed(0)):
            net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(4, 4))
            nn.init.trunc_normal_(net[1].weight)  # nn.init functions are overridable themselves
            net[0].weight.data.normal_(0, 0.1)  # as WRN's init does
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    reference = build()
    results = []
    worker = threading.Thread(target=lambda: results.extend(torch.equal(build(), reference) for _ in range(30)))
    torch.manual_seed(7)
    replay = torch.Generator().manual_seed(7)
    worker.start()
    undisturbed = True
    while worker.is_alive():
        undisturbed &= torch.equal(torch.randn(50), torch.randn(50, generator=replay))
    assert all(results) and len(results) == 30 and undisturbed


def test_build_run_gives_two_learning_rate_groups():
    config = build_config({"lr": 0.01, "head_lr": 0.1, "epochs": 4, "device": "cpu", "width": 4})
    parts = build_run(config)
    groups = {g["name"]: g for g in parts.optimizer.param_groups}
    assert set(groups) == {"trunk", "head"}
    assert groups["trunk"]["peak_lr"] == 0.01 and groups["head"]["peak_lr"] == 0.1
    lrs = [parts.schedule(e) for e in (1, 2, 3, 4)]
    assert lrs[0] == [0.01, 0.1] and lrs[2] == pytest.approx([0.005, 0.05])
    assert all(a[0] > b[0] for a, b in zip(lrs, lrs[1:]))
    frozen = {id(p) for p in parts.model.classifier.parameters()}
    assert not frozen & {id(p) for g in parts.optimizer.param_groups for p in g["params"]}


def test_batch_larger_than_the_training_set_is_a_clear_error(tmp_path, tiny_config):
    config = tiny_config.replace(optim=dataclasses.replace(tiny_config.optim, batch_size=4096))
    with pytest.raises(ConfigError, match="larger than the training set"):
        Trainer(config, root=tmp_path).fit()
    assert json.loads((next(tmp_path.iterdir()) / "status.json").read_text())["state"] == "failed"


def test_the_training_step_under_bf16_autocast_keeps_the_head_in_float32():
    """The CUDA path's autocast, exercised on the CPU (bf16 autocast exists there too)."""
    from core.training import _TrainStep

    config = build_config({"width": 4, "device": "cpu", "train_per_class": 4, "test_per_class": 2, "image_size": 16})
    parts = build_run(config)
    images, _ = next(parts.data.batches("train", 8, "cpu"))
    parts.model.eval()
    plain_f, plain_logits = _TrainStep(parts.model, amp=False, device_type="cpu")(images)
    mixed_f, mixed_logits = _TrainStep(parts.model, amp=True, device_type="cpu")(images)
    assert mixed_f.dtype == mixed_logits.dtype == torch.float32
    assert not torch.equal(mixed_f, plain_f)  # the trunk really ran in bf16
    torch.testing.assert_close(mixed_logits, plain_logits, rtol=0.1, atol=0.1)
    channels_last = images.contiguous(memory_format=torch.channels_last)
    parts.model.to(memory_format=torch.channels_last)
    torch.testing.assert_close(_TrainStep(parts.model, False, "cpu")(channels_last)[1], plain_logits)
