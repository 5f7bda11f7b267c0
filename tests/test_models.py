"""The universal generator and discriminator: masking semantics, exact sources, conditioning."""

import dataclasses

import pytest
import torch

from biglearn import UniversalDiscriminator, UniversalGenerator
from biglearn.patches import patch_to_pixel_mask, to_model_range


@pytest.fixture
def batch(tiny_config, images):
    """Images in [-1, 1], sources of sizes 0, 1, 3 and 5 of L = 6, noise and labels (one unknown)."""
    source = torch.zeros(4, tiny_config.num_patches, dtype=torch.bool)
    source[1, 4] = True
    source[2, [0, 2, 5]] = True
    source[3, :5] = True
    noise = torch.randn(4, tiny_config.noise_dim)
    return to_model_range(images), source, noise, torch.tensor([0, 2, -1, 1])


# --- generator -----------------------------------------------------------------------------------

@pytest.mark.parametrize("channels,conv", [(1, 4), (3, 0)])
def test_variable_source_sizes_equal_sample_alone(tiny_config, batch, randomise, channels, conv):
    config = dataclasses.replace(tiny_config, channels=channels, conv_head_channels=conv)
    g = randomise(UniversalGenerator(config)).eval()
    _, source, noise, labels = batch
    x = torch.rand(4, channels, config.height, config.width) * 2 - 1
    with torch.no_grad():
        together = g(x, source, noise, labels)
        for i in range(4):
            alone = g(x[i:i + 1], source[i:i + 1], noise[i:i + 1], labels[i:i + 1])
            assert torch.allclose(together[i:i + 1], alone, atol=1e-5), f"sample {i} depends on its batch"


def test_source_patches_copied_exactly_and_output_in_range(generator, batch, tiny_config):
    x, source, noise, labels = batch
    with torch.no_grad():
        out = generator(x, source, noise, labels)
    assert out.shape == x.shape
    assert float(out.min()) >= -1 and float(out.max()) <= 1
    pix = patch_to_pixel_mask(source, tiny_config.patch_size, tiny_config.grid).expand_as(x)
    assert torch.equal(out[pix], x[pix])
    assert not torch.allclose(out[~pix], x[~pix], atol=1e-2)  # targets are generated, not copied


def test_target_depends_on_noise_and_source(generator, batch):
    x, source, noise, labels = batch
    with torch.no_grad():
        out = generator(x, source, noise, labels)
        other_noise = generator(x, source, torch.randn_like(noise), labels)
        other_source = generator(-x, source, noise, labels)
    assert (out - other_noise).abs().flatten(1).amax(1).gt(1e-4).all()
    assert (out[1:] - other_source[1:]).abs().flatten(1).amax(1).gt(1e-4).all()


def test_label_conditioning_changes_output(generator, batch):
    x, source, noise, _ = batch
    with torch.no_grad():
        outs = [generator(x, source, noise, torch.full((4,), k)) for k in range(3)]
        unknown = generator(x, source, noise, torch.full((4,), -1))
        none = generator(x, source, noise, None)
    for a, b in ((0, 1), (1, 2), (0, 2)):
        assert (outs[a] - outs[b]).abs().flatten(1).amax(1).gt(1e-4).all()
    assert torch.equal(unknown, none)  # -1 means "label not in S'" ([My])
    assert not torch.allclose(outs[0], none, atol=1e-4)


def test_classification_head(generator, batch, tiny_config):
    x, source, _, _ = batch
    with torch.no_grad():
        logits = generator.classify_logits(x, source)
        full = generator.classify_logits(x, torch.ones_like(source))
    assert logits.shape == (4, tiny_config.num_classes)
    assert torch.isfinite(logits).all()
    assert not torch.allclose(logits, full)  # p(y | x_S) depends on S


def test_no_classifier_without_classes(tiny_config, batch):
    g = UniversalGenerator(dataclasses.replace(tiny_config, num_classes=0))
    x, source, noise, _ = batch
    assert g.classifier is None
    assert g(x, source, noise).shape == x.shape
    with pytest.raises(ValueError, match="without labels"):
        g.classify_logits(x, source)


def test_encoder_sees_only_source_patches(generator, batch, tiny_config):
    """Changing non-source pixels cannot change the output (the image enters only through S)."""
    x, source, noise, labels = batch
    pix = patch_to_pixel_mask(source, tiny_config.patch_size, tiny_config.grid).expand_as(x)
    with torch.no_grad():
        a = generator(x, source, noise, labels)
        b = generator(torch.where(pix, x, torch.rand_like(x)), source, noise, labels)
    assert torch.allclose(a, b, atol=1e-6)


# --- discriminator -------------------------------------------------------------------------------

@pytest.fixture
def d_task(tiny_config):
    """Source/target pairs whose union leaves patches out in every sample."""
    s = torch.tensor([[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 1]]).bool()
    t = torch.tensor([[0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 0, 0], [0, 0, 1, 1, 0, 0], [1, 0, 0, 0, 0, 0]]).bool()
    return s, t


def test_discriminator_ignores_patches_outside_s_union_t(discriminator, images, d_task, tiny_config):
    s, t = d_task
    x = to_model_range(images)
    outside = ~patch_to_pixel_mask(s | t, tiny_config.patch_size, tiny_config.grid)
    labels = torch.tensor([0, -1, 2, 1])
    with torch.no_grad():
        logit = discriminator(x, s, t, labels)
        changed = discriminator(torch.where(outside, torch.rand_like(x) * 2 - 1, x), s, t, labels)
        inside = discriminator(torch.where(outside, x, -x), s, t, labels)
    assert logit.shape == (4,)
    assert torch.allclose(logit, changed, atol=1e-6)
    assert (logit - inside).abs().gt(1e-5).all()  # the visible patches do matter


def test_discriminator_type_embeddings_matter(discriminator, images, d_task):
    """Swapping the roles of S and T over the same union changes the logit only through [Ms]/[Mt]."""
    s, t = d_task
    x = to_model_range(images)
    with torch.no_grad():
        a, b = discriminator(x, s, t), discriminator(x, t, s)
        assert (a - b).abs().gt(1e-5).all()
        discriminator.type_embed[1] = discriminator.type_embed[0]
        assert torch.allclose(discriminator(x, s, t), discriminator(x, t, s), atol=1e-6)


def test_discriminator_label_token_matters(discriminator, images, d_task):
    s, t = d_task
    x = to_model_range(images)
    with torch.no_grad():
        none = discriminator(x, s, t)
        assert torch.equal(discriminator(x, s, t, torch.full((4,), -1)), none)
        assert (discriminator(x, s, t, torch.full((4,), 1)) - none).abs().gt(1e-5).all()


def test_discriminator_overlap_window_sees_visible_neighbours_only(tiny_config):
    """With a margin of 2 pixels, patch 0's window holds its right neighbour (visible) and zeros below it."""
    d = UniversalDiscriminator(dataclasses.replace(tiny_config, d_overlap=2))
    x = torch.rand(1, 1, 8, 12) * 2 + 1  # all pixels non-zero
    visible = torch.tensor([[1, 1, 0, 0, 0, 0]]).bool()
    tokens = d.tokens(x, visible)
    assert tokens.shape == (1, 6, 8 * 8)
    window = tokens[0, 0].view(8, 8)  # window[i, j] = x[i - 2, j - 2]
    assert torch.equal(window[2:6, 2:8], x[0, 0, 0:4, 0:6])  # itself and patch 1
    assert not window[6:8, 2:6].any()  # patch 3, outside S ∪ T
    assert not window[:2].any() and not window[:, :2].any()  # zero padding at the border


def test_noise_norm_puts_noise_embeddings_at_the_position_embeddings_scale(tiny_config):
    from biglearn.presets import get_preset

    torch.manual_seed(0)
    cpu = get_preset("mnist-cpu").model
    plain = UniversalGenerator(dataclasses.replace(cpu, noise_norm=False))
    with torch.no_grad():  # why the option exists: at the CPU preset's widths z starts ~10x too faint
        assert float(plain.noise_embeddings(torch.randn(8, cpu.noise_dim)).std()) < 0.2 * float(plain.dec_pos.std())
    normed = UniversalGenerator(dataclasses.replace(tiny_config, noise_norm=True))
    with torch.no_grad():
        emb = normed.noise_embeddings(torch.randn(8, tiny_config.noise_dim))
    assert emb.shape == (8, tiny_config.num_patches, tiny_config.dec_dim)
    assert torch.allclose(emb.std(-1, unbiased=False), torch.ones(8, tiny_config.num_patches), atol=1e-3)


def test_configs_written_before_noise_norm_still_load():
    import json

    import pytest

    from biglearn.config import BigLearnConfig

    data = json.loads(BigLearnConfig().to_json())
    del data["model"]["noise_norm"]
    # a version-1 file (written before noise_norm existed) migrates; a current one must carry every key
    assert BigLearnConfig.from_json(json.dumps(data), version=1).model.noise_norm is False
    with pytest.raises(ValueError, match="missing config key.*'model': noise_norm"):
        BigLearnConfig.from_json(json.dumps(data))
