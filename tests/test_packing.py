"""Speed paths give the same results as the plain ones: masked Transformers on each sample's own
tokens (packed into length buckets) vs padding to N, strided discriminator windows vs F.unfold."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from biglearn import UniversalDiscriminator, UniversalGenerator, layers
from biglearn.layers import Transformer, length_buckets
from biglearn.patches import patch_to_pixel_mask


@pytest.fixture
def lengths_mask():
    """Rows of 1..12 valid tokens out of 12, valid tokens scattered (not only in front)."""
    n = 12
    lengths = torch.tensor([1, 12, 5, 5, 3, 12, 7, 2, 9, 5])
    scores = torch.rand(len(lengths), n)
    scores[:, 0] = -1  # token 0 always valid, as the global / CLS token
    rank = scores.argsort(1).argsort(1)
    return rank < lengths[:, None]


def test_length_buckets_pad_each_sample_by_its_own_length():
    lengths = torch.tensor([5, 1, 2, 9, 9, 3, 4, 4, 1, 12, 8])
    groups = length_buckets(lengths, 4, 12)
    assert sorted(torch.cat([r for r, _, _ in groups]).tolist()) == list(range(len(lengths)))
    assert [(r.tolist(), n, full) for r, n, full in groups] == [
        ([1, 2, 5, 6, 7, 8], 4, False), ([0, 10], 8, False), ([3, 4, 9], 12, False)]
    assert [(r.tolist(), n, full) for r, n, full in length_buckets(torch.tensor([8, 8, 3]), 6, 8)] == [
        ([2], 6, False), ([0, 1], 8, True)]  # capped at N = 8: nothing to mask


@pytest.mark.parametrize("inject", [False, True])
def test_bucketed_transformer_equals_padding(lengths_mask, inject, randomise):
    torch.manual_seed(1)
    t = randomise(Transformer(16, 2, 2, 2.0))
    x = torch.randn(*lengths_mask.shape, 16, requires_grad=True)
    noise = torch.randn_like(x) if inject else None
    packed = t(x, lengths_mask, noise)
    padded = t.run(x, lengths_mask, noise)  # every sample padded to N
    keep = lengths_mask[..., None]
    torch.testing.assert_close(packed, torch.where(keep, padded, 0.0), rtol=1e-5, atol=1e-5)
    assert torch.equal(packed[~lengths_mask], torch.zeros_like(packed[~lengths_mask]))
    grad = torch.randn_like(x)
    (gp,) = torch.autograd.grad((packed * grad).sum(), x)
    (gq,) = torch.autograd.grad((padded * grad * keep).sum(), x)
    torch.testing.assert_close(gp, gq, rtol=1e-5, atol=1e-5)


def test_generator_and_discriminator_same_packed_and_padded(tiny_config, monkeypatch, randomise):
    cfg = dataclasses.replace(tiny_config, height=16, width=16)  # L = 16
    g, d = randomise(UniversalGenerator(cfg)).eval(), randomise(UniversalDiscriminator(cfg))
    b, n = 9, cfg.num_patches
    x = torch.rand(b, 1, 16, 16) * 2 - 1
    source = torch.rand(b, n) < torch.linspace(0, 0.9, b)[:, None]
    target = ~source & (torch.rand(b, n) < 0.7)
    target[:, 0] |= ~source[:, 0]
    noise, labels = torch.randn(b, cfg.noise_dim), torch.tensor([0, 1, 2, -1, 0, 1, 2, -1, 0])
    with torch.no_grad():
        outs = [g(x, source, noise, labels), g.classify_logits(x, source), d(x, source, target, labels)]
        monkeypatch.setattr(layers, "BUCKET_STEP", 10**6)  # every sample padded to N
        padded = [g(x, source, noise, labels), g.classify_logits(x, source), d(x, source, target, labels)]
    for a, p in zip(outs, padded, strict=True):
        torch.testing.assert_close(a, p, rtol=1e-5, atol=1e-5)


def test_generator_batch_equals_each_sample_alone(generator, tiny_config):
    b, n = 6, tiny_config.num_patches
    x = torch.rand(b, 1, tiny_config.height, tiny_config.width) * 2 - 1
    source = torch.rand(b, n) < torch.linspace(0, 0.8, b)[:, None]
    noise = torch.randn(b, tiny_config.noise_dim)
    with torch.no_grad():
        batch = generator(x, source, noise)
        alone = torch.cat([generator(x[i:i + 1], source[i:i + 1], noise[i:i + 1]) for i in range(b)])
    torch.testing.assert_close(batch, alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(28, 28, 4, 1, 1), (8, 12, 4, 1, 2), (16, 8, 4, 3, 0), (16, 16, 8, 3, 2)])
def test_discriminator_windows_equal_unfold(tiny_config, shape):
    h, w, p, c, o = shape
    cfg = dataclasses.replace(tiny_config, height=h, width=w, patch_size=p, channels=c, d_overlap=o)
    d = UniversalDiscriminator(cfg)
    x = torch.randn(5, c, h, w)
    visible = torch.rand(5, cfg.num_patches) < 0.6
    reference = F.unfold(x * patch_to_pixel_mask(visible, p, cfg.grid).float(), kernel_size=p + 2 * o, stride=p,
                         padding=o).transpose(1, 2)
    assert torch.equal(d.tokens(x, visible), reference)
