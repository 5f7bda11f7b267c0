"""The learning-rate and EMA schedules of a run, as pure functions of its progress (tested against their formulas)."""

from __future__ import annotations

import math

from biglearn.presets import Recipe


def progress(step: int, elapsed_s: float, steps: int, time_budget_s: float) -> float:
    """How far the run is, in [0, 1]: the larger of step / steps and elapsed / budget (0 where neither is set)."""
    parts = [step / steps] if steps else []
    if time_budget_s:
        parts.append(elapsed_s / time_budget_s)
    return min(1.0, max(parts, default=0.0))


def lr_scale(recipe: Recipe, step: int, run_progress: float) -> float:
    """Factor on the base learning rates at `step`: linear warm-up over `warmup_steps`, times a linear decay
    to 0 over the last `lr_decay` fraction of the run: min(1, (1 - progress) / lr_decay)."""
    scale = min(1.0, (step + 1) / recipe.warmup_steps) if recipe.warmup_steps > 0 else 1.0
    if recipe.lr_decay > 0:
        scale *= max(0.0, min(1.0, (1.0 - run_progress) / recipe.lr_decay))
    return scale


def ema_decay(recipe: Recipe, step: int) -> float:
    """The EMA decay used after update `step` (0-based). Off (`ema_rampup` = 0): `ema_decay`. On: the EMA's
    half-life h = ln ½ / ln(ema_decay) steps is capped at ema_rampup · (step + 1), and the decay is ½^(1/h)."""
    if recipe.ema_rampup <= 0 or recipe.ema_decay <= 0:
        return recipe.ema_decay
    half_life = math.log(0.5) / math.log(recipe.ema_decay)
    return 0.5 ** (1.0 / min(half_life, recipe.ema_rampup * (step + 1)))


__all__ = ["ema_decay", "lr_scale", "progress"]
