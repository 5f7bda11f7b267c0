"""Speed of the 2-D simulations (issue 10): the landscape, the 25-GMM race per seed-step, the 2-D GAN per step.

Each is timed on a short run of the real code at the full experiment's batch (every arm × the seeds batched)
and projected to the full experiment's length; the goals are the issue's.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from biglearn.sims import gan2d, gmm25, landscape

LANDSCAPE_GOAL_S = 30.0  # the whole `landscape` experiment (100 x 100 grid)
SEED_STEP_GOAL_US = 90.0  # one inner SGD step of one seed of one arm, in the full gmm25 batch
GAN2D_GOAL_S = 6 * 3600.0  # `gan2d`'s full run: 10 seeds x 3 arms, the default (sharp) setup's steps
FULL_SEEDS = 10


def bench_sims(landscape_points: int, gmm_iters: int, gan_steps: int, seeds: int = FULL_SEEDS,
               compile: bool = True) -> dict[str, Any]:
    """Time the three experiments at `seeds` seeds per arm; the full experiments' wall times projected. The race
    is timed compiled (after one warm-up run that compiles it) unless `compile` is False."""
    start = time.perf_counter()
    landscape.run(points=landscape_points)
    landscape_s = time.perf_counter() - start

    arms = list(gmm25.ARMS)
    cfg = gmm25.RaceConfig(iters=gmm_iters, eval_every=gmm_iters, eval_samples=1000, compile=compile)
    if compile:
        gmm25.race(arms, seeds, dataclasses.replace(cfg, iters=1, eval_every=1))  # compiles the step once
    race = gmm25.race(arms, seeds, cfg)
    full = gmm25.RaceConfig()
    gmm_full_s = race["us_per_seed_step"] * 1e-6 * full.iters * full.inner * len(arms) * FULL_SEEDS

    result = gan2d.train(list(gan2d.ARMS), seeds, gan2d.GanConfig(steps=gan_steps, eval_every=0))
    per_step = result["seconds"] / gan_steps
    pacgan = gan2d.train(list(gan2d.ARMS), seeds, gan2d.pacgan_config(steps=gan_steps, eval_every=0))
    rows = len(gan2d.ARMS) * seeds
    return {"landscape": {"points": landscape_points, "seconds": landscape_s},
            "gmm25": {"arms": len(arms), "seeds": seeds, "iterations": gmm_iters, "inner": cfg.inner,
                      "compiled": compile, "us_per_seed_step": race["us_per_seed_step"],
                      "projected_full_s": gmm_full_s},
            "gan2d": {"arms": len(gan2d.ARMS), "seeds": seeds, "steps": gan_steps, "step_s": per_step,
                      "us_per_seed_step": 1e6 * per_step / rows,
                      "pacgan_us_per_seed_step": 1e6 * pacgan["seconds"] / gan_steps / rows,
                      "projected_full_s": per_step * gan2d.GanConfig.steps}}


def sims_targets(sims: dict[str, Any], full_size: bool) -> list[dict[str, Any]]:
    """The issue's speed goals against these timings (landscape only when timed at the full 100 x 100 grid)."""
    land = sims["landscape"]["seconds"] if sims["landscape"]["points"] == 100 else None
    if not full_size:
        return []
    return [
        {"target": "landscape experiment (s)", "value": land, "goal": LANDSCAPE_GOAL_S,
         "met": None if land is None else land <= LANDSCAPE_GOAL_S},
        {"target": "gmm25 us per seed-step", "value": sims["gmm25"]["us_per_seed_step"], "goal": SEED_STEP_GOAL_US,
         "met": sims["gmm25"]["us_per_seed_step"] <= SEED_STEP_GOAL_US},
        {"target": f"gan2d 10 seeds x {sims['gan2d']['arms']} arms, projected (s)",
         "value": sims["gan2d"]["projected_full_s"],
         "goal": GAN2D_GOAL_S, "met": sims["gan2d"]["projected_full_s"] <= GAN2D_GOAL_S},
    ]
