"""Pictures of samples: image grids (paper Figs. 3-5), nearest-neighbour upscaling, source outlines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

OUTLINE = (255, 64, 64)  # source-patch outline colour


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(..., C, H, W) float [0, 1] -> (..., H, W, 3) uint8 RGB."""
    x = (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    if x.shape[-3] == 1:
        x = x.expand(*x.shape[:-3], 3, *x.shape[-2:])
    return x.movedim(-3, -1).cpu().numpy()


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of (H, W, 3) uint8: crisp pixels."""
    return image.repeat(factor, axis=0).repeat(factor, axis=1)


def outline_patches(image: np.ndarray, mask: np.ndarray, patch_size: int, factor: int,
                    color: tuple[int, int, int] = OUTLINE) -> np.ndarray:
    """Draw the border of the region `mask` (gh, gw) on an upscaled (H·f, W·f, 3) image."""
    out = image.copy()
    p = patch_size * factor
    gh, gw = mask.shape
    padded = np.pad(mask, 1)
    for i in range(gh):
        for j in range(gw):
            if not mask[i, j]:
                continue
            y, x = i * p, j * p
            if not padded[i, j + 1]:
                out[y, x:x + p] = color
            if not padded[i + 2, j + 1]:
                out[y + p - 1, x:x + p] = color
            if not padded[i + 1, j]:
                out[y:y + p, x] = color
            if not padded[i + 1, j + 2]:
                out[y:y + p, x + p - 1] = color
    return out


def grid_image(images: torch.Tensor, *, factor: int = 2, pad: int = 2, outlines: np.ndarray | None = None,
               patch_size: int = 1) -> np.ndarray:
    """(R, K, C, H, W) in [0, 1] -> one (R·(H·f+pad)+pad, K·(W·f+pad)+pad, 3) uint8 grid on white.

    `outlines` (R, K, gh, gw) bool optionally outlines the source patches of each cell.
    """
    if images.dim() != 5:
        raise ValueError(f"grid_image expects (rows, cols, C, H, W), got {tuple(images.shape)}")
    rows, cols = images.shape[:2]
    cells = to_uint8(images)
    h, w = cells.shape[2] * factor, cells.shape[3] * factor
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for r in range(rows):
        for k in range(cols):
            cell = upscale(cells[r, k], factor)
            if outlines is not None and outlines[r, k].any():
                cell = outline_patches(cell, outlines[r, k], patch_size, factor)
            y, x = pad + r * (h + pad), pad + k * (w + pad)
            canvas[y:y + h, x:x + w] = cell
    return canvas


def save_png(image: np.ndarray, path: str | Path) -> None:
    """Write an (H, W, 3) uint8 array as a PNG (lossless)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="PNG")
