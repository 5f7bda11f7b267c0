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

import logging
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from .gmm import LOG_2PI

TARGET_VAR = 0.05
SIDE, SPACING = 5, 2.0
K = SIDE * SIDE
RADIUS = 3 * math.sqrt(TARGET_VAR)  # "within 3 target standard deviations"
MIN_VAR = 1e-6
EVAL_BLOCK = 1000  # samples per block of an evaluation
EXP_FLOOR = -80.0  # log-density gaps below this are dropped from a log-sum-exp
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
    compile: bool = True  # the inner step through torch.compile (eager where the machine cannot compile)


def target_means() -> torch.Tensor:
    """(25, 2): the grid {−4, −2, 0, 2, 4}²."""
    ticks = (torch.arange(SIDE, dtype=torch.float) - (SIDE - 1) / 2) * SPACING
    return torch.cartesian_prod(ticks, ticks)


# --- densities ----------------------------------------------------------------------------------------------
# Component log-densities are laid out (B, K, N): components before samples, so that the reductions over
# components run along a strided axis and vectorise over samples (11x faster for the max than (B, N, K)).
# A model component's whitened coordinates are affine in the point, so they are one batched matmul instead of
# a dozen elementwise passes; the log-sum-exp is written out so that its backward reuses the forward's
# exponentials.

class _LogMeanExp(torch.autograd.Function):
    """log mean_k exp(comp) over dim 1 of (B, K, N) -> (B, N); the backward pass reuses the forward's softmax."""

    @staticmethod
    def forward(ctx, comp: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        top = comp.amax(1, keepdim=True)
        # exp of inputs below about -87 (float32 underflow) is some 10x slower than of others on this CPU,
        # and such terms are below 1e-35 of the largest: clamp them
        e = (comp - top).clamp_min_(EXP_FLOOR).exp_()
        total = e.sum(1, keepdim=True)
        ctx.save_for_backward(e, total)
        return (total.log() + top).squeeze(1) - math.log(comp.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        e, total = ctx.saved_tensors
        return e * (grad.unsqueeze(1) / total)


def log_mean_exp(comp: torch.Tensor) -> torch.Tensor:
    """log (1/K) Σ_k exp(comp[:, k]) for comp (B, K, N) -> (B, N): a uniform mixture from its components."""
    return _LogMeanExp.apply(comp)


def model_cov(chol: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Σ = L Lᵀ from chol (..., 3) = (l11, l21, l22): (Σ11, Σ12, Σ22)."""
    l11, l21, l22 = chol.unbind(-1)
    return l11 * l11, l11 * l21, l21 * l21 + l22 * l22


def chain(means: torch.Tensor, chol: torch.Tensor, rot: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """Each component of y = A x for orthogonal `rot` (B, 2, 2; None: the identity) as a chain: the mean and
    variance of y₁, and the mean at y₁ = m₁, gain and variance of y₂ given y₁ -> (m1, v1, m2, gain, cvar), each
    (B, K). Variances are clamped at MIN_VAR (a collapsed component stays finite)."""
    l11, l21, l22 = chol.unbind(-1)
    if rot is None:
        m, (s11, s12, _) = means, model_cov(chol)
    else:  # A μ and A Σ Aᵀ = (Lᵀ Aᵀ)ᵀ (Lᵀ Aᵀ)
        m = means @ rot.transpose(1, 2)
        lt = torch.stack([l11, l21, torch.zeros_like(l22), l22], -1).unflatten(-1, (2, 2))  # Lᵀ (B, K, 2, 2)
        w = lt @ rot.transpose(1, 2)[:, None]
        s = w.transpose(-1, -2) @ w
        s11, s12 = s[..., 0, 0], s[..., 0, 1]
    v1 = s11.clamp_min(MIN_VAR)
    # the conditional variance as det Σ / Σ₁₁ (|det A| = 1), not Σ₂₂ − Σ₁₂²/Σ₁₁: that difference loses most of
    # its digits in float32 when the component is narrow
    cvar = ((l11 * l22).square() / v1).clamp_min(MIN_VAR)
    return m[..., 0], v1, m[..., 1], s12 / v1, cvar


def _whitened(points: torch.Tensor, weights: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """weights · point + bias for points (B, N, D), weights (B, R, D), bias (B, R) -> (B, R, N)."""
    return torch.baddbmm(bias[..., None], weights, points.transpose(1, 2))


def components_1d(y: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """log N(y_n; m_k, v_k) for y (B, N), means and variances (B, K) -> (B, K, N)."""
    r = var.clamp_min(MIN_VAR).rsqrt()
    z = _whitened(y[..., None], r[..., None], -mean * r)
    return torch.addcmul((r.log() - 0.5 * LOG_2PI)[..., None], z, z, value=-0.5)


def chain_components(y: torch.Tensor, m1: torch.Tensor, v1: torch.Tensor, m2: torch.Tensor, gain: torch.Tensor,
                     cvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For y (B, N, 2) and a chain (`chain`'s (B, K) outputs): the components' log N(y₁) and log N(y₁, y₂) =
    log N(y₁) + log N(y₂ | y₁), each (B, K, N).

    Both come from the whitened coordinates z₁ = (y₁ − m₁)/√v₁, z₂ = (y₂ − m₂ − g (y₁ − m₁))/√cvar, one batched
    matmul each: expanding the quadratic form instead would cancel catastrophically in float32 for narrow components."""
    first = components_1d(y[..., 0], m1, v1)
    rc = cvar.clamp_min(MIN_VAR).rsqrt()
    z2 = _whitened(y, torch.stack([-gain * rc, rc], -1), (gain * m1 - m2) * rc)
    return first, torch.addcmul(first, z2, z2, value=-0.5) + (rc.log() - 0.5 * LOG_2PI)[..., None]


def model_log_prob_2d(x: torch.Tensor, means: torch.Tensor, chol: torch.Tensor) -> torch.Tensor:
    """log p_θ(x) for x (B, N, 2), means (B, K, 2), chol (B, K, 3) -> (B, N)."""
    return log_mean_exp(chain_components(x, *chain(means, chol))[1])


def log_prob_1d(y: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """log of the uniform 1-D mixture with means and variances (B, K) at y (B, N) -> (B, N)."""
    return log_mean_exp(components_1d(y, mean, var))


def _isotropic_log_prob(points: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """log of the uniform mixture of N(c_k, TARGET_VAR·I) at points (B, N, D), centres (K, D) or (B, K, D).

    −|x − c|²/2σ² expanded as (c·x − |c|²/2)/σ² − |x|²/2σ²: one matmul, and with the target's fixed σ² of 0.05
    the expansion costs no precision (unlike a narrow model component)."""
    comp = (centres / TARGET_VAR) @ points.transpose(1, 2) - (0.5 / TARGET_VAR) * centres.square().sum(-1, True)
    return log_mean_exp(comp) - (0.5 / TARGET_VAR) * points.square().sum(-1) \
        - 0.5 * points.shape[-1] * math.log(2 * math.pi * TARGET_VAR)


def target_log_prob_2d(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """log q(x) of the isotropic target with centres (K, 2), x (B, N, 2) -> (B, N)."""
    return _isotropic_log_prob(x, centres)


def target_log_prob_1d(y: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """log of the target's 1-D marginal with component means `centres` (B, K) at y (B, N) -> (B, N)."""
    return _isotropic_log_prob(y[..., None], centres[..., None])


# --- one inner step ---------------------------------------------------------------------------------------
# Every row computes every task kind's terms and keeps its own: the race is bound by the count of tensor
# operations, not by their size (50 rows x 25 components x 100 samples), and a step of fixed shapes compiles
# (torch.compile) into a few fused loops: 2.8x faster for the full race's 50 rows, 4x for the app's 3.

def draw(means: torch.Tensor, chol: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """n reparameterised model samples (B, n, 2), components uniform."""
    b = means.shape[0]
    return model_samples(means, chol, torch.randint(K, (b, n), generator=g), torch.randn(b, n, 2, generator=g))


def model_samples(means: torch.Tensor, chol: torch.Tensor, k: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Samples (B, n, 2) of components `k` (B, n) from standard normal `eps` (B, n, 2), reparameterised."""
    b, n = k.shape
    mu = means.gather(1, k[..., None].expand(b, n, 2))
    l11, l21, l22 = chol.gather(1, k[..., None].expand(b, n, 3)).unbind(-1)
    return mu + torch.stack([l11 * eps[..., 0], l21 * eps[..., 0] + l22 * eps[..., 1]], -1)


def draw_data(b: int, n: int, centres: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """n target samples (B, n, 2)."""
    return centres[torch.randint(K, (b, n), generator=g)] + math.sqrt(TARGET_VAR) * torch.randn(b, n, 2, generator=g)


def step_noise(b: int, n: int, centres: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Every random number one inner step uses, drawn outside the (compiled) step: data samples (B, n, 2), model
    components and normals for the joint and marginal tasks, uniforms and normals for the conditional's."""
    return (draw_data(b, n, centres, g), torch.randint(K, (b, n), generator=g), torch.randn(b, n, 2, generator=g),
            torch.rand(b, 1, n, generator=g), torch.randn(b, n, generator=g))


def task_loss(means: torch.Tensor, chol: torch.Tensor, kind: torch.Tensor, rot: torch.Tensor,
              forward: torch.Tensor, centres: torch.Tensor, noise: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The per-row loss (B,) of each row's task: `kind` (B,) JOINT/MARGINAL/CONDITIONAL, `rot` (B, 2, 2)
    orthogonal (the identity for JOINT), `forward` (B,) bool (maximum likelihood on data instead of reverse KL on
    model samples), `noise` from `step_noise`.

    The joint is the density of y = A x; the marginal that of y₁; the conditional p(y₂ | y₁ = v) with v from the
    data is log p(v, y₂) − log p(v), its model sample a component by its responsibility for v (inverse CDF) and
    then its conditional Gaussian, reparameterised. The target's density at y is the one at x = Aᵀy."""
    data, k, eps, u, normal = noise
    m1, v1, m2, gain, cvar = chain(means, chol, rot)
    x = torch.where(forward[:, None, None], data, model_samples(means, chol, k, eps))
    y_plain = x @ rot.transpose(1, 2)
    v = (data @ rot[:, 0, :, None])[..., 0]  # (B, N)
    first = components_1d(v, m1, v1).detach()
    cdf = (first - first.amax(1, keepdim=True)).clamp_min(EXP_FLOOR).exp().cumsum(1)  # (B, K, N)
    pick = (cdf < u * cdf[:, -1:]).sum(1).clamp_max(K - 1)  # (B, N): the drawn components

    def at(t: torch.Tensor) -> torch.Tensor:
        return t.gather(1, pick)

    y2_model = at(m2) + at(gain) * (v - at(m1)) + at(cvar).sqrt() * normal
    y2 = torch.where(forward[:, None], (data @ rot[:, 1, :, None])[..., 0], y2_model)
    conditional = (kind == CONDITIONAL)[:, None]
    y = torch.where(conditional[..., None], torch.stack([v, y2], -1), y_plain)
    marginal_comp, joint_comp = chain_components(y, m1, v1, m2, gain, cvar)
    lp1, lp2 = log_mean_exp(marginal_comp), log_mean_exp(joint_comp)
    lq1 = target_log_prob_1d(y[..., 0], rot[:, 0] @ centres.T)
    lq2 = target_log_prob_2d(y @ rot, centres)
    marginal = (kind == MARGINAL)[:, None]
    lp = torch.where(marginal, lp1, torch.where(conditional, lp2 - lp1, lp2))
    lq = torch.where(marginal, lq1, torch.where(conditional, lq2 - lq1, lq2))
    return torch.where(forward[:, None], -lp, lp - lq).mean(1)


def sgd_step(means: torch.Tensor, chol: torch.Tensor, kind: torch.Tensor, rot: torch.Tensor, forward: torch.Tensor,
             centres: torch.Tensor, noise: tuple[torch.Tensor, ...], lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One plain SGD step of every row on its task; a non-finite gradient entry (a collapsed component) is skipped."""
    means, chol = means.detach().requires_grad_(True), chol.detach().requires_grad_(True)
    loss = task_loss(means, chol, kind, rot, forward, centres, noise)
    gm, gc = torch.autograd.grad(loss.sum(), (means, chol))
    return ((means - lr * torch.nan_to_num(gm, nan=0.0, posinf=0.0, neginf=0.0)).detach(),
            (chol - lr * torch.nan_to_num(gc, nan=0.0, posinf=0.0, neginf=0.0)).detach())


class CompiledStep:
    """`sgd_step` through torch.compile (one graph per row count), falling back to eager once when the machine
    cannot compile (no C++ compiler).

    Called directly (the CLI, the bench), a size not compiled yet is compiled in the caller's thread. Once `warm`
    has been called (the app, at start-up, on a thread of its own), sizes are compiled there only: a race never
    waits for a compile, it runs eagerly until its size is ready (and while another size compiles)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held while compiling or running compiled code: never both at once
        self.compiled: Callable | None = None
        self.ready: set[int] = set()
        self.background = False
        self.failed = ""

    def __call__(self, *args: object) -> tuple[torch.Tensor, torch.Tensor]:
        rows = args[0].shape[0]  # type: ignore[attr-defined]
        if not self.failed and (rows in self.ready or not self.background) and self.lock.acquire(blocking=False):
            try:
                return self.run_compiled(rows, *args)
            except Exception as exc:  # noqa: BLE001 - any compile failure means "run eagerly", said once
                self.give_up(exc)
            finally:
                self.lock.release()
        return sgd_step(*args)

    def run_compiled(self, rows: int, *args: object) -> tuple[torch.Tensor, torch.Tensor]:
        if self.compiled is None:
            # torch's C++ builder warns on every CPU-only machine that it found no CUDA runtime
            logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
            self.compiled = torch.compile(sgd_step, dynamic=False)
        out = self.compiled(*args)
        self.ready.add(rows)
        return out

    def warm(self, rows: int) -> None:
        """Compile the step for `rows` rows now (a few seconds; tens on a cold cache), waiting for any compile
        under way; from now on calls of sizes not yet compiled run eagerly instead of compiling."""
        self.background = True
        means, chol = init_params([ARMS["joint"]], rows, 0)
        g = torch.Generator().manual_seed(0)
        args = (means, chol, torch.full((rows,), JOINT), torch.eye(2).expand(rows, 2, 2),
                torch.zeros(rows, dtype=torch.bool), target_means(),
                step_noise(rows, RaceConfig.samples, target_means(), g), 0.1)
        with self.lock:
            if self.failed or rows in self.ready:
                return
            try:
                self.run_compiled(rows, *args)
            except Exception as exc:  # noqa: BLE001 - as in __call__
                self.give_up(exc)

    def give_up(self, exc: Exception) -> None:
        """Run eagerly from now on, and say why once."""
        self.failed = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        warnings.warn(f"the 25-GMM race runs eagerly (torch.compile failed: {self.failed})", stacklevel=3)


COMPILED_STEP = CompiledStep()


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
    x, data = draw(means, chol, n, g), draw_data(b, n, centres, g)
    near_mode, near_any, rev, fwd = means.new_zeros(b, K), means.new_zeros(b), means.new_zeros(b), means.new_zeros(b)
    # in blocks of samples: (rows, 25, 10,000) tensors are 50 MB each, and fresh ones that large cost more in
    # page faults than in arithmetic
    for xs, ds in zip(x.split(EVAL_BLOCK, 1), data.split(EVAL_BLOCK, 1), strict=True):
        d2 = xs.square().sum(-1)[:, None] - 2 * centres @ xs.transpose(1, 2) + centres.square().sum(-1, keepdim=True)
        near = d2 < RADIUS * RADIUS  # (B, 25, block)
        near_mode += near.sum(2)
        near_any += near.any(1).sum(1)
        rev += (model_log_prob_2d(xs, means, chol) - target_log_prob_2d(xs, centres)).sum(1)
        fwd += (target_log_prob_2d(ds, centres) - model_log_prob_2d(ds, means, chol)).sum(1)
    d_means = (means[:, :, None, :] - centres).square().sum(-1).sqrt().amin(1)  # (B, 25)
    covered = ((d_means < RADIUS) & (near_mode / n >= 0.01)).sum(1)
    return {"modes": covered.float(), "reverse_kl": rev / n, "forward_kl": fwd / n, "quality": near_any / n}


@dataclass
class RaceState:
    """The parameters of every row (arm-major, `seeds` rows per arm) after `iteration` outer iterations, with
    the metrics of that evaluation (each a tensor over rows)."""

    iteration: int
    means: torch.Tensor
    chol: torch.Tensor
    metrics: dict[str, torch.Tensor]


def race_states(arm_names: list[str], seeds: int, cfg: RaceConfig = RaceConfig(),
                seed: int = 0, deadline: float | None = None,
                stop: Callable[[], bool] | None = None) -> Iterator[RaceState]:
    """Run every arm for `seeds` seeds at once, yielding the state at iteration 0 and after every
    `eval_every` iterations (and the last): what `race` records and the app's live run draws. With a `deadline`
    (a `time.monotonic()` value) the race checks it after every outer iteration and, once past it, yields
    that iteration's state and stops. `stop` is asked after every outer iteration too: once it says True the
    race ends without a further state (nobody is left to see it)."""
    arms = [ARMS[a] for a in arm_names]
    means, chol = init_params(arms, seeds, seed)
    g = torch.Generator().manual_seed(seed + 1)
    forward = torch.tensor([a.direction == "forward" for a in arms]).repeat_interleave(seeds)
    centres = target_means()
    step = COMPILED_STEP if cfg.compile else sgd_step
    yield RaceState(0, means.clone(), chol.clone(), evaluate(means, chol, cfg.eval_samples, g))
    for it in range(cfg.iters):
        kind, rot = draw_tasks(arms, seeds, it, cfg, g)
        for _ in range(cfg.inner):
            means, chol = step(means, chol, kind, rot, forward, centres,
                               step_noise(len(kind), cfg.samples, centres, g), cfg.lr)
        if stop is not None and stop():
            return
        late = deadline is not None and time.monotonic() >= deadline
        if (it + 1) % cfg.eval_every == 0 or it + 1 == cfg.iters or late:
            yield RaceState(it + 1, means.clone(), chol.clone(), evaluate(means, chol, cfg.eval_samples, g))
        if late:
            return


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
