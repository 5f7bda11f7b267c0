"""The 25-GMM race (Big Cooperative Learning §4.1): joint matching against big learning, vectorised.

Target: 25 equal-weight components on {−4, −2, 0, 2, 4}², covariance 0.05·I. Model: a 25-component GMM with
fixed uniform weights, learnable means (initialised at −5 + 0.1·N(0, 1), all in one corner) and learnable
Cholesky factors (initialised to the identity). Per outer iteration each run draws one task and takes
`inner` SGD steps (learning rate 0.1) on `samples` samples of that task's loss:
- joint: KL of the 2-D joint;
- marginal: a Haar-random orthogonal A, KL of the marginal of y₁ = (A x)₁;
- conditional: KL of p(y₂ | y₁ = v) of y = A x, with v drawn from the data.
Reverse KL uses reparameterised model samples; forward KL (maximum likelihood) uses data samples.
Every arm × seed is one row of a batch; the 2×2 algebra is written out (no batched linear algebra).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

TARGET_VAR = 0.05
SIDE, SPACING = 5, 2.0
K = SIDE * SIDE
RADIUS = 3 * math.sqrt(TARGET_VAR)  # "within 3 target standard deviations"
MIN_VAR = 1e-6
JOINT, MARGINAL, CONDITIONAL = 0, 1, 2


@dataclass(frozen=True)
class Arm:
    """One training schedule: which tasks, in which KL direction."""

    name: str
    tasks: str  # "joint" | "marginals" | "marginals+conditionals"
    direction: str  # "reverse" | "forward"


ARMS = {a.name: a for a in (
    Arm("joint", "joint", "reverse"),
    Arm("biglearn", "marginals", "reverse"),
    Arm("biglearn+cond", "marginals+conditionals", "reverse"),
    Arm("joint-forward", "joint", "forward"),
    Arm("biglearn-forward", "marginals", "forward"),
)}


@dataclass(frozen=True)
class RaceConfig:
    """Size of one race; the paper's schedule by default."""

    iters: int = 10_000
    inner: int = 20
    samples: int = 100
    lr: float = 0.1
    eval_every: int = 100
    eval_samples: int = 10_000
    joint_share: float = 0.1  # share of joint tasks from half-way on, for the big-learning arms


def target_means() -> torch.Tensor:
    """(25, 2): the grid {−4, −2, 0, 2, 4}²."""
    ticks = (torch.arange(SIDE, dtype=torch.float) - (SIDE - 1) / 2) * SPACING
    return torch.cartesian_prod(ticks, ticks)


# --- densities, written out for isotropic targets and 2x2 model covariances ------------------------------

def _logsumexp_mean(comp: torch.Tensor) -> torch.Tensor:
    return comp.logsumexp(-1) - math.log(comp.shape[-1])


def model_cov(chol: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Σ = L Lᵀ from chol (..., 3) = (l11, l21, l22): (Σ11, Σ12, Σ22)."""
    l11, l21, l22 = chol.unbind(-1)
    return l11 * l11, l11 * l21, l21 * l21 + l22 * l22


def model_log_prob_2d(x: torch.Tensor, means: torch.Tensor, chol: torch.Tensor) -> torch.Tensor:
    """log p_θ(x) for x (B, N, 2), means (B, K, 2), chol (B, K, 3) -> (B, N)."""
    a, b, c = model_cov(chol)
    det = (a * c - b * b).clamp_min(MIN_VAR * MIN_VAR)
    u = x[:, :, None, 0] - means[:, None, :, 0]
    v = x[:, :, None, 1] - means[:, None, :, 1]
    a, b, c, det = (t[:, None] for t in (a, b, c, det))
    comp = -0.5 * ((c * u * u - 2 * b * u * v + a * v * v) / det + det.log()) - math.log(2 * math.pi)
    return _logsumexp_mean(comp)


def log_prob_1d(y: torch.Tensor, mean: torch.Tensor, var: torch.Tensor,
                logw: torch.Tensor | None = None) -> torch.Tensor:
    """log of a 1-D mixture at y (B, N): means/vars (B, K) or (B, N, K); uniform weights unless `logw`."""
    if mean.dim() == 2:
        mean, var = mean[:, None], var[:, None]
    var = var.clamp_min(MIN_VAR)
    comp = -0.5 * ((y[..., None] - mean).square() / var + var.log() + math.log(2 * math.pi))
    return _logsumexp_mean(comp) if logw is None else (comp + logw).logsumexp(-1)


def target_log_prob_2d(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """log q(x) of the isotropic target, x (B, N, 2) -> (B, N)."""
    d2 = (x[:, :, None, :] - centres).square().sum(-1)
    return _logsumexp_mean(-0.5 * d2 / TARGET_VAR) - math.log(2 * math.pi * TARGET_VAR)


# --- one inner step ---------------------------------------------------------------------------------------

def draw(means: torch.Tensor, chol: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """n reparameterised model samples (B, n, 2), components uniform."""
    b = means.shape[0]
    k = torch.randint(K, (b, n), generator=g)
    eps = torch.randn(b, n, 2, generator=g)
    mu = means.gather(1, k[..., None].expand(b, n, 2))
    l11, l21, l22 = chol.gather(1, k[..., None].expand(b, n, 3)).unbind(-1)
    return mu + torch.stack([l11 * eps[..., 0], l21 * eps[..., 0] + l22 * eps[..., 1]], -1)


def draw_data(b: int, n: int, centres: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """n target samples (B, n, 2)."""
    return centres[torch.randint(K, (b, n), generator=g)] + math.sqrt(TARGET_VAR) * torch.randn(b, n, 2, generator=g)


def task_loss(means: torch.Tensor, chol: torch.Tensor, kind: torch.Tensor, rot: torch.Tensor,
              forward: torch.Tensor, n: int, centres: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """The per-row loss (B,) of each row's task: `kind` (B,) JOINT/MARGINAL/CONDITIONAL, `rot` (B, 2, 2)
    orthogonal, `forward` (B,) bool (maximum likelihood on data instead of reverse KL on model samples).

    Each kind is computed on its own rows only: the elementwise work, not the call count, is the cost here."""
    out = means.new_zeros(means.shape[0])
    for code, fn in ((JOINT, _joint_loss), (MARGINAL, _marginal_loss), (CONDITIONAL, _conditional_loss)):
        rows = (kind == code).nonzero()[:, 0]
        if len(rows):
            out = out.index_put((rows,), fn(means[rows], chol[rows], rot[rows], forward[rows], n, centres, g))
    return out


def _points(means: torch.Tensor, chol: torch.Tensor, forward: torch.Tensor, n: int, centres: torch.Tensor,
            g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(data samples, the points the loss is evaluated at: data for forward rows, model samples otherwise)."""
    data = draw_data(means.shape[0], n, centres, g)
    return data, torch.where(forward[:, None, None], data, draw(means, chol, n, g))


def _joint_loss(means, chol, rot, forward, n, centres, g) -> torch.Tensor:  # noqa: ANN001 - see task_loss
    _, x = _points(means, chol, forward, n, centres, g)
    lp = model_log_prob_2d(x, means, chol)
    return torch.where(forward[:, None], -lp, lp - target_log_prob_2d(x, centres)).mean(1)


def _projections(means, chol, rot, centres):  # noqa: ANN001, ANN202
    """Means and covariance entries of y = A x per component: model (B, K) and target (B, K)."""
    a1, a2 = rot[:, 0], rot[:, 1]  # (B, 2)
    s11, s12, s22 = model_cov(chol)

    def quad(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:  # uᵀ Σ_k w -> (B, K)
        return (u[:, None, 0] * w[:, None, 0] * s11 + (u[:, None, 0] * w[:, None, 1] + u[:, None, 1]
                * w[:, None, 0]) * s12 + u[:, None, 1] * w[:, None, 1] * s22)

    m1, m2 = (means * a1[:, None]).sum(-1), (means * a2[:, None]).sum(-1)
    t1, t2 = (a1 @ centres.T), (a2 @ centres.T)
    return a1, a2, m1, m2, t1, t2, quad(a1, a1), quad(a1, a2), quad(a2, a2)


def _marginal_loss(means, chol, rot, forward, n, centres, g) -> torch.Tensor:  # noqa: ANN001
    _, x = _points(means, chol, forward, n, centres, g)
    a1, _, m1, _, t1, _, v11, _, _ = _projections(means, chol, rot, centres)
    y1 = (x * a1[:, None]).sum(-1)
    lp = log_prob_1d(y1, m1, v11)
    return torch.where(forward[:, None], -lp, lp - log_prob_1d(y1, t1, torch.full_like(t1, TARGET_VAR))).mean(1)


def _conditional_loss(means, chol, rot, forward, n, centres, g) -> torch.Tensor:  # noqa: ANN001
    """KL of p(y₂ | y₁ = v) with v from the data; the model samples from its own conditional mixture."""
    b = means.shape[0]
    data = draw_data(b, n, centres, g)
    a1, a2, m1, m2, t1, t2, v11, v12, v22 = _projections(means, chol, rot, centres)
    v = (data * a1[:, None]).sum(-1)  # (B, N)
    v11c = v11.clamp_min(MIN_VAR)[:, None]
    resp = -0.5 * ((v[..., None] - m1[:, None]).square() / v11c + v11c.log())
    resp = resp - resp.logsumexp(-1, keepdim=True)  # (B, N, K) log responsibilities of v
    gain = v12 / v11.clamp_min(MIN_VAR)
    cmean = m2[:, None] + gain[:, None] * (v[..., None] - m1[:, None])  # (B, N, K)
    cvar = (v22.clamp_min(MIN_VAR) - v12 * gain).clamp_min(MIN_VAR)[:, None].expand_as(cmean)
    # a component by its responsibility, by inverse CDF (torch.multinomial is slow for many small rows)
    cdf = resp.detach().exp().cumsum(-1)
    k = (cdf < torch.rand(b, n, 1, generator=g) * cdf[..., -1:]).sum(-1, keepdim=True).clamp_max(K - 1)
    y2_model = cmean.gather(-1, k)[..., 0] + cvar.gather(-1, k)[..., 0].sqrt() * torch.randn(b, n, generator=g)
    y2 = torch.where(forward[:, None], (data * a2[:, None]).sum(-1), y2_model)
    lp = log_prob_1d(y2, cmean, cvar, resp)
    tresp = -0.5 * (v[..., None] - t1[:, None]).square() / TARGET_VAR
    tresp = tresp - tresp.logsumexp(-1, keepdim=True)
    lq = log_prob_1d(y2, t2[:, None].expand_as(cmean), torch.full_like(cmean, TARGET_VAR), tresp)
    return torch.where(forward[:, None], -lp, lp - lq).mean(1)


# --- the race ---------------------------------------------------------------------------------------------

def random_rotations(b: int, g: torch.Generator) -> torch.Tensor:
    """Haar-random 2x2 orthogonal matrices (B, 2, 2): a rotation, reflected with probability ½."""
    theta = torch.rand(b, generator=g) * 2 * math.pi
    c, s = theta.cos(), theta.sin()
    flip = torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([flip * s, flip * c], -1)], -2)


def draw_tasks(arms: list[Arm], seeds: int, iteration: int, cfg: RaceConfig,
               g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One task per row: kind (B,) and transform (B, 2, 2); rows are arm-major (arm i: rows i·seeds …)."""
    b = len(arms) * seeds
    u = torch.rand(b, generator=g)
    rot = random_rotations(b, g)
    kinds = []
    for arm in arms:
        part = u[len(kinds):len(kinds) + seeds]
        if arm.tasks == "joint":
            kinds.append(torch.full((seeds,), JOINT))
            continue
        second_half = iteration >= cfg.iters // 2
        rest = (part - cfg.joint_share) / (1 - cfg.joint_share)
        if arm.tasks == "marginals":
            kind = torch.full((seeds,), MARGINAL)
        else:
            kind = torch.where(rest < 0.5, MARGINAL, CONDITIONAL)
        kinds.append(torch.where(second_half & (part < cfg.joint_share), JOINT, kind))
    kind = torch.cat(kinds)
    rot = torch.where((kind == JOINT)[:, None, None], torch.eye(2).expand(b, 2, 2), rot)
    return kind, rot


def init_params(arms: list[Arm], seeds: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Means −5 + 0.1·N(0, 1) and identity Cholesky factors; seed i starts the same in every arm."""
    g = torch.Generator().manual_seed(seed)
    means = (-5 + 0.1 * torch.randn(seeds, K, 2, generator=g)).repeat(len(arms), 1, 1)
    chol = torch.tensor([1.0, 0.0, 1.0]).expand(len(arms) * seeds, K, 3).clone()
    return means, chol


@torch.no_grad()
def evaluate(means: torch.Tensor, chol: torch.Tensor, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Per row: modes covered, reverse and forward KL (Monte Carlo), share of samples within 3σ of a mode."""
    centres = target_means()
    b = means.shape[0]
    x = draw(means, chol, n, g)
    d_samples = (x[:, :, None, :] - centres).square().sum(-1).sqrt()  # (B, n, 25)
    near = d_samples < RADIUS
    share_per_mode = near.float().mean(1)  # (B, 25)
    d_means = (means[:, :, None, :] - centres).square().sum(-1).sqrt().amin(1)  # (B, 25)
    covered = ((d_means < RADIUS) & (share_per_mode >= 0.01)).sum(1)
    data = draw_data(b, n, centres, g)
    rev = (model_log_prob_2d(x, means, chol) - target_log_prob_2d(x, centres)).mean(1)
    fwd = (target_log_prob_2d(data, centres) - model_log_prob_2d(data, means, chol)).mean(1)
    return {"modes": covered.float(), "reverse_kl": rev, "forward_kl": fwd,
            "quality": near.any(-1).float().mean(1)}


@dataclass
class RaceState:
    """The parameters of every row (arm-major, `seeds` rows per arm) after `iteration` outer iterations, with
    the metrics of that evaluation (each a tensor over rows)."""

    iteration: int
    means: torch.Tensor
    chol: torch.Tensor
    metrics: dict[str, torch.Tensor]


def race_states(arm_names: list[str], seeds: int, cfg: RaceConfig = RaceConfig(),
                seed: int = 0) -> Iterator[RaceState]:
    """Run every arm for `seeds` seeds at once, yielding the state at iteration 0 and after every
    `eval_every` iterations (and the last): what `race` records and the app's live run draws."""
    arms = [ARMS[a] for a in arm_names]
    means, chol = init_params(arms, seeds, seed)
    g = torch.Generator().manual_seed(seed + 1)
    forward = torch.tensor([a.direction == "forward" for a in arms]).repeat_interleave(seeds)
    centres = target_means()
    yield RaceState(0, means.clone(), chol.clone(), evaluate(means, chol, cfg.eval_samples, g))
    for it in range(cfg.iters):
        kind, rot = draw_tasks(arms, seeds, it, cfg, g)
        for _ in range(cfg.inner):
            means.requires_grad_(True)
            chol.requires_grad_(True)
            loss = task_loss(means, chol, kind, rot, forward, cfg.samples, centres, g)
            gm, gc = torch.autograd.grad(loss.sum(), (means, chol))
            with torch.no_grad():  # plain SGD; a non-finite gradient (a collapsed component) is skipped
                means = (means - cfg.lr * torch.nan_to_num(gm, nan=0.0, posinf=0.0, neginf=0.0)).detach()
                chol = (chol - cfg.lr * torch.nan_to_num(gc, nan=0.0, posinf=0.0, neginf=0.0)).detach()
        if (it + 1) % cfg.eval_every == 0 or it + 1 == cfg.iters:
            yield RaceState(it + 1, means.clone(), chol.clone(), evaluate(means, chol, cfg.eval_samples, g))


def race(arm_names: list[str], seeds: int, cfg: RaceConfig = RaceConfig(), seed: int = 0,
         progress: Callable[[int, int], None] | None = None) -> dict:
    """Run every arm for `seeds` seeds at once. Returns per-arm metric curves (lists over evaluations,
    each a list over seeds), the evaluated iterations, the parameters at every evaluation and the seconds."""
    curves: dict[str, dict[str, list]] = {a: {} for a in arm_names}
    history, iters_logged = [], []
    start = time.perf_counter()
    for state in race_states(arm_names, seeds, cfg, seed):
        for i, arm in enumerate(arm_names):
            rows = slice(i * seeds, (i + 1) * seeds)
            for key, value in state.metrics.items():
                curves[arm].setdefault(key, []).append([round(float(v), 4) for v in value[rows]])
        history.append((state.means, state.chol))
        iters_logged.append(state.iteration)
        if progress is not None and state.iteration:
            progress(state.iteration, cfg.iters)
    seconds = time.perf_counter() - start
    steps = cfg.iters * cfg.inner * len(arm_names) * seeds
    return {"arms": list(arm_names), "seeds": seeds, "iterations": iters_logged, "curves": curves,
            "history": history, "seconds": seconds, "us_per_seed_step": 1e6 * seconds / max(steps, 1)}
