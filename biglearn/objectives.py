"""The big-learning objectives (DESIGN.md §4; paper eqs. 4 and 5, appendix B).

Each function takes the models and a batch and returns named loss terms (scalars), so a trainer is a
thin loop: sample tasks, draw fakes once, update D on the detached fakes, update G through the same
fakes. With the communication term on, the discriminator is evaluated on real data and on both model
samples x¹ = x_{S1} ∪ G(x_{S1})_{T1} and x² = x_{S2} ∪ G(x_{S2})_{T2}, each under both (S1, T1) and
(S2, T2), in one batched call; data matching (eq. 4) then uses both task pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from .augment import translate
from .config import LossConfig, MaskConfig
from .discriminator import UniversalDiscriminator
from .generator import UniversalGenerator
from .masks import LABEL_SOURCE, LABEL_TARGET, Tasks
from .patches import patchify

softplus = F.softplus


@dataclass
class Fakes:
    """Model samples for one batch; `x2` is None when the communication term is off; `z1` is x¹'s noise."""

    x1: torch.Tensor
    x2: torch.Tensor | None
    z1: torch.Tensor | None = None

    def detach(self) -> Fakes:
        return Fakes(self.x1.detach(), None if self.x2 is None else self.x2.detach(), self.z1)


def source_labels(labels: torch.Tensor | None, tasks: Tasks) -> torch.Tensor | None:
    """Labels where the label is a source (part of S'), else -1: what G and D are conditioned on."""
    if labels is None:
        return None
    return torch.where(tasks.label_role == LABEL_SOURCE, labels, torch.full_like(labels, -1))


def draw_fakes(generator: UniversalGenerator, images: torch.Tensor, tasks: Tasks, labels: torch.Tensor | None,
               config: LossConfig) -> Fakes:
    """x¹ ~ p_θ(x_{T1} | x_{S1}) and, with communication on, x² ~ p_θ(x_{T2} | x_{S2}); sources from data."""
    cond = source_labels(labels, tasks)
    b = images.shape[0]
    noise_dim = generator.config.noise_dim
    z1 = torch.randn(b, noise_dim, device=images.device)
    x1 = generator(images, tasks.source, z1, cond)
    x2 = None
    if config.comm_weight > 0:
        x2 = generator(images, tasks.comm_source, torch.randn(b, noise_dim, device=images.device), cond)
    return Fakes(x1, x2, z1)


def shift_alike(images: torch.Tensor, fakes: Fakes, shifts: torch.Tensor) -> tuple[torch.Tensor, Fakes]:
    """The real images and every fake drawn from them translated by the same per-sample `shifts` (B, 2):
    what D sees with translation augmentation (biglearn.augment), applied after G copied its sources."""
    return translate(images, shifts), Fakes(translate(fakes.x1, shifts),
                                            None if fakes.x2 is None else translate(fakes.x2, shifts), fakes.z1)


def _logits(discriminator: UniversalDiscriminator, views: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
            labels: torch.Tensor | None) -> list[torch.Tensor]:
    """Evaluate D on several (images, S, T) views of one batch in a single call; one logit vector each."""
    images = torch.cat([v[0] for v in views])
    source = torch.cat([v[1] for v in views])
    target = torch.cat([v[2] for v in views])
    lab = None if labels is None else labels.repeat(len(views))
    return list(discriminator(images, source, target, lab).chunk(len(views)))


def discriminator_losses(discriminator: UniversalDiscriminator, images: torch.Tensor, fakes: Fakes, tasks: Tasks,
                         labels: torch.Tensor | None, config: LossConfig) -> dict[str, torch.Tensor]:
    """D's terms: `d_data` (eq. 4, maximised ⇒ minimise its negative) and `d_comm` (eq. 5); `d_total`."""
    cond = source_labels(labels, tasks)
    t1 = (tasks.source, tasks.target)
    if fakes.x2 is None:
        real1, fake1 = _logits(discriminator, [(images, *t1), (fakes.x1, *t1)], cond)
        d_data = (softplus(-real1) + softplus(fake1)).mean()
        return {"d_data": d_data, "d_total": d_data}
    t2 = (tasks.comm_source, tasks.comm_target)
    real1, real2, x1_t1, x1_t2, x2_t1, x2_t2 = _logits(discriminator, [
        (images, *t1), (images, *t2), (fakes.x1, *t1), (fakes.x1, *t2), (fakes.x2, *t1), (fakes.x2, *t2)], cond)
    d_data = 0.5 * (softplus(-real1) + softplus(x1_t1) + softplus(-real2) + softplus(x2_t2)).mean()
    d_comm = (softplus(-(x1_t2 - x1_t1)) + softplus(-(x2_t1 - x2_t2))).mean()
    return {"d_data": d_data, "d_comm": d_comm, "d_total": d_data + config.comm_weight * d_comm}


def generator_losses(discriminator: UniversalDiscriminator, fakes: Fakes, tasks: Tasks, labels: torch.Tensor | None,
                     config: LossConfig) -> dict[str, torch.Tensor]:
    """G's non-saturating terms: `g_data` (eq. 4) and `g_comm` (eq. 5 with the roles swapped); `g_total`."""
    cond = source_labels(labels, tasks)
    t1 = (tasks.source, tasks.target)
    if fakes.x2 is None:
        (x1_t1,) = _logits(discriminator, [(fakes.x1, *t1)], cond)
        g_data = softplus(-x1_t1).mean()
        return {"g_data": g_data, "g_total": g_data}
    t2 = (tasks.comm_source, tasks.comm_target)
    x1_t1, x1_t2, x2_t1, x2_t2 = _logits(discriminator, [
        (fakes.x1, *t1), (fakes.x1, *t2), (fakes.x2, *t1), (fakes.x2, *t2)], cond)
    g_data = 0.5 * (softplus(-x1_t1) + softplus(-x2_t2)).mean()
    g_comm = (softplus(x1_t2 - x1_t1) + softplus(x2_t1 - x2_t2)).mean()
    return {"g_data": g_data, "g_comm": g_comm, "g_total": g_data + config.comm_weight * g_comm}


def mode_seeking(generator: UniversalGenerator, images: torch.Tensor, fakes: Fakes, tasks: Tasks,
                 labels: torch.Tensor | None, config: LossConfig) -> torch.Tensor:
    """E[min(mean|x¹ − x¹'| / mean|z¹ − z'|, cap)]: how far G's samples of one task move per unit of noise, which G
    maximises with weight `diversity_weight` (the diversity-sensitive / mode-seeking term of Yang et al. 2019 and
    Mao et al. 2019; docs/design-notes.md). x¹' is a second sample of the first half of the batch, same sources,
    labels and task, fresh noise z'. The pixel mean runs over the whole image (S is copied from the data in both
    samples, so it adds 0): every target pixel is pushed alike whatever |T|, and richer sources, whose targets are
    few, are pushed less in all. The cap stops the push once samples differ enough. With `diversity_labelled`
    off, only the samples whose label is not a source count (the mean over those; 0 if none)."""
    if fakes.z1 is None:
        raise ValueError("mode seeking needs the noise of x1 (draw the fakes with draw_fakes)")
    h = max(1, images.shape[0] // 2)
    cond = source_labels(labels, tasks)
    z2 = torch.randn_like(fakes.z1[:h])
    x2 = generator(images[:h], tasks.source[:h], z2, None if cond is None else cond[:h])
    moved = (fakes.x1[:h] - x2).abs().flatten(1).mean(1)
    reward = (moved / (fakes.z1[:h] - z2).abs().mean(1)).clamp(max=config.diversity_cap)
    if config.diversity_labelled:
        return reward.mean()
    free = (tasks.label_role[:h] != LABEL_SOURCE).to(reward.dtype)  # samples G draws without a given label
    return (reward * free).sum() / free.sum().clamp_min(1.0)


def r1_penalty(discriminator: UniversalDiscriminator, images: torch.Tensor, tasks: Tasks,
               labels: torch.Tensor | None, config: LossConfig, scale: float = 1.0) -> torch.Tensor:
    """(λ/2)·E‖∇_x f(real; S1, T1)‖², times `scale` (the lazy-R1 interval when evaluated every k steps).

    Runs under the MATH attention kernel: CPU's fused SDPA kernel has no double backward.
    """
    real = images.detach().requires_grad_(True)
    with sdpa_kernel(SDPBackend.MATH):
        logits = discriminator(real, tasks.source, tasks.target, source_labels(labels, tasks))
        (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return 0.5 * config.r1_gamma * scale * grad.flatten(1).pow(2).sum(1).mean()


def label_loss(generator: UniversalGenerator, images: torch.Tensor, labels: torch.Tensor, tasks: Tasks,
               masks: MaskConfig, observed: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of p_θ(y | x_S) on real data for the samples whose label is a target.

    S is S1 or, with probability `label_full_source`, every observed patch (supervised learning as
    the special case S = L). Returns 0 (with a graph) when no sample has the label as target.
    """
    pick = (tasks.label_role == LABEL_TARGET) & (labels >= 0)
    if not bool(pick.any()):
        return generator.classifier.weight.sum() * 0.0
    full = tasks.source.new_ones(tasks.source.shape) if observed is None else observed
    use_full = torch.rand(images.shape[0], device=images.device) < masks.label_full_source
    source = torch.where(use_full[:, None], full, tasks.source)
    logits = generator.classify_logits(images[pick], source[pick])
    return F.cross_entropy(logits, labels[pick])


def mae_loss(generator: UniversalGenerator, images: torch.Tensor, tasks: Tasks,
             labels: torch.Tensor | None) -> torch.Tensor:
    """The MAE special case (paper §3.1): mean squared error of G's prediction on the target patches
    given the sources, with the noise fixed at zero (a unimodal, deterministic p_θ(x_T | x_S))."""
    noise = images.new_zeros(images.shape[0], generator.config.noise_dim)
    pred = generator(images, tasks.source, noise, source_labels(labels, tasks))
    p = generator.config.patch_size
    err = (patchify(pred, p) - patchify(images, p)).pow(2).mean(-1)  # (B, L)
    weight = tasks.target.float()
    return (err * weight).sum() / weight.sum().clamp(min=1.0)


def supervised_loss(generator: UniversalGenerator, images: torch.Tensor, labels: torch.Tensor,
                    observed: torch.Tensor | None = None) -> torch.Tensor:
    """Supervised learning as the special case S = L, T = {y}: cross-entropy of p_θ(y | x) on whole images
    (every observed patch), for the samples with a known label."""
    pick = labels >= 0
    if not bool(pick.any()):
        return generator.classifier.weight.sum() * 0.0
    source = torch.ones(images.shape[0], generator.config.num_patches, dtype=torch.bool, device=images.device) \
        if observed is None else observed
    return F.cross_entropy(generator.classify_logits(images[pick], source[pick]), labels[pick])


__all__ = ["Fakes", "draw_fakes", "discriminator_losses", "generator_losses", "mode_seeking", "r1_penalty",
           "label_loss", "mae_loss", "shift_alike", "source_labels", "supervised_loss"]
