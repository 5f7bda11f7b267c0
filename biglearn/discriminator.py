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
from .layers import Transformer, init_weights, position_table, token


class UniversalDiscriminator(nn.Module):
    """f_φ(x; S, T, y): one logit per sample for every (S, T) and label role."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        window = c.patch_size + 2 * c.d_overlap
        self.patch_embed = nn.Linear(c.channels * window * window, c.d_dim)
        self.pos = position_table(c.num_patches, c.d_dim)
        self.type_embed = position_table(2, c.d_dim)  # [Ms], [Mt]
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
        b, p, o, (gh, gw) = images.shape[0], c.patch_size, c.d_overlap, c.grid
        w = p + 2 * o
        # zero hidden patches by broadcasting the patch mask (no pixel mask materialised), then cut the
        # overlapping windows as a strided view: F.unfold's values in 0.4-0.6x its time on the CPU
        x = images.reshape(b, c.channels, gh, p, gw, p) * visible.view(b, 1, gh, 1, gw, 1).to(images.dtype)
        x = F.pad(x.reshape(images.shape), (o, o, o, o))
        windows = x.unfold(2, w, p).unfold(3, w, p)  # (B, C, gh, gw, w, w)
        return windows.permute(0, 2, 3, 1, 4, 5).reshape(b, gh * gw, c.channels * w * w)

    def forward(self, images: torch.Tensor, source: torch.Tensor, target: torch.Tensor,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logit (B,) that x_{S∪T} is real data rather than x_S ∪ G(x_S)_T. labels: -1 = not in S'."""
        b = images.shape[0]
        visible = source | target
        kind = torch.where(target[..., None], self.type_embed[1], self.type_embed[0])  # [Mt] on T, [Ms] elsewhere
        x = self.patch_embed(self.tokens(images, visible)) + self.pos + kind
        no_label = torch.full((b,), self.config.num_classes, dtype=torch.long, device=images.device)
        label_idx = no_label if labels is None else torch.where(labels >= 0, labels, no_label)
        cls = (self.cls_token + self.label_embed(label_idx))[:, None]
        x = torch.cat([cls, x], dim=1)
        mask = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=x.device), visible], dim=1)
        x = self.blocks(x, mask)
        return self.head(self.norm(x[:, 0])).squeeze(1).float()  # fp32 logits for the losses, also under bf16
