"""Inference latency and MFU of a checkpoint through the public API (what the app calls).

Workloads: `complete` of 1 image x 8 seeds, the ratio sweep of the paper's Fig. 3 (10 ratios x 4
seeds), `generate` of 64 and `classify` of 256 images. Each is timed after warm-up (p50, p95) and
its FLOPs are counted once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import biglearn
from biglearn.figures import ratio_sweep
from biglearn.masks import random_source
from biglearn.presets import get_preset

from .measure import count_flops, summarise, time_calls

ROOT = Path(__file__).resolve().parents[1]
# the bundled checkpoint, then the default run directory beside the checkout
CHECKPOINTS = (ROOT / "assets" / "mnist-cpu.safetensors", ROOT.parent / "runs" / "main" / "model.safetensors")


def load_model(checkpoint: str | None, device: torch.device) -> tuple[biglearn.BigLearnModel, str]:
    """The model to time and a note on where it came from: `checkpoint` if given, else the bundled
    one, else the default run's, else random mnist-cpu weights (timings do not depend on weights)."""
    candidates = [Path(checkpoint)] if checkpoint else list(CHECKPOINTS)
    for path in candidates:
        if path.is_file():
            return biglearn.load(path, device=device), str(path)
    if checkpoint:
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    config = get_preset("mnist-cpu")
    torch.manual_seed(0)
    return biglearn.BigLearnModel(biglearn.UniversalGenerator(config.model), config, device=device), \
        "random mnist-cpu weights (no checkpoint found at " + ", ".join(map(str, CHECKPOINTS)) + ")"


def workloads(model: biglearn.BigLearnModel) -> dict[str, tuple[Callable[[], Any], int]]:
    """name -> (call, images it produces or reads)."""
    c = model.config
    g = torch.Generator().manual_seed(0)
    images = torch.rand(256, c.channels, c.height, c.width, generator=g)
    one = images[:1]
    half = random_source(1, c.num_patches, 0.5, generator=g)
    return {
        "complete_1x8": (lambda: model.complete(one, half, seeds=list(range(8))), 8),
        "ratio_sweep_10x4": (lambda: ratio_sweep(model, one, seeds=[0, 1, 2, 3]), 40),
        "generate_64": (lambda: model.generate(64, seeds=0), 64),
        "classify_256": (lambda: model.classify(images), 256),
    }


def bench_inference(model: biglearn.BigLearnModel, *, warmup: int, reps: int,
                    peak_flops: float) -> dict[str, dict[str, Any]]:
    """p50/p95 latency (ms), images/s, counted FLOPs and MFU of each workload."""
    out = {}
    for name, (call, n_images) in workloads(model).items():
        flops = count_flops(call)  # also the first warm-up call
        t = summarise(time_calls(call, warmup=warmup, reps=reps, device=model.device))
        out[name] = {"p50_ms": t.p50 * 1e3, "p95_ms": t.p95 * 1e3, "reps": t.n, "images": n_images,
                     "images_per_s": n_images / t.p50, "flops": flops, "mfu": flops / t.p50 / peak_flops}
    return out
