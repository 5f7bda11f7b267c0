"""Training throughput, MFU and scaling, measured on `train.loop.Trainer.train_step` itself.

One big-learning step is: sample tasks, draw the fakes, the D update (data matching + communication,
R1 every `r1_interval` = k steps) and the G update (+ label cross-entropy), EMA. FLOPs and time are
amortised over the R1 interval: ((k-1)·plain step + R1 step) / k, with counted FLOPs of one step of
each kind and the median time of each kind.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path
from typing import Any

import torch

from biglearn.config import BigLearnConfig
from train.config import TrainConfig
from train.data import synthetic_dataset
from train.loop import Trainer

from .measure import count_flops, peak_memory_mib, summarise, time_calls

# (image size, patch size) of the token-scaling sweep: 16, 36, 49, 64, 64 and 256 tokens
TOKEN_SWEEP = ((16, 4), (24, 4), (28, 4), (32, 4), (64, 8), (64, 4))


def make_trainer(config: BigLearnConfig, batch: int, device: torch.device, out_dir: Path,
                 precision: str = "fp32") -> Trainer:
    """A Trainer on synthetic data computing in `precision` (nothing is written to `out_dir` unless it
    checkpoints)."""
    return Trainer(config, TrainConfig(batch_size=batch, data="synthetic", precision=precision),
                   synthetic_dataset(config), out_dir, device)


def measure_step(config: BigLearnConfig, *, batch: int, steps: int, device: torch.device,
                 peak_flops: float, precision: str = "fp32") -> dict[str, Any]:
    """Step time (R1 amortised), images/s, counted FLOPs, MFU (against `peak_flops`, the matmul peak in the same
    precision) and peak memory of one training step in `precision`."""
    r1_on = config.loss.r1_gamma > 0
    interval = config.loss.r1_interval if r1_on else 1
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(config, batch, device, Path(tmp), precision)
        # step 0 evaluates R1 (when on), step 1 does not; counting them doubles as the warm-up
        first = count_flops(trainer.train_step)
        plain_flops = count_flops(trainer.train_step) if interval > 1 else first
        flops = ((interval - 1) * plain_flops + first) / interval
        times: dict[bool, list[float]] = {True: [], False: []}  # by "this step evaluates R1"
        while len(times[True]) + len(times[False]) < steps or (r1_on and not times[True]) \
                or (interval > 1 and not times[False]):
            r1 = r1_on and trainer.step % interval == 0
            times[r1] += time_calls(trainer.train_step, warmup=0, reps=1, device=device)
        memory = peak_memory_mib(trainer.train_step, device)
    t_plain = summarise(times[False]).p50 if times[False] else 0.0
    t_r1 = summarise(times[True]).p50 if times[True] else t_plain
    step_s = ((interval - 1) * t_plain + t_r1) / interval
    return {
        "precision": precision,
        "tokens": config.model.num_patches, "image_size": config.model.height, "patch_size": config.model.patch_size,
        "batch": batch, "steps_timed": len(times[False]) + len(times[True]), "step_s": step_s,
        "plain_step_s": t_plain, "r1_step_s": t_r1, "r1_interval": interval, "images_per_s": batch / step_s,
        "flops_per_step": flops, "flops_per_image": flops / batch, "mfu": flops / step_s / peak_flops,
        "peak_mem_mib": memory,
    }


def preset_fits(config: BigLearnConfig, *, batch: int, device: torch.device, peak_flops: float,
                budget_s: float) -> tuple[bool, float | None]:
    """Whether a step at `batch` should take at most `budget_s` here, judged from the counted FLOPs
    of one step (with R1) at batch 1 over the matmul limit. Returns (fits, predicted seconds); GPUs
    and an infinite budget take every preset unchecked."""
    if device.type == "cuda" or math.isinf(budget_s):
        return True, None
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(config, 1, device, Path(tmp))
        predicted = count_flops(trainer.train_step) * batch / peak_flops
    return predicted <= budget_s, predicted


def growth_exponent(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y against log x: y ∝ x^e."""
    if len(set(xs)) < 2:
        raise ValueError("need at least two distinct x values to fit an exponent")
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def token_scaling(config: BigLearnConfig, *, sweep: tuple[tuple[int, int], ...], batch: int, steps: int,
                  device: torch.device, peak_flops: float, fit_up_to: int = 64) -> dict[str, Any]:
    """The same widths at growing token counts: time and memory per image, and their growth exponents
    in the number of tokens. The fits use the rows at the config's own patch size (more tokens = a
    larger image, the same work per token): those with at most `fit_up_to` tokens, and all of them;
    rows at another patch size (e.g. 64 px / patch 8) are reported but change the work per token."""
    rows = []
    for size, patch in sweep:
        model = dataclasses.replace(config.model, height=size, width=size, patch_size=patch)
        rows.append(measure_step(dataclasses.replace(config, model=model), batch=batch, steps=steps, device=device,
                                 peak_flops=peak_flops))
    same_patch = [r for r in rows if r["patch_size"] == config.model.patch_size]
    small = [r for r in same_patch if r["tokens"] <= fit_up_to]

    def fit(points: list[dict[str, Any]], key: str) -> float | None:
        xs = [float(r["tokens"]) for r in points]
        return growth_exponent(xs, [r[key] / r["batch"] for r in points]) if len(set(xs)) > 1 else None

    return {"batch": batch, "rows": rows, "fit_patch_size": config.model.patch_size, "fit_up_to_tokens": fit_up_to,
            "time_exponent": fit(small, "step_s"), "time_exponent_all": fit(same_patch, "step_s"),
            "flops_exponent": fit(small, "flops_per_step"), "flops_exponent_all": fit(same_patch, "flops_per_step")}


def batch_scaling(config: BigLearnConfig, *, batches: tuple[int, ...], steps: int, device: torch.device,
                  peak_flops: float) -> dict[str, Any]:
    """Step time and peak memory as the batch grows, with the growth exponents of both in the batch."""
    rows = [measure_step(config, batch=b, steps=steps, device=device, peak_flops=peak_flops) for b in batches]
    xs = [float(r["batch"]) for r in rows]
    mem = [r["peak_mem_mib"] for r in rows]
    return {"rows": rows, "time_exponent": growth_exponent(xs, [r["step_s"] for r in rows]),
            "memory_exponent": growth_exponent(xs, mem) if all(m for m in mem) else None}
