"""Race speed: eager against compiled, the bench's batch (10 seeds x 5 arms, 20 iterations) and the app's live race."""
import sys, time, torch
from biglearn.sims import gmm25, live
torch.set_num_threads(1)
for compile in (False, True):
    cfg = gmm25.RaceConfig(iters=20, eval_every=20, eval_samples=1000, compile=compile)
    gmm25.race(list(gmm25.ARMS), 10, cfg)  # warm (compile)
    runs = [gmm25.race(list(gmm25.ARMS), 10, cfg)["us_per_seed_step"] for _ in range(3)]
    print(f"bench batch, compile={compile}: median {sorted(runs)[1]:.0f} us/seed-step {[round(r) for r in runs]}", flush=True)
t = time.perf_counter(); live.warm(); print(f"live.warm: {time.perf_counter()-t:.1f} s", flush=True)
for compile in (False, True):
    t = time.perf_counter()
    frames = list(live.live_race(["joint", "biglearn", "biglearn+cond"], "reverse", 300, 0, compile=compile))
    dt = time.perf_counter() - t
    print(f"live race 3 arms x 300 it, compile={compile}: {dt:.1f} s, reached {frames[-1].iteration}, "
          f"{len(frames)} frames", flush=True)
