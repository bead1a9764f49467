"""Benchmark: vectorised hierarchical metrics vs the reference's per-prediction dict lookups.

    python bench/bench_metrics.py              # iNat19 hierarchy (K = 1010), N = 10,000 samples
    python bench/bench_metrics.py --quick      # CIFAR-100 hierarchy (K = 100), N = 1,000
    python bench/bench_metrics.py --ks 1 5 10 20 100   # the reference's test-time k set

Both compute, from (N, K) logits and labels: top-k accuracy, average hierarchical distance @k
(mean over samples of the mean distance of the top-k predictions) and mistake severity (mean
distance of wrong top-1 predictions), for k in --ks (default 1, 5, 20: the paper's table).

"ours"     = ``core.metrics.hierarchical_metrics``: one topk, distances gathered as D[pred, y].
"baseline" = the reference's loop (METHOD.md §8.1, §12 pitfall 9), written as it was: per batch of
             256, ``topk`` on the logits, then for every sample and every rank j ≤ max k a Python
             lookup ``distances[(classes[pred[i][j]], classes[target[i]])]`` in a symmetric dict
             keyed by class-name pairs (tensor elements indexed one at a time, as the reference
             does), i.e. N × max k lookups. Sums are accumulated globally (the reference averages
             per batch, the same number when batches are equal); building the dict is not timed.
topk alone = one ``logits.topk(max k)`` over all N rows, best of --repeats: a cost both pay, and most
             of "ours" at K = 1010 (so the ratio understates how much the lookups alone gain).
agreement  = every metric equal (|Δ| < 1e-9) on the same logits in the same run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.common import Column, add_threads_option, best_of, load_case, render_table  # noqa: E402
from core.metrics import hierarchical_metrics  # noqa: E402

TOL = 1e-9


# --------------------------------------------------------------------------- the reference, as it was
class DistanceDict(dict):
    """Symmetric dict of hierarchical distances keyed by (class name, class name)."""

    def __init__(self, distances: dict):
        super().__init__()
        self.distances = {tuple(sorted(t)): v for t, v in distances.items()}

    def __getitem__(self, i):
        if i[0] == i[1]:
            return 0
        return self.distances[(i[0], i[1]) if i[0] < i[1] else (i[1], i[0])]


def distance_dict(dist: np.ndarray, classes: list[str]) -> DistanceDict:
    rows, cols = np.triu_indices(len(classes), k=1)
    return DistanceDict({(classes[i], classes[j]): int(dist[i, j]) for i, j in zip(rows.tolist(), cols.tolist())})


def reference_metrics(logits: torch.Tensor, labels: torch.Tensor, distances: DistanceDict, classes: list[str],
                      ks=(1, 5, 20), batch_size: int = 256) -> dict[str, float]:
    """Top-k accuracy, hdist@k and mistake severity through B × max(k) dict lookups per batch."""
    maxk = max(ks)
    n = len(labels)
    correct = np.zeros(len(ks))
    hdist_sums = np.zeros(len(ks))
    mistake_sum, num_mistakes = 0.0, 0
    for start in range(0, n, batch_size):
        output, target = logits[start:start + batch_size], labels[start:start + batch_size]
        b = len(target)
        _, topk_predicted = output.topk(maxk, 1, True, True)
        hits = topk_predicted.t().eq(target.view(1, -1).expand(maxk, b))
        for i, k in enumerate(ks):
            correct[i] += float(hits[:k].reshape(-1).float().sum())
        topk_hdist = np.empty([b, maxk])
        for i in range(b):
            for j in range(maxk):
                class_idx_ground_truth = target[i]
                class_idx_predicted = topk_predicted[i][j]
                topk_hdist[i, j] = distances[(classes[class_idx_predicted], classes[class_idx_ground_truth])]
        mistakes_ids = np.where(topk_hdist[:, 0] != 0)[0]
        num_mistakes += len(mistakes_ids)
        mistake_sum += float(np.sum(topk_hdist[mistakes_ids, :1]))
        for i, k in enumerate(ks):
            hdist_sums[i] += np.sum(topk_hdist[:, :k]) / k
    out = {}
    for i, k in enumerate(ks):
        out[f"top{k}"] = 100.0 * correct[i] / n
        out[f"hdist@{k}"] = hdist_sums[i] / n
    out["mistake_severity"] = mistake_sum / num_mistakes if num_mistakes else float("nan")
    return out


# --------------------------------------------------------------------------- bench
def make_logits(labels: torch.Tensor, k: int, signal: float, seed: int) -> torch.Tensor:
    """float32 logits: standard normal noise plus ``signal`` on the true class (≈ half right at K = 1010)."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(labels), k, generator=gen)
    logits[torch.arange(len(labels)), labels] += signal
    return logits


def run_case(k: int, n: int, ks: tuple[int, ...], repeats: int, seed: int = 0) -> dict:
    name, dist, classes = load_case(k)
    ks = tuple(sorted({min(x, k) for x in ks}))
    labels = torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(seed + 1))
    logits = make_logits(labels, k, 3.0, seed)
    lookup = distance_dict(dist, classes)
    t_ours, ours = best_of(lambda: hierarchical_metrics(logits, labels, dist, ks=ks), repeats)
    t_base, base = best_of(lambda: reference_metrics(logits, labels, lookup, classes, ks=ks), 1)
    t_topk, _ = best_of(lambda: logits.topk(max(ks), dim=1), repeats)
    diffs = {key: abs(ours[key] - base[key]) for key in ours}
    max_diff = max(diffs.values())
    return {"name": name, "K": k, "N": n, "ks": list(ks), "lookups": n * max(ks),
            "ours_s": t_ours, "baseline_s": t_base, "speedup": t_base / t_ours, "topk_s": t_topk,
            "ours": ours, "baseline": base, "max_abs_diff": max_diff, "agree": bool(max_diff < TOL)}


COLUMNS = [
    Column("hierarchy", "<16", "name"),
    Column("K", ">5", "K"),
    Column("N", ">6", "N"),
    Column("lookups", ">9", "lookups"),
    Column("ours (ms)", ">10", lambda r: 1e3 * r["ours_s"], ".2f"),
    Column("baseline (s)", ">13", "baseline_s", ".3f"),
    Column("baseline/ours", ">14", lambda r: f"{r['speedup']:.0f}x"),
    Column("topk alone (ms)", ">15", lambda r: 1e3 * r["topk_s"], ".2f"),
    Column("max|Δ|", ">8", "max_abs_diff", ".1e"),
    Column("agree", ">5", lambda r: "yes" if r["agree"] else "NO"),
]


def format_table(rows: list[dict]) -> str:
    """The timing table, then each hierarchy's metric values (ours)."""
    values = [f"{r['name']}: " + "  ".join(f"{key} {val:.4f}" for key, val in r["ours"].items()) for r in rows]
    return "\n".join([render_table(COLUMNS, rows), "", *values])


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="K = 100, N = 1,000")
    parser.add_argument("--classes", type=int, default=None, help="K (default 1010, quick 100)")
    parser.add_argument("--samples", type=int, default=None, help="N (default 10,000, quick 1,000)")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 20], help="k values (default 1 5 20)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats for ours, best of (default 5, quick 2)")
    add_threads_option(parser)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    k = args.classes or (100 if args.quick else 1010)
    n = args.samples or (1000 if args.quick else 10000)
    repeats = args.repeats or (2 if args.quick else 5)

    print(f"Hierarchical metrics, k in {args.ks}, ours best of {repeats}, baseline 1 run, "
          f"{torch.get_num_threads()} CPU threads", flush=True)
    rows = [run_case(k, n, tuple(args.ks), repeats)]
    print(format_table(rows))
    if not rows[0]["agree"]:
        print(f"FAILED agreement: {rows[0]['ours']} vs {rows[0]['baseline']}")
    return rows


if __name__ == "__main__":
    rows = main()
    sys.exit(0 if all(r["agree"] for r in rows) else 1)
