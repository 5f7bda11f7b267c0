"""The bundled checkpoint (assets/mnist-cpu.safetensors): it loads, completes and classifies on the CPU."""

from pathlib import Path

import numpy as np
import pytest
import torch

import biglearn
from biglearn import masks

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "assets" / "mnist-cpu.safetensors"


@pytest.fixture(scope="module")
def model():
    return biglearn.load(BUNDLED, "cpu")


@pytest.fixture(scope="module")
def digits():
    with np.load(ROOT / "assets" / "examples" / "mnist_examples.npz") as d:
        return d["images"], torch.from_numpy(d["labels"])


def test_it_is_the_documented_model(model):
    c = model.config
    assert (c.channels, c.height, c.width, c.patch_size, c.num_classes) == (1, 28, 28, 4, 10)
    assert model.info["preset"] == "mnist-cpu" and model.info["steps"] > 0
    assert f"{model.info['steps']:,}" in (ROOT / "assets" / "README.md").read_text()  # the card names its steps


def test_completes_with_exact_sources_and_seeded_diversity(model, digits):
    images, _ = digits
    source = masks.first_portion_source(4, model.config.num_patches, 0.5)
    out = model.complete(images[:4], source, seeds=[0, 1, 0])
    assert out.shape == (4, 3, 1, 28, 28) and 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    pix = source.view(4, 7, 1, 7, 1).expand(4, 7, 4, 7, 4).reshape(4, 1, 28, 28)
    real = torch.from_numpy(images[:4]).float()[:, None] / 255
    assert torch.equal(out[:, 0][pix], real[pix])  # source patches copied exactly
    assert torch.equal(out[:, 0], out[:, 2])  # same seed, same sample
    assert not torch.equal(out[:, 0], out[:, 1])  # another seed, another sample


def test_its_own_classifier_reads_the_example_digits(model, digits):
    images, labels = digits
    predicted = model.classify(images).argmax(1)
    assert float((predicted == labels).float().mean()) >= 0.8
