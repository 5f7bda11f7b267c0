"""Counted training FLOPs: the compute a run or a benchmark is measured in.

`count_flops` counts the floating-point operations (matmuls, convolutions, attention) of one call with
`torch.utils.flop_counter`, adding the CPU flash-attention kernels (torch does not count them) and without its
per-module attribution, whose hooks break `autograd.grad(create_graph=True)` (the R1 penalty). `step_flops` is a
trainer's mean counted FLOPs per step (R1 amortised at its interval), which `train.compare --budget-flops` turns
into each arm's number of steps.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

aten = torch.ops.aten


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


def step_flops(config: Any, batch: int, *, steps: int | None = None) -> float:
    """Mean counted FLOPs of one training step of `config` (a BigLearnConfig) at `batch` on the CPU: the mean over
    `steps` steps (default: two R1 intervals, so R1 counts at its share), on random images. Masks are drawn as in
    training, so the mean follows the mask laws."""
    from .config import TrainConfig
    from .data import synthetic_dataset
    from .loop import Trainer

    data = synthetic_dataset(config)
    interval = config.loss.r1_interval if config.loss.adversarial and config.loss.r1_gamma > 0 else 1
    n = steps or 2 * interval
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, TrainConfig(batch_size=batch, data="synthetic", precision="fp32"), data, Path(tmp),
                          torch.device("cpu"))
        return sum(count_flops(trainer.train_step) for _ in range(n)) / n
