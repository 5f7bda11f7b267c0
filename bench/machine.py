"""The machine and its limits: sustained fp32 matmul FLOP/s and memory bandwidth, measured here."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from .measure import summarise, time_calls


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def training_in_progress() -> bool:
    """Whether a `python -m train` run is going on beside the benchmark (its timings then share the CPU)."""
    try:
        out = subprocess.run(["pgrep", "-f", "train --data"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(out.stdout.strip())


def machine_info(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on, including how busy the machine was."""
    info: dict[str, Any] = {
        "device": str(device), "cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2), "training_in_progress": training_in_progress(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def matmul_flops(device: torch.device, size: int, reps: int, dtype: torch.dtype = torch.float32) -> dict[str, float]:
    """Sustained FLOP/s of (size x size) @ (size x size) in `dtype` on every thread: the median call, and the best."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    samples = time_calls(lambda: torch.mm(a, b), warmup=2, reps=reps, device=device)
    flops = 2.0 * size**3
    return {"size": size, "flops_per_s": flops / summarise(samples).p50, "best_flops_per_s": flops / min(samples)}


def memory_bandwidth(device: torch.device, mib: int, reps: int) -> dict[str, float]:
    """Copy bandwidth (bytes read + written per second) of a `mib`-MiB fp32 tensor: median and best call."""
    src = torch.empty(mib * 2**20 // 4, device=device).uniform_()
    dst = torch.empty_like(src)
    samples = time_calls(lambda: dst.copy_(src), warmup=2, reps=reps, device=device)
    moved = 2.0 * src.numel() * 4
    return {"mib": mib, "bytes_per_s": moved / summarise(samples).p50, "best_bytes_per_s": moved / min(samples)}
