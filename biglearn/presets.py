"""The preset registry: each preset is a model configuration and the recipe it is trained with, defined once.

`mnist-cpu` is sized for 2 CPU cores; `mnist`, `celeba64` are the paper's sizes (appendix F, Table 3).
The trainer takes its defaults from a preset's `Recipe` (`python -m train --preset NAME`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import BigLearnConfig, LossConfig, MaskConfig, ModelConfig


@dataclass(frozen=True)
class Recipe:
    """The optimisation a preset is trained with: the trainer's defaults for it (AdamW, EMA, warm-up)."""

    batch_size: int = 32
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.1  # the paper's AdamW β1
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    warmup_steps: int = 0
    grad_clip: float = 0.0  # 0 = off
    ema_decay: float = 0.999
    # EMA warm-up (StyleGAN2-ADA's ramp): the EMA's half-life in steps is at most ema_rampup x the steps
    # taken, so early weights are forgotten fast; 0 = off (a constant ema_decay). train/schedules.py
    ema_rampup: float = 0.0
    # the learning rates fall linearly to 0 over this last fraction of the run (--steps or --time-budget); 0 = off
    lr_decay: float = 0.0
    # D sees real and fake images shifted by the same random offset of up to this many pixels; 0 = off
    augment_shift: int = 0


@dataclass(frozen=True)
class Preset:
    """A named model configuration with its training recipe."""

    config: BigLearnConfig
    recipe: Recipe = field(default_factory=Recipe)


REGISTRY: dict[str, Preset] = {
    # 28x28 digits, patch 4 (49 tokens): sized so a full big-learning step fits 2 CPU cores
    # (label mostly a target: the classifier head learns from 60% of each batch; R1 0.5, see DESIGN §11)
    "mnist-cpu": Preset(BigLearnConfig(model=ModelConfig(noise_norm=True),
                                       masks=MaskConfig(label_roles=(0.4, 0.6, 0.0)), loss=LossConfig(r1_gamma=0.5)),
                        Recipe(batch_size=32, lr_g=2e-4, lr_d=2e-4)),
    # the claims' small model (issue 32): mnist-cpu's data shape, mask laws and recipe at about 1/9 of its counted
    # training FLOPs per image (G encoder 1x48, decoder 2x64, no conv head, D 2x32), so that every arm of the
    # comparison can reach its plateau on two CPU cores
    "mnist-small": Preset(BigLearnConfig(
        model=ModelConfig(enc_dim=48, enc_depth=1, enc_heads=2, dec_dim=64, dec_depth=2, dec_heads=2, noise_dim=32,
                          noise_depth=2, noise_norm=True, conv_head_channels=0, d_dim=32, d_depth=2, d_heads=2),
        masks=MaskConfig(label_roles=(0.4, 0.6, 0.0)), loss=LossConfig(r1_gamma=0.5)),
        Recipe(batch_size=32, lr_g=2e-4, lr_d=2e-4)),
    # mnist-cpu's model with a batch that fills a GPU: 8x the batch, the learning rates x2 (Adam: about the square
    # root of the batch ratio, capped where the CPU chain's 4e-4 runs stayed stable), a warm-up over the first 500
    # steps; R1 as mnist-cpu (its strength does not depend on the batch). Not yet trained on a GPU here.
    "mnist-gpu": Preset(BigLearnConfig(model=ModelConfig(noise_norm=True),
                                       masks=MaskConfig(label_roles=(0.4, 0.6, 0.0)), loss=LossConfig(r1_gamma=0.5)),
                        Recipe(batch_size=256, lr_g=4e-4, lr_d=4e-4, warmup_steps=500)),
    # a few-second end-to-end check of a setup (and the trainer's tests): same data shape, tiny widths
    "smoke": Preset(BigLearnConfig(
        model=ModelConfig(enc_dim=16, enc_depth=1, enc_heads=2, dec_dim=16, dec_depth=1, dec_heads=2,
                          noise_dim=8, noise_depth=2, conv_head_channels=4, d_dim=16, d_depth=1, d_heads=2)),
        Recipe(batch_size=8)),
    # paper Table 3, MNIST: 64x64, patch 8, G-Enc 6x256, G-Dec 6x512, D 6x256, 8 heads, λ_GP = 10
    "mnist": Preset(BigLearnConfig(
        model=ModelConfig(height=64, width=64, channels=1, patch_size=8, num_classes=10,
                          enc_dim=256, enc_depth=6, enc_heads=8, dec_dim=512, dec_depth=6, dec_heads=8,
                          mlp_ratio=4.0, noise_dim=128, noise_depth=8, conv_head_channels=64,
                          d_dim=256, d_depth=6, d_heads=8, d_overlap=2),
        loss=LossConfig(r1_gamma=10.0, r1_interval=1)), Recipe(batch_size=256, lr_g=1e-4, lr_d=1e-4)),
    # paper Table 3, CelebA at 64x64 (the paper uses 120/10; 64/8 keeps the same 64 tokens)
    "celeba64": Preset(BigLearnConfig(
        model=ModelConfig(height=64, width=64, channels=3, patch_size=8, num_classes=0,
                          enc_dim=256, enc_depth=6, enc_heads=8, dec_dim=512, dec_depth=6, dec_heads=8,
                          mlp_ratio=4.0, noise_dim=128, noise_depth=8, conv_head_channels=64,
                          d_dim=256, d_depth=6, d_heads=8, d_overlap=2),
        loss=LossConfig(r1_gamma=10.0, r1_interval=1)),
        Recipe(batch_size=128, lr_g=1e-4, lr_d=1e-4, warmup_steps=2000, grad_clip=5.0, eps=1e-5)),
    # personal folders of images: 64x64 RGB, unlabelled, mid-sized for a single GPU
    "folder-64": Preset(BigLearnConfig(
        model=ModelConfig(height=64, width=64, channels=3, patch_size=8, num_classes=0,
                          enc_dim=192, enc_depth=4, enc_heads=6, dec_dim=256, dec_depth=6, dec_heads=8,
                          mlp_ratio=4.0, noise_dim=128, noise_depth=6, conv_head_channels=48,
                          d_dim=192, d_depth=5, d_heads=6, d_overlap=2),
        loss=LossConfig(r1_gamma=5.0, r1_interval=4)),
        Recipe(batch_size=64, lr_g=1e-4, lr_d=1e-4, warmup_steps=1000, grad_clip=5.0, eps=1e-5)),
}
PRESETS: dict[str, BigLearnConfig] = {name: p.config for name, p in REGISTRY.items()}


def get_preset(name: str) -> BigLearnConfig:
    """The named preset's configuration; ValueError listing the known names otherwise."""
    return preset(name).config


def preset(name: str) -> Preset:
    """The named preset (configuration and recipe); ValueError listing the known names otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]
