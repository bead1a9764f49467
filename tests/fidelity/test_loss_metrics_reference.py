"""Loss, evaluation metrics, CRM and neural-collapse statistics against the reference's numbers."""
import json

import numpy as np
import pytest
import torch

from core import HAFrameLoss, metrics


def test_loss_value_and_gradient_float32(reference):
    z = np.load(reference / "fixtures" / "loss_cifar100_gamma2.npz")
    features = torch.tensor(z["features"]).requires_grad_()
    loss = HAFrameLoss(z["classifier_float32"], z["target_similarity"], float(z["alpha"]), float(z["beta"]))
    value = loss(features, torch.tensor(z["targets"]))
    value.backward()
    assert value.item() == pytest.approx(float(z["loss_float32"]), rel=1e-6)
    assert loss.last_terms == pytest.approx((float(z["ce_float32"]), float(z["scsl_float32"])), rel=1e-6)
    np.testing.assert_allclose(features.grad.numpy(), z["grad_float32"], atol=1e-7)


def test_loss_value_and_gradient_float64(reference):
    z = np.load(reference / "fixtures" / "loss_cifar100_gamma2.npz")
    features = torch.tensor(z["features"], dtype=torch.float64).requires_grad_()
    # The reference's soft targets are float32-rounded S values, cast up.
    target = z["target_similarity"].astype(np.float32).astype(np.float64)
    loss = HAFrameLoss(z["classifier"], target, float(z["alpha"]), float(z["beta"])).double()
    loss.weights.copy_(torch.tensor(z["classifier"]))
    loss.target.copy_(torch.tensor(target))
    value = loss(features, torch.tensor(z["targets"]))
    value.backward()
    assert value.item() == pytest.approx(float(z["loss_float64"]), rel=1e-12)
    np.testing.assert_allclose(features.grad.numpy(), z["grad_float64"], atol=1e-12)


def test_evaluation_metrics_and_crm(reference):
    z = np.load(reference / "fixtures" / "eval_cifar100.npz")
    for prefix, scores in (("base", z["logits"]), ("crm", metrics.crm_scores(z["logits"], z["distances"]))):
        out = metrics.hierarchical_metrics(scores, z["labels"], z["distances"], ks=(1, 5, 20))
        assert out["top1"] == pytest.approx(float(z[f"{prefix}_top1"]))
        assert out["mistake_severity"] == pytest.approx(float(z[f"{prefix}_mistake"]))
        for k in (1, 5, 20):
            assert out[f"hdist@{k}"] == pytest.approx(float(z[f"{prefix}_hie_avg_{k}"]))
    # The reference's softmax runs in float32, ours in float64: agreement to float32 rounding.
    np.testing.assert_allclose(metrics.crm_scores(z["logits"], z["distances"]).numpy(), z["crm_scores"], atol=1e-5)


def test_run_xent_summary(reference):
    z = np.load(reference / "fixtures" / "eval_cifar100.npz")
    summary = json.loads((reference / "fixtures" / "eval_cifar100_outputs.json").read_text())
    summary = summary["run_xent_testing_summary_batch128"]
    out = metrics.hierarchical_metrics(z["logits"], z["labels"], z["distances"], ks=(1, 5, 10, 20))
    for k in (1, 5, 10, 20):
        assert out[f"top{k}"] == pytest.approx(summary[f"accuracy_top/{k:02d}"], abs=1e-4)
        assert out[f"hdist@{k}"] == pytest.approx(summary[f"ilsvrc_dist_avg/{k:02d}"], abs=1e-4)
    assert out["mistake_severity"] == pytest.approx(summary["ilsvrc_dist_mistakes/avg01"], abs=1e-4)


def test_neural_collapse_statistics(reference):
    z = np.load(reference / "fixtures" / "neural_collapse_cifar100.npz")
    frame = z["haf_classifier"]
    means = metrics.class_means(z["features"], z["labels"], 100)
    np.testing.assert_allclose(means, z["class_means_raw"], atol=1e-5)
    target = metrics.cosine_matrix(frame)
    assert metrics.frame_deviation(means, target) == pytest.approx(
        (float(z["haf_rfeat_mean"]), float(z["haf_rfeat_std"])), rel=1e-5)
    assert metrics.frame_deviation(means, target, centered=True) == pytest.approx(
        (float(z["haf_cfeat_mean"]), float(z["haf_cfeat_std"])), rel=1e-5)
    assert metrics.self_duality(frame, means) == pytest.approx(float(z["haf_duality_raw"]), rel=1e-5)
    assert metrics.self_duality(frame, means - means.mean(0)) == pytest.approx(
        float(z["haf_duality_centered"]), rel=1e-5)
    etf_target = np.full((100, 100), -1 / 99)
    np.fill_diagonal(etf_target, 1.0)
    assert metrics.frame_deviation(z["learnable_classifier"], etf_target) == pytest.approx(
        (float(z["etf_cls_mean"]), float(z["etf_cls_std"])), rel=1e-5)
    assert metrics.frame_deviation(means, etf_target, centered=True) == pytest.approx(
        (float(z["etf_cfeat_mean"]), float(z["etf_cfeat_std"])), rel=1e-5)
