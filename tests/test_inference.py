"""The inference API of DESIGN.md §7: complete, generate, classify, seeds and input validation."""

import numpy as np
import pytest
import torch

from biglearn.inference import NEUTRAL
from biglearn.masks import first_portion_source
from biglearn.patches import patch_to_pixel_mask


@pytest.fixture
def source():
    """Sources of 0, 1, 3 and 5 of the 6 patches."""
    return torch.tensor([[0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [1, 0, 1, 0, 1, 0], [1, 1, 1, 1, 1, 0]]).bool()


def pixels(mask, model, like):
    c = model.config
    return patch_to_pixel_mask(mask.reshape(mask.shape[0], -1), c.patch_size, c.grid).expand_as(like)


# --- complete ------------------------------------------------------------------------------------

def test_complete_shape_range_and_exact_sources(model, images, source):
    out = model.complete(images, source, seeds=[0, 1, 2])
    assert out.shape == (4, 3, 1, 8, 12) and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    pix = pixels(source, model, images)
    for k in range(3):
        assert torch.equal(out[:, k][pix], images[pix])  # bit-exact, not merely close


def test_complete_accepts_grid_masks_and_a_single_int_seed(model, images, source):
    flat = model.complete(images, source, seeds=4)
    assert flat.shape == (4, 1, 1, 8, 12)
    assert torch.equal(model.complete(images, source.view(4, 2, 3), seeds=[4]), flat)
    assert torch.equal(model.complete(images, source.int(), seeds=np.int64(4)), flat)


def test_same_seed_same_sample_different_seeds_differ(model, images, source):
    a = model.complete(images, source, seeds=[7, 8, 7])
    assert torch.equal(a[:, 0], a[:, 2])
    assert torch.equal(model.complete(images, source, seeds=[7])[:, 0], a[:, 0])
    target = ~pixels(source, model, images)
    diff = (a[:, 0] - a[:, 1]).abs().masked_fill(~target, 0).flatten(1).amax(1)
    assert (diff > 1e-3).all(), "different seeds gave the same target patches"


def test_sample_does_not_depend_on_the_batch(model, images, source):
    """A sample is a function of (x_S, S, T, y, seed) only, not of its batch companions."""
    together = model.complete(images, source, seeds=[3, 9])
    for i in range(4):
        alone = model.complete(images[i:i + 1], source[i:i + 1], seeds=[3, 9])
        assert torch.allclose(together[i:i + 1], alone, atol=1e-5)


def test_target_subset_leaves_the_rest_neutral(model, images, source):
    target = torch.zeros_like(source)
    target[:, 5] = True
    out = model.complete(images, source, seeds=[0], target=target)[:, 0]
    outside = ~pixels(source | target, model, images)
    assert (out[outside] == NEUTRAL).all()
    assert torch.equal(out[pixels(source, model, images)], images[pixels(source, model, images)])


def test_labels_condition_the_completion(model, images, source):
    a = model.complete(images, source, seeds=[0], labels=torch.tensor([0, 0, 0, 0]))
    b = model.complete(images, source, seeds=[0], labels=torch.tensor([2, 2, 2, 2]))
    unknown = model.complete(images, source, seeds=[0], labels=torch.tensor([-1, -1, -1, -1]))
    assert not torch.allclose(a, b, atol=1e-4)
    assert torch.equal(unknown, model.complete(images, source, seeds=[0]))
    assert torch.equal(model.complete(images, source, seeds=[0], labels=2), b)  # a scalar label is broadcast


def test_uint8_numpy_images(model, images, source):
    arr = (images[:, 0] * 255).round().to(torch.uint8).numpy()  # (B, H, W)
    as_float = torch.from_numpy(arr).float()[:, None] / 255
    out = model.complete(arr, source, seeds=[1])
    assert torch.equal(out, model.complete(as_float, source, seeds=[1]))
    assert torch.equal(model.complete(arr[..., None], source, seeds=[1]), out)  # (B, H, W, C)
    pix = pixels(source, model, as_float)
    assert torch.equal(out[:, 0][pix], as_float[pix])


# --- generate and classify -------------------------------------------------------------------------

def test_generate_int_seed_is_consecutive_seeds(model):
    out = model.generate(3, seeds=5)
    assert out.shape == (3, 1, 8, 12) and float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.equal(out, model.generate(3, seeds=[5, 6, 7]))
    assert torch.allclose(out[1:2], model.generate(1, seeds=6), atol=1e-6)
    assert not torch.allclose(out[0], out[1], atol=1e-3)


def test_generate_equals_complete_with_empty_source(model, images):
    empty = torch.zeros(1, 6, dtype=torch.bool)
    completed = model.complete(images[:1], empty, seeds=[4, 9], labels=[1])[0]
    assert torch.allclose(model.generate(2, seeds=[4, 9], labels=[1, 1]), completed, atol=1e-6)


def test_generate_marginal(model):
    target = first_portion_source(2, 6, 0.5)
    out = model.generate(2, seeds=0, target=target)
    outside = ~pixels(target, model, out)
    assert (out[outside] == NEUTRAL).all() and (out[~outside] != NEUTRAL).any()


def test_classify_probabilities(model, images, source):
    probs = model.classify(images)
    assert probs.shape == (4, 3)
    assert torch.allclose(probs.sum(1), torch.ones(4), atol=1e-6) and (probs >= 0).all()
    partial = model.classify(images, source)
    assert torch.allclose(partial.sum(1), torch.ones(4), atol=1e-6)
    assert not torch.allclose(partial, probs)
    assert torch.equal(model.classify(images, torch.ones(4, 2, 3, dtype=torch.bool)), probs)


def test_batches_larger_than_the_limit_are_chunked(model, images, source):
    whole, probs = model.complete(images, source, seeds=[0, 1]), model.classify(images)
    model.batch_limit = 3
    assert torch.allclose(model.complete(images, source, seeds=[0, 1]), whole, atol=1e-6)
    assert torch.allclose(model.classify(images), probs, atol=1e-6)


# --- bad input -----------------------------------------------------------------------------------

def case(name, call, message):
    return pytest.param(call, message, id=name)


ONES = torch.ones(4, 6, dtype=torch.bool)
BAD_CALLS = [  # call(m, x, s) with the model, images and source, and the expected message
    case("image-width", lambda m, x, s: m.complete(x[..., :4], s, seeds=0), r"shape \(B, 1, 8, 12\)"),
    case("image-channels", lambda m, x, s: m.complete(x.expand(-1, 3, -1, -1), s, seeds=0), r"\(B, 1, 8, 12\)"),
    case("image-no-batch", lambda m, x, s: m.complete(x[0], s, seeds=0), r"shape \(B, 1, 8, 12\)"),
    case("image-range", lambda m, x, s: m.complete(x * 2, s, seeds=0), r"\[0, 1\]"),
    case("image-float-numpy", lambda m, x, s: m.complete(x.double().numpy(), s, seeds=0), "uint8"),
    case("image-uint8-tensor", lambda m, x, s: m.complete((x * 255).byte(), s, seeds=0), "float tensor"),
    case("mask-transposed-grid", lambda m, x, s: m.complete(x, s.view(4, 3, 2), seeds=0), "2x3 patch grid"),
    case("mask-wrong-length", lambda m, x, s: m.complete(x, ONES[:, :5], seeds=0), "2x3 patch grid"),
    case("mask-wrong-batch", lambda m, x, s: m.complete(x, s[:2], seeds=0), "source mask must have shape"),
    case("mask-float", lambda m, x, s: m.complete(x, s.float(), seeds=0), "boolean"),
    case("all-source", lambda m, x, s: m.complete(x, ONES, seeds=0), r"target is empty for sample\(s\) \[0, 1"),
    case("empty-target", lambda m, x, s: m.complete(x, s, target=~ONES, seeds=0), "target is empty"),
    case("overlap", lambda m, x, s: m.complete(x, s, target=s | s.roll(1, 1), seeds=0), "overlap"),
    case("label-too-big", lambda m, x, s: m.complete(x, s, labels=[0, 1, 3, 0], seeds=0), r"lie in \[-1, 2\]"),
    case("label-below-1", lambda m, x, s: m.complete(x, s, labels=[0, 1, -2, 0], seeds=0), r"lie in \[-1, 2\]"),
    case("label-shape", lambda m, x, s: m.complete(x, s, labels=[0, 1], seeds=0), r"integers of shape \(4,\)"),
    case("label-float", lambda m, x, s: m.complete(x, s, labels=[0.5] * 4, seeds=0), "labels must be integers"),
    case("seed-negative", lambda m, x, s: m.complete(x, s, seeds=-1), "seeds must be integers"),
    case("seed-too-big", lambda m, x, s: m.complete(x, s, seeds=2**63), "seeds must be integers"),
    case("seed-float-in-list", lambda m, x, s: m.complete(x, s, seeds=[0, 1.5]), "seeds must be integers"),
    case("seed-float", lambda m, x, s: m.complete(x, s, seeds=1.5), "seeds must be integers"),
    case("seed-str", lambda m, x, s: m.complete(x, s, seeds=["7"]), "seeds must be integers"),
    case("seed-bool", lambda m, x, s: m.complete(x, s, seeds=True), "seeds must be integers"),
    case("seeds-empty", lambda m, x, s: m.complete(x, s, seeds=[]), "seeds must not be empty"),
    case("generate-n-0", lambda m, x, s: m.generate(0, seeds=0), "positive int"),
    case("generate-seed-count", lambda m, x, s: m.generate(2, seeds=[1, 2, 3]), "n = 2 seeds"),
    case("generate-label", lambda m, x, s: m.generate(2, seeds=0, labels=[5, 0]), "labels must lie"),
    case("classify-mask", lambda m, x, s: m.classify(x, ONES[:, :5]), "2x3 patch grid"),
]


@pytest.mark.parametrize("call,message", BAD_CALLS)
def test_bad_input_raises_a_value_error_naming_the_problem(model, images, source, call, message):
    with pytest.raises(ValueError, match=message):
        call(model, images, source)
