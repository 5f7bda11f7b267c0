"""Out-of-domain transplants (paper §4.2, Fig. 5) on top of `biglearn.masks.paste_patches`, and the paper's
presets from the one table of abused sources, `biglearn.masks.abused_layout`.
"""

from __future__ import annotations

import numpy as np
import torch

from biglearn import masks


def transplant(image: np.ndarray, donor: np.ndarray, patch_size: int, picks: list[int], dests: list[int],
               keep: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Paste the donor's patches `picks` into `image` and build the source (paper Fig. 5).

    The k-th pick goes to `dests[k]`, or to its own place when fewer destinations are given; the
    source is the pasted patches plus the image's own patches `keep`. Both images uint8 (H, W, C) of
    the same shape; returns (composite uint8 (H, W, C), source bool (gh, gw)).
    """
    if image.shape != donor.shape:
        raise ValueError(f"the two images differ in shape: {image.shape} and {donor.shape}")
    h, w, _ = image.shape
    grid = (h // patch_size, w // patch_size)
    dst = [dests[k] if k < len(dests) else p for k, p in enumerate(picks)]
    pasted, source = masks.paste_patches(_as_batch(image), _as_batch(donor), patch_size, list(picks), dst,
                                         list(keep))
    composite = (pasted[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    return composite, source.view(grid).numpy()


def _as_batch(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, C) -> float (1, C, H, W) in [0, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0


PRESETS = {"relocate": "relocated", "duplicate": "duplicated", "mix": "mixed"}  # the app's names


def preset(name: str, grid: tuple[int, int]) -> tuple[list[int], list[int], list[int]]:
    """(picks, dests, keep) of a paper-§4.2 preset for `transplant`, from `biglearn.masks.abused_layout`:
    "relocate": the centre patches moved to the upper left (only they are given; donor = the image);
    "duplicate": the centre patches copied to the upper left (originals and copies given; donor = the image);
    "mix": the upper half of the image and the lower half of the donor (a second digit) given."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose relocate, duplicate or mix")
    lay = masks.abused_layout(PRESETS[name], grid)
    return lay.picks, lay.dests, lay.keep
