"""The paper's figures as tensors: ratio sweeps (Fig. 3) and various seeds for one source (Fig. 4)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .inference import NEUTRAL, BigLearnModel
from .masks import first_portion_source, random_source
from .patches import patch_to_pixel_mask

SWEEP_RATIOS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def sweep_source(batch: int, num_patches: int, ratio: float, mode: str, seed: int) -> torch.Tensor:
    """Source of the given ratio: "random" patches (seeded) or the "first" raster portion."""
    if mode == "random":
        return random_source(batch, num_patches, ratio, generator=torch.Generator().manual_seed(seed))
    if mode == "first":
        return first_portion_source(batch, num_patches, ratio)
    raise ValueError(f"source mode must be 'random' or 'first', got {mode!r}")


def ratio_sweep(model: BigLearnModel, images: torch.Tensor, *, seeds: Sequence[int] = (0,),
                ratios: Sequence[float] = SWEEP_RATIOS, mode: str = "random",
                labels: torch.Tensor | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """Paper Fig. 3: completions of each image as the source ratio grows, the real image last.

    Returns (rows, len(ratios)+1, C, H, W) with one row per (image, seed) and the source masks
    (rows, cols, gh, gw) for outlining (none on the real column).
    """
    images = model.prepare_images(images)
    c = model.config
    b, n = images.shape[0], len(seeds)
    cols, masks = [], []
    for i, r in enumerate(ratios):
        src = sweep_source(b, c.num_patches, r, mode, seed=1000 + i)
        cols.append(model.complete(images, src, seeds=list(seeds), labels=labels).flatten(0, 1))
        masks.append(src.repeat_interleave(n, 0))
    cols.append(images.repeat_interleave(n, 0))
    masks.append(torch.zeros_like(masks[0]))
    grid = torch.stack(cols, dim=1)
    outlines = torch.stack(masks, dim=1).view(b * n, len(cols), *c.grid).numpy()
    return grid, outlines


def seed_grid(model: BigLearnModel, images: torch.Tensor, source: torch.Tensor, seeds: Sequence[int],
              labels: torch.Tensor | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """Paper Fig. 4: for each image (a row), the source alone, then one completion per seed.

    Returns (B, 1 + n_seeds, C, H, W) and the outline masks (B, 1 + n_seeds, gh, gw).
    """
    images = model.prepare_images(images)
    c = model.config
    source = source.reshape(images.shape[0], -1)
    shown = torch.where(patch_to_pixel_mask(source, c.patch_size, c.grid), images, torch.full_like(images, NEUTRAL))
    samples = model.complete(images, source, seeds=list(seeds), labels=labels)
    grid = torch.cat([shown[:, None], samples], dim=1)
    outlines = source.view(-1, 1, *c.grid).expand(-1, grid.shape[1], -1, -1).numpy()
    return grid, outlines
