"""Objectives: finite terms, gradients to the right network only, R1, and a toy distribution is learnt."""

import dataclasses
import math

import pytest
import torch

from biglearn import UniversalDiscriminator, UniversalGenerator, objectives
from biglearn.config import LossConfig, MaskConfig
from biglearn.masks import LABEL_ABSENT, LABEL_SOURCE, LABEL_TARGET, Tasks, sample_tasks
from biglearn.patches import to_model_range


def mask(rows):
    return torch.tensor(rows).bool()


@pytest.fixture
def setup(generator, discriminator, images):
    """Models in training mode and a batch of 4 with labels (one unknown) and hand-made tasks over L = 6:
    empty, small and large sources, a marginal, and every label role."""
    generator.train()
    source = mask([[0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0], [1, 1, 0, 1, 0, 0], [0, 0, 0, 0, 1, 1]])
    target = mask([[1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 0, 1], [0, 0, 1, 0, 1, 1], [1, 1, 0, 0, 0, 0]])
    comm_source = mask([[1, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0], [1, 0, 0, 0, 1, 1]])
    roles = torch.tensor([LABEL_SOURCE, LABEL_TARGET, LABEL_TARGET, LABEL_ABSENT])
    tasks = Tasks(source, target, comm_source, (source | target) & ~comm_source, roles)
    return generator, discriminator, to_model_range(images), torch.tensor([0, 1, 2, -1]), tasks


def grads(module):
    """Per-parameter gradient status: None (untouched) or whether it is non-zero."""
    return {n: None if p.grad is None else bool(p.grad.abs().sum() > 0) for n, p in module.named_parameters()}


def d_terms(setup, loss):
    g, d, x, labels, tasks = setup
    fakes = objectives.draw_fakes(g, x, tasks, labels, loss)
    terms = objectives.discriminator_losses(d, x, fakes.detach(), tasks, labels, loss)
    terms["r1"] = objectives.r1_penalty(d, x, tasks, labels, loss, scale=loss.r1_interval)
    return terms


def g_terms(setup, loss):
    """G's terms computed as the trainer does: D frozen while building the graph."""
    g, d, x, labels, tasks = setup
    fakes = objectives.draw_fakes(g, x, tasks, labels, loss)
    d.requires_grad_(False)
    terms = objectives.generator_losses(d, fakes, tasks, labels, loss)
    terms["label_ce"] = objectives.label_loss(g, x, labels, tasks, MaskConfig())
    d.requires_grad_(True)
    return terms


@pytest.mark.parametrize("comm", [1.0, 0.0])
def test_every_term_finite_and_named(setup, comm):
    loss = LossConfig(comm_weight=comm)
    d, g = d_terms(setup, loss), g_terms(setup, loss)
    want_d = {"d_data", "d_total", "r1"} | ({"d_comm"} if comm else set())
    want_g = {"g_data", "g_total", "label_ce"} | ({"g_comm"} if comm else set())
    assert set(d) == want_d and set(g) == want_g
    for name, value in {**d, **g}.items():
        assert value.dim() == 0 and torch.isfinite(value), name
    assert d["r1"].item() > 0 and g["label_ce"].item() > 0
    if comm:
        assert torch.allclose(d["d_total"], d["d_data"] + comm * d["d_comm"])
        assert torch.allclose(g["g_total"], g["g_data"] + comm * g["g_comm"])


@pytest.mark.parametrize("name", ["d_data", "d_comm", "r1"])
def test_discriminator_terms_train_only_d(setup, name):
    g, d = setup[0], setup[1]
    d_terms(setup, LossConfig())[name].backward()
    assert all(v is None for v in grads(g).values()), "a D term reached G's parameters"
    assert any(grads(d).values())


@pytest.mark.parametrize("name", ["g_data", "g_comm", "label_ce"])
def test_generator_terms_train_only_g(setup, name):
    g, d = setup[0], setup[1]
    g_terms(setup, LossConfig())[name].backward()
    assert all(v is None for v in grads(d).values()), "a G term reached D's parameters"
    assert any(grads(g).values())
    assert all(p.requires_grad for p in d.parameters())  # D is unfrozen again


def test_adversarial_terms_reach_generator_body_label_term_reaches_classifier(setup):
    g = setup[0]
    g_terms(setup, LossConfig())["g_total"].backward()
    got = grads(g)
    assert got["noise_mlp.0.weight"] and got["patch_embed.weight"] and got["head.1.weight"]
    assert got["classifier.weight"] is None  # the adversarial terms don't use the classifier
    for p in g.parameters():
        p.grad = None
    g_terms(setup, LossConfig())["label_ce"].backward()
    got = grads(g)
    assert got["classifier.weight"] and got["patch_embed.weight"]
    assert got["noise_mlp.0.weight"] is None  # classification needs no noise


def test_label_loss_without_label_targets_is_zero_with_graph(setup):
    g, _, x, labels, tasks = setup
    tasks.label_role[:] = LABEL_SOURCE
    ce = objectives.label_loss(g, x, labels, tasks, MaskConfig())
    assert ce.item() == 0 and ce.requires_grad


def test_source_labels_only_where_label_is_a_source(setup):
    _, _, _, labels, tasks = setup
    cond = objectives.source_labels(labels, tasks)
    is_source = tasks.label_role == LABEL_SOURCE
    assert torch.equal(cond[is_source], labels[is_source])
    assert (cond[~is_source] == -1).all()
    assert objectives.source_labels(None, tasks) is None


def test_r1_is_exactly_zero_when_d_ignores_x(setup):
    """Zero patch-embedding weights: the only path from the pixels into D is cut, so ∇_x f = 0."""
    _, d, x, labels, tasks = setup
    loss = LossConfig(r1_gamma=10.0)
    assert objectives.r1_penalty(d, x, tasks, labels, loss).item() > 0
    with torch.no_grad():
        d.patch_embed.weight.zero_()
    r1 = objectives.r1_penalty(d, x, tasks, labels, loss, scale=4.0)
    assert r1.item() == 0.0
    assert torch.equal(d(x, tasks.source, tasks.target), d(torch.rand_like(x), tasks.source, tasks.target))


def test_r1_scales_with_gamma_and_interval(setup):
    _, d, x, labels, tasks = setup
    base = objectives.r1_penalty(d, x, tasks, labels, LossConfig(r1_gamma=1.0))
    assert torch.allclose(objectives.r1_penalty(d, x, tasks, labels, LossConfig(r1_gamma=2.0), scale=3.0), 6 * base)


# --- learning a toy distribution -----------------------------------------------------------------

def toy_distance(generator, pattern, noise):
    """Mean squared distance of joint samples (S = ∅) to the data pattern."""
    n, num_patches = noise.shape[0], generator.config.num_patches
    with torch.no_grad():
        x = generator(torch.zeros(n, *pattern.shape), torch.zeros(n, num_patches, dtype=torch.bool), noise)
    return float((x - pattern).pow(2).mean())


def test_a_few_hundred_steps_move_the_generator_to_a_toy_distribution(tiny_config):
    """The trainer's step (D on detached fakes + lazy R1, then G against the frozen D) on one 8x8 pattern.

    D's position embeddings start at unit scale: with the default 0.02 each token is LayerNorm(W·x_p),
    nearly invariant to the scale and sign of its patch, so a toy GAN wanders for hundreds of steps.
    """
    config = dataclasses.replace(tiny_config, height=8, width=8, num_classes=0, conv_head_channels=0,
                                 d_dim=32, d_overlap=0)
    g, d = UniversalGenerator(config), UniversalDiscriminator(config)
    with torch.no_grad():
        d.pos.normal_()
    pattern = torch.full((1, 8, 8), -0.8)
    pattern[:, :4, :4] = pattern[:, 4:, 4:] = 0.8  # a 2x2 checkerboard of patches
    loss, masks = LossConfig(r1_gamma=1.0), MaskConfig()
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.0, 0.99))
    noise = torch.randn(64, config.noise_dim)
    before = toy_distance(g, pattern, noise)
    images = pattern.expand(32, -1, -1, -1)
    for step in range(150):
        tasks = sample_tasks(32, config.num_patches, masks)
        fakes = objectives.draw_fakes(g, images, tasks, None, loss)
        d_loss = objectives.discriminator_losses(d, images, fakes.detach(), tasks, None, loss)["d_total"]
        if step % loss.r1_interval == 0:
            d_loss = d_loss + objectives.r1_penalty(d, images, tasks, None, loss, scale=loss.r1_interval)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        d.requires_grad_(False)
        g_loss = objectives.generator_losses(d, fakes, tasks, None, loss)["g_total"]
        d.requires_grad_(True)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    after = toy_distance(g, pattern, noise)
    assert after < 0.25 * before, f"distance to the data went {before:.3f} -> {after:.3f}"


# --- the mode-seeking term ------------------------------------------------------------------------------------

def test_mode_seeking_follows_its_formula_and_its_cap(setup):
    g, _, x, labels, tasks = setup
    fakes = objectives.draw_fakes(g, x, tasks, labels, LossConfig())
    torch.manual_seed(7)
    got = objectives.mode_seeking(g, x, fakes, tasks, labels, LossConfig(diversity_cap=100.0))
    torch.manual_seed(7)
    z2 = torch.randn_like(fakes.z1[:2])
    with torch.no_grad():
        x2 = g(x[:2], tasks.source[:2], z2, objectives.source_labels(labels, tasks)[:2])
        by_hand = ((fakes.x1[:2] - x2).abs().mean((1, 2, 3)) / (fakes.z1[:2] - z2).abs().mean(1)).mean()
    assert got.item() == pytest.approx(by_hand.item(), rel=1e-5) and got.item() > 0
    capped = objectives.mode_seeking(g, x, fakes, tasks, labels, LossConfig(diversity_cap=1e-6))
    assert capped.item() == pytest.approx(1e-6)
    capped.backward()
    assert not any(v for v in grads(g).values() if v is not None), "a capped pair still pushes G"


def test_mode_seeking_counts_only_target_pixels_and_trains_only_g(setup):
    """Sources are copied from the data in both samples, so a task whose every patch is a source scores 0."""
    g, d, x, labels, tasks = setup
    everything = Tasks(torch.ones_like(tasks.source), torch.zeros_like(tasks.target), tasks.comm_source,
                       tasks.comm_target, tasks.label_role)
    fakes = objectives.draw_fakes(g, x, everything, labels, LossConfig())
    assert objectives.mode_seeking(g, x, fakes, everything, labels, LossConfig()).item() == 0.0
    fakes = objectives.draw_fakes(g, x, tasks, labels, LossConfig())
    objectives.mode_seeking(g, x, fakes, tasks, labels, LossConfig()).backward()
    assert all(v is None for v in grads(d).values()) and grads(g)["noise_mlp.0.weight"]


def test_maximising_mode_seeking_makes_samples_of_one_task_differ_more(setup):
    g, _, x, labels, tasks = setup
    loss = LossConfig(diversity_cap=100.0)
    opt = torch.optim.Adam(g.parameters(), lr=1e-3)

    def seeking() -> torch.Tensor:
        return objectives.mode_seeking(g, x, objectives.draw_fakes(g, x, tasks, labels, loss), tasks, labels, loss)

    def spread() -> float:
        torch.manual_seed(1)
        with torch.no_grad():
            return seeking().item()

    before = spread()
    for _ in range(30):
        opt.zero_grad()
        (-seeking()).backward()
        opt.step()
    assert spread() > 1.5 * before


@pytest.mark.parametrize("change, message", [
    ({"diversity_weight": -0.1}, "diversity_weight"), ({"diversity_weight": math.nan}, "diversity_weight"),
    ({"diversity_cap": 0.0}, "diversity_cap"), ({"objective": "mae", "comm_weight": 0.0, "diversity_weight": 1.0},
                                                "ignores its noise"),
])
def test_mode_seeking_values_out_of_range_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        LossConfig(**change)


def test_mode_seeking_can_skip_the_samples_whose_label_is_given(setup):
    """Sample 0 of the batch has its label as a source (a class-conditional task), sample 1 does not."""
    g, _, x, labels, tasks = setup
    fakes = objectives.draw_fakes(g, x, tasks, labels, LossConfig())
    torch.manual_seed(7)
    z2 = torch.randn_like(fakes.z1[:2])
    with torch.no_grad():
        x2 = g(x[:2], tasks.source[:2], z2, objectives.source_labels(labels, tasks)[:2])
        each = (fakes.x1[:2] - x2).abs().mean((1, 2, 3)) / (fakes.z1[:2] - z2).abs().mean(1)
    got = {}
    for labelled in (True, False):
        torch.manual_seed(7)
        got[labelled] = objectives.mode_seeking(g, x, fakes, tasks, labels,
                                         LossConfig(diversity_cap=100.0, diversity_labelled=labelled)).item()
    assert got[True] == pytest.approx(each.mean().item(), rel=1e-5)
    assert got[False] == pytest.approx(each[1].item(), rel=1e-5) and each[0] != each[1]
    only_given = Tasks(tasks.source, tasks.target, tasks.comm_source, tasks.comm_target,
                       torch.full_like(tasks.label_role, LABEL_SOURCE))
    assert objectives.mode_seeking(g, x, fakes, only_given, labels, LossConfig(diversity_labelled=False)).item() == 0.0
    with pytest.raises(ValueError, match="diversity_labelled"):
        LossConfig(diversity_labelled="no")
