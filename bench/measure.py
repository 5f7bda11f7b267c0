"""Measurement primitives: wall-clock statistics, counted FLOPs and peak memory of a callable.

Timing is warm-up then repeated calls; the summary is the median (p50), p95 and mean, so a busy
machine's outliers move p95 but hardly the median. FLOPs are counted by `train.flops` (the trainer's
compute budgets use the same counter). Peak memory is measured on a separate, untimed call.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from train.flops import count_flops, flop_counter  # noqa: F401 - re-exported: the bench's measurement primitives


@dataclass(frozen=True)
class Timing:
    """Summary of repeated wall-clock measurements, in seconds."""

    p50: float
    p95: float
    mean: float
    n: int


def summarise(samples: list[float]) -> Timing:
    """p50 / p95 (nearest rank) / mean of a non-empty list of durations."""
    if not samples:
        raise ValueError("no samples to summarise")
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return Timing(statistics.median(ordered), p95, statistics.fmean(ordered), len(ordered))


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so wall-clock time covers the work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], Any], *, warmup: int, reps: int, device: torch.device) -> list[float]:
    """Durations of `reps` calls of `fn` after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        synchronize(device)
        out.append(time.perf_counter() - start)
    return out


# --- memory ----------------------------------------------------------------------------------------

def peak_memory_mib(fn: Callable[[], Any], device: torch.device) -> float | None:
    """Peak tensor memory allocated during one call of `fn`, above what was allocated before, in MiB.

    CUDA: the caching allocator's peak. CPU: the running sum of the allocations and frees that the
    profiler records (`profile_memory=True`); None where this torch's profiler does not expose them.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - start) / 2**20
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    results = getattr(prof.profiler, "kineto_results", None)
    if results is None:
        return None
    events = sorted((e for e in results.events() if e.name() == "[memory]"), key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak / 2**20
