"""A 2-D BigLearn-GAN against mode collapse: the objective of `biglearn.objectives` with MLPs over 2 coordinates.

Data: 25 Gaussians (std 0.05) on {−4, −2, 0, 2, 4}², the classic mode-collapse benchmark. A task is a
rotation y = A_θ x and a pair (S, T) over y's two coordinates: the joint (S = ∅, T = {1, 2}), a marginal
(S = ∅, T = {i}) or a conditional (S = {j}, T = {i}). The universal generator G(y_S, S, T, θ, z) sees the
coordinates with the absent ones zeroed, the S and T bits and (cos θ, sin θ); its output copies y_S exactly
and zeroes the coordinates outside S ∪ T. The universal discriminator D(y; S, T, θ) sees the same view of real
and generated points. Data matching (eq. 4) with the non-saturating loss and R1 on real points, as the image
model. The baseline is the same G and D trained on the untransformed joint only (a plain GAN); the known remedy
`pacgan2` (Lin et al. 2018) is a plain GAN whose D sees two independent samples side by side.

Two setups (`GanConfig.arch`): "mlp", LeakyReLU MLPs of `hidden` x `depth` for both networks, and "pacgan", the
networks of PacGAN's 2DGrid experiment (G 4x400 ReLU with BatchNorm, linear output, z ~ N(0, I2); D 3x200
LinearMaxout with 5 pieces), with its optimiser in `pacgan_config`.

Every (arm, seed) is one row of a batch: the networks are batched MLPs (`torch.baddbmm` over rows), so ten
seeds of two arms train as one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError

from ..checkpoint import SHARD_BYTES, read_shards, write_shards
from .gmm25 import target_means

STD = 0.05
RADIUS = 3 * STD
ARMS = ("plain", "biglearn", "pacgan2")
ARCHS = ("mlp", "pacgan")
PACGAN_G = (400, 4)  # PacGAN's 2DGrid generator: width, hidden layers (ReLU + BatchNorm)
PACGAN_D = (200, 3)  # its discriminator: width, hidden layers (LinearMaxout)
MAXOUT_PIECES = 5
# task kinds: (S bits, T bits)
TASKS = torch.tensor([[[0, 0], [1, 1]],   # joint
                      [[0, 0], [1, 0]],   # marginal of y1
                      [[0, 0], [0, 1]],   # marginal of y2
                      [[0, 1], [1, 0]],   # y1 | y2
                      [[1, 0], [0, 1]]],  # y2 | y1
                     dtype=torch.float)


@dataclass(frozen=True)
class GanConfig:
    """Sizes and optimisation of the 2-D GAN (the same for every arm). The defaults are the `sharp` setup, chosen
    on the trials of docs/simulations.md (issue 33): LeakyReLU MLPs 3 x 128, Adam 1e-4 with β1 = 0.8 (PacGAN's
    optimiser), no R1, batch 256, 60,000 steps; the plain GAN's samples are then sharp and what it misses is
    modes."""

    steps: int = 60_000
    batch: int = 256
    hidden: int = 128
    depth: int = 3
    noise_dim: int = 4
    lr: float = 1e-4
    betas: tuple[float, float] = (0.8, 0.999)
    r1_gamma: float = 0.0
    eval_samples: int = 2500
    arch: str = "mlp"  # one of ARCHS
    eval_every: int = 1000  # steps between points of the curves (modes, quality on eval_samples); 0 = no curves
    # the biglearn arm's share of joint tasks; None: one of the five task kinds uniformly (the joint 1/5 of the time)
    joint_share: float | None = None

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"unknown gan2d architecture {self.arch!r}; known: {', '.join(ARCHS)}")
        for name in ("steps", "batch", "hidden", "depth", "noise_dim", "eval_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"GanConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and all(0 <= b < 1 for b in self.betas) and self.r1_gamma >= 0 and self.eval_every >= 0):
            raise ValueError("GanConfig: lr > 0, betas in [0, 1), r1_gamma >= 0 and eval_every >= 0 are needed")
        if self.joint_share is not None and not 0 <= self.joint_share <= 1:
            raise ValueError(f"GanConfig.joint_share must be in [0, 1], got {self.joint_share}")


def small_config(**changes: object) -> GanConfig:
    """The setup of 2 Dec: Adam 5e-4 with β = (0.5, 0.9), R1 (γ = 0.01), 6,000 steps; both arms underfit alike
    (a quarter of the samples high quality)."""
    base = {"lr": 5e-4, "betas": (0.5, 0.9), "r1_gamma": 0.01, "steps": 6000}
    return GanConfig(**{**base, **changes})  # type: ignore[arg-type]


def pacgan_config(**changes: object) -> GanConfig:
    """PacGAN's 2DGrid setup: its networks, Adam 1e-4 with β1 = 0.8, batch 100, z of 2 dimensions, no R1."""
    base = {"arch": "pacgan", "lr": 1e-4, "betas": (0.8, 0.999), "batch": 100, "noise_dim": 2, "r1_gamma": 0.0}
    return GanConfig(**{**base, **changes})  # type: ignore[arg-type]


# the setups by name (`python -m biglearn.sims gan2d --setup NAME`): each a GanConfig factory taking changes
SETUPS: dict[str, Callable[..., GanConfig]] = {"sharp": GanConfig, "small": small_config, "pacgan": pacgan_config}


class BatchedMLP:
    """R independent MLPs (one per row) as stacked weights; forward (R, N, in) -> (R, N, out).

    Hidden layers use `activation`: "leaky" (LeakyReLU 0.2), "relu", or "maxout" (a LinearMaxout: each unit the
    maximum of `MAXOUT_PIECES` linear pieces); with `batchnorm`, each hidden layer's pre-activation is normalised
    over the row's N points (batch statistics, a learned scale and shift per row) before the activation."""

    def __init__(self, rows: int, sizes: list[int], g: torch.Generator, activation: str = "leaky",
                 batchnorm: bool = False) -> None:
        self.activation, self.pieces = activation, MAXOUT_PIECES if activation == "maxout" else 1
        self.weights, self.biases, self.norms = [], [], []
        last = len(sizes) - 2
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            width = fan_out * (self.pieces if i < last else 1)
            bound = 1 / math.sqrt(fan_in)
            w = (torch.rand(rows, fan_in, width, generator=g) * 2 - 1) * bound
            self.weights.append(w.requires_grad_(True))
            self.biases.append(torch.zeros(rows, 1, width, requires_grad=True))
            if batchnorm and i < last:
                self.norms.append((torch.ones(rows, 1, width, requires_grad=True),
                                   torch.zeros(rows, 1, width, requires_grad=True)))

    def parameters(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases, *(p for pair in self.norms for p in pair)]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            if i == last:
                break
            if self.norms:
                scale, shift = self.norms[i]
                mean, var = x.mean(1, keepdim=True), x.var(1, keepdim=True, correction=0)
                x = (x - mean) * torch.rsqrt(var + 1e-5) * scale + shift
            if self.activation == "maxout":
                x = x.view(*x.shape[:-1], -1, self.pieces).amax(-1)
            else:
                x = F.relu(x) if self.activation == "relu" else F.leaky_relu(x, 0.2)
        return x


def rotate(points: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """y = A_θ x for points (R, N, 2) and angles θ (R, N)."""
    c, s = theta.cos(), theta.sin()
    return torch.stack([c * points[..., 0] - s * points[..., 1], s * points[..., 0] + c * points[..., 1]], -1)


def task_features(source: torch.Tensor, target: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """(R, N, 6): the S bits, the T bits, cos θ and sin θ."""
    return torch.cat([source, target, theta.cos()[..., None], theta.sin()[..., None]], -1)


class UniversalGenerator2D:
    """G(y_S, S, T, θ, z): copies y_S, generates y_T, zeroes the rest."""

    def __init__(self, rows: int, cfg: GanConfig, g: torch.Generator) -> None:
        width, depth = PACGAN_G if cfg.arch == "pacgan" else (cfg.hidden, cfg.depth)
        self.net = BatchedMLP(rows, [2 + 6 + cfg.noise_dim] + [width] * depth + [2], g,
                              activation="relu" if cfg.arch == "pacgan" else "leaky", batchnorm=cfg.arch == "pacgan")
        self.noise_dim = cfg.noise_dim

    def __call__(self, y: torch.Tensor, source: torch.Tensor, target: torch.Tensor, theta: torch.Tensor,
                 z: torch.Tensor) -> torch.Tensor:
        out = self.net(torch.cat([y * source, task_features(source, target, theta), z], -1))
        return y * source + out * target


class UniversalDiscriminator2D:
    """D(y; S, T, θ): a logit for the view y_{S ∪ T} of a point. Rows in `packed` (R,) bool are PacGAN2's: D sees
    point i beside point i + 1 of the batch (two independent samples, each point in two pairs); the other rows see
    one point, the partner's inputs held at zero (one batched network for every row)."""

    def __init__(self, rows: int, cfg: GanConfig, g: torch.Generator, packed: torch.Tensor | None = None) -> None:
        width, depth = PACGAN_D if cfg.arch == "pacgan" else (cfg.hidden, cfg.depth)
        self.packed = packed if packed is not None and bool(packed.any()) else None
        inputs = (2 + 6) * (1 if self.packed is None else 2)
        self.net = BatchedMLP(rows, [inputs] + [width] * depth + [1], g,
                              activation="maxout" if cfg.arch == "pacgan" else "leaky")

    def __call__(self, y: torch.Tensor, source: torch.Tensor, target: torch.Tensor,
                 theta: torch.Tensor) -> torch.Tensor:
        x = torch.cat([y * (source + target).clamp_max(1), task_features(source, target, theta)], -1)
        if self.packed is not None:
            x = torch.cat([x, x.roll(-1, dims=1) * self.packed[:, None, None]], -1)
        return self.net(x)[..., 0]


def sample_data(rows: int, n: int, g: torch.Generator) -> torch.Tensor:
    """n points (R, n, 2) of the 25-Gaussian benchmark."""
    centres = target_means()
    return centres[torch.randint(len(centres), (rows, n), generator=g)] + STD * torch.randn(rows, n, 2, generator=g)


def sample_tasks(big: torch.Tensor, n: int, g: torch.Generator,
                 joint_share: float | None = None) -> tuple[torch.Tensor, ...]:
    """Per point: S, T (R, n, 2) and θ (R, n). Rows with `big` (R,) False get the joint with θ = 0; the others
    one of the five tasks, the joint untransformed (θ = 0, the distribution the model is judged on) and the
    marginals and conditionals of y = A_θ x for a uniform random rotation. The joint is drawn with probability
    `joint_share` (the other four kinds share the rest equally), or uniformly among the five when it is None."""
    rows = len(big)
    if joint_share is None:
        kind = torch.randint(len(TASKS), (rows, n), generator=g)
    else:
        other = torch.randint(1, len(TASKS), (rows, n), generator=g)
        kind = torch.where(torch.rand(rows, n, generator=g) < joint_share, torch.zeros_like(other), other)
    kind = torch.where(big[:, None], kind, torch.zeros_like(kind))
    theta = torch.rand(rows, n, generator=g) * 2 * math.pi * (kind > 0)
    return TASKS[kind, 0], TASKS[kind, 1], theta


class Gan2dRun:
    """The networks, optimisers and random state of one gan2d training (every arm and seed as rows)."""

    def __init__(self, arms: list[str], seeds: int, cfg: GanConfig, seed: int) -> None:
        unknown = [a for a in arms if a not in ARMS]
        if unknown:
            raise ValueError(f"unknown gan2d arm(s) {', '.join(unknown)}; known: {', '.join(ARMS)}")
        self.arms, self.seeds, self.cfg, self.seed = list(arms), seeds, cfg, seed
        self.g = torch.Generator().manual_seed(seed)
        rows = len(arms) * seeds
        self.big = torch.tensor([a == "biglearn" for a in arms]).repeat_interleave(seeds)
        packed = torch.tensor([a == "pacgan2" for a in arms]).repeat_interleave(seeds)
        self.gen = UniversalGenerator2D(rows, cfg, self.g)
        self.disc = UniversalDiscriminator2D(rows, cfg, self.g, packed)
        self.opt_g = torch.optim.Adam(self.gen.net.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.disc.net.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.step, self.seconds = 0, 0.0
        self.curves: dict = {"iterations": [], **{arm: {k: [] for k in CURVE_KEYS} for arm in arms}}

    def identity(self) -> dict:
        """What a state file must match to be continued by this run (as JSON reads it back)."""
        return json.loads(json.dumps({"arms": self.arms, "seeds": self.seeds, "seed": self.seed,
                                      "config": dataclasses.asdict(self.cfg)}))

    def train_step(self) -> None:
        """One D step (eq. 4 on a batch of tasks, R1 on real points when on) and one non-saturating G step."""
        cfg, g, rows = self.cfg, self.g, len(self.big)
        x = sample_data(rows, cfg.batch, g)
        source, target, theta = sample_tasks(self.big, cfg.batch, g, cfg.joint_share)
        real = rotate(x, theta)
        z = torch.randn(rows, cfg.batch, cfg.noise_dim, generator=g)
        fake = self.gen(real, source, target, theta, z)
        real_req = real.detach().requires_grad_(cfg.r1_gamma > 0)
        d_real = self.disc(real_req, source, target, theta)
        d_loss = (F.softplus(-d_real) + F.softplus(self.disc(fake.detach(), source, target, theta))).mean(1).sum()
        if cfg.r1_gamma > 0:
            (grad,) = torch.autograd.grad(d_real.sum(), real_req, create_graph=True)
            d_loss = d_loss + 0.5 * cfg.r1_gamma * grad.square().sum(-1).mean(1).sum()
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        g_loss = F.softplus(-self.disc(fake, source, target, theta)).mean(1).sum()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        for p in self.disc.net.parameters():  # D's gradients from G's step are not D's
            p.grad = None
        self.opt_g.step()
        self.step += 1

    @torch.no_grad()
    def record_curves(self) -> None:
        """Append the joint's mode metrics per arm (one value per seed) at the current step."""
        g = torch.Generator().manual_seed(self.seed + 7 + self.step)  # the run's own stream is left untouched
        m = mode_metrics(joint_samples(self.gen, self.cfg.eval_samples, g))
        self.curves["iterations"].append(self.step)
        for i, arm in enumerate(self.arms):
            for k in CURVE_KEYS:
                self.curves[arm][k].append([round(float(v), 4) for v in m[k][i * self.seeds:(i + 1) * self.seeds]])

    def save(self, path: Path) -> None:
        """Write the whole state as safetensors: the weights, Adam's moments and the random state as tensors; the
        step, seconds, curves and optimiser settings as JSON metadata. Split into files of at most SHARD_BYTES
        (`path`, then NAME.1.safetensors, ...: a full run's 25 MB fit the repository's 10 MB a file) by
        `write_shards`, so that a set cut short by a crash is refused on load."""
        tensors: dict[str, torch.Tensor] = {"rng": self.g.get_state()}
        groups = {}
        for name, net, opt in (("gen", self.gen.net, self.opt_g), ("disc", self.disc.net, self.opt_d)):
            for i, p in enumerate(net.parameters()):
                tensors[f"{name}.{i}"] = p
            state = opt.state_dict()
            for i, moments in state["state"].items():
                for key, value in moments.items():
                    tensors[f"{name}.adam.{i}.{key}"] = value
            groups[name] = state["param_groups"]
        meta = {"identity": self.identity(), "step": self.step, "seconds": self.seconds, "curves": self.curves,
                "param_groups": groups}
        write_shards(path, tensors, {"gan2d": json.dumps(meta)}, SHARD_BYTES)

    def load(self, path: Path) -> None:
        """Continue from a file `save` wrote; ValueError when it belongs to another setup or is unreadable."""
        try:
            tensors, raw = read_shards(path)
            meta = json.loads(raw["gan2d"])
        except (OSError, KeyError, ValueError, SafetensorError) as exc:
            raise ValueError(f"{path} is not a whole gan2d state this code can read ({exc})") from None
        saved = meta["identity"]
        # a state written before an option existed ran with its default
        saved["config"] = {**json.loads(json.dumps(dataclasses.asdict(GanConfig()))), **saved.get("config", {})}
        if saved != self.identity():
            raise ValueError(f"{path} holds a gan2d run of another setup (arms, seeds, seed or options differ); "
                             "give the same options or another --out")
        with torch.no_grad():
            for name, net, opt in (("gen", self.gen.net, self.opt_g), ("disc", self.disc.net, self.opt_d)):
                for i, p in enumerate(net.parameters()):
                    p.copy_(tensors[f"{name}.{i}"])
                moments: dict[int, dict[str, torch.Tensor]] = {}
                for key, value in tensors.items():
                    if key.startswith(f"{name}.adam."):
                        index, field = key.split(".")[2:]
                        moments.setdefault(int(index), {})[field] = value
                opt.load_state_dict({"state": moments, "param_groups": meta["param_groups"][name]})
        self.g.set_state(tensors["rng"])
        self.step, self.seconds, self.curves = meta["step"], meta["seconds"], meta["curves"]


CURVE_KEYS = ("modes", "quality", "kl")
SAVE_EVERY_S = 60.0
def train(arms: list[str], seeds: int, cfg: GanConfig = GanConfig(), seed: int = 0,
          progress: Callable[[int, int], None] | None = None, checkpoint: Path | None = None) -> dict:
    """Train every arm for `seeds` seeds at once; returns the generators, the seconds taken and the curves.

    With `checkpoint`, the state is written there every minute and at the end, and a run whose file exists
    continues from it (the same arms, seeds, seed and options)."""
    run = Gan2dRun(arms, seeds, cfg, seed)
    if checkpoint is not None and checkpoint.exists():
        run.load(checkpoint)
    saved = start = time.perf_counter()
    base = run.seconds
    while run.step < cfg.steps:
        if cfg.eval_every and run.step % cfg.eval_every == 0:
            run.record_curves()
        run.train_step()
        run.seconds = base + time.perf_counter() - start
        if progress is not None and (run.step % 100 == 0 or run.step == cfg.steps):
            progress(run.step, cfg.steps)
        if checkpoint is not None and time.perf_counter() - saved >= SAVE_EVERY_S:
            run.save(checkpoint)
            saved = time.perf_counter()
    if cfg.eval_every and (not run.curves["iterations"] or run.curves["iterations"][-1] != run.step):
        run.record_curves()
    if checkpoint is not None:
        run.save(checkpoint)
    return {"generator": run.gen, "arms": run.arms, "seeds": seeds, "seconds": run.seconds, "config": cfg,
            "curves": run.curves}


@torch.no_grad()
def joint_samples(gen: UniversalGenerator2D, n: int, g: torch.Generator) -> torch.Tensor:
    """n joint samples (R, n, 2): S = ∅, T = {1, 2}, θ = 0."""
    rows = gen.net.weights[0].shape[0]
    zeros = torch.zeros(rows, n, 2)
    return gen(zeros, zeros, torch.ones(rows, n, 2), torch.zeros(rows, n),
               torch.randn(rows, n, gen.noise_dim, generator=g))


def mode_metrics(points: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per row, the mode-collapse literature's measures (VEEGAN, PacGAN's `2DGrid`): a sample is high quality when its
    σ-normalised distance to the nearest mode is below 3; `modes`: the modes with at least one high-quality sample
    on them; `quality`: the high-quality share; `kl`: the reverse KL of the nearest-mode histogram of every sample
    against the uniform one (0 = every mode equally often). `modes_1pct`: this project's earlier rule (at least 1%
    of the samples within 3σ), reported beside it."""
    d = (points[:, :, None, :] - target_means()).square().sum(-1).sqrt()  # (R, n, 25)
    dist, nearest = d.min(-1)
    good = dist / STD < 3
    k = d.shape[-1]
    on_mode = torch.nn.functional.one_hot(nearest, k).float()  # (R, n, 25)
    hist = on_mode.mean(1)
    kl = torch.where(hist > 0, hist * (hist * k).log(), torch.zeros_like(hist)).sum(1)
    captured = (on_mode * good[..., None]).sum(1) > 0
    return {"modes": captured.sum(1).float(), "quality": good.float().mean(1), "kl": kl,
            "modes_1pct": ((d < RADIUS).float().mean(1) >= 0.01).sum(1).float()}


@torch.no_grad()
def conditional_metrics(gen: UniversalGenerator2D, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """p(x₂ | x₁ = v) for v on the grid's columns against the exact conditional (5 modes at the grid's rows,
    std 0.05): per row, the conditional modes captured (≥ 5% of the samples within 3σ; of 25) and the mean
    1-D Wasserstein distance to exact samples."""
    rows = gen.net.weights[0].shape[0]
    ticks = target_means()[:, 1].unique()
    modes, w1 = torch.zeros(rows), torch.zeros(rows)
    for v in ticks:
        y = torch.zeros(rows, n, 2)
        y[..., 0] = v
        src = torch.zeros(rows, n, 2)
        src[..., 0] = 1
        out = gen(y, src, 1 - src, torch.zeros(rows, n), torch.randn(rows, n, gen.noise_dim, generator=g))[..., 1]
        near = (out[..., None] - ticks).abs() < RADIUS  # (R, n, 5)
        modes += (near.float().mean(1) >= 0.05).sum(1)
        exact = ticks[torch.randint(len(ticks), (rows, n), generator=g)] + STD * torch.randn(rows, n, generator=g)
        w1 += (out.sort(-1).values - exact.sort(-1).values).abs().mean(-1) / len(ticks)
    return {"conditional_modes": modes, "conditional_w1": w1}


def evaluate(result: dict, seed: int = 0) -> dict:
    """Per arm: the metrics over seeds (lists) on `eval_samples` joint samples, and the conditional."""
    g = torch.Generator().manual_seed(seed + 99)
    cfg, seeds = result["config"], result["seeds"]
    samples = joint_samples(result["generator"], cfg.eval_samples, g)
    m = {**mode_metrics(samples), **conditional_metrics(result["generator"], 500, g)}
    out = {}
    for i, arm in enumerate(result["arms"]):
        rows = slice(i * seeds, (i + 1) * seeds)
        out[arm] = {k: [round(float(x), 4) for x in v[rows]] for k, v in m.items()}
    return {"per_arm": out, "samples": samples}
