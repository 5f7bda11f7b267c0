"""The evaluation's figures: the paper's Figs. 3-5, sample sheets, and line plots (matplotlib)."""

from __future__ import annotations

import io
import math

import matplotlib
import numpy as np
import torch

from biglearn.figures import ratio_sweep, seed_grid, sweep_source
from biglearn.render import grid_image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from .sections import MODES, RATIOS, Model  # noqa: E402


def font(size: int = 13) -> ImageFont.FreeTypeFont:
    """Pillow's bundled scalable font (no system fonts needed)."""
    return ImageFont.load_default(size=size)


def titled(panels: list[tuple[str, np.ndarray]], pad: int = 6) -> np.ndarray:
    """Stack (title, RGB uint8 image) panels vertically on white, each under its title."""
    title_h = 18
    width = max(img.shape[1] for _, img in panels) + 2 * pad
    height = sum(img.shape[0] + title_h + pad for _, img in panels) + pad
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    y = pad
    for title, img in panels:
        draw.text((pad, y), title, fill="black", font=font())
        canvas.paste(Image.fromarray(img), (pad, y + title_h))
        y += img.shape[0] + title_h + pad
    return np.asarray(canvas)


def line_plot(xs: list[float], series: dict[str, list[float]], *, title: str, xlabel: str, ylabel: str,
              top: float | None = None, size: tuple[int, int] = (600, 380)) -> np.ndarray:
    """A line plot (RGB uint8 of `size` pixels) from y = 0 up to `top` (default: matplotlib's choice above the
    data), one marked line per series, with a legend; non-finite values are left out."""
    w, h = size
    fig, ax = plt.subplots(figsize=(w / 100, h / 100), dpi=100, constrained_layout=True)
    for name, ys in series.items():
        pts = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=4, label=name)
    ax.set_ylim(0, top)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=10))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB").resize((w, h)))


def paper_figures(model: Model, images: torch.Tensor, abused: dict[str, tuple]) -> dict[str, np.ndarray]:
    """The paper's Fig. 3 (ratio sweeps), Fig. 4 (various S, various seeds) and Fig. 5 (abused sources)."""
    c = model.config
    p, rows = c.patch_size, images.shape[0]
    sweeps = [(f"{mode} source, ratio 0 to 0.9 (real image last)", ratio_sweep(model, images, mode=mode))
              for mode in MODES]
    various = [sweep_source(rows, c.num_patches, 0.25, "random", seed=s) for s in range(8)]
    cols = torch.stack([model.complete(images, s, seeds=0)[:, 0] for s in various], dim=1)
    outlines = torch.stack(various, 1).view(rows, len(various), *c.grid).numpy()
    seeds_grid, seeds_out = seed_grid(model, images, various[0], seeds=list(range(8)))
    abused_panels = []
    for name, (abused_images, source) in abused.items():
        g, o = seed_grid(model, abused_images[:rows], source[:rows], seeds=list(range(6)))
        abused_panels.append((f"{name}: source, then six seeds", grid_image(g, outlines=o, patch_size=p)))
    return {
        "fig3_ratio_sweep.png": titled([(t, grid_image(g, outlines=o, patch_size=p)) for t, (g, o) in sweeps]),
        "fig4_seeds.png": titled([
            ("various random sources S (r = 0.25), one seed", grid_image(cols, outlines=outlines, patch_size=p)),
            ("one source (shown first), eight seeds", grid_image(seeds_grid, outlines=seeds_out, patch_size=p))]),
        "fig5_abused.png": titled(abused_panels),
    }


def summary_figures(complete: dict, joint_samples: torch.Tensor, conditional_samples: torch.Tensor | None,
                    num_classes: int) -> dict[str, np.ndarray]:
    """Sample sheets (joint, one row per asked class) and the acc@r / div@r / fd@r plots."""
    sheet = joint_samples[:100]
    sheets = {"joint_samples.png": grid_image(sheet.view(-1, 10, *sheet.shape[1:]) if len(sheet) % 10 == 0
                                              else sheet[None])}
    if conditional_samples is not None:
        by_class = conditional_samples.view(num_classes, -1, *conditional_samples.shape[1:])[:, :10]
        sheets["conditional_samples.png"] = titled([("one row per asked class", grid_image(by_class))])
    plots = (("acc", "completion accuracy", 1.0), ("div", "diversity (std over 8 seeds, inside T)", None),
             ("fd", "Frechet distance to the test set", None))
    for key, name, top in plots:
        series = {f"{mode} S": [complete[mode][f"{key}@{r}"] for r in RATIOS] for mode in MODES}
        sheets[f"{key}_vs_r.png"] = line_plot(list(RATIOS), series, title=f"{name} vs source ratio r",
                                              xlabel="source ratio r", ylabel=f"{key}@r", top=top)
    return sheets
