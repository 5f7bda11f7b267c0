"""The universal generator p_θ(x_T | x_S, y?) (DESIGN.md §2, paper appendix C, Fig. 7a).

An MAE-like encoder/decoder: the G-Encoder sees only the source patches plus a global token and a
label token; the G-Decoder runs over all L positions ([M] where nothing is given), with patch-wise
noise embeddings ([Mn] at source positions) added at every layer. Source patches are copied exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .config import ModelConfig
from .layers import Transformer, init_weights, position_table, token
from .patches import patchify, unpatchify

PREFIX = 2  # global token + label token, in front of the patch tokens in both encoder and decoder


@dataclass
class Encoded:
    """Output of the G-Encoder for a batch."""

    prefix: torch.Tensor  # (B, 2, enc_dim): global token, label token
    tokens: torch.Tensor  # (B, k, enc_dim): source tokens, padded to the largest |S| in the batch
    index: torch.Tensor  # (B, k) long: raster position of each source token
    valid: torch.Tensor  # (B, k) bool: False for padding


class UniversalGenerator(nn.Module):
    """p_θ(x_T | x_S, y): one network for every (S, T) and every label role."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        self.static_shapes = False  # encode every patch slot, not just the batch's largest |S| (precision.py)
        n = c.num_patches
        # G-Encoder
        self.patch_embed = nn.Linear(c.patch_dim, c.enc_dim)
        self.enc_pos = position_table(n, c.enc_dim)
        self.global_token = token(c.enc_dim)
        self.no_label_token = token(c.enc_dim)  # [My]
        self.label_embed = nn.Embedding(max(c.num_classes, 1), c.enc_dim)
        self.encoder = Transformer(c.enc_dim, c.enc_depth, c.enc_heads, c.mlp_ratio)
        self.enc_norm = nn.LayerNorm(c.enc_dim)
        # G-Decoder
        self.enc_to_dec = nn.Linear(c.enc_dim, c.dec_dim)
        self.mask_token = token(c.dec_dim)  # [M]
        self.dec_pos = position_table(n, c.dec_dim)
        self.noise_source_token = token(c.dec_dim)  # [Mn]
        widths = [c.noise_dim] + [c.dec_dim] * (c.noise_depth - 1)
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(w_in, w_out), nn.LeakyReLU(0.2)]
        self.noise_mlp = nn.Sequential(*layers, nn.Linear(widths[-1], n * c.dec_dim))
        self.noise_norm = nn.LayerNorm(c.dec_dim) if c.noise_norm else nn.Identity()
        self.decoder = Transformer(c.dec_dim, c.dec_depth, c.dec_heads, c.mlp_ratio)
        # the decoder's last LayerNorm is replaced by a LeakyReLU (paper appendix F)
        self.head = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(c.dec_dim, c.patch_dim))
        ch = c.conv_head_channels
        self.conv_head = nn.Sequential(
            nn.Conv2d(c.channels, ch, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(ch, ch, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(ch, c.channels, 3, padding=1),
        ) if ch else None
        self.classifier = nn.Linear(c.enc_dim, c.num_classes) if c.num_classes else None
        self.apply(init_weights)
        if self.conv_head is not None:  # start as the identity refinement
            nn.init.zeros_(self.conv_head[-1].weight)
            nn.init.zeros_(self.conv_head[-1].bias)

    # --- stages --------------------------------------------------------------------------------

    def encode(self, patches: torch.Tensor, source: torch.Tensor, labels: torch.Tensor | None) -> Encoded:
        """Encode source patches (B, L, P) selected by `source` (B, L); labels (B,) with -1 = none."""
        b, n, _ = patches.shape
        k = n if self.static_shapes else (int(source.sum(1).max()) if source.numel() else 0)
        # source positions first, in raster order (stable sort of "not source")
        index = (~source).to(torch.uint8).argsort(dim=1, stable=True)[:, :k]  # (B, k)
        valid = torch.arange(k, device=source.device) < source.sum(1, keepdim=True)
        picked = patches.gather(1, index[..., None].expand(-1, -1, patches.shape[2]))
        tokens = self.patch_embed(picked) + self.enc_pos[index]
        label_tok = self.no_label_token.expand(b, -1)
        if labels is not None and self.config.num_classes:
            known = labels >= 0
            label_tok = torch.where(known[:, None], self.label_embed(labels.clamp(min=0)), label_tok)
        prefix = torch.stack([self.global_token.expand(b, -1), label_tok], dim=1)
        x = torch.cat([prefix, tokens], dim=1)
        mask = torch.cat([torch.ones(b, PREFIX, dtype=torch.bool, device=x.device), valid], dim=1)
        x = self.enc_norm(self.encoder(x, mask))
        return Encoded(x[:, :PREFIX], x[:, PREFIX:], index, valid)

    def noise_embeddings(self, noise: torch.Tensor) -> torch.Tensor:
        """z (B, noise_dim) -> patch-wise noise embeddings (B, L, dec_dim)."""
        emb = self.noise_mlp(noise).view(noise.shape[0], self.config.num_patches, self.config.dec_dim)
        return self.noise_norm(emb)

    def decode(self, enc: Encoded, source: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Decoder over all L positions -> pixels of every patch (B, L, P), before copying sources."""
        b, n = source.shape
        d = self.config.dec_dim
        proj = self.enc_to_dec(enc.tokens) * enc.valid[..., None]
        scattered = torch.zeros(b, n, d, device=proj.device, dtype=proj.dtype).scatter(
            1, enc.index[..., None].expand(-1, -1, d), proj)
        x = torch.where(source[..., None], scattered, self.mask_token) + self.dec_pos
        x = torch.cat([self.enc_to_dec(enc.prefix), x], dim=1)
        noise_emb = torch.where(source[..., None], self.noise_source_token, self.noise_embeddings(noise))
        inject = torch.cat([noise_emb.new_zeros(b, PREFIX, d), noise_emb], dim=1)
        x = self.decoder(x, None, inject)
        return self.head(x[:, PREFIX:])

    # --- the whole generator -------------------------------------------------------------------

    def forward(self, images: torch.Tensor, source: torch.Tensor, noise: torch.Tensor,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        """Sample x ~ p_θ(x_{L\\S} | x_S, y) for images (B, C, H, W) in [-1, 1].

        Returns (B, C, H, W) in [-1, 1] with the source patches copied exactly from `images`
        (callers pick the target patches they need). `noise` (B, noise_dim), `labels` (B,) or None.
        """
        c = self.config
        patches = patchify(images, c.patch_size)
        out = self.decode(self.encode(patches, source, labels), source, noise)
        img = unpatchify(out, c.patch_size, c.channels, c.height, c.width)
        if self.conv_head is not None:
            img = img + self.conv_head(img)
        gen = patchify(torch.tanh(img), c.patch_size)
        merged = torch.where(source[..., None], patches, gen)
        return unpatchify(merged, c.patch_size, c.channels, c.height, c.width)

    def classify_logits(self, images: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """Logits of p_θ(y | x_S) (B, K) from the encoder's global token, or (`cls_pool` "mean") from the mean
        of the global token and the source tokens; the label is a target."""
        if self.classifier is None:
            raise ValueError("this model was trained without labels (num_classes = 0): it cannot classify")
        enc = self.encode(patchify(images, self.config.patch_size), source, None)
        summary = enc.prefix[:, 0]
        if self.config.cls_pool == "mean":
            valid = enc.valid[..., None].to(enc.tokens.dtype)
            summary = (summary + (enc.tokens * valid).sum(1)) / (1.0 + valid.sum(1))
        return self.classifier(summary).float()
