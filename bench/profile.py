"""`python -m bench.profile`: where the time goes, as torch.profiler tables (top ops by self time).

Profiles a few training steps of a preset (mnist-cpu, or `--preset`; fp32, or `--precision bf16`) at the
benchmark's batch and a few `complete` calls of 1 image x 8 seeds, after warm-up, on the threads torch uses (or
`--threads`).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from biglearn.inference import pick_device
from biglearn.presets import REGISTRY, get_preset

from .inference import load_model, workloads
from .training import make_trainer


def op_table(fn: Callable[[], Any], *, warmup: int, calls: int, rows: int) -> str:
    """The profiler's table of the ops of `calls` calls of `fn`, sorted by self CPU time."""
    for _ in range(warmup):
        fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            fn()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    p.add_argument("--preset", default="mnist-cpu", choices=sorted(REGISTRY), help="the model trained")
    p.add_argument("--batch", type=int, default=64, help="training batch")
    p.add_argument("--steps", type=int, default=4, help="training steps profiled (4 = one R1 interval)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: every core)")
    p.add_argument("--rows", type=int, default=25, help="ops listed per table")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="the training step's precision")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    # inference first, as the app runs it: a Trainer turns on deterministic algorithms process-wide
    model, source = load_model(None, device)
    call, _ = workloads(model)["complete_1x8"]
    inference = op_table(call, warmup=3, calls=20, rows=args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(get_preset(args.preset), args.batch, device, Path(tmp), args.precision)
        print(f"{args.preset} training ({args.precision}), {args.steps} steps at batch {args.batch}, "
              f"{torch.get_num_threads()} threads")
        print(op_table(trainer.train_step, warmup=2, calls=args.steps, rows=args.rows))
    print(f"\ncomplete 1 image x 8 seeds ({source}), 20 calls")
    print(inference)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
