"""Helpers shared by the tests: the small model widths of the app tests and a tiny checkpoint of them.

(Fixtures live in tests/conftest.py; the loopback port and Chromium's flags in `webapp.headless`.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

import biglearn
from biglearn.config import BigLearnConfig, ModelConfig

# 28x28 digits, patch 4 (7x7 grid), 10 classes, every width tiny: a checkpoint of this loads in milliseconds
SMALL = dict(enc_dim=16, enc_depth=1, enc_heads=2, dec_dim=16, dec_depth=1, dec_heads=2, noise_dim=8,
             noise_depth=2, conv_head_channels=0, d_dim=16, d_depth=1, d_heads=2)


def save_tiny(path: Path, info: dict[str, Any] | None = None, **changes: Any) -> Path:
    """A random-weight (seed 0) checkpoint of the SMALL model (with `changes` to its config) at `path`."""
    cfg = BigLearnConfig(model=ModelConfig(**{**SMALL, **changes}))
    torch.manual_seed(0)
    biglearn.save(path, biglearn.UniversalGenerator(cfg.model), cfg, info={"preset": "tiny"} if info is None else info)
    return path
