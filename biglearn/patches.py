"""Patch operations: images <-> raster-ordered patch tokens, and patch masks <-> pixel masks."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def check_patchable(height: int, width: int, patch_size: int) -> tuple[int, int]:
    """Return the patch grid (gh, gw), or raise ValueError if `patch_size` does not divide the image."""
    if patch_size <= 0:
        raise ValueError(f"patch size must be positive, got {patch_size}")
    if height % patch_size or width % patch_size:
        raise ValueError(f"patch size {patch_size} does not divide the image size {height}x{width}")
    return height // patch_size, width // patch_size


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, L, p*p*C), patches in raster order, pixels as (p1, p2, c)."""
    if images.dim() != 4:
        raise ValueError(f"expected images of shape (B, C, H, W), got {tuple(images.shape)}")
    b, c, h, w = images.shape
    gh, gw = check_patchable(h, w, patch_size)
    p = patch_size
    x = images.reshape(b, c, gh, p, gw, p)
    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, gh, gw, p, p, C)
    return x.reshape(b, gh * gw, p * p * c)


def unpatchify(tokens: torch.Tensor, patch_size: int, channels: int, height: int, width: int) -> torch.Tensor:
    """(B, L, p*p*C) -> (B, C, H, W); the exact inverse of `patchify`."""
    gh, gw = check_patchable(height, width, patch_size)
    p = patch_size
    if tokens.dim() != 3 or tokens.shape[1] != gh * gw or tokens.shape[2] != p * p * channels:
        raise ValueError(
            f"expected tokens of shape (B, {gh * gw}, {p * p * channels}), got {tuple(tokens.shape)}"
        )
    b = tokens.shape[0]
    x = tokens.reshape(b, gh, gw, p, p, channels)
    x = x.permute(0, 5, 1, 3, 2, 4)  # (B, C, gh, p, gw, p)
    return x.reshape(b, channels, height, width)


def patch_to_pixel_mask(mask: torch.Tensor, patch_size: int, grid: tuple[int, int]) -> torch.Tensor:
    """Bool (B, L) patch mask -> bool (B, 1, H, W) pixel mask."""
    gh, gw = grid
    m = mask.reshape(mask.shape[0], 1, gh, gw)
    return m.repeat_interleave(patch_size, dim=2).repeat_interleave(patch_size, dim=3)


def pixel_to_patch_mask(pixel_mask: torch.Tensor, patch_size: int, min_fraction: float = 0.0) -> torch.Tensor:
    """Bool/float (B, H, W) pixel mask -> bool (B, L) patch mask.

    A patch is selected when the fraction of its selected pixels exceeds `min_fraction`
    (0.0: any selected pixel selects the patch, as a brush stroke would).
    """
    if pixel_mask.dim() != 3:
        raise ValueError(f"expected a pixel mask of shape (B, H, W), got {tuple(pixel_mask.shape)}")
    _, h, w = pixel_mask.shape
    check_patchable(h, w, patch_size)
    frac = F.avg_pool2d(pixel_mask.float()[:, None], patch_size)  # (B, 1, gh, gw)
    return (frac > min_fraction).flatten(1)


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return images * 2.0 - 1.0


def from_model_range(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return ((images + 1.0) * 0.5).clamp(0.0, 1.0)
