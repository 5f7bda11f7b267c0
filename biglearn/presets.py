"""Named model configurations: a CPU-sized one and the paper's sizes (appendix F, Table 3)."""

from __future__ import annotations

from .config import BigLearnConfig, LossConfig, MaskConfig, ModelConfig

PRESETS: dict[str, BigLearnConfig] = {
    # 28x28 digits, patch 4 (49 tokens): sized so a full big-learning step fits 2 CPU cores
    # (label mostly a target: the classifier head learns from 60% of each batch; R1 0.5, see DESIGN §11)
    "mnist-cpu": BigLearnConfig(model=ModelConfig(noise_norm=True), masks=MaskConfig(label_roles=(0.4, 0.6, 0.0)),
                                loss=LossConfig(r1_gamma=0.5)),
    # a few-second end-to-end check of a setup (and the trainer's tests): same data shape, tiny widths
    "smoke": BigLearnConfig(
        model=ModelConfig(enc_dim=16, enc_depth=1, enc_heads=2, dec_dim=16, dec_depth=1, dec_heads=2,
                          noise_dim=8, noise_depth=2, conv_head_channels=4, d_dim=16, d_depth=1, d_heads=2)),
    # paper Table 3, MNIST: 64x64, patch 8, G-Enc 6x256, G-Dec 6x512, D 6x256, 8 heads, λ_GP = 10
    "mnist": BigLearnConfig(
        model=ModelConfig(height=64, width=64, channels=1, patch_size=8, num_classes=10,
                          enc_dim=256, enc_depth=6, enc_heads=8, dec_dim=512, dec_depth=6, dec_heads=8,
                          mlp_ratio=4.0, noise_dim=128, noise_depth=8, conv_head_channels=64,
                          d_dim=256, d_depth=6, d_heads=8, d_overlap=2),
        loss=LossConfig(r1_gamma=10.0, r1_interval=1)),
    # paper Table 3, CelebA at 64x64 (the paper uses 120/10; 64/8 keeps the same 64 tokens)
    "celeba64": BigLearnConfig(
        model=ModelConfig(height=64, width=64, channels=3, patch_size=8, num_classes=0,
                          enc_dim=256, enc_depth=6, enc_heads=8, dec_dim=512, dec_depth=6, dec_heads=8,
                          mlp_ratio=4.0, noise_dim=128, noise_depth=8, conv_head_channels=64,
                          d_dim=256, d_depth=6, d_heads=8, d_overlap=2),
        loss=LossConfig(r1_gamma=10.0, r1_interval=1)),
    # personal folders of images: 64x64 RGB, unlabelled, mid-sized for a single GPU
    "folder-64": BigLearnConfig(
        model=ModelConfig(height=64, width=64, channels=3, patch_size=8, num_classes=0,
                          enc_dim=192, enc_depth=4, enc_heads=6, dec_dim=256, dec_depth=6, dec_heads=8,
                          mlp_ratio=4.0, noise_dim=128, noise_depth=6, conv_head_channels=48,
                          d_dim=192, d_depth=5, d_heads=6, d_overlap=2),
        loss=LossConfig(r1_gamma=5.0, r1_interval=4)),
}


def get_preset(name: str) -> BigLearnConfig:
    """The named preset; ValueError listing the known names otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]
