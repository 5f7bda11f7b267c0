"""Translation augmentation for the discriminator (docs/design-notes.md, "Augmentation").

D sees real images and model samples shifted by the same random whole-pixel offset per sample, so it cannot
tell them apart by where a stroke sits; G still receives its sources unshifted (its copied patches stay
exactly the data's), and the same offsets move the real image and every fake drawn from it.
"""

from __future__ import annotations

import torch


def random_shifts(batch: int, max_shift: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(batch, 2) integer offsets (dy, dx), each uniform in [-max_shift, max_shift], from the global RNG."""
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    return torch.randint(-max_shift, max_shift + 1, (batch, 2), device=device)


def translate(images: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Shift each image (B, C, H, W) by its (dy, dx) whole pixels; the border is filled by replicating the edge.

    Differentiable in `images` (a gather), so G's gradient flows through it. A shift of (0, 0) returns the
    image unchanged; a shift of (1, 0) moves content one row down."""
    b, _, h, w = images.shape
    if shifts.shape != (b, 2):
        raise ValueError(f"shifts must have shape ({b}, 2), got {tuple(shifts.shape)}")
    rows = (torch.arange(h, device=images.device)[None] - shifts[:, :1]).clamp(0, h - 1)  # (B, H)
    cols = (torch.arange(w, device=images.device)[None] - shifts[:, 1:]).clamp(0, w - 1)  # (B, W)
    batch = torch.arange(b, device=images.device)[:, None, None]
    out = images.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)


__all__ = ["random_shifts", "translate"]
