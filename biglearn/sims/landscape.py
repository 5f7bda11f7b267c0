"""Loss landscapes of joint matching against big learning (Big Cooperative Learning §3.3).

Target q = ½N((−1, 0), 0.1·I) + ½N((1, 0), 0.1·I); model: two equal-weight components with means (μ₁, 0),
(μ₂, 0) and variance 0.1. Every task here is 1-D, so every loss is a deterministic quadrature:
- the joint: both mixtures share the factor N(x₂; 0, 0.1), so KL of the joint equals KL of the x₁ marginals;
- marginals: y₁ = (A_θ x)₁ = cos θ·x₁ + sin θ·x₂ for θ = 0°, 15°, …, 165°, summed;
- conditionals: p(y₁ | y₂ = v) for θ in [0°, 90°] and 7 values v, summed.
Each in reverse KL[p_θ ‖ q] (the adversarial view) and forward KL[q ‖ p_θ] (maximum likelihood).
"""

from __future__ import annotations

import math

import torch

from .gmm import Mixture, quadrature_kl, rotation

VAR = 0.1
DTYPE = torch.float32
# step 0.1 against a component sd of 0.32: the trapezoid rule is spectrally accurate on these smooth integrands
# (surfaces equal those of 401 points to 3e-5 relative, the same minima, 5.5x faster; tests/test_sims.py)
QUADRATURE = dict(lo=-5.0, hi=5.0, points=101)
MARGINAL_ANGLES = tuple(range(0, 180, 15))
CONDITIONAL_ANGLES = tuple(range(0, 91, 15))
CONDITION_VALUES = (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5)
OPTIMA = ((-1.0, 1.0), (1.0, -1.0))
LOSSES = ("joint", "marginals", "conditionals")


def two_component(mu1: torch.Tensor, mu2: torch.Tensor) -> Mixture:
    """The 2-D model (or target) with means (μ₁, 0), (μ₂, 0), variance VAR, equal weights; batched like μ."""
    zeros = torch.zeros_like(mu1)
    means = torch.stack([torch.stack([mu1, zeros], -1), torch.stack([mu2, zeros], -1)], -2)
    cov = torch.eye(2, dtype=mu1.dtype).expand(*means.shape[:-1], 2, 2) * VAR
    return Mixture(means, cov, torch.full(means.shape[:-1], -math.log(2), dtype=mu1.dtype))


def kl(p: Mixture, q: Mixture, direction: str) -> torch.Tensor:
    """1-D KL in the asked direction: 'reverse' = KL[p ‖ q], 'forward' = KL[q ‖ p]."""
    return quadrature_kl(p, q, **QUADRATURE) if direction == "reverse" else quadrature_kl(q, p, **QUADRATURE)


def surfaces(mu1: torch.Tensor, mu2: torch.Tensor, direction: str) -> dict[str, torch.Tensor]:
    """The three loss surfaces over parameter grids μ₁, μ₂ (same shape) in one KL direction."""
    model = two_component(mu1.to(DTYPE), mu2.to(DTYPE))
    target = two_component(torch.tensor(-1.0, dtype=DTYPE), torch.tensor(1.0, dtype=DTYPE))
    out = {"joint": kl(model.marginal([0]), target.marginal([0]), direction)}
    angles = torch.tensor(MARGINAL_ANGLES, dtype=DTYPE) * math.pi / 180
    rot = rotation(angles)[:, :1]  # (n_angles, 1, 2): the first row, y₁
    shape = (len(angles), *([1] * mu1.dim()), 1, 2)
    out["marginals"] = kl(_expand(model, len(angles)).transform(rot.view(shape)),
                          target.transform(rot.view(shape)), direction).sum(0)
    total = torch.zeros_like(out["joint"])
    for deg in CONDITIONAL_ANGLES:
        a = rotation(torch.tensor(deg * math.pi / 180, dtype=DTYPE))
        pm, qm = model.transform(a), target.transform(a)
        for v in CONDITION_VALUES:
            value = torch.full((*mu1.shape, 1), v, dtype=DTYPE)
            point = torch.tensor([v], dtype=DTYPE)
            total = total + kl(pm.conditional([0], [1], value), qm.conditional([0], [1], point), direction)
    out["conditionals"] = total
    return out


def _expand(m: Mixture, n: int) -> Mixture:
    """The same mixture repeated along a new leading dimension of size n."""
    return Mixture(m.means.expand(n, *m.means.shape), m.cov.expand(n, *m.cov.shape), m.logw.expand(n, *m.logw.shape))


def local_minima(surface: torch.Tensor) -> list[tuple[int, int]]:
    """Interior grid points strictly lower than all 8 neighbours, as (row, column) indices."""
    s = surface
    centre = s[1:-1, 1:-1]
    lower = torch.ones_like(centre, dtype=torch.bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                lower &= centre < s[1 + di:s.shape[0] - 1 + di, 1 + dj:s.shape[1] - 1 + dj]
    return [(int(i) + 1, int(j) + 1) for i, j in lower.nonzero().tolist()]


def run(points: int = 100, lim: float = 2.0) -> dict:
    """All six surfaces on a points×points grid of (μ₁, μ₂) ∈ [−lim, lim]², with their local minima."""
    ticks = torch.linspace(-lim, lim, points, dtype=DTYPE)
    mu1, mu2 = torch.meshgrid(ticks, ticks, indexing="ij")  # rows: μ₁, columns: μ₂
    result: dict = {"ticks": ticks.tolist(), "surfaces": {}, "minima": {}}
    for direction in ("reverse", "forward"):
        for name, surf in surfaces(mu1, mu2, direction).items():
            key = f"{direction}/{name}"
            result["surfaces"][key] = surf
            result["minima"][key] = [(round(float(ticks[i]), 3), round(float(ticks[j]), 3), float(surf[i, j]))
                                     for i, j in local_minima(surf)]
    return result
