"""The non-learned floor of the comparison (docs/claims.md): complete x_S by looking up a training image.

`NearestNeighbourModel` offers the part of `biglearn.BigLearnModel`'s API that the evaluation uses
(`config`, `info`, `complete`, `generate`, `classify`): a completion copies the source patches exactly and
takes every other patch from the training image whose source pixels are nearest in squared distance; with
an empty source (and in `generate`) the image is drawn from the training set by the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from biglearn.config import ModelConfig
from biglearn.inference import NEUTRAL, BigLearnModel, as_seed_list
from biglearn.masks import check_masks, flatten_mask
from biglearn.patches import patch_to_pixel_mask

NAME = "nearest-neighbour"


class NearestNeighbourModel:
    """A lookup in `train_images` (N, C, H, W) float [0, 1] with `labels` (N,), posing as a model."""

    objective = NAME
    deterministic = True  # for a non-empty source every seed gives the same completion
    can_generate = True

    def __init__(self, train_images: torch.Tensor, labels: torch.Tensor, config: ModelConfig,
                 chunk: int = 256) -> None:
        if train_images.shape[1:] != (config.channels, config.height, config.width):
            raise ValueError(f"training images of shape {tuple(train_images.shape[1:])} do not fit the "
                             f"{config.height}x{config.width} model config")
        self.config = config
        self.train = train_images.float()
        self.flat = self.train.flatten(1)
        self.flat_sq = self.flat.square()
        self.labels = labels.long()
        self.chunk = chunk
        self.info: dict[str, Any] = {"objective": NAME, "dataset_size": len(self.train), "steps": 0,
                                     "images_seen": 0, "train_seconds": 0.0}

    def prepare_images(self, images: Any) -> torch.Tensor:
        """The model's own input check and conversion (it depends on the config alone)."""
        return BigLearnModel.prepare_images(self, images)  # type: ignore[arg-type]

    def _seeded_index(self, seed: int, label: int | None = None) -> int:
        """A training image drawn by `seed` (of class `label` when given)."""
        pool = torch.arange(len(self.train)) if label is None or label < 0 else (self.labels == label).nonzero()[:, 0]
        if len(pool) == 0:
            raise ValueError(f"no training image of class {label}")
        return int(pool[torch.randint(len(pool), (1,), generator=torch.Generator().manual_seed(int(seed)))])

    def nearest(self, images: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """Index (B,) of the training image nearest to each image on its source pixels (B, L) bool."""
        c = self.config
        pix = patch_to_pixel_mask(source, c.patch_size, c.grid).flatten(1).float()
        x = images.float().flatten(1)
        out = []
        for lo in range(0, len(x), self.chunk):
            m, q = pix[lo:lo + self.chunk], x[lo:lo + self.chunk]
            # Σ_S (q - t)² = Σ_S q² - 2 Σ_S q·t + Σ_S t²; the first term does not change the argmin
            dist = m @ self.flat_sq.T - 2.0 * (m * q) @ self.flat.T
            out.append(dist.argmin(1))
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)

    def complete(self, images: torch.Tensor, source: Any, *, seeds: int | Sequence[int], labels: Any = None,
                 target: Any = None) -> torch.Tensor:
        """(B, n_seeds, C, H, W): sources copied, targets from the nearest training image, the rest grey."""
        c = self.config
        images = self.prepare_images(images)
        b = images.shape[0]
        source, target = check_masks(source, target, b, c.grid)
        seed_list = as_seed_list(seeds)
        idx = self.nearest(images, source)[:, None].repeat(1, len(seed_list))  # (B, n)
        for i in (~source.any(1)).nonzero()[:, 0].tolist():  # nothing to match: draw by seed
            idx[i] = torch.tensor([self._seeded_index(s) for s in seed_list])
        fill = self.train[idx.flatten()].view(b, len(seed_list), c.channels, c.height, c.width)
        pix_s = patch_to_pixel_mask(source, c.patch_size, c.grid)[:, None]
        pix_t = patch_to_pixel_mask(target, c.patch_size, c.grid)[:, None]
        grey = torch.full_like(fill, NEUTRAL)
        return torch.where(pix_s, images[:, None].float(), torch.where(pix_t, fill, grey))

    def generate(self, n: int, *, seeds: int | Sequence[int], labels: Any = None, target: Any = None) -> torch.Tensor:
        """n training images drawn by seed (of the asked class when `labels` is given), (n, C, H, W)."""
        seed_list = as_seed_list(seeds)
        if len(seed_list) == 1:
            seed_list = [seed_list[0] + i for i in range(n)]
        lab = [None] * n if labels is None else torch.as_tensor(labels).expand(n).tolist()
        out = self.train[torch.tensor([self._seeded_index(s, y) for s, y in zip(seed_list, lab, strict=True)])]
        if target is not None:
            c = self.config
            pix_t = patch_to_pixel_mask(flatten_mask(target, "target", n, c.grid), c.patch_size, c.grid)
            out = torch.where(pix_t, out, torch.full_like(out, NEUTRAL))
        return out

    def classify(self, images: torch.Tensor, source: Any = None) -> torch.Tensor:
        """One-hot p(y | x_S) of the nearest training image's label, (B, K)."""
        c = self.config
        images = self.prepare_images(images)
        b = images.shape[0]
        source = torch.ones(b, c.num_patches, dtype=torch.bool) if source is None else \
            flatten_mask(source, "source", b, c.grid)
        return torch.nn.functional.one_hot(self.labels[self.nearest(images, source)], c.num_classes).float()
