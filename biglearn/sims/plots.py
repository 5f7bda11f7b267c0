"""Figures of the 2-D simulations (matplotlib, headless): landscapes, race curves, contour snapshots, a GIF."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from . import gmm25, landscape  # noqa: E402

LIM = 6.0


def landscape_figure(result: dict, path: Path) -> None:
    """The six loss surfaces as heat maps (log scale), global optima (x) and local minima (dots) marked."""
    ticks = np.asarray(result["ticks"])
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.6), constrained_layout=True)
    for r, direction in enumerate(("reverse", "forward")):
        for c, name in enumerate(landscape.LOSSES):
            key = f"{direction}/{name}"
            ax = axes[r, c]
            surf = result["surfaces"][key].numpy()
            im = ax.imshow(np.log10(surf + 1e-3).T, origin="lower", extent=(ticks[0], ticks[-1], ticks[0], ticks[-1]),
                           cmap="viridis", aspect="equal")
            fig.colorbar(im, ax=ax, shrink=0.8, label="log10(loss + 0.001)")
            for mu1, mu2 in landscape.OPTIMA:
                ax.plot(mu1, mu2, "x", color="white", ms=10, mew=2)
            minima = result["minima"][key]
            if minima:
                ax.plot([m[0] for m in minima], [m[1] for m in minima], "o", mfc="none", mec="red", ms=9, mew=1.5)
            ax.set_title(f"{direction} KL, {name}: {len(minima)} minima", fontsize=10)
            ax.set_xlabel("μ₁")
            ax.set_ylabel("μ₂")
    fig.suptitle("Loss landscapes (x: the global optima; red circles: local minima of the grid)")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def band(ax: plt.Axes, iterations: list[int], values: list[list[float]], label: str) -> None:
    """One arm's mean line and ±1 std band over seeds; `values` is (evaluations, seeds)."""
    its, v = np.asarray(iterations), np.asarray(values, dtype=float)
    mean, std = v.mean(1), v.std(1)
    ax.plot(its, mean, label=label)
    ax.fill_between(its, mean - std, mean + std, alpha=0.2)


def gan_curves(curves: dict, arms: list[str], path: Path) -> None:
    """gan2d: modes captured and the high-quality share against training steps, mean ± std over seeds per arm."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for ax, (key, label) in zip(axes, (("modes", "modes captured (of 25)"), ("quality", "high-quality share")),
                                strict=True):
        for arm in arms:
            band(ax, curves["iterations"], curves[arm][key], arm)
        ax.set_xlabel("training step (G updates)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    seeds = len(curves[arms[0]]["modes"][0])
    fig.suptitle(f"gan2d: mean ± std over {seeds} seeds (the literature's 3σ rule, 2,500 samples)")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def race_curves(result: dict, metric: str, path: Path, ylabel: str) -> None:
    """Mean and ±1 std band over seeds of one metric against iterations, one line per arm."""
    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    for arm in result["arms"]:
        band(ax, result["iterations"], result["curves"][arm][metric], arm)
    ax.set_xlabel("outer iteration")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{ylabel}: mean ± std over {result['seeds']} seeds")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def density_grid(means: torch.Tensor, chol: torch.Tensor, points: int = 120) -> np.ndarray:
    """The model density of one run on a points×points grid over [−LIM, LIM]²."""
    ticks = torch.linspace(-LIM, LIM, points)
    xx, yy = torch.meshgrid(ticks, ticks, indexing="xy")
    x = torch.stack([xx.flatten(), yy.flatten()], -1)[None]
    with torch.no_grad():
        return gmm25.model_log_prob_2d(x, means[None], chol[None]).exp().view(points, points).numpy()


def _contour(ax: plt.Axes, means: torch.Tensor, chol: torch.Tensor, title: str) -> None:
    ticks = np.linspace(-LIM, LIM, 120)
    ax.contourf(ticks, ticks, density_grid(means, chol), levels=12, cmap="Blues")
    c = gmm25.target_means().numpy()
    ax.plot(c[:, 0], c[:, 1], "+", color="red", ms=5)
    ax.set_xlim(-LIM, LIM)
    ax.set_ylim(-LIM, LIM)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def snapshot_index(result: dict, iteration: int) -> int:
    """Index of the last logged evaluation at or before `iteration`."""
    its = result["iterations"]
    return max(i for i, it in enumerate(its) if it <= iteration)


def contour_snapshots(result: dict, iterations: list[int], path: Path, seed: int = 0) -> None:
    """Model densities of seed `seed`: one row per arm, one column per iteration (red +: target modes)."""
    arms, s = result["arms"], result["seeds"]
    fig, axes = plt.subplots(len(arms), len(iterations), figsize=(2.1 * len(iterations), 2.2 * len(arms)),
                             constrained_layout=True, squeeze=False)
    for r, arm in enumerate(arms):
        for c, it in enumerate(iterations):
            k = snapshot_index(result, it)
            means, chol = result["history"][k]
            row = r * s + seed
            modes = result["curves"][arm]["modes"][k][seed]
            _contour(axes[r, c], means[row], chol[row], f"it {result['iterations'][k]}: {modes:.0f} modes")
        axes[r, 0].set_ylabel(arm)
    fig.savefig(path, dpi=70)
    plt.close(fig)


def contours_image(means: torch.Tensor, chol: torch.Tensor, titles: list[str], dpi: int = 60) -> Image.Image:
    """The model densities of `len(titles)` runs side by side (means (R, K, 2), chol (R, K, 3)) as an RGB image:
    a frame of the race animation and of the app's live run."""
    fig, axes = plt.subplots(1, len(titles), figsize=(3.2 * len(titles), 3.4), constrained_layout=True,
                             squeeze=False)
    for c, title in enumerate(titles):
        _contour(axes[0, c], means[c], chol[c], title)
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    plt.close(fig)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def race_gif(result: dict, arms: list[str], path: Path, seed: int = 0, frames: int = 40) -> None:
    """An animated GIF of the model densities of `arms` side by side, seed `seed`."""
    names, s = result["arms"], result["seeds"]
    picks = np.unique(np.linspace(0, len(result["iterations"]) - 1, frames).round().astype(int))
    rows = [names.index(arm) * s + seed for arm in arms]
    images = []
    for k in picks:
        means, chol = result["history"][k]
        titles = [f"{arm}: it {result['iterations'][k]}, {result['curves'][arm]['modes'][k][seed]:.0f} modes"
                  for arm in arms]
        frame = contours_image(means[rows], chol[rows], titles)
        images.append(frame.convert("P", palette=Image.Palette.ADAPTIVE))
    images[0].save(path, save_all=True, append_images=images[1:], duration=150, loop=0)


def gan_samples(samples: torch.Tensor, arms: list[str], seeds: int, path: Path, shown: int = 3) -> None:
    """Joint samples of the first `shown` seeds of each arm as scatter plots over the target modes."""
    shown = min(shown, seeds)
    fig, axes = plt.subplots(len(arms), shown, figsize=(3 * shown, 3 * len(arms)), constrained_layout=True,
                             squeeze=False)
    c = gmm25.target_means().numpy()
    for r, arm in enumerate(arms):
        for k in range(shown):
            ax = axes[r, k]
            pts = samples[r * seeds + k].numpy()
            ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.4)
            ax.plot(c[:, 0], c[:, 1], "+", color="red", ms=5)
            ax.set_xlim(-LIM, LIM)
            ax.set_ylim(-LIM, LIM)
            ax.set_aspect("equal")
            ax.set_title(f"{arm}, seed {k}", fontsize=9)
    fig.savefig(path, dpi=70)
    plt.close(fig)
