"""Training configuration: everything about the run that is not the model, serialised into resume files."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, budget and bookkeeping of one training run."""

    data: str = "mnist"
    preset: str = "mnist-cpu"
    seed: int = 0
    batch_size: int = 32
    steps: int = 0  # 0 = no step limit (use the time budget)
    time_budget_s: float = 0.0  # 0 = no time limit
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.1
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    warmup_steps: int = 0
    grad_clip: float = 0.0  # 0 = off
    ema_decay: float = 0.999
    missing_rate: float = 0.0
    holdout: int = 0  # the last N training images are the validation split, never trained on
    checkpoint_every: int = 500
    log_every: int = 50
    sample_every: int = 1000
    probe_every: int = 500
    keep_every: int = 0  # 0 = keep no snapshots of the inference file

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("--batch-size must be >= 1")
        if self.steps < 0 or self.time_budget_s < 0:
            raise ValueError("--steps and --time-budget must be >= 0")
        if self.lr_g <= 0 or self.lr_d <= 0:
            raise ValueError("learning rates must be > 0")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("--ema-decay must lie in [0, 1)")
        for name in ("checkpoint_every", "log_every", "sample_every", "probe_every", "keep_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0")
        if self.holdout < 0:
            raise ValueError("--holdout must be >= 0")
        if self.keep_every and (not self.checkpoint_every or self.keep_every % self.checkpoint_every):
            raise ValueError("--keep-every must be a multiple of --checkpoint-every (snapshots are taken when "
                             "a checkpoint is written)")


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
