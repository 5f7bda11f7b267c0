"""Compute precision: fp32, or bf16 where the hardware has it and it measures faster.

bf16 is `torch.autocast(dtype=torch.bfloat16)` over fp32 weights: matmuls, convolutions and attention in bf16,
everything the optimiser, the EMA and the losses see in fp32 (the models return fp32 logits and images, and
source patches are copied from the fp32 input, so they stay exact). Two things make bf16 pay on a CPU, both
measured (docs/performance.md):

- static shapes (`set_static_shapes`): oneDNN builds a kernel for every new matmul shape, and the per-sample
  length buckets of `biglearn.layers.Transformer` make a new shape almost every call; padded to the full
  length, the shapes repeat and the kernels are reused. GPUs want the same (no data-dependent shapes);
- attention in fp32 (`attention`): PyTorch's CPU flash-attention backward in bf16 is several times slower than
  in fp32, and plain bf16 matmuls around an fp32 softmax measured 6% slower per step than the fp32 kernel.

`resolve` turns the requested precision ("auto", "fp32", "bf16") into the one used, with the reason; on a CPU,
`auto` times a matmul at the models' shapes in both precisions (`probe_cpu`, about 0.1 s).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig

PRECISIONS = ("auto", "fp32", "bf16")
# auto takes bf16 on a CPU when a bf16 matmul at the models' shapes is at least this much faster than fp32:
# matmuls are a third of a training step, so less than this buys nothing once the casts are paid
CPU_MIN_MATMUL_SPEEDUP = 2.5


@dataclass(frozen=True)
class Choice:
    """The precision a run or model computes in, and why."""

    precision: str  # "fp32" or "bf16"
    reason: str


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo); empty where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def bf16_support(device: torch.device, flags: set[str] | None = None) -> tuple[bool, str]:
    """Whether `device` computes bf16 natively, and what it has (or lacks)."""
    if device.type == "cuda":
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
        name = torch.cuda.get_device_name(device) if torch.cuda.is_available() else "no CUDA device"
        return ok, name + (" supports bf16" if ok else " has no native bf16")
    if device.type == "cpu":
        flags = cpu_flags() if flags is None else flags
        native = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
        return bool(native), ("the CPU has " + " and ".join(native)) if native else \
            "the CPU has neither AMX-BF16 nor AVX512-BF16"
    return False, f"bf16 is not supported on {device.type} here"


def probe_shape(model: ModelConfig, batch: int) -> tuple[int, int, int]:
    """(rows, inner, columns) of a model's typical matmul: the decoder's MLP over a batch's tokens."""
    return batch * (model.num_patches + 2), model.dec_dim, int(model.dec_dim * model.mlp_ratio)


def probe_cpu(shape: tuple[int, int, int], reps: int = 16) -> float:
    """How many times faster a bf16 matmul of `shape` (m, k, n) runs than an fp32 one here: the fastest of `reps`
    timings each, the two precisions alternating. The fastest, not the median: another process on the machine
    only ever slows a timing down, and a median taken while one starts read 1.5x-7.8x for the same shape (the
    claims study's arms flipped between fp32 and bf16 at random)."""
    m, k, n = shape
    pairs = {dtype: (torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype))
             for dtype in (torch.float32, torch.bfloat16)}
    best = dict.fromkeys(pairs, math.inf)
    for a, b in pairs.values():
        a @ b  # the first call builds the kernel
    for _ in range(reps):
        for dtype, (a, b) in pairs.items():
            start = time.perf_counter()
            a @ b
            best[dtype] = min(best[dtype], time.perf_counter() - start)
    return best[torch.float32] / best[torch.bfloat16]


def resolve(requested: str, device: torch.device, *, shape: tuple[int, int, int] = (2048, 128, 512),
            probe: Callable[[tuple[int, int, int]], float] = probe_cpu, flags: set[str] | None = None) -> Choice:
    """The precision to use for `requested` on `device`; on a CPU, auto probes a matmul of `shape`
    (`probe_shape`). ValueError for bf16 where the device has none."""
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}")
    if requested == "fp32":
        return Choice("fp32", "asked for")
    supported, what = bf16_support(device, flags)
    if requested == "bf16":
        if not supported:
            raise ValueError(f"precision bf16 needs native bf16, but {what}: use precision fp32 or auto")
        return Choice("bf16", f"asked for ({what})")
    if not supported:
        return Choice("fp32", f"auto: {what}")
    if device.type == "cuda":
        return Choice("bf16", f"auto: {what}")
    speedup = probe(shape)
    if speedup >= CPU_MIN_MATMUL_SPEEDUP:
        return Choice("bf16", f"auto: {what}; a bf16 matmul of the model's shape measured {speedup:.1f}x fp32")
    return Choice("fp32", f"auto: {what}, but a bf16 matmul of the model's shape measured only {speedup:.1f}x fp32 "
                          f"(bf16 pays from {CPU_MIN_MATMUL_SPEEDUP}x)")


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context a forward pass runs in: bf16 autocast for "bf16", nothing for "fp32"."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def full_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """Turn autocast off inside a bf16 region (R1: its double backward stays fp32)."""
    return torch.autocast(device.type, enabled=False)


def set_static_shapes(module: nn.Module, on: bool) -> None:
    """Pad every masked transformer call of `module` to its full length (and the generator's encoder to every
    patch) instead of bucketing samples by length: the same outputs, with shapes that never change."""
    for part in module.modules():
        if hasattr(part, "static_shapes"):
            part.static_shapes = on


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """softmax(q kᵀ / √d) v with a boolean key mask (True = attend), through PyTorch's fused kernel; under bf16
    autocast on a CPU in fp32 (its bf16 backward is several times slower there, and the tokens are few)."""
    if q.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask).to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def compile_available(device: torch.device) -> tuple[bool, str]:
    """Whether torch.compile runs on `device`: compiles and calls a two-op function once (a C++ compiler is
    needed on a CPU, Triton on a GPU); returns (ok, the reason it cannot)."""
    try:
        fn = torch.compile(lambda x: torch.nn.functional.gelu(x) * 2, dynamic=False)
        fn(torch.ones(4, device=device))
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot compile here", reported by name
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no message'}"
    return True, ""

