"""Shared fixtures: a tiny non-square model (8x12 images, patch 4, a 2x3 grid) that runs in milliseconds."""

import pytest
import torch

from biglearn import BigLearnConfig, BigLearnModel, ModelConfig, UniversalDiscriminator, UniversalGenerator


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same global RNG state."""
    torch.manual_seed(0)


@pytest.fixture
def tiny_config():
    """8x12 grey images, patch 4 (L = 6), 3 classes, widths 16-32, depth 1."""
    return ModelConfig(height=8, width=12, channels=1, patch_size=4, num_classes=3,
                       enc_dim=16, enc_depth=1, enc_heads=2, dec_dim=32, dec_depth=1, dec_heads=2,
                       mlp_ratio=2.0, noise_dim=8, noise_depth=2, conv_head_channels=4,
                       d_dim=16, d_depth=1, d_heads=2, d_overlap=1)


@pytest.fixture
def full_config(tiny_config):
    return BigLearnConfig(model=tiny_config)


def _randomise(module):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return module


@pytest.fixture
def randomise():
    """Perturb every parameter of a module so zero-initialised parts (conv head output, biases) matter too."""
    return _randomise


@pytest.fixture
def generator(tiny_config):
    return _randomise(UniversalGenerator(tiny_config)).eval()


@pytest.fixture
def discriminator(tiny_config):
    return _randomise(UniversalDiscriminator(tiny_config))


@pytest.fixture
def model(generator, full_config):
    """The inference object around the tiny generator, on the CPU."""
    return BigLearnModel(generator, full_config, device="cpu")


@pytest.fixture
def images(tiny_config):
    """Four random images in [0, 1], (4, C, H, W)."""
    c = tiny_config
    return torch.rand(4, c.channels, c.height, c.width)
