"""One-call GPU check for an NVIDIA machine (about a minute on an H100; well under 5).

    python bench/gpu_check.py                    # needs CUDA: exit 1 with "no CUDA device" otherwise
    python bench/gpu_check.py --allow-cpu        # without CUDA: says "no CUDA device", runs the same
                                                 # checks on CPU and exits 0 when they pass
    python bench/gpu_check.py --quick            # small sizes (tiny trainer config, quick benches)
    python bench/gpu_check.py --only resnet50_step wrn_step   # just the training-step comparison
    python bench/gpu_check.py --compile          # also torch.compile the fast steps
    OUT=/some/dir python bench/gpu_check.py      # also writes $OUT/gpu_check.json

Checks, in order (each one is timed and recorded even when an earlier one failed):
  environment    python / torch / CUDA / cuDNN versions, device name, memory, TF32 flags
  trainer        a 2-epoch Trainer run on synthetic data with device="cuda" in a temporary directory:
                 finished, 3 metrics rows, model on the GPU, checkpoint loads with
                 torch.load(weights_only=True) into a freshly built model
  loss_cuda_cpu  HAFrameLoss value and gradient on CUDA equal CPU (float32 tolerance), K = 1010, B = 256
  haframe_cpu    time of core.frames.haframe() for K = 1010 (NumPy, CPU) and its exactness
  bench_loss     bench/bench_loss.py main() on CPU and CUDA (ours vs the reference loops; must agree)
  bench_training bench/bench_training.py main() on CUDA (train / eval images per second)
  resnet50_step  side by side in this process: a ResNet-50 HAFrame training step (K = 1010, B = 256,
                 224×224) as the trainer runs it (bf16 autocast for the network, channels_last,
                 cudnn.benchmark, the vectorised loss in float32, SGD with the trunk/head groups)
                 against the same step built as the reference does it (float32, NCHW, the loss's
                 per-class Python loop and per-sample soft-target loop: METHOD.md §6, §12.5); same
                 initial weights and batch; prints ms/step, images/s and the ratio
                 (targets on an H100-class GPU: ≥ 6× the reference step, ≥ 3,500 images/s)
  wrn_step       a WRN-28-8 HAFrame step on 32×32 CIFAR-sized inputs at B = 64, as the trainer runs
                 it (target on an H100-class GPU: ≤ 10 ms per step)
                 --quick shrinks both (ResNet-50 at 16×16, B = 4, K = 100; WRN-28-2 at 16×16, B = 4) so the
                 test suite runs them on CPU. Timings are printed, never asserted: a step check
                 passes when both steps ran, their losses are finite and the first losses agree
                 (same weights and batch; 5 % for bf16 against float32).

The JSON summary is rewritten after every check, so a run cut short still leaves what it did.
Exit status: 0 when every check passed (on CPU only with --allow-cpu), 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

NO_CUDA = "no CUDA device"
CHECK_NAMES = ("environment", "trainer", "loss_cuda_cpu", "haframe_cpu", "bench_loss", "bench_training",
               "resnet50_step", "wrn_step")
LOSS_RTOL, LOSS_ATOL = 1e-5, 1e-5
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-6


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _read(getter):
    """A setting's value, or the error's text (flags get renamed between torch releases)."""
    try:
        return getter()
    except Exception as err:  # noqa: BLE001
        return f"unavailable ({type(err).__name__})"


# --------------------------------------------------------------------------- checks
def check_environment(device: torch.device) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
            "cpu_threads": torch.get_num_threads(), "device": device.type}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(device_name=props.name, capability=f"{props.major}.{props.minor}",
                    memory_gib=round(props.total_memory / 2**30, 1), device_count=torch.cuda.device_count(),
                    cudnn=_read(torch.backends.cudnn.version),
                    matmul_allow_tf32=_read(lambda: torch.backends.cuda.matmul.allow_tf32),
                    cudnn_allow_tf32=_read(lambda: torch.backends.cudnn.allow_tf32),
                    float32_matmul_precision=_read(torch.get_float32_matmul_precision))
        x = torch.ones(4, device=device)
        info["sum_on_device"] = float((x * 2).sum())  # first kernel: context up and working
    for key, val in info.items():
        print(f"  {key:<24} {val}")
    return {"ok": True, "details": info}


def check_trainer(device: torch.device, quick: bool) -> dict:
    from bench import bench_training as bt
    from core.models import build_model
    from core.training import Trainer

    config = (bt.tiny_config if quick else bt.default_config)(device.type, 2)
    root = Path(tempfile.mkdtemp(prefix="hafs-gpucheck-"))
    try:
        trainer = Trainer(config, root=root, run_name="gpu-check")
        start = time.perf_counter()
        run = trainer.fit()
        fit_s = time.perf_counter() - start
        status, rows = run.status(), run.metrics()
        param_device = next(trainer.model.parameters()).device.type
        state = torch.load(run.path / "checkpoint_last.pt", map_location="cpu", weights_only=True)
        fresh = build_model(config.model, trainer.data.channels, trainer.data.num_classes,
                            None if trainer.frame is None else trainer.frame.weights, head=config.frame.head)
        fresh.load_state_dict(state["model"])
        via_rundir = run.load_checkpoint()  # the app's own loader (also weights_only=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    details = {"config": "tiny" if quick else "default", "state": status.get("state"), "epochs_logged":
               [r["epoch"] for r in rows], "checkpoint_epoch": state.get("epoch"), "param_device": param_device,
               "fit_s": fit_s, "top1_last": rows[-1].get("top1"), "train_loss_last": rows[-1].get("train_loss"),
               "rundir_checkpoint_epoch": via_rundir.get("epoch")}
    ok = (details["state"] == "finished" and details["epochs_logged"] == [0, 1, 2]
          and details["checkpoint_epoch"] == 2 and param_device == device.type)
    print(f"  state {details['state']}, epochs {details['epochs_logged']}, params on {param_device}, "
          f"checkpoint epoch {details['checkpoint_epoch']} loaded (weights_only=True), fit {fit_s:.1f} s")
    return {"ok": bool(ok), "details": details}


def _loss_and_grad(loss_fn, features: torch.Tensor, labels: torch.Tensor):
    x = features.clone().requires_grad_(True)
    loss = loss_fn(x, labels)
    loss.backward()
    return float(loss.detach()), x.grad.detach().cpu()


def check_loss_cuda_cpu(device: torch.device, quick: bool) -> dict:
    from bench.common import load_case
    from core.frames import haframe
    from core.losses import HAFrameLoss

    k, batch, gamma = (100, 64, 2.0) if quick else (1010, 256, 5.0)
    name, dist, _ = load_case(k)
    frame = haframe(dist, gamma=gamma, min_similarity="exact", seed=0)
    gen = torch.Generator().manual_seed(0)
    features = 2.0 * torch.randn(batch, frame.dim, generator=gen)
    labels = torch.randint(0, k, (batch,), generator=gen)
    cpu_loss = HAFrameLoss(frame.weights, frame.target, alpha=0.4, beta=0.6)
    dev_loss = HAFrameLoss(frame.weights, frame.target, alpha=0.4, beta=0.6).to(device)
    l_cpu, g_cpu = _loss_and_grad(cpu_loss, features, labels)
    l_dev, g_dev = _loss_and_grad(dev_loss, features.to(device), labels.to(device))
    details = {"hierarchy": name, "K": k, "B": batch, "compared": f"{device.type} vs cpu",
               "loss_cpu": l_cpu, "loss_device": l_dev, "loss_diff": abs(l_cpu - l_dev),
               "grad_max_diff": float((g_cpu - g_dev).abs().max()), "grad_max_abs": float(g_cpu.abs().max())}
    ok = (np.isclose(l_dev, l_cpu, rtol=LOSS_RTOL, atol=LOSS_ATOL)
          and torch.allclose(g_dev, g_cpu, rtol=GRAD_RTOL, atol=GRAD_ATOL))
    print(f"  {name} K = {k}: loss {l_dev:.6f} ({device.type}) vs {l_cpu:.6f} (cpu), |Δloss| {details['loss_diff']:.1e}, "
          f"max |Δgrad| {details['grad_max_diff']:.1e} (max |grad| {details['grad_max_abs']:.1e})")
    return {"ok": bool(ok), "details": details}


def check_haframe_cpu(quick: bool) -> dict:
    from bench.common import best_of, load_case
    from core.frames import haframe

    k, gamma, repeats = (100, 2.0, 1) if quick else (1010, 5.0, 3)
    name, dist, _ = load_case(k)
    haframe(dist[:8, :8], gamma=gamma)  # first LAPACK call carries one-off overhead
    best, frame = best_of(lambda: haframe(dist, gamma=gamma, min_similarity="exact"), repeats)
    err = float(np.abs(frame.weights @ frame.weights.T - frame.target).max())
    details = {"hierarchy": name, "K": k, "gamma": gamma, "best_s": best, "repeats": repeats,
               "m_star": frame.min_similarity, "max_abs_err": err}
    print(f"  {name} K = {k}: haframe {1e3 * best:.1f} ms (best of {repeats}), max |WWᵀ−S| {err:.1e}")
    return {"ok": err < 1e-6, "details": details}


def check_bench_loss(device: torch.device, quick: bool) -> dict:
    argv = ["--quick"] if quick else []
    argv += ["--device", "cpu" if device.type == "cpu" else "all"]
    from bench import bench_loss

    rows = bench_loss.main(argv)
    return {"ok": all(r["agree"] for r in rows), "details": {"rows": rows}}


def check_bench_training(device: torch.device, quick: bool) -> dict:
    from bench import bench_training

    rows = bench_training.main((["--quick"] if quick else []) + ["--device", device.type])
    return {"ok": all(r["state"] == "finished" for r in rows), "details": {"rows": rows}}


# --------------------------------------------------------------------------- training steps
STEP_TARGETS = {"speedup": 6.0, "img_per_s": 3500.0, "wrn_ms": 10.0}  # H100-class, printed only
AGREE_RTOL = 0.05  # first-step losses: bf16 network vs float32 reference on the same weights and batch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _frame_model(backbone: str, k: int, gamma: float, seed: int = 0):
    """(model, frame) for a HAFrame head on ``backbone`` over the reference hierarchy with K = k."""
    from bench.common import load_case
    from core.config import ModelConfig
    from core.frames import haframe
    from core.models import build_model

    _, dist, _ = load_case(k)
    frame = haframe(dist, gamma=gamma, min_similarity="exact", seed=seed)
    torch.manual_seed(seed)
    return build_model(ModelConfig(backbone=backbone), 3, k, frame.weights, head="haframe"), frame


def _sgd(model):
    """SGD with the trunk / head groups at their peak rates (METHOD.md §7), weight decay on everything."""
    from core.models import param_groups

    groups = param_groups(model)
    return torch.optim.SGD([{"params": groups["trunk"], "lr": 0.01}, {"params": groups["head"], "lr": 0.01}],
                           lr=0.01, momentum=0.9, weight_decay=5e-4)


def fast_step(model, frame, device: torch.device, compile_model: bool = False):
    """The trainer's step: network under bf16 autocast (CUDA), channels_last, the head and the
    vectorised HAFrame loss in float32. Returns step(images, labels) → detached loss tensor."""
    from core.losses import HAFrameLoss

    cuda = device.type == "cuda"
    model = model.to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    network = torch.compile(model.forward_features) if compile_model else model.forward_features
    loss_fn = HAFrameLoss(frame.weights, frame.target, alpha=0.4, beta=0.6).to(device)
    optimizer = _sgd(model)

    def step(images, labels):
        if cuda:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            features = network(images)
        loss = loss_fn(features.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()
    return step


def reference_step(model, frame, device: torch.device):
    """The step as the reference builds it: float32, NCHW, logits z = f Wᵀ and the loss with its
    per-sample soft-target loop and per-class cosine loop (bench/bench_loss.py's baseline)."""
    from bench.bench_loss import make_batch_soft_labels, reference_loss

    model = model.to(device)
    weights = torch.as_tensor(frame.weights, dtype=torch.float32, device=device)
    similarity = torch.as_tensor(frame.target, dtype=torch.float32, device=device)
    optimizer = _sgd(model)
    k = len(weights)

    def step(images, labels):
        features = model.forward_features(images)
        soft = make_batch_soft_labels(similarity, labels, k, len(labels))
        loss = reference_loss(0.6, 0.4, weights, features, labels, soft)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()
    return step


def time_steps(step, images, labels, warmup: int, repeats: int) -> tuple[float, float]:
    """(mean seconds per step over ``repeats`` after ``warmup`` steps, the first step's loss)."""
    first = float(step(images, labels))
    for _ in range(max(0, warmup - 1)):
        step(images, labels)
    _sync(images.device)
    start = time.perf_counter()
    for _ in range(repeats):
        loss = step(images, labels)
    _sync(images.device)
    seconds = (time.perf_counter() - start) / repeats
    if not np.isfinite(float(loss)):
        raise FloatingPointError("a training step gave a non-finite loss")
    return seconds, first


def _batch(batch: int, size: int, k: int, device: torch.device):
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, size, size, generator=gen).to(device)
    return images, torch.randint(0, k, (batch,), generator=gen).to(device)


def _free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def check_resnet50_step(device: torch.device, quick: bool, compile_model: bool = False) -> dict:
    import copy

    # quick: B = 4, not 2 — BatchNorm over two samples (1×1 maps in layer4, and the head's
    # BatchNorm1d) normalises to ±1 and its gradient is rounding noise over a tiny std: NaN.
    k, batch, size, warmup, repeats = (100, 4, 16, 1, 1) if quick else (1010, 256, 224, 3, 10)
    torch.backends.cudnn.benchmark = True  # both: the reference's start_training sets it too
    model, frame = _frame_model("resnet50", k, gamma=5.0)
    images, labels = _batch(batch, size, k, device)
    ref_s, ref_loss = time_steps(reference_step(copy.deepcopy(model), frame, device), images, labels, warmup,
                                 repeats)
    _free(device)
    ours_s, ours_loss = time_steps(fast_step(model, frame, device, compile_model), images, labels, warmup, repeats)
    details = {"backbone": "resnet50", "K": k, "B": batch, "image_size": size, "compile": compile_model,
               "amp": "bf16" if device.type == "cuda" else "off", "ours_ms": 1e3 * ours_s,
               "reference_ms": 1e3 * ref_s, "speedup": ref_s / ours_s, "ours_img_per_s": batch / ours_s,
               "reference_img_per_s": batch / ref_s, "loss_ours": ours_loss, "loss_reference": ref_loss,
               "targets": {"speedup": STEP_TARGETS["speedup"], "img_per_s": STEP_TARGETS["img_per_s"]}}
    print(f"  ResNet-50 HAFrame step, K = {k}, B = {batch}, {size}×{size}: ours {details['ours_ms']:.1f} ms "
          f"({details['ours_img_per_s']:.0f} img/s), reference {details['reference_ms']:.1f} ms "
          f"({details['reference_img_per_s']:.0f} img/s): {details['speedup']:.2f}× "
          f"(targets on an H100-class GPU: ≥ {STEP_TARGETS['speedup']:.0f}×, ≥ {STEP_TARGETS['img_per_s']:.0f} img/s)")
    print(f"  first-step loss: ours {ours_loss:.5f}, reference {ref_loss:.5f}")
    ok = np.isclose(ours_loss, ref_loss, rtol=AGREE_RTOL)
    return {"ok": bool(ok), "details": details}


def check_wrn_step(device: torch.device, quick: bool, compile_model: bool = False) -> dict:
    backbone, batch, size, warmup, repeats = ("wrn28_2", 4, 16, 1, 1) if quick else ("wrn28_8", 64, 32, 5, 20)
    k = 100
    torch.backends.cudnn.benchmark = True
    model, frame = _frame_model(backbone, k, gamma=2.0)
    images, labels = _batch(batch, size, k, device)
    seconds, loss = time_steps(fast_step(model, frame, device, compile_model), images, labels, warmup, repeats)
    _free(device)
    details = {"backbone": backbone, "K": k, "B": batch, "image_size": size, "compile": compile_model,
               "ms_per_step": 1e3 * seconds, "img_per_s": batch / seconds, "loss_first": loss,
               "target_ms": STEP_TARGETS["wrn_ms"]}
    print(f"  {backbone} HAFrame step, K = {k}, B = {batch}, {size}×{size}: {details['ms_per_step']:.2f} ms "
          f"({details['img_per_s']:.0f} img/s; target on an H100-class GPU: ≤ {STEP_TARGETS['wrn_ms']:.0f} ms)")
    return {"ok": bool(np.isfinite(loss)), "details": details}


# --------------------------------------------------------------------------- driver
def run_check(name: str, fn, *args) -> dict:
    print(f"[{name}]", flush=True)
    start = time.perf_counter()
    try:
        out = fn(*args)
        row = {"check": name, "ok": bool(out["ok"]), "details": out["details"], "error": None}
    except Exception as err:  # noqa: BLE001 - record it and go on to the next check
        traceback.print_exc()
        row = {"check": name, "ok": False, "details": {}, "error": f"{type(err).__name__}: {err}"}
    row["seconds"] = time.perf_counter() - start
    print(f"  -> {'ok' if row['ok'] else 'FAILED'} ({row['seconds']:.1f} s)", flush=True)
    return row


def write_summary(rows: list[dict], started: float, complete: bool, cuda: bool) -> Path | None:
    out = os.environ.get("OUT")
    if not out:
        return None
    path = Path(out) / "gpu_check.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"cuda": cuda, "complete": complete, "all_ok": all(r["ok"] for r in rows),
           "seconds": time.perf_counter() - started, "checks": rows}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_jsonable(doc), indent=2))
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--allow-cpu", action="store_true", help="without CUDA, run the checks on CPU and exit 0")
    parser.add_argument("--quick", action="store_true", help="small sizes (what the test suite runs)")
    parser.add_argument("--only", nargs="+", choices=CHECK_NAMES, help="run only these checks")
    parser.add_argument("--compile", action="store_true", help="torch.compile the fast training steps")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    cuda = torch.cuda.is_available()
    if not cuda:
        if not args.allow_cpu:
            print(f"{NO_CUDA}: torch {torch.__version__} (CUDA build {torch.version.cuda}) sees no GPU; "
                  "rerun with --allow-cpu to run the checks on CPU")
            rows = [{"check": "cuda", "ok": False, "details": {"torch": torch.__version__}, "error": NO_CUDA,
                     "seconds": 0.0}]
            write_summary(rows, started, True, cuda)
            return rows
        print(f"{NO_CUDA}: running the checks on CPU (--allow-cpu)")
    device = torch.device("cuda" if cuda else "cpu")

    checks = [("environment", check_environment, device),
              ("trainer", check_trainer, device, args.quick),
              ("loss_cuda_cpu", check_loss_cuda_cpu, device, args.quick),
              ("haframe_cpu", check_haframe_cpu, args.quick),
              ("bench_loss", check_bench_loss, device, args.quick),
              ("bench_training", check_bench_training, device, args.quick),
              ("resnet50_step", check_resnet50_step, device, args.quick, args.compile),
              ("wrn_step", check_wrn_step, device, args.quick, args.compile)]
    checks = [c for c in checks if not args.only or c[0] in args.only]
    rows: list[dict] = []
    for name, fn, *fn_args in checks:
        rows.append(run_check(name, fn, *fn_args))
        write_summary(rows, started, False, cuda)
    path = write_summary(rows, started, True, cuda)

    print(f"\nGPU check on {device.type}{'' if cuda else ' (' + NO_CUDA + ')'}, "
          f"{time.perf_counter() - started:.1f} s:")
    for row in rows:
        print(f"  {row['check']:<16} {'ok' if row['ok'] else 'FAILED':<7} {row['seconds']:7.1f} s"
              f"{'  ' + row['error'] if row['error'] else ''}")
    if path is not None:
        print(f"summary written to {path}")
    return rows


def exit_code(rows: list[dict]) -> int:
    return 0 if rows and all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(exit_code(main()))
