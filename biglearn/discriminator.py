"""The universal discriminator f_φ(x; S, T, y?) (DESIGN.md §3, paper appendix C, Fig. 7b).

A ViT over the patches of S ∪ T only: tokens outside S ∪ T are zeroed before embedding and masked out
of attention, so they cannot influence the CLS logit. Each token gets a patch embedding (optionally of
an overlapping window), a position embedding and a type embedding [Ms] / [Mt].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .layers import Transformer, init_weights, token
from .patches import patch_to_pixel_mask


class UniversalDiscriminator(nn.Module):
    """f_φ(x; S, T, y): one logit per sample for every (S, T) and label role."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        window = c.patch_size + 2 * c.d_overlap
        self.patch_embed = nn.Linear(c.channels * window * window, c.d_dim)
        self.pos = nn.Parameter(torch.randn(c.num_patches, c.d_dim) * 0.02)
        self.type_embed = nn.Parameter(torch.randn(2, c.d_dim) * 0.02)  # [Ms], [Mt]
        self.cls_token = token(c.d_dim)
        # label token: one row per class plus one for "no label in S'"
        self.label_embed = nn.Embedding(c.num_classes + 1, c.d_dim)
        self.blocks = Transformer(c.d_dim, c.d_depth, c.d_heads, c.mlp_ratio)
        self.norm = nn.LayerNorm(c.d_dim)
        self.head = nn.Linear(c.d_dim, 1)
        self.apply(init_weights)
        nn.init.normal_(self.label_embed.weight, std=0.02)

    def tokens(self, images: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """Patch windows (B, L, C·(p+2o)²) of the image with every pixel outside `visible` zeroed."""
        c = self.config
        x = images * patch_to_pixel_mask(visible, c.patch_size, c.grid).to(images.dtype)
        windows = F.unfold(x, kernel_size=c.patch_size + 2 * c.d_overlap, stride=c.patch_size,
                           padding=c.d_overlap)  # (B, C·w², L)
        return windows.transpose(1, 2)

    def forward(self, images: torch.Tensor, source: torch.Tensor, target: torch.Tensor,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logit (B,) that x_{S∪T} is real data rather than x_S ∪ G(x_S)_T. labels: -1 = not in S'."""
        b = images.shape[0]
        visible = source | target
        x = self.patch_embed(self.tokens(images, visible)) + self.pos + self.type_embed[target.long()]
        no_label = torch.full((b,), self.config.num_classes, dtype=torch.long, device=images.device)
        label_idx = no_label if labels is None else torch.where(labels >= 0, labels, no_label)
        cls = (self.cls_token + self.label_embed(label_idx))[:, None]
        x = torch.cat([cls, x], dim=1)
        mask = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=x.device), visible], dim=1)
        x = self.blocks(x, mask)
        return self.head(self.norm(x[:, 0])).squeeze(1)
