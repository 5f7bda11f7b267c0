"""gan2d's speed for the chosen setup: the full run's batch (10 seeds x plain, biglearn, pacgan2 in one batched
step), median of 3 timed runs after a warm-up, as `python -m bench` times it; PacGAN's networks beside it.

    OMP_NUM_THREADS=1 PYTHONPATH=. python docs/perf/gan2d-2026-12-06/measure.py
"""

import statistics

import torch

from biglearn.sims import gan2d

torch.set_num_threads(1)
rows = 10 * len(gan2d.ARMS)
for name, cfg in (("sharp (the default)", gan2d.GanConfig(steps=100, eval_every=0)),
                  ("pacgan", gan2d.pacgan_config(steps=20, eval_every=0))):
    gan2d.train(list(gan2d.ARMS), 10, cfg)  # warm-up
    per_step = statistics.median(gan2d.train(list(gan2d.ARMS), 10, cfg)["seconds"] / cfg.steps for _ in range(3))
    full = per_step * gan2d.GanConfig().steps
    print(f"{name}: {1e3 * per_step:.1f} ms per step of {rows} seed-arms, {1e6 * per_step / rows:.0f} us per "
          f"seed-step; 60,000 steps: {full / 3600:.2f} h", flush=True)
