"""`python -m bench [--quick] [--out FILE.json]`: run every measurement, print the report, write JSON."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import biglearn
from biglearn.inference import pick_device
from biglearn.precision import bf16_support
from biglearn.presets import PRESETS, get_preset

from .inference import bench_inference, load_model
from .machine import machine_info, matmul_flops, memory_bandwidth
from .report import render, targets
from .sims import FULL_SEEDS, bench_sims, sims_targets
from .startup import measure_startup
from .training import TOKEN_SWEEP, batch_scaling, measure_step, preset_fits, token_scaling

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Plan:
    """How much to measure: the full run, or the quick smoke check of the test suite (< 30 s)."""

    matmul_size: int
    copy_mib: int
    limit_reps: int
    presets: tuple[str, ...]
    train_batch: int
    train_steps: int
    step_budget_s: float  # presets predicted slower than this per step are skipped on the CPU
    inference_warmup: int  # calls besides the FLOP-counting one
    inference_reps: int
    scaling_preset: str
    token_sweep: tuple[tuple[int, int], ...]
    token_batch: int
    batch_sweep: tuple[int, ...]
    scaling_steps: int
    startup_app: bool
    startup_runs: int
    sims: tuple[int, int, int, int]  # landscape grid points, gmm25 iterations, gan2d steps, seeds per arm


FULL = Plan(matmul_size=2048, copy_mib=256, limit_reps=10, presets=tuple(PRESETS), train_batch=64, train_steps=8,
            step_budget_s=5.0, inference_warmup=2, inference_reps=20, scaling_preset="mnist-cpu",
            token_sweep=TOKEN_SWEEP, token_batch=16, batch_sweep=(8, 16, 32, 64), scaling_steps=4,
            startup_app=True, startup_runs=3, sims=(100, 5, 50, 10))
QUICK = Plan(matmul_size=512, copy_mib=32, limit_reps=5, presets=("smoke",), train_batch=8, train_steps=2,
             step_budget_s=float("inf"), inference_warmup=0, inference_reps=1, scaling_preset="smoke",
             token_sweep=((16, 4), (28, 4)), token_batch=4, batch_sweep=(2, 4), scaling_steps=2, startup_app=False,
             startup_runs=1, sims=(10, 1, 2, 2))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a small, fast run (the test suite's check; < 30 s)")
    p.add_argument("--out", type=Path, help="write the results as JSON to this file")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: every core; 1 with --quick)")
    p.add_argument("--checkpoint", help="inference checkpoint (default: the bundled assets/mnist-cpu.safetensors)")
    return p


def limits(plan: Plan, device: torch.device) -> dict[str, Any]:
    """The fp32 matmul peak (and the bf16 one where the device has native bf16) and the copy bandwidth."""
    out = {"matmul": matmul_flops(device, plan.matmul_size, plan.limit_reps),
           "copy": memory_bandwidth(device, plan.copy_mib, plan.limit_reps)}
    if bf16_support(device)[0]:
        out["matmul_bf16"] = matmul_flops(device, plan.matmul_size, plan.limit_reps, torch.bfloat16)
    return out


def training(plan: Plan, device: torch.device, peaks: dict[str, float]) -> dict[str, Any]:
    """Every preset of the plan that fits the machine, at the plan's batch, in each precision of `peaks`
    (back to back, so the ratio is measured under one load); MFU against the matching matmul peak."""
    rows, skipped = [], []
    for name in plan.presets:
        progress(f"training: {name}")
        config = get_preset(name)
        fits, predicted = preset_fits(config, batch=plan.train_batch, device=device, peak_flops=peaks["fp32"],
                                      budget_s=plan.step_budget_s)
        if not fits:
            skipped.append({"preset": name, "predicted_step_s": predicted,
                            "reason": f"a step at batch {plan.train_batch} would take ~{predicted:.0f} s here"})
            continue
        for precision, peak in peaks.items():
            rows.append({"preset": name, **measure_step(config, batch=plan.train_batch, steps=plan.train_steps,
                                                        device=device, peak_flops=peak, precision=precision)})
            if precision != "fp32":
                rows[-1]["speedup"] = rows[-2]["step_s"] / rows[-1]["step_s"]
    return {"rows": rows, "skipped": skipped}


def startup_checkpoint(source: str, model: biglearn.BigLearnModel, tmp: Path) -> Path:
    """The file the start-up probe loads: the benchmarked checkpoint, or the random model saved to `tmp`."""
    path = Path(source)
    if path.is_file():
        return path
    path = tmp / "random.safetensors"
    biglearn.save(path, model.generator, model.full_config)
    return path


def progress(message: str) -> None:
    """One line on stderr per section, so a long run shows where it is."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(plan: Plan, device: torch.device, checkpoint: str | None, quick: bool) -> dict[str, Any]:
    """Every measurement in one process; returns the JSON-able results."""
    start = time.perf_counter()
    progress("machine limits")
    results: dict[str, Any] = {"format_version": FORMAT_VERSION, "quick": quick, "command": " ".join(sys.argv),
                               "machine": machine_info(device)}
    first = limits(plan, device)
    peak = first["matmul"]["flops_per_s"]
    # inference first: a Trainer turns on deterministic algorithms for the whole process, which the
    # app never does (and which makes every new tensor be filled first)
    progress("inference")
    model, source = load_model(checkpoint, device)
    results["inference"] = {"model": source, "workloads": bench_inference(
        model, warmup=plan.inference_warmup, reps=plan.inference_reps, peak_flops=peak)}
    peaks = {"fp32": peak, **({"bf16": first["matmul_bf16"]["flops_per_s"]} if "matmul_bf16" in first else {})}
    results["training"] = training(plan, device, peaks)
    progress("scaling with tokens and batch")
    scaling_config = get_preset(plan.scaling_preset)
    results["scaling"] = {
        "tokens": {"preset": plan.scaling_preset,
                   **token_scaling(scaling_config, sweep=plan.token_sweep, batch=plan.token_batch,
                                   steps=plan.scaling_steps, device=device, peak_flops=peak)},
        "batch": {"preset": plan.scaling_preset,
                  **batch_scaling(scaling_config, batches=plan.batch_sweep, steps=plan.scaling_steps, device=device,
                                  peak_flops=peak)}}
    progress("2-D simulations")
    land, iters, steps, seeds = plan.sims
    # the race compiled as a full race runs (tens of seconds of compiling once), but not in --quick's smoke check
    results["sims"] = bench_sims(land, iters, steps, seeds, compile=not quick)
    progress("start-up")
    # a machine with the library's packages but not the app's (a bare GPU box) still gets the library's start-up
    with_app = plan.startup_app and importlib.util.find_spec("gradio") is not None
    if plan.startup_app and not with_app:
        progress("gradio is not installed: start-up measured without the app (biglearn.load)")
    with tempfile.TemporaryDirectory() as tmp:
        results["startup"] = measure_startup(startup_checkpoint(source, model, Path(tmp)), app=with_app,
                                             runs=plan.startup_runs)
    # the machine's limit again at the end: how much it moved while we measured (another load, throttling)
    last = limits(plan, device)
    results["limits"] = {**first, "peak_flops_per_s": peak, "matmul_at_end": last["matmul"],
                         "copy_at_end": last["copy"]}
    results["targets"] = targets(results) + sims_targets(results["sims"], full_size=seeds == FULL_SEEDS)
    results["wall_s"] = time.perf_counter() - start
    return results


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # --quick checks the machinery, not the machine: one thread keeps it fast on a busy CPU too
    threads = args.threads or (1 if args.quick else None)
    if threads:
        torch.set_num_threads(threads)
    device = pick_device(args.device)
    results = run(QUICK if args.quick else FULL, device, args.checkpoint, args.quick)
    print(render(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results written to {args.out}")
    return 0
