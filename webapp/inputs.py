"""What users type and click, checked: quick masks, clicks to patches, seeds, classes, a source's summary.
Masks are bool (gh, gw) numpy arrays.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import torch

from biglearn import masks

MAX_UI_SEED = 2**31 - 1  # seeds typed in the app (safe as JavaScript numbers)
QUICK_MASKS = ("random", "top half", "left half", "centre", "invert", "clear")


def quick_mask(name: str, grid: tuple[int, int], *, current: np.ndarray | None = None, ratio: float = 0.5,
               seed: int = 0) -> np.ndarray:
    """A ready-made source, bool (gh, gw): "random" (round(ratio·L) patches, seeded), "top half",
    "left half", "centre" (the middle third in each direction, at least one patch), "invert" (of
    `current`), "clear"."""
    gh, gw = grid
    if name == "random":
        gen = torch.Generator().manual_seed(seed)
        return masks.random_source(1, gh * gw, ratio, generator=gen).view(gh, gw).numpy()
    if name == "top half":
        return masks.region_source(1, grid, slice(0, gh // 2), slice(None)).view(gh, gw).numpy()
    if name == "left half":
        return masks.region_source(1, grid, slice(None), slice(0, gw // 2)).view(gh, gw).numpy()
    if name == "centre":
        rows, cols = _centre_slice(gh), _centre_slice(gw)
        return masks.region_source(1, grid, rows, cols).view(gh, gw).numpy()
    if name == "invert":
        return ~(np.zeros(grid, dtype=bool) if current is None else current.astype(bool))
    if name == "clear":
        return np.zeros(grid, dtype=bool)
    raise ValueError(f"unknown quick mask {name!r}; choose one of {', '.join(QUICK_MASKS)}")


def _centre_slice(n: int) -> slice:
    k = max(1, n // 3)
    start = (n - k) // 2
    return slice(start, start + k)


def cell_at(xy: tuple[float, float], shown_size: tuple[int, int], grid: tuple[int, int]) -> int:
    """Raster patch index under a click at pixel (x, y) of a picture of `shown_size` (h, w)."""
    (x, y), (h, w), (gh, gw) = xy, shown_size, grid
    row = int(np.clip(y * gh // h, 0, gh - 1))
    col = int(np.clip(x * gw // w, 0, gw - 1))
    return row * gw + col


def toggle(indices: list[int], index: int) -> list[int]:
    """`indices` with `index` removed if present, else appended (click order is kept)."""
    return [i for i in indices if i != index] if index in indices else [*indices, index]


def whole_number(value: Any, name: str, low: int, high: int) -> int:
    """`value` as an int when it is a whole number in [low, high] (a bool, a string or None is not: nothing is
    rounded); else a ValueError naming it."""
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or value != int(value) or not low <= value <= high):
        raise ValueError(f"{name} must be a whole number from {low:,} to {high:,}, got {value!r}")
    return int(value)


def check_seeds(seed: Any, n: int) -> list[int]:
    """The seeds seed, seed+1, ..., seed+n-1 for n samples; ValueError unless they lie in [0, MAX_UI_SEED]
    and n in [1, 16]."""
    n = whole_number(n, "the number of samples", 1, 16)
    seed = whole_number(seed, "the seed", 0, MAX_UI_SEED - n + 1)
    return [seed + i for i in range(n)]


def source_summary(source: np.ndarray) -> str:
    """One line of Markdown on a (gh, gw) source: how many patches are kept, or what an empty or full
    source means."""
    gh, gw = source.shape
    k, n = int(source.sum()), source.size
    if k == 0:
        return f"Nothing painted: joint generation of all {n} patches ({gh}x{gw} grid)."
    if k == n:
        return f"All {n} patches kept: nothing is left to generate, erase some."
    return f"**{k} of {n} patches kept** (r = {k / n:.2f}); the model generates the other {n - k}."


def parse_class(value: Any, num_classes: int) -> int | None:
    """The class picker's value: None for "any" (or empty), else a class number checked against the model."""
    if value is None or str(value).strip() in ("", "any"):
        return None
    text = str(value).strip()
    if not num_classes:
        raise ValueError("this checkpoint was trained without labels: choose 'any'")
    if not re.fullmatch(r"[0-9]{1,6}", text) or int(text) >= num_classes:  # not isdigit(): "²" is a digit
        raise ValueError(f"the class must be 'any' or a number from 0 to {num_classes - 1}, got {value!r}")
    return int(text)
