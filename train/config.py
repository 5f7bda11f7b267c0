"""Training configuration: everything about the run that is not the model, serialised into resume files."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

from biglearn.precision import PRECISIONS
from biglearn.presets import Recipe


@dataclass(frozen=True)
class TrainConfig(Recipe):
    """One training run: the optimisation recipe (from its preset, `biglearn.presets`), the budget and the
    bookkeeping. Errors name fields as `TrainConfig.<field>`; the CLI maps them to its flags."""

    data: str = "mnist"
    preset: str = "mnist-cpu"
    seed: int = 0
    steps: int = 0  # 0 = no step limit (use the time budget)
    time_budget_s: float = 0.0  # 0 = no time limit
    missing_rate: float = 0.0
    holdout: int = 0  # the last N training images are the validation split, never trained on
    init_from: str = ""  # a resume or inference file whose weights start the run (a warm start); "" = random
    checkpoint_every: int = 500
    log_every: int = 50
    sample_every: int = 1000
    probe_every: int = 500
    keep_every: int = 0  # 0 = keep no snapshots of the inference file
    progress_every: float = 30.0  # seconds between progress lines when stderr is not a terminal (0 = none)
    # compute precision asked for (biglearn.precision): auto, fp32 or bf16; the one used is in the metrics log
    precision: str = "auto"
    compile: bool = False  # torch.compile G and D for the step (R1 and the classifier stay eager)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("TrainConfig.batch_size must be >= 1")
        for name in ("steps", "time_budget_s", "holdout", "checkpoint_every", "log_every", "sample_every",
                     "probe_every", "keep_every", "progress_every", "warmup_steps", "grad_clip", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0")
        for name in ("lr_g", "lr_d", "eps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name} must be > 0")
        for name in ("beta1", "beta2", "ema_decay"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"TrainConfig.{name} must lie in [0, 1)")
        if self.precision not in PRECISIONS:
            raise ValueError(f"TrainConfig.precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not (math.isfinite(self.ema_rampup) and 0.0 <= self.ema_rampup <= 10.0):
            raise ValueError("TrainConfig.ema_rampup must lie in [0, 10] (0 = off; StyleGAN2-ADA uses 0.05)")
        if not 0.0 <= self.lr_decay <= 1.0:
            raise ValueError("TrainConfig.lr_decay must lie in [0, 1] (the last fraction of the run; 0 = off)")
        if self.lr_decay > 0 and not (self.steps or self.time_budget_s):
            raise ValueError("TrainConfig.lr_decay needs a run length: set TrainConfig.steps or "
                             "TrainConfig.time_budget_s")
        if isinstance(self.augment_shift, bool) or not isinstance(self.augment_shift, int) \
                or not 0 <= self.augment_shift <= 8:
            raise ValueError("TrainConfig.augment_shift must be a whole number of pixels in [0, 8]")
        if self.keep_every and (not self.checkpoint_every or self.keep_every % self.checkpoint_every):
            raise ValueError("TrainConfig.keep_every must be a multiple of TrainConfig.checkpoint_every (snapshots "
                             "are taken when a checkpoint is written)")


FIELD_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str) -> float:
    """'1h30m', '90m', '45s', '2h' or plain seconds '5400' -> seconds."""
    text = text.strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    m = _DURATION.match(text)
    if not text or not m or not any(m.groups()):
        raise ValueError(f"cannot parse duration {text!r}: use e.g. 1h30m, 90m, 45s or seconds")
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s
