"""Masks: the (S, T) sampling laws of DESIGN.md §5, user-mask validation, evaluation masks, abused sources."""

import pytest
import torch

from biglearn.config import MaskConfig
from biglearn.masks import (
    LABEL_ABSENT,
    LABEL_SOURCE,
    LABEL_TARGET,
    check_masks,
    duplicate_patches,
    first_portion_source,
    flatten_mask,
    mix_patches,
    move_patches,
    paste_patches,
    random_source,
    region_source,
    relocate_patches,
    sample_tasks,
)
from biglearn.patches import patchify


def beta_mean_std(a, b):
    mean = a / (a + b)
    return mean, (a * b / ((a + b) ** 2 * (a + b + 1))) ** 0.5


# --- (S, T) sampling ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def many_tasks():
    """4000 tasks over a 400-patch grid where a random ~half of every image is observed."""
    torch.manual_seed(1)
    b, n = 4000, 400
    observed = torch.rand(b, n) < 0.5
    has_label = torch.rand(b) < 0.7
    return observed, has_label, sample_tasks(b, n, MaskConfig(), observed=observed, has_label=has_label)


def test_tasks_obey_set_laws(many_tasks):
    observed, _, t = many_tasks
    for m in (t.source, t.target, t.comm_source, t.comm_target):
        assert m.shape == observed.shape and m.dtype == torch.bool
    assert not (t.source & t.target).any()
    assert t.target.any(1).all()
    assert not ((t.source | t.target) & ~observed).any()
    union = t.source | t.target
    assert not (t.comm_source & ~union).any()  # S2 ⊆ S1 ∪ T1
    assert torch.equal(t.comm_target, union & ~t.comm_source)  # T2 = (S1 ∪ T1) \ S2
    assert t.comm_target.any(1).all()  # so S2 is a strict subset


@pytest.mark.parametrize("which", ["source", "target", "comm_source"])
def test_task_ratios_follow_beta_laws(many_tasks, which):
    observed, _, t = many_tasks
    if which == "source":
        ratio, law = t.source.sum(1) / observed.sum(1), (0.5, 3.0)
    elif which == "target":
        ratio, law = t.target.sum(1) / (observed & ~t.source).sum(1), (3.0, 0.5)
    else:
        ratio, law = t.comm_source.sum(1) / (t.source | t.target).sum(1), (0.5, 3.0)
    mean, std = beta_mean_std(*law)
    assert abs(float(ratio.mean()) - mean) < 0.015
    assert abs(float(ratio.std()) - std) < 0.015
    # and the shape: the mass near 0 (or 1) matches the law's (~55% below 0.1 for Beta(0.5, 3))
    ref = torch.distributions.Beta(*map(torch.tensor, law)).sample((200_000,))
    for q in (0.1, 0.5, 0.9):
        assert abs(float((ratio < q).float().mean()) - float((ref < q).float().mean())) < 0.03


def test_label_roles_respect_has_label(many_tasks):
    _, has_label, t = many_tasks
    assert (t.label_role[~has_label] == LABEL_ABSENT).all()
    roles = t.label_role[has_label]
    freq = [float((roles == r).float().mean()) for r in (LABEL_SOURCE, LABEL_TARGET, LABEL_ABSENT)]
    for got, want in zip(freq, MaskConfig().label_roles, strict=True):
        assert abs(got - want) < 0.03


def test_label_roles_are_configurable():
    t = sample_tasks(64, 9, MaskConfig(label_roles=(0.0, 1.0, 0.0)))
    assert (t.label_role == LABEL_TARGET).all()


def test_tiny_grids_never_give_an_empty_target():
    observed = torch.zeros(500, 4, dtype=torch.bool)
    observed[:, 0] = True  # a single observed patch: it must be the target
    observed[250:, 3] = True
    for obs in (None, observed):
        t = sample_tasks(500, 4, MaskConfig(), observed=obs)
        assert t.target.any(1).all() and t.comm_target.any(1).all()
        assert not (t.source & t.target).any()
    assert torch.equal(t.target[:250], observed[:250])


def test_sample_tasks_rejects_bad_observed_masks():
    with pytest.raises(ValueError, match="shape"):
        sample_tasks(2, 6, MaskConfig(), observed=torch.ones(2, 5, dtype=torch.bool))
    observed = torch.ones(2, 6, dtype=torch.bool)
    observed[1] = False
    with pytest.raises(ValueError, match="at least one patch"):
        sample_tasks(2, 6, MaskConfig(), observed=observed)


# --- user masks ----------------------------------------------------------------------------------

def test_flatten_mask_accepts_grid_flat_and_01_ints():
    grid = (2, 3)
    m = torch.tensor([[[True, False, True], [False, False, True]]])
    flat = m.reshape(1, 6)
    assert torch.equal(flatten_mask(m, "source", 1, grid), flat)
    assert torch.equal(flatten_mask(flat, "source", 1, grid), flat)
    assert torch.equal(flatten_mask(m.int(), "source", 1, grid), flat)
    with pytest.raises(ValueError, match="boolean"):
        flatten_mask(m.float(), "source", 1, grid)
    with pytest.raises(ValueError, match="boolean"):
        flatten_mask(m.int() * 2, "source", 1, grid)
    with pytest.raises(ValueError, match="2x3 patch grid"):
        flatten_mask(torch.ones(1, 3, 2, dtype=torch.bool), "source", 1, grid)
    with pytest.raises(ValueError, match="source mask"):
        flatten_mask(torch.ones(2, 6, dtype=torch.bool), "source", 1, grid)


def test_check_masks():
    grid = (2, 2)
    source = torch.tensor([[True, False, False, False], [False] * 4])
    s, t = check_masks(source, None, 2, grid)
    assert torch.equal(s, source) and torch.equal(t, ~source)
    target = torch.tensor([[False, True, False, False], [True] * 4])
    assert torch.equal(check_masks(source, target, 2, grid)[1], target)
    with pytest.raises(ValueError, match="overlap"):
        check_masks(source, source, 2, grid)
    with pytest.raises(ValueError, match=r"empty for sample\(s\) \[1\]"):
        check_masks(torch.tensor([[False] * 4, [True] * 4]), None, 2, grid)
    with pytest.raises(ValueError, match="empty"):
        check_masks(source, torch.zeros(2, 4, dtype=torch.bool), 2, grid)


# --- evaluation masks ----------------------------------------------------------------------------

@pytest.mark.parametrize("ratio,k", [(0.0, 0), (0.5, 24), (0.3, 15), (1.0, 49)])
def test_random_source_has_round_ratio_patches(ratio, k):
    m = random_source(64, 49, ratio, generator=torch.Generator().manual_seed(3))
    assert m.shape == (64, 49) and m.dtype == torch.bool
    assert (m.sum(1) == k).all()
    assert torch.equal(m, random_source(64, 49, ratio, generator=torch.Generator().manual_seed(3)))
    if 0 < k < 49:
        assert len({tuple(row.tolist()) for row in m}) > 1  # rows differ
        assert not torch.equal(m, random_source(64, 49, ratio, generator=torch.Generator().manual_seed(4)))


def test_random_source_members_are_uniform():
    m = random_source(20000, 10, 0.3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(m.float().mean(0), torch.full((10,), 0.3), atol=0.02)


def test_first_portion_source_takes_raster_prefix():
    m = first_portion_source(3, 12, 0.25)
    assert torch.equal(m, torch.tensor([[True] * 3 + [False] * 9] * 3))
    assert not first_portion_source(2, 12, 0.0).any() and first_portion_source(2, 12, 1.0).all()


@pytest.mark.parametrize("fn", [random_source, first_portion_source])
def test_source_ratio_out_of_range_raises(fn):
    for r in (-0.1, 1.5):
        with pytest.raises(ValueError, match="ratio"):
            fn(1, 4, r)


def test_region_source():
    m = region_source(2, (3, 4), slice(0, 2), slice(1, 3))
    want = torch.zeros(3, 4, dtype=torch.bool)
    want[:2, 1:3] = True
    assert m.shape == (2, 12) and torch.equal(m[1], want.flatten())


# --- abused sources (paper §4.2) ----------------------------------------------------------------

P = 4  # patch size of the 8x12 images below: a 2x3 grid


@pytest.fixture
def pair():
    return torch.rand(2, 3, 8, 12), torch.rand(2, 3, 8, 12)


def test_relocate_moves_patches_and_sources_their_new_places(pair):
    x, _ = pair
    moved, source = relocate_patches(x, P, [0, 1], [1, 0])  # swap the first two patches
    before, after = patchify(x, P), patchify(moved, P)
    assert torch.equal(after[:, 0], before[:, 1]) and torch.equal(after[:, 1], before[:, 0])
    assert torch.equal(after[:, 2:], before[:, 2:])
    assert source.tolist() == [[True, True, False, False, False, False]] * 2
    moved, source = relocate_patches(x, P, [0], [5])
    assert torch.equal(patchify(moved, P)[:, 5], before[:, 0])
    assert source[0].tolist() == [False] * 5 + [True]


def test_duplicate_keeps_originals_and_sources_both(pair):
    x, _ = pair
    dup, source = duplicate_patches(x, P, [2], [3])
    before, after = patchify(x, P), patchify(dup, P)
    assert torch.equal(after[:, 3], before[:, 2]) and torch.equal(after[:, 2], before[:, 2])
    assert torch.equal(after[:, [0, 1, 4, 5]], before[:, [0, 1, 4, 5]])
    assert source[1].tolist() == [False, False, True, True, False, False]


def test_mix_takes_patches_of_both_images(pair):
    a, b = pair
    mixed, source = mix_patches(a, b, P, [0, 1], torch.tensor([4, 5]))
    pa, pb, pm = patchify(a, P), patchify(b, P), patchify(mixed, P)
    assert torch.equal(pm[:, :4], pa[:, :4]) and torch.equal(pm[:, 4:], pb[:, 4:])
    assert source[0].tolist() == [True, True, False, False, True, True]


def test_paste_foreign_patches_and_keep(pair):
    x, foreign = pair
    pasted, source = paste_patches(x, foreign[:1], P, [0, 1], [4, 5], keep_index=[2])
    px, pf, pp = patchify(x, P), patchify(foreign, P), patchify(pasted, P)
    for i in range(2):  # a one-image donor is broadcast over the batch
        assert torch.equal(pp[i, 4], pf[0, 0]) and torch.equal(pp[i, 5], pf[0, 1])
    assert torch.equal(pp[:, :4], px[:, :4])
    assert source[0].tolist() == [False, False, True, False, True, True]
    _, source = paste_patches(x, foreign, P, [3], [3])
    assert source[0].tolist() == [False, False, False, True, False, False]


def test_move_patches_rejects_bad_arguments(pair):
    a, b = pair
    with pytest.raises(ValueError, match="same length"):
        move_patches(a, b, P, [0, 1], [2])
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        move_patches(a, b, P, [6], [0])
    with pytest.raises(ValueError, match="donor"):
        move_patches(a, torch.rand(2, 1, 8, 12), P, [0], [0])
    with pytest.raises(ValueError, match="donor batch"):
        move_patches(a, torch.rand(3, 3, 8, 12), P, [0], [0])
