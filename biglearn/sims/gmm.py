"""Gaussian mixtures batched over a leading dimension (seeds, arms, parameter grids): densities, reparameterised
samples, and the closed forms big learning needs (DESIGN.md §12).

A mixture is `Mixture(means (..., K, D), cov (..., K, D, D), logw (..., K))`. For y = A x it is again a
mixture (means Aμ, covariances AΣAᵀ); the marginal of a subset of coordinates keeps those rows/columns; the
conditional p(y_T | y_S = v) is a mixture whose weights are the responsibilities of v. The log-density is
written out for D = 1 and D = 2 (the simulations' cases, several times faster than batched linear algebra on
tiny matrices) and falls back to a Cholesky solve for larger D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

LOG_2PI = math.log(2 * math.pi)


@dataclass
class Mixture:
    """A Gaussian mixture, batched: means (..., K, D), cov (..., K, D, D), log-weights (..., K)."""

    means: torch.Tensor
    cov: torch.Tensor
    logw: torch.Tensor

    @property
    def dim(self) -> int:
        return self.means.shape[-1]

    def transform(self, a: torch.Tensor) -> Mixture:
        """The mixture of y = A x for A (..., D', D)."""
        a_ = a.unsqueeze(-3)  # broadcast over components
        means = (a_ @ self.means.unsqueeze(-1)).squeeze(-1)
        return Mixture(means, a_ @ self.cov @ a_.transpose(-1, -2), self.logw)

    def marginal(self, coords: list[int]) -> Mixture:
        """The marginal of the coordinates `coords` (a list of indices)."""
        idx = torch.tensor(coords, device=self.means.device)
        cov = self.cov.index_select(-1, idx).index_select(-2, idx)
        return Mixture(self.means.index_select(-1, idx), cov, self.logw)

    def conditional(self, target: list[int], source: list[int], value: torch.Tensor) -> Mixture:
        """p(y_T | y_S = value) for `value` (..., |S|): the batch of the result is the batch of `value`."""
        t, s = (torch.tensor(c, device=self.means.device) for c in (target, source))
        mu_t, mu_s = self.means.index_select(-1, t), self.means.index_select(-1, s)
        c_tt = self.cov.index_select(-1, t).index_select(-2, t)
        c_ts = self.cov.index_select(-2, t).index_select(-1, s)
        c_ss = self.cov.index_select(-1, s).index_select(-2, s)
        gain = c_ts @ torch.linalg.inv(c_ss)  # (..., K, |T|, |S|)
        diff = value.unsqueeze(-2) - mu_s  # (..., K, |S|)
        means = mu_t + (gain @ diff.unsqueeze(-1)).squeeze(-1)
        cov = c_tt - gain @ c_ts.transpose(-1, -2)
        resp = self.logw + gaussian_log_prob(value.unsqueeze(-2), mu_s, c_ss)
        return Mixture(means, cov, resp - resp.logsumexp(-1, keepdim=True))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) for x (..., N, D) -> (..., N)."""
        comp = gaussian_log_prob(x.unsqueeze(-2), self.means.unsqueeze(-3), self.cov.unsqueeze(-4))
        return (comp + self.logw.unsqueeze(-2)).logsumexp(-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n reparameterised samples (..., n, D): a component by its weight, then μ + L ε."""
        batch = self.logw.shape[:-1]
        probs = self.logw.detach().exp().reshape(-1, self.logw.shape[-1])
        k = torch.multinomial(probs, n, replacement=True, generator=generator).view(*batch, n)
        eps = torch.randn(*batch, n, self.dim, generator=generator, device=self.means.device)
        return sample_components(self.means, self.cov, k, eps)


def sample_components(means: torch.Tensor, cov: torch.Tensor, k: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """μ_k + chol(Σ_k) ε for component indices k (..., n) and standard normals eps (..., n, D)."""
    d = means.shape[-1]
    mu = means.gather(-2, k.unsqueeze(-1).expand(*k.shape, d))
    if d == 1:
        sd = cov[..., 0, 0].clamp_min(1e-12).sqrt().gather(-1, k)
        return mu + sd.unsqueeze(-1) * eps
    chol = torch.linalg.cholesky(cov)
    lk = chol.gather(-3, k[..., None, None].expand(*k.shape, d, d))
    return mu + (lk @ eps.unsqueeze(-1)).squeeze(-1)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, cov), broadcasting x and mean (..., D) and cov (..., D, D)."""
    d = x.shape[-1]
    diff = x - mean
    if d == 1:
        var = cov[..., 0, 0].clamp_min(1e-12)
        return -0.5 * (LOG_2PI + var.log() + diff[..., 0].square() / var)
    if d == 2:
        a, b, c = cov[..., 0, 0], cov[..., 0, 1], cov[..., 1, 1]
        det = (a * c - b * b).clamp_min(1e-12)
        u, v = diff[..., 0], diff[..., 1]
        maha = (c * u * u - 2 * b * u * v + a * v * v) / det
        return -0.5 * (2 * LOG_2PI + det.log() + maha)
    chol = torch.linalg.cholesky(cov)
    z = torch.linalg.solve_triangular(chol, diff.unsqueeze(-1), upper=False).squeeze(-1)
    logdet = 2 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    return -0.5 * (d * LOG_2PI + logdet + z.square().sum(-1))


def from_cholesky(means: torch.Tensor, chol: torch.Tensor, logw: torch.Tensor) -> Mixture:
    """A mixture whose covariances are L Lᵀ for lower-triangular factors `chol` (..., K, D, D)."""
    low = chol.tril()
    return Mixture(means, low @ low.transpose(-1, -2), logw)


def grid_mixture(side: int = 5, spacing: float = 2.0, var: float = 0.05) -> Mixture:
    """side² equal-weight isotropic components on a centred square grid (the 25-mode benchmark by default)."""
    ticks = (torch.arange(side, dtype=torch.float) - (side - 1) / 2) * spacing
    means = torch.cartesian_prod(ticks, ticks)
    k = len(means)
    return Mixture(means, torch.eye(2).expand(k, 2, 2) * var, torch.full((k,), -math.log(k)))


def rotation(theta: torch.Tensor) -> torch.Tensor:
    """2-D rotation matrices (..., 2, 2) for angles θ (radians)."""
    c, s = theta.cos(), theta.sin()
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def random_orthogonal(batch: int, dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Haar-random orthogonal matrices (batch, dim, dim): QR of a Gaussian with the signs fixed."""
    q, r = torch.linalg.qr(torch.randn(batch, dim, dim, generator=generator))
    return q * r.diagonal(dim1=-2, dim2=-1).sign().unsqueeze(-2)


def reverse_kl(model: Mixture, target: Mixture, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Monte-Carlo KL[p_θ ‖ q] = E_{x~p_θ}[log p_θ(x) − log q(x)] with n reparameterised samples -> (...)."""
    x = model.sample(n, generator)
    return (model.log_prob(x) - target.log_prob(x)).mean(-1)


def forward_kl(model: Mixture, target: Mixture, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Monte-Carlo KL[q ‖ p_θ] = E_{x~q}[log q(x) − log p_θ(x)] (maximum likelihood up to q's entropy)."""
    x = target.sample(n, generator)
    return (target.log_prob(x) - model.log_prob(x)).mean(-1)


def quadrature_kl(p: Mixture, q: Mixture, lo: float = -6.0, hi: float = 6.0, points: int = 1201) -> torch.Tensor:
    """KL[p ‖ q] of two 1-D mixtures by the trapezoid rule on [lo, hi] (deterministic) -> (...)."""
    x = torch.linspace(lo, hi, points, dtype=p.means.dtype)
    shape = torch.broadcast_shapes(p.means.shape[:-2], q.means.shape[:-2])
    grid = x.view(*([1] * len(shape)), points, 1).expand(*shape, points, 1)
    lp, lq = p.log_prob(grid), q.log_prob(grid)
    return torch.trapezoid(lp.exp() * (lp - lq), x, dim=-1)
