"""Benchmark: the vectorised HAFrame loss vs the reference's per-class / per-sample Python loops.

    python bench/bench_loss.py                  # K = 100 (B = 64), 608 (B = 256), 1010 (B = 256);
                                                # CPU, and CUDA when available
    python bench/bench_loss.py --quick          # K = 100 (B = 64) and K = 608 (B = 32), CPU, 2 repeats
    python bench/bench_loss.py --device cuda    # one device only (cpu | cuda | all)
    python bench/bench_loss.py --threads 1      # one CPU thread (steadier on a shared machine)

One timed step = build the per-sample soft targets + forward (β·CE + α·SCSL) + backward to the
features, synchronised on CUDA; best of --repeats after one warm-up step. On a small machine shared with other jobs, CPU timings
of "ours" (milliseconds, multi-threaded) can jump tenfold when a thread waits for a busy core;
rerun, or use --threads 1.

"ours"     = ``core.losses.HAFrameLoss`` (one matmul of normalised features and frame, targets S[y]).
"baseline" = the reference's "mixed-ce-gscsl" written as it was (METHOD.md §6, §12 pitfall 5): a
             Python loop over all K classes calling ``torch.nn.functional.cosine_similarity`` once
             per class, and soft targets built by a Python loop over the batch
             (``make_batch_soft_labels``). It lives here only as a baseline, never in core/.
agreement  = both give the same loss and the same gradient d loss / d features (allclose, float32)
             on the same batch in the same run. ``check_baseline_fixture`` also checks the baseline
             against the reference's own loss value (fixtures/loss_cifar100_gamma2.npz).
peak MiB   = on CUDA: torch.cuda.max_memory_allocated during one step, above what was allocated before
             it (inputs, frame and targets excluded, the same for both). On CPU: how much the
             process's peak RSS (ru_maxrss) grew while the baseline ran — a lower bound of its peak,
             close to it because cases run in increasing size. The baseline's per-class
             cosine_similarity calls each keep B×d intermediates for backward, O(K·B·d) memory
             (about 3 GB at K = 1010, B = 256): allocating and faulting in that much memory every step
             is most of its CPU time, which therefore varies a lot with machine load.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bench.common import Column, add_threads_option, load_case, render_table  # noqa: E402
from core.frames import haframe  # noqa: E402
from core.losses import HAFrameLoss  # noqa: E402

FIXTURE = ROOT.parent / "shared" / "reference" / "fixtures" / "loss_cifar100_gamma2.npz"
# K → (batch size, γ) of the paper's runs on those hierarchies (METHOD.md §7).
FULL_CASES = [(100, 64, 2.0), (608, 256, 3.0), (1010, 256, 5.0)]
QUICK_CASES = [(100, 64, 2.0), (608, 32, 3.0)]
ALPHA, BETA = 0.4, 0.6
LOSS_RTOL, LOSS_ATOL = 1e-5, 1e-5
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-6


# --------------------------------------------------------------------------- the reference, as it was
def make_batch_soft_labels(all_soft_labels: torch.Tensor, target: torch.Tensor, num_classes: int,
                           batch_size: int) -> torch.Tensor:
    """Per-sample soft targets S[:, y_b], one Python iteration per sample (reference style)."""
    soft_labels = torch.zeros((batch_size, num_classes), dtype=torch.float32, device=all_soft_labels.device)
    for i in range(batch_size):
        soft_labels[i, :] = all_soft_labels[:, target[i]]
    return soft_labels


def reference_scsl(fixed_cls: torch.Tensor, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Squared cosine loss, "batchmean": one cosine_similarity call per class, concatenated."""
    sim = []
    for c in range(num_classes):
        sim.append(torch.unsqueeze(F.cosine_similarity(fixed_cls[c], x, dim=1), dim=1))
    sim = torch.cat(sim, dim=1)
    return torch.sum(torch.square(sim - y)) / y.size()[0]


def reference_loss(beta: float, alpha: float, fixed_cls: torch.Tensor, x: torch.Tensor, labels: torch.Tensor,
                   soft_labels: torch.Tensor) -> torch.Tensor:
    """β·CE(x Wᵀ, y) + α·SCSL, as the reference's mixed loss computes it."""
    logits = torch.matmul(x, fixed_cls.T)
    return beta * F.cross_entropy(logits, labels) + alpha * reference_scsl(fixed_cls, x, soft_labels, len(fixed_cls))


def baseline_step(weights: torch.Tensor, similarity: torch.Tensor, x: torch.Tensor, labels: torch.Tensor,
                  alpha: float = ALPHA, beta: float = BETA) -> torch.Tensor:
    soft = make_batch_soft_labels(similarity, labels, len(weights), len(labels))
    return reference_loss(beta, alpha, weights, x, labels, soft)


# --------------------------------------------------------------------------- helpers
def check_baseline_fixture() -> dict | None:
    """Run the baseline on the reference's saved batch; None when ../shared is absent."""
    if not FIXTURE.exists():
        return None
    with np.load(FIXTURE) as z:
        feats = torch.tensor(z["features"], requires_grad=True)
        labels = torch.as_tensor(z["targets"]).long()
        w = torch.as_tensor(z["classifier_float32"])
        s = torch.as_tensor(z["target_similarity"]).float()
        loss = baseline_step(w, s, feats, labels, float(z["alpha"]), float(z["beta"]))
        loss.backward()
        loss = float(loss.detach())
        ref_loss, ref_grad = float(z["loss_float32"]), z["grad_float32"]
    loss_err = abs(loss - ref_loss)
    grad_err = float(np.abs(feats.grad.numpy() - ref_grad).max())
    return {"loss": loss, "reference_loss": ref_loss, "loss_err": loss_err, "grad_err": grad_err,
            "ok": loss_err < 1e-5 and grad_err < 1e-6}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_step(step, x: torch.Tensor, repeats: int) -> tuple[float, float, torch.Tensor]:
    """Best-of-``repeats`` seconds of ``step(x)`` + backward (after one warm-up), the loss and grad."""
    best, loss = np.inf, None
    for i in range(max(1, repeats) + 1):
        x.grad = None
        _sync(x.device)
        start = time.perf_counter()
        loss = step(x)
        loss.backward()
        _sync(x.device)
        if i:  # the first call warms up kernels / allocator
            best = min(best, time.perf_counter() - start)
    return best, float(loss.detach()), x.grad.detach().clone()


def _max_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_mib(step, x: torch.Tensor) -> float | None:
    """Extra CUDA memory (MiB) one forward+backward step needs, above what was allocated before it."""
    if x.device.type != "cuda":
        return None
    x.grad = None
    torch.cuda.synchronize(x.device)
    torch.cuda.reset_peak_memory_stats(x.device)
    before = torch.cuda.memory_allocated(x.device)
    step(x).backward()
    torch.cuda.synchronize(x.device)
    peak = torch.cuda.max_memory_allocated(x.device) - before
    x.grad = None
    return peak / 2**20


def run_case(k: int, batch: int, gamma: float, device: torch.device, repeats: int, seed: int = 0) -> dict:
    name, dist, _ = load_case(k)
    frame = haframe(dist, gamma=gamma, min_similarity="exact", seed=seed)
    gen = torch.Generator().manual_seed(seed)
    weights = torch.as_tensor(frame.weights, dtype=torch.float32).to(device)
    similarity = torch.as_tensor(frame.target, dtype=torch.float32).to(device)
    features = (2.0 * torch.randn(batch, frame.dim, generator=gen)).to(device)
    labels = torch.randint(0, k, (batch,), generator=gen).to(device)
    ours_loss = HAFrameLoss(frame.weights, frame.target, alpha=ALPHA, beta=BETA).to(device)

    def ours(x):
        return ours_loss(x, labels)

    def baseline(x):
        return baseline_step(weights, similarity, x, labels)

    x_ours = features.clone().requires_grad_(True)
    x_base = features.clone().requires_grad_(True)
    t_ours, l_ours, g_ours = time_step(ours, x_ours, repeats)
    rss_before = _max_rss_mib()
    t_base, l_base, g_base = time_step(baseline, x_base, repeats)
    rss_growth = _max_rss_mib() - rss_before
    loss_diff = abs(l_ours - l_base)
    grad_diff = float((g_ours - g_base).abs().max())
    agree = bool(np.isclose(l_ours, l_base, rtol=LOSS_RTOL, atol=LOSS_ATOL)
                 and torch.allclose(g_ours, g_base, rtol=GRAD_RTOL, atol=GRAD_ATOL))
    return {"name": name, "device": device.type, "K": k, "B": batch, "gamma": gamma,
            "ours_s": t_ours, "baseline_s": t_base, "speedup": t_base / t_ours,
            "loss_ours": l_ours, "loss_baseline": l_base, "loss_diff": loss_diff, "grad_max_diff": grad_diff,
            "agree": agree, "ours_peak_mib": peak_mib(ours, x_ours), "baseline_peak_mib": peak_mib(baseline, x_base),
            "baseline_rss_growth_mib": rss_growth if device.type == "cpu" else None}


def _peak(r: dict) -> str:
    if r["ours_peak_mib"] is not None:
        return f"{r['ours_peak_mib']:.1f}/{r['baseline_peak_mib']:.1f}"
    return f"RSS +{r['baseline_rss_growth_mib']:.0f} (base)"


COLUMNS = [
    Column("hierarchy", "<18", "name"),
    Column("dev", ">4", "device"),
    Column("K", ">5", "K"),
    Column("B", ">4", "B"),
    Column("ours (ms)", ">10", lambda r: 1e3 * r["ours_s"], ".3f"),
    Column("baseline (ms)", ">14", lambda r: 1e3 * r["baseline_s"], ".2f"),
    Column("baseline/ours", ">14", lambda r: f"{r['speedup']:.1f}x"),
    Column("loss", ">11", "loss_ours", ".5f"),
    Column("|Δloss|", ">8", "loss_diff", ".1e"),
    Column("max|Δgrad|", ">10", "grad_max_diff", ".1e"),
    Column("agree", ">5", lambda r: "yes" if r["agree"] else "NO"),
    Column("peak MiB ours/base", ">19", _peak),
]


def format_table(rows: list[dict]) -> str:
    return render_table(COLUMNS, rows)


def devices(choice: str) -> list[torch.device]:
    if choice == "cpu":
        return [torch.device("cpu")]
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("bench_loss: --device cuda but no CUDA device is available")
        return [torch.device("cuda")]
    return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="K = 100 (B = 64) and K = 608 (B = 32), 2 repeats")
    parser.add_argument("--device", choices=("all", "cpu", "cuda"), default="all",
                        help="all = CPU, plus CUDA when available (default)")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps, best of (default 5, quick 2)")
    add_threads_option(parser)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (2 if args.quick else 5)
    cases = QUICK_CASES if args.quick else FULL_CASES

    fixture = check_baseline_fixture()
    if fixture is None:
        print("baseline vs reference fixture: skipped (../shared/reference not found)")
    else:
        print(f"baseline vs reference fixture: loss {fixture['loss']:.7f} (reference {fixture['reference_loss']:.7f}), "
              f"max |Δgrad| {fixture['grad_err']:.1e} → {'ok' if fixture['ok'] else 'MISMATCH'}")

    rows = []
    print(f"HAFrame loss, forward + backward per step, α = {ALPHA}, β = {BETA}, best of {repeats}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads", flush=True)
    for device in devices(args.device):
        for k, batch, gamma in cases:
            rows.append(run_case(k, batch, gamma, device, repeats))
            print(f"  done K = {k} on {device.type}", flush=True)
    print(format_table(rows))
    bad = [f"{r['name']}/{r['device']}" for r in rows if not r["agree"]]
    if bad:
        print(f"FAILED agreement for: {', '.join(bad)}")
    return rows


if __name__ == "__main__":
    rows = main()
    fixture = check_baseline_fixture()
    sys.exit(0 if all(r["agree"] for r in rows) and (fixture is None or fixture["ok"]) else 1)
