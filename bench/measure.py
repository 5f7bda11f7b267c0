"""Measurement primitives: wall-clock statistics, counted FLOPs and peak memory of a callable.

Timing is warm-up then repeated calls; the summary is the median (p50), p95 and mean, so a busy
machine's outliers move p95 but hardly the median. FLOPs come from `torch.utils.flop_counter`, with
the CPU flash-attention kernels added (torch does not count them) and without its per-module
attribution, whose hooks break `autograd.grad(create_graph=True)` (the R1 penalty).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

aten = torch.ops.aten


@dataclass(frozen=True)
class Timing:
    """Summary of repeated wall-clock measurements, in seconds."""

    p50: float
    p95: float
    mean: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


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


# --- FLOPs -----------------------------------------------------------------------------------------

def _flash_cpu(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _flash_cpu_backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


CPU_ATTENTION_FLOPS = {
    aten._scaled_dot_product_flash_attention_for_cpu: _flash_cpu,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _flash_cpu_backward,
}


class _GlobalOnly:
    """Stands in for FlopCounterMode's module tracker: every FLOP is attributed to "Global" only."""

    parents = {"Global"}

    def __enter__(self) -> _GlobalOnly:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def flop_counter() -> FlopCounterMode:
    """A FlopCounterMode that also counts CPU flash attention and survives double backward."""
    counter = FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS)
    counter.mod_tracker = _GlobalOnly()
    return counter


def count_flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations (matmuls, convolutions, attention) of one call of `fn`."""
    with flop_counter() as counter:
        fn()
    return counter.get_total_flops()


# --- memory ----------------------------------------------------------------------------------------

def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


class PeakMemory:
    """Peak memory of a block above its starting point, in MiB.

    CUDA: the caching allocator's peak. CPU (Linux): the resident-set high-water mark, reset on entry
    through /proc/self/clear_refs; `mib` stays None where that is unavailable.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.mib: float | None = None
        self._start = 0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            return self
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._start = _status_kib("VmRSS") * 1024
        except OSError:
            self._start = -1
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.mib = (torch.cuda.max_memory_allocated(self.device) - self._start) / 2**20
        elif self._start >= 0:
            self.mib = max(0, _status_kib("VmHWM") * 1024 - self._start) / 2**20
