"""The trainer's test summary against the reference's evaluation of the same logits (METHOD.md §8)."""
import json

import numpy as np
import pytest

from core.evaluation import format_summary, paper_rows


def test_test_summary_matches_the_reference_metrics(reference):
    fx = np.load(reference / "fixtures" / "eval_cifar100.npz")
    expected = json.loads((reference / "fixtures" / "eval_cifar100_outputs.json").read_text())
    expected = expected["crm_eval_better_mistakes_metrics"]
    rows = paper_rows(fx["logits"], fx["labels"], fx["distances"])
    for ours, theirs in (("model", "base_softmax"), ("crm", "crm_reranked")):
        row, ref = rows[ours], expected[theirs]
        assert row["top1"] == pytest.approx(ref["top1"], abs=1e-9)
        assert row["top1_error"] == pytest.approx(100 - ref["top1"], abs=1e-9)
        assert row["mistake_severity"] == pytest.approx(ref["mistake"], abs=1e-9)
        for k in (1, 5, 20):
            assert row[f"hdist@{k}"] == pytest.approx(ref[f"hie_avg_{k}"], abs=1e-9), (ours, k)
    text = format_summary({"rows": rows})
    assert "model + CRM" in text and "hdist@20" in text and "25.59" in text  # 100 − 74.414 = 25.586
