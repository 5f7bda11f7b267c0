"""The 25-GMM race's speed, eager against compiled: the bench's batch (10 seeds x 5 arms, 20 iterations, median
of 3 after a warm-up run) and the app's live race (3 arms, one seed, 300 iterations).

    OMP_NUM_THREADS=1 PYTHONPATH=. python docs/perf/race-2026-12-06/measure.py
"""

import time

import torch

from biglearn.sims import gmm25, live

torch.set_num_threads(1)
for compile in (False, True):
    cfg = gmm25.RaceConfig(iters=20, eval_every=20, eval_samples=1000, compile=compile)
    gmm25.race(list(gmm25.ARMS), 10, cfg)  # warm-up (and the compile)
    runs = sorted(gmm25.race(list(gmm25.ARMS), 10, cfg)["us_per_seed_step"] for _ in range(3))
    print(f"bench batch, compile={compile}: median {runs[1]:.0f} us/seed-step {[round(r) for r in runs]}", flush=True)
start = time.perf_counter()
live.warm()
print(f"live.warm: {time.perf_counter() - start:.1f} s", flush=True)
for compile in (False, True):
    start = time.perf_counter()
    frames = list(live.live_race(["joint", "biglearn", "biglearn+cond"], "reverse", 300, 0, compile=compile))
    print(f"live race 3 arms x 300 it, compile={compile}: {time.perf_counter() - start:.1f} s, reached "
          f"{frames[-1].iteration}, {len(frames)} frames", flush=True)
