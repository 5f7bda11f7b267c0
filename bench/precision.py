"""`python -m bench.precision --device cuda`: a training step at fp32, TF32 and bf16 autocast, per preset.

The trainer runs in fp32. This measures what lower-precision matmuls would buy before the trainer offers
them: for each preset, the median time of `Trainer.train_step` (R1 steps included as they come) in three
modes on the same synthetic data, the counted FLOPs of one step, and whether every loss of the timed bf16
steps stayed finite.

- fp32: `torch.set_float32_matmul_precision("highest")` (the trainer's default);
- tf32: `"high"` (fp32 storage, TF32 tensor-core matmuls on CUDA);
- bf16: the trainer's `--precision bf16` (biglearn.precision: fp32 weights under bf16 autocast, static shapes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from biglearn.inference import pick_device
from biglearn.precision import bf16_support
from biglearn.presets import preset
from train.loop import Trainer
from train.report import table

from .machine import machine_info
from .measure import count_flops, summarise, time_calls
from .training import make_trainer

MODES = ("fp32", "tf32", "bf16")
GPU_PRESETS = ("mnist", "celeba64", "folder-64", "mnist-cpu")


@contextlib.contextmanager
def precision(mode: str) -> Iterator[None]:
    """Run the body with the float32 matmul precision of one of MODES; restored afterwards."""
    if mode not in MODES:
        raise ValueError(f"unknown precision {mode!r}; known: {', '.join(MODES)}")
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if mode == "tf32" else "highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def time_mode(trainer: Trainer, mode: str, *, device: torch.device, warmup: int, reps: int) -> dict[str, Any]:
    """p50 step time of `trainer` (built for `mode`'s precision) in one of MODES, and whether every loss of those
    steps was finite."""
    losses: list[dict[str, float]] = []
    with precision(mode):
        samples = time_calls(lambda: losses.append(trainer.train_step()), warmup=warmup, reps=reps, device=device)
    return {"step_s": summarise(samples).p50,
            "losses_finite": all(math.isfinite(v) for terms in losses for v in terms.values())}


def measure_preset(name: str, *, device: torch.device, batch: int | None, warmup: int, reps: int) -> dict[str, Any]:
    """Step time per mode (p50 over `reps` steps after `warmup`), counted FLOPs and the steps' finiteness."""
    chosen = preset(name)
    config, batch = chosen.config, batch or chosen.recipe.batch_size
    row: dict[str, Any] = {"preset": name, "batch": batch, "tokens": config.model.num_patches}
    with tempfile.TemporaryDirectory() as tmp:
        modes = MODES if bf16_support(device)[0] else MODES[:2]  # no native bf16: nothing to time
        trainers = {p: make_trainer(config, batch, device, Path(tmp), p) for p in ("fp32", "bf16") if p in modes}
        row["flops_per_step"] = count_flops(trainers["fp32"].train_step)  # doubles as the first warm-up step
        for mode in modes:
            trainer = trainers["bf16" if mode == "bf16" else "fp32"]
            row[mode] = time_mode(trainer, mode, device=device, warmup=warmup, reps=reps)
            row[mode] |= {"images_per_s": batch / row[mode]["step_s"],
                          "tflops_per_s": row["flops_per_step"] / row[mode]["step_s"] / 1e12}
    for mode in modes[1:]:
        row[mode]["speedup"] = row["fp32"]["step_s"] / row[mode]["step_s"]
    return row


HEADER = ("preset", "batch", "GFLOP/step", "fp32 s", "tf32 s (×)", "bf16 s (×)", "bf16 TFLOP/s", "bf16 finite")


def cells(r: dict[str, Any]) -> list[str]:
    """One preset's row of the table, as text ("-" for bf16 where the device has none)."""
    bf16 = r.get("bf16")
    return [r["preset"], str(r["batch"]), f"{r['flops_per_step'] / 1e9:.1f}", f"{r['fp32']['step_s']:.4f}",
            f"{r['tf32']['step_s']:.4f} ({r['tf32']['speedup']:.2f})",
            f"{bf16['step_s']:.4f} ({bf16['speedup']:.2f})" if bf16 else "-",
            f"{bf16['tflops_per_s']:.1f}" if bf16 else "-",
            ("yes" if bf16["losses_finite"] else "NO") if bf16 else "-"]


def main(argv: list[str] | None = None) -> int:
    """Measure every named preset in every mode; print the table, optionally write JSON."""
    p = argparse.ArgumentParser(prog="python -m bench.precision", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--presets", nargs="+", default=list(GPU_PRESETS), help="presets to measure")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: each preset's recipe)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per mode")
    p.add_argument("--reps", type=int, default=10, help="timed steps per mode")
    p.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = p.parse_args(argv)
    device = pick_device(args.device)
    machine = machine_info(device)
    rows = []
    for name in args.presets:
        rows.append(measure_preset(name, device=device, batch=args.batch, warmup=args.warmup, reps=args.reps))
        print(table(HEADER, [cells(rows[-1])])[-1], flush=True)  # each row as it comes: a long run shows progress
        if args.out:  # rewritten after every preset, so a run stopped early keeps what it measured
            args.out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    print(f"training step by precision on {machine.get('gpu', machine['cpu'])} (torch {machine['torch']}); "
          "p50 step time, counted FLOPs\n")
    print("\n".join(table(HEADER, [cells(r) for r in rows])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
