"""Patch operations: shapes, exact inverses, raster order, pixel <-> patch masks."""

import pytest
import torch

from biglearn.patches import (
    check_patchable,
    from_model_range,
    patch_to_pixel_mask,
    patchify,
    pixel_to_patch_mask,
    to_model_range,
    unpatchify,
)

SHAPES = [(1, 28, 28, 4), (1, 8, 12, 4), (3, 12, 8, 2), (3, 64, 64, 8), (2, 6, 9, 3), (3, 5, 7, 1)]


@pytest.mark.parametrize("c,h,w,p", SHAPES)
def test_patchify_shape_and_exact_inverse(c, h, w, p):
    x = torch.randn(2, c, h, w)
    tokens = patchify(x, p)
    assert tokens.shape == (2, (h // p) * (w // p), p * p * c)
    assert torch.equal(unpatchify(tokens, p, c, h, w), x)
    t = torch.randn_like(tokens)
    assert torch.equal(patchify(unpatchify(t, p, c, h, w), p), t)


def test_patches_in_raster_order_pixels_as_p1_p2_c():
    """Token k holds patch (k // gw, k % gw); inside a token pixels run (row, col, channel)."""
    c, h, w, p = 3, 4, 6, 2
    x = torch.arange(c * h * w, dtype=torch.float).view(1, c, h, w)
    tokens = patchify(x, p)
    gw = w // p
    for k in range(tokens.shape[1]):
        i, j = divmod(k, gw)
        patch = x[0, :, i * p:(i + 1) * p, j * p:(j + 1) * p]  # (C, p, p)
        assert torch.equal(tokens[0, k], patch.permute(1, 2, 0).flatten())


@pytest.mark.parametrize("h,w,p", [(28, 28, 5), (8, 12, 3), (10, 8, 4), (8, 8, 0)])
def test_patch_size_not_dividing_raises(h, w, p):
    with pytest.raises(ValueError, match="patch size"):
        patchify(torch.zeros(1, 1, h, w), p)
    with pytest.raises(ValueError, match="patch size"):
        check_patchable(h, w, p)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="B, C, H, W"):
        patchify(torch.zeros(1, 8, 8), 4)
    with pytest.raises(ValueError, match="tokens of shape"):
        unpatchify(torch.zeros(1, 5, 16), 4, 1, 8, 8)
    with pytest.raises(ValueError, match="pixel mask"):
        pixel_to_patch_mask(torch.zeros(1, 1, 8, 8), 4)


def test_patch_to_pixel_mask_and_back():
    grid, p = (2, 3), 4
    mask = torch.tensor([[True, False, False, False, True, True], [False] * 6])
    pix = patch_to_pixel_mask(mask, p, grid)
    assert pix.shape == (2, 1, 8, 12) and pix.dtype == torch.bool
    assert pix[0, 0, :4, :4].all() and not pix[0, 0, :4, 4:8].any() and pix[0, 0, 4:, 4:].all()
    assert int(pix.sum()) == 3 * p * p
    assert torch.equal(pixel_to_patch_mask(pix[:, 0], p), mask)


def test_pixel_to_patch_mask_any_pixel_or_fraction():
    pix = torch.zeros(1, 8, 8, dtype=torch.bool)
    pix[0, 5, 6] = True  # one pixel of patch (1, 1)
    pix[0, :3, :4] = True  # 12 of the 16 pixels of patch (0, 0)
    assert pixel_to_patch_mask(pix, 4)[0].tolist() == [True, False, False, True]
    assert pixel_to_patch_mask(pix, 4, min_fraction=0.5)[0].tolist() == [True, False, False, False]
    assert pixel_to_patch_mask(pix.float(), 4, min_fraction=0.75)[0].tolist() == [False] * 4


def test_model_range_round_trip():
    x = torch.rand(3, 1, 4, 4)
    y = to_model_range(x)
    assert float(y.min()) >= -1 and float(y.max()) <= 1
    assert torch.allclose(from_model_range(y), x)
    assert torch.equal(from_model_range(torch.tensor([-3.0, 3.0])), torch.tensor([0.0, 1.0]))
