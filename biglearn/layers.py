"""Transformer building blocks shared by the generator and the discriminator."""

from __future__ import annotations

import torch
from torch import nn

from .precision import attention

BUCKET_STEP = 8  # masked Transformer calls pad each sample to a multiple of this many tokens


class Attention(nn.Module):
    """Multi-head self-attention with a per-sample key mask (padding / tokens outside S ∪ T)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        b, n, d = x.shape
        # unbind the (B, N, 3, h, hd) projection: its backward stacks the three gradients straight
        # into the layout the qkv Linear needs (no extra copy)
        q, k, v = (t.transpose(1, 2) for t in self.qkv(x).view(b, n, 3, self.heads, d // self.heads).unbind(2))
        mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, N), True = attend
        y = attention(q, k, v, mask)
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), key_mask)
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """A stack of blocks; `inject` (B, N, D) is added to the input of every block (noise embeddings).

    With a key mask, each sample runs on its valid tokens only, padded up to the next multiple of
    `BUCKET_STEP` (`length_buckets`): the same outputs as padding every sample to N, without most of
    the wasted work, and a sample's padding depends on its own length only, not on its batch.
    Outputs at masked positions are zero (nothing may read them). With `static_shapes` on
    (`biglearn.precision.set_static_shapes`) every call runs at the full length N instead: the same outputs,
    shapes that never change (bf16 kernels and GPUs want that).
    """

    def __init__(self, dim: int, depth: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.static_shapes = False

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None,
                inject: torch.Tensor | None = None) -> torch.Tensor:
        if key_mask is None:
            return self.run(x, None, inject)
        if self.static_shapes:
            return self.run(x, key_mask, inject) * key_mask[..., None]
        if bool(key_mask.all()):
            return self.run(x, None, inject)
        lengths = key_mask.sum(1)
        slots = (~key_mask).to(torch.uint8).argsort(dim=1, stable=True)  # (B, N): valid tokens first, in order
        out = torch.zeros_like(x)
        for rows, n, full in length_buckets(lengths, BUCKET_STEP, x.shape[1]):
            where = (rows[:, None], slots[rows, :n])  # the group's valid tokens (+ padding up to n)
            mask = None if full else torch.arange(n, device=x.device) < lengths[rows, None]
            y = self.run(x[where], mask, None if inject is None else inject[where])
            out[where] = y if mask is None else y * mask[..., None]
        return out

    def run(self, x: torch.Tensor, key_mask: torch.Tensor | None, inject: torch.Tensor | None) -> torch.Tensor:
        """The blocks on a padded batch (B, N, D); `key_mask` (B, N) True = a real token."""
        for block in self.blocks:
            if inject is not None:
                x = x + inject
            x = block(x, key_mask)
        return x


def length_buckets(lengths: torch.Tensor, step: int, cap: int) -> list[tuple[torch.Tensor, int, bool]]:
    """Group samples (B,) by their length rounded up to a multiple of `step` (at most `cap`).

    Returns, per group: the sample indices, the padded length n, and whether every sample of the
    group is exactly n long (then no mask is needed)."""
    padded = (lengths + step - 1).div(step, rounding_mode="floor").mul(step).clamp(max=cap)
    exact = lengths == padded
    groups = []
    for n in padded.unique().tolist():
        rows = (padded == n).nonzero().flatten()
        groups.append((rows, n, bool(exact[rows].all())))
    return groups


def init_weights(module: nn.Module) -> None:
    """Xavier-uniform linears with zero bias, unit LayerNorms (MAE's `_init_weights`)."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def token(dim: int) -> nn.Parameter:
    """A learned special token / embedding table row, initialised N(0, 0.02)."""
    return nn.Parameter(torch.randn(dim) * 0.02)


def position_table(n: int, dim: int) -> nn.Parameter:
    """Learned position (or type) embeddings at unit scale.

    With ViT's usual N(0, 0.02) the first LayerNorm sees almost only the patch embedding and erases
    its scale: a discriminator cannot tell a patch from a fainter copy, and decoder tokens made of
    [M] + position + noise lose their position under the noise.
    """
    return nn.Parameter(torch.randn(n, dim))
