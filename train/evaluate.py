"""`python -m train.evaluate CHECKPOINT --out DIR`: measure a checkpoint the way the paper argues (issue 4).

Sections of DIR/metrics.json: `joint` (Fréchet distance of generated vs test digits, class coverage),
`complete` (acc@r, fd@r, div@r for random and first-portion sources), `conditional`, `classify` (the
model's own p(y | x_S)), `abused` (paper §4.2), and `targets` (pass/fail against the issue's bar).
Figures (PNG) go next to it. All scores come from an independent CNN (`train.eval_classifier`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

import biglearn
from biglearn import masks
from biglearn.figures import ratio_sweep, seed_grid, sweep_source
from biglearn.patches import patch_to_pixel_mask
from biglearn.presets import get_preset
from biglearn.render import grid_image, save_png

from . import metrics
from .data import VAL_HOLDOUT, validation_indices
from .eval_classifier import (
    DATA_ROOT,
    DEFAULT_PATH,
    IMAGE_SHAPE,
    TORCHVISION_SETS,
    EvalClassifier,
    default_source,
    load_labelled,
    load_or_fit,
    to_float_images,
)
from .nearest import NAME as NEAREST
from .nearest import NearestNeighbourModel
from .report import render_report

Model = biglearn.BigLearnModel | NearestNeighbourModel
RATIOS = (0.1, 0.25, 0.5, 0.75, 0.9)
MODES = ("random", "first")
DIV_SEEDS = 8
# images that share one seed in a completion call: `complete` takes one seed list for the whole batch, so
# seeds change every GROUP images, which keeps samples from sharing one noise z without tiny batches
GROUP = 64
MASK_SEED = 1234


@dataclass(frozen=True)
class Sizes:
    """How many images each section uses."""

    samples: int = 10_000  # joint samples; test images as the FD reference; train images for the FD floor
    complete: int = 2_000  # test images completed per (source mode, ratio) for acc@r and fd@r
    div_images: int = 250  # test images completed with DIV_SEEDS seeds each per (mode, ratio) for div@r
    conditional_per_class: int = 100
    abused: int = 200
    figure_rows: int = 8


QUICK = Sizes(samples=1000, complete=500, div_images=64, conditional_per_class=20, abused=64, figure_rows=6)


@dataclass
class EvalData:
    """Float images (N, 1, 28, 28) in [0, 1]: the test set (with labels), train images, out-of-domain images."""

    test: torch.Tensor
    labels: torch.Tensor
    train: torch.Tensor
    ood: torch.Tensor


# --- generation in chunks (for the progress bar) -----------------------------------------------------------

def complete_grouped(model: Model, images: torch.Tensor, source: torch.Tensor, n_seeds: int,
                     bar: tqdm) -> torch.Tensor:
    """Completions (B, n_seeds, C, H, W); image group j (GROUP images) gets seeds j·n_seeds … j·n_seeds + n_seeds − 1.

    Seeds depend only on the image's position, so every source ratio sees the same noise (paired comparison).
    """
    out = []
    for j, lo in enumerate(range(0, images.shape[0], GROUP)):
        seeds = list(range(j * n_seeds, (j + 1) * n_seeds))
        out.append(model.complete(images[lo:lo + GROUP], source[lo:lo + GROUP], seeds=seeds))
        bar.update(out[-1].shape[0] * n_seeds)
    return torch.cat(out)


def generate_chunked(model: Model, n: int, base_seed: int, bar: tqdm,
                     labels: torch.Tensor | None = None, chunk: int = 500) -> torch.Tensor:
    """`n` samples (n, C, H, W) with seeds base_seed … base_seed + n − 1 (one per sample)."""
    out = []
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        out.append(model.generate(hi - lo, seeds=base_seed + lo, labels=None if labels is None else labels[lo:hi]))
        bar.update(hi - lo)
    return torch.cat(out)


def classify_chunked(model: Model, images: torch.Tensor, source: torch.Tensor | None,
                     bar: tqdm, chunk: int = 1000) -> torch.Tensor:
    """The model's own p(y | x_S), (N, K), in chunks."""
    out = []
    for lo in range(0, images.shape[0], chunk):
        out.append(model.classify(images[lo:lo + chunk], None if source is None else source[lo:lo + chunk]))
        bar.update(out[-1].shape[0])
    return torch.cat(out)


# --- sections ----------------------------------------------------------------------------------------------

def eval_joint(model: Model, clf: EvalClassifier, ref_feats: torch.Tensor, data: EvalData, n: int,
               bar: tqdm) -> tuple[dict, torch.Tensor]:
    """Joint generation (S = ∅): FD vs test, the train-vs-test floor, class coverage, confidence."""
    bar.set_description("joint")
    samples = generate_chunked(model, n, base_seed=0, bar=bar)
    logits, feats = clf.predict(samples)
    hist = metrics.class_histogram(logits)
    floor = metrics.frechet_distance(clf.predict(data.train[:n])[1], ref_feats)
    return {"n": n, "fd": metrics.frechet_distance(feats, ref_feats), "fd_train_vs_test": floor,
            "class_fractions": [round(p, 4) for p in hist], "classes_present": sum(p > 0 for p in hist),
            "entropy": metrics.entropy(hist), "entropy_max": math.log(len(hist)),
            "mean_confidence": metrics.mean_confidence(logits)}, samples


def eval_complete(model: Model, clf: EvalClassifier, ref_feats: torch.Tensor, data: EvalData,
                  sizes: Sizes, bar: tqdm) -> dict:
    """acc@r, fd@r and div@r (inside T) for random and first-portion sources of each ratio r."""
    c = model.config
    n, n_div = min(sizes.complete, len(data.test)), min(sizes.div_images, len(data.test))
    images, labels = data.test[:n], data.labels[:n]
    out: dict = {"n": n, "div_images": n_div, "div_seeds": DIV_SEEDS,
                 "fd_train_vs_test": metrics.frechet_distance(clf.predict(data.train[:n])[1], ref_feats)}
    for mode in MODES:
        res: dict = {}
        for r in RATIOS:
            bar.set_description(f"complete {mode} r={r}")
            # random sources share MASK_SEED, so they are nested: S at r = 0.1 ⊂ S at r = 0.25 ⊂ …
            source = sweep_source(n, c.num_patches, r, mode, seed=MASK_SEED)
            samples = complete_grouped(model, images, source, 1, bar)[:, 0]
            logits, feats = clf.predict(samples)
            div_samples = complete_grouped(model, images[:n_div], source[:n_div], DIV_SEEDS, bar)
            target = patch_to_pixel_mask(~source[:n_div], c.patch_size, c.grid)
            res[f"source_patches@{r}"] = int(source[0].sum())
            res[f"acc@{r}"] = metrics.accuracy(logits, labels)
            res[f"fd@{r}"] = metrics.frechet_distance(feats, ref_feats)
            res[f"div@{r}"] = metrics.diversity(div_samples, target)
        out[mode] = res
    return out


def eval_conditional(model: Model, clf: EvalClassifier, per_class: int,
                     bar: tqdm) -> tuple[dict, torch.Tensor]:
    """Class-conditional generation: the fraction the evaluation classifier assigns to the asked class."""
    bar.set_description("conditional")
    k = model.config.num_classes
    asked = torch.arange(k).repeat_interleave(per_class)
    samples = generate_chunked(model, len(asked), base_seed=10**6, bar=bar, labels=asked)
    logits, _ = clf.predict(samples)
    hit = (logits.argmax(1) == asked).float().view(k, per_class).mean(1)
    return {"n": len(asked), "accuracy": metrics.accuracy(logits, asked),
            "per_class": [round(float(h), 4) for h in hit], "mean_confidence": metrics.mean_confidence(logits)}, samples


def eval_classify(model: Model, data: EvalData, n: int, bar: tqdm) -> dict:
    """Accuracy of the model's own classifier p(y | x_S) on full images (r = 1.0) and random halves (r = 0.5)."""
    bar.set_description("classify")
    images, labels = data.test[:n], data.labels[:n]
    half = sweep_source(n, model.config.num_patches, 0.5, "random", seed=MASK_SEED)
    return {"n": n, "acc@1.0": metrics.accuracy(classify_chunked(model, images, None, bar), labels),
            "acc@0.5": metrics.accuracy(classify_chunked(model, images, half, bar), labels)}


def abused_sources(data: EvalData, n: int, patch_size: int, grid: tuple[int, int]) -> dict[str, tuple]:
    """Paper §4.2 sources on n test digits (`biglearn.masks.abused_layout`): name -> (images with the abused
    patches, source mask (n, L)). The second digit of "mixed" is the previous test digit."""
    digits = data.test[:n]
    donors = {"mixed": digits.roll(1, 0), "out_of_domain": data.ood[:n]}
    return {name: masks.abuse(digits, donors.get(name, digits), patch_size, name) for name in masks.ABUSED}


def eval_abused(model: Model, clf: EvalClassifier, data: EvalData, n: int, bar: tqdm) -> tuple[dict, dict]:
    """Mean classifier confidence of completions of abused sources (real test digits give the baseline)."""
    c = model.config
    n = min(n, len(data.test), len(data.ood))
    tests = abused_sources(data, n, c.patch_size, c.grid)
    out = {"n": n, "real_test_confidence": metrics.mean_confidence(clf.predict(data.test[:n])[0])}
    for name, (images, source) in tests.items():
        bar.set_description(f"abused {name}")
        samples = complete_grouped(model, images, source, 1, bar)[:, 0]
        out[name] = {"source_patches": int(source[0].sum()),
                     "mean_confidence": metrics.mean_confidence(clf.predict(samples)[0])}
    return out, tests


# --- figures -----------------------------------------------------------------------------------------------

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


def nice_ceiling(value: float) -> tuple[float, float]:
    """(axis top, tick step): the smallest multiple of a 1-2-5 step, giving about 5 ticks, that is >= value."""
    if value <= 0:
        return 1.0, 0.2
    raw = value / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return math.ceil(value / step - 1e-9) * step, step


def spaced_labels(labels: list[tuple[float, float]], gap: float = 4.0) -> set[int]:
    """Which of the labels (centre x, width), left to right, to draw so that none overlaps the one before:
    each is kept when it starts at least `gap` pixels after the last kept one ends."""
    kept, end = set(), -math.inf
    for i, (centre, width) in enumerate(labels):
        if centre - width / 2 >= end + gap:
            kept.add(i)
            end = centre + width / 2
    return kept


def line_plot(xs: list[float], series: dict[str, list[float]], *, title: str, xlabel: str, ylabel: str,
              top: float | None = None, size: tuple[int, int] = (600, 380)) -> np.ndarray:
    """A line plot (RGB uint8) from y = 0 up to `top` (default: a round number above the data), with
    axes, tick values, axis labels and a legend, drawn with PIL."""
    w, h = size
    f = font()
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    # the legend sits right of the axes: as wide as its longest name
    legend = max((d.textlength(name, font=f) for name in series), default=0.0)
    left, right, upper, bottom = 74, max(110, 47 + int(legend)), 34, 52
    values = [v for vs in series.values() for v in vs if math.isfinite(v)]
    y_top, step = nice_ceiling(top if top is not None else max(values, default=0.0))
    x0, x1 = min(xs), max(xs)

    def px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0 or 1) * (w - left - right),
                h - bottom - y / y_top * (h - upper - bottom))

    def centred(text: str, x: float, y: float) -> None:
        d.text((x - d.textlength(text, font=f) / 2, y), text, fill="black", font=f)

    for i in range(round(y_top / step) + 1):
        y_px = px(x0, i * step)[1]
        d.line([(left, y_px), (w - right, y_px)], fill=(225, 225, 225))
        d.line([(left - 4, y_px), (left, y_px)], fill="black")
        label = f"{i * step:.10g}"
        d.text((left - 8 - d.textlength(label, font=f), y_px - 7), label, fill="black", font=f)
    ticks = [(px(x, 0)[0], f"{x:g}") for x in xs]
    shown = spaced_labels([(x_px, d.textlength(text, font=f)) for x_px, text in ticks])
    for i, (x_px, text) in enumerate(ticks):
        d.line([(x_px, h - bottom), (x_px, h - bottom + 4)], fill="black")
        if i in shown:
            centred(text, x_px, h - bottom + 7)
    d.rectangle([left, upper, w - right, h - bottom], outline="black")
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]
    for i, (name, ys) in enumerate(series.items()):
        colour = colours[i % len(colours)]
        points = [px(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
        if len(points) > 1:
            d.line(points, fill=colour, width=2)
        for x_px, y_px in points:
            d.ellipse([x_px - 3, y_px - 3, x_px + 3, y_px + 3], fill=colour)
        y_legend = upper + 10 + 18 * i
        d.line([(w - right + 10, y_legend), (w - right + 32, y_legend)], fill=colour, width=2)
        d.text((w - right + 37, y_legend - 7), name, fill="black", font=f)
    centred(title, (left + w - right) / 2, 10)
    centred(xlabel, (left + w - right) / 2, h - 24)
    label = Image.new("RGB", (int(d.textlength(ylabel, font=f)) + 4, 16), "white")
    ImageDraw.Draw(label).text((2, 0), ylabel, fill="black", font=f)
    label = label.rotate(90, expand=True)
    img.paste(label, (6, (upper + h - bottom - label.height) // 2))
    return np.asarray(img)


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


# --- targets -----------------------------------------------------------------------------------------------

def check_targets(m: dict) -> list[dict]:
    """The issue's targets for the bundled checkpoint, each with its measured value and pass/fail."""
    rows = []

    def add(name: str, value, required: str, ok: bool) -> None:
        rows.append({"target": name, "value": value, "required": required, "pass": bool(ok)})

    rand = m["complete"]["random"]
    for r, bar_ in ((0.5, 0.90), (0.75, 0.96), (0.9, 0.98)):
        add(f"complete random acc@{r}", rand[f"acc@{r}"], f">= {bar_}", rand[f"acc@{r}"] >= bar_)
    divs = [rand[f"div@{r}"] for r in RATIOS]
    add("complete random div@r strictly decreasing", [round(v, 4) for v in divs], "div@0.1 > ... > div@0.9",
        all(a > b for a, b in zip(divs, divs[1:], strict=False)))
    ratio = divs[0] / divs[-1] if divs[-1] > 0 else (math.inf if divs[0] > 0 else 0.0)  # 0/0: no diversity
    add("complete random div@0.1 / div@0.9", ratio, ">= 3", ratio >= 3)
    fr = m["joint"]["class_fractions"]
    add("joint class fractions", [min(fr), max(fr)], "all 10 in [0.05, 0.15]",
        len(fr) == 10 and all(0.05 <= p <= 0.15 for p in fr))
    add("joint mean confidence", m["joint"]["mean_confidence"], ">= 0.90", m["joint"]["mean_confidence"] >= 0.90)
    cond = m["conditional"].get("accuracy")
    add("conditional: asked class", cond, ">= 0.95", cond is not None and cond >= 0.95)
    own = m["classify"].get("acc@1.0")
    add("own classifier acc@1.0", own, ">= 0.985", own is not None and own >= 0.985)
    return rows


def format_table(rows: list[dict]) -> str:
    """The targets as a plain-text table."""
    def fmt(v) -> str:
        if isinstance(v, list):
            return "[" + ", ".join(f"{x:.3f}" for x in v) + "]"
        return "n/a" if v is None else f"{v:.4f}"

    lines = [f"{'target':42} {'value':>38}  {'required':24} result"]
    for r in rows:
        lines.append(f"{r['target']:42} {fmt(r['value']):>38}  {r['required']:24} {'pass' if r['pass'] else 'FAIL'}")
    return "\n".join(lines)


# --- the whole evaluation ----------------------------------------------------------------------------------

@contextlib.contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall time of the block in timings[name] (seconds, rounded)."""
    start = time.time()
    yield
    timings[name] = round(time.time() - start, 1)


def evaluate(model: Model, clf: EvalClassifier, data: EvalData, out_dir: Path,
             sizes: Sizes = Sizes(), progress: bool = True, header: dict | None = None) -> dict:
    """Run every section, write figures and DIR/metrics.json (`header` first), return the metrics dict."""
    out_dir.mkdir(parents=True, exist_ok=True)
    n = min(sizes.samples, len(data.test), len(data.train))
    n_complete, n_div = min(sizes.complete, len(data.test)), min(sizes.div_images, len(data.test))
    k = model.config.num_classes
    n_abused = min(sizes.abused, len(data.test), len(data.ood))
    total = (n + len(MODES) * len(RATIOS) * (n_complete + DIV_SEEDS * n_div) + k * sizes.conditional_per_class
             + (2 * n if k else 0) + 4 * n_abused)
    timings: dict[str, float] = {}
    start = time.time()
    result: dict = dict(header or {})
    if not model.can_generate:  # a classifier-only (supervised) checkpoint: its own classifier is all there is
        with tqdm(total=2 * n, unit="img", disable=not progress) as bar, timed(timings, "classify"):
            result["classify"] = eval_classify(model, data, n, bar)
        skipped = {"skipped": f"objective {model.objective!r} cannot generate"}
        result.update(joint=skipped, complete=skipped, conditional=skipped, abused=skipped, figures=[], targets=[])
        timings["total"] = round(time.time() - start, 1)
        result["seconds"] = timings
        (out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
        return result
    _, ref_feats = clf.predict(data.test[:n])
    conditional_samples = None
    with tqdm(total=total, unit="img", disable=not progress) as bar:
        with timed(timings, "joint"):
            result["joint"], joint_samples = eval_joint(model, clf, ref_feats, data, n, bar)
        with timed(timings, "complete"):
            result["complete"] = eval_complete(model, clf, ref_feats, data, sizes, bar)
        with timed(timings, "conditional+classify"):
            if k:
                result["conditional"], conditional_samples = eval_conditional(model, clf,
                                                                              sizes.conditional_per_class, bar)
                result["classify"] = eval_classify(model, data, n, bar)
            else:
                result["conditional"] = result["classify"] = {"skipped": "the model has no label head"}
        with timed(timings, "abused"):
            result["abused"], abused = eval_abused(model, clf, data, n_abused, bar)
        with timed(timings, "figures"):
            bar.set_description("figures")
            sheets = {**paper_figures(model, data.test[:min(sizes.figure_rows, len(data.test))], abused),
                      **summary_figures(result["complete"], joint_samples, conditional_samples, k)}
            for file_name, image in sheets.items():
                save_png(image, out_dir / file_name)
            result["figures"] = sorted(sheets)
    timings["total"] = round(time.time() - start, 1)
    result["targets"] = check_targets(result)
    result["seconds"] = timings
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


# --- command line ------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The `python -m train.evaluate` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m train.evaluate",
        description="Evaluate a BigLearn-GAN checkpoint on 28x28 digits: joint FD and class coverage, completion "
                    "accuracy / FD / diversity against the source ratio, class-conditional generation, the "
                    "model's own classifier and the paper's abused sources. Writes OUT/metrics.json and PNG "
                    "figures and prints the issue-4 targets table.")
    p.add_argument("checkpoint", help="inference checkpoint (.safetensors) or Hugging Face Hub id, or "
                                      f"'{NEAREST}': the non-learned floor (complete with the training image "
                                      f"whose source pixels are nearest, from --train-data less the validation "
                                      f"split)")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help=f"score on the test set (--data), or on the validation split: the last {VAL_HOLDOUT} "
                        "images of --train-data, held out of training by `python -m train --holdout "
                        f"{VAL_HOLDOUT}`. Choose between runs on val; score test once, for the tables")
    p.add_argument("--out", required=True, type=Path, help="output directory for metrics.json and figures")
    p.add_argument("--data", default=default_source("mnist_test.npz", "mnist-test"),
                   help="labelled test set: .npz with uint8 'images' (N, 28, 28) and int 'labels' "
                        "(default: %(default)s)")
    p.add_argument("--train-data", default=default_source("mnist_train.npz", "mnist-train"),
                   help="labelled train set: the FD floor, and fitting the evaluation classifier if not cached "
                        "(default: %(default)s)")
    p.add_argument("--ood-data", default=default_source("fashion_mnist_test.npz", "fashion-mnist-test"),
                   help="out-of-domain images (.npz, same size) pasted into digits for the abused test "
                        "(default: %(default)s)")
    p.add_argument("--classifier", type=Path, default=DEFAULT_PATH,
                   help="cached evaluation classifier (.safetensors); fitted on --train-data and written here "
                        "when missing (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help=f"smaller sizes for a fast run: {dataclasses.asdict(QUICK)}".replace("%", "%%"))
    p.add_argument("--num-samples", type=int, help=f"joint samples and test images (default {Sizes.samples}, "
                                                   f"--quick {QUICK.samples})")
    p.add_argument("--complete-samples", type=int, help="test images completed per source mode and ratio "
                                                        f"(default {Sizes.complete}, --quick {QUICK.complete})")
    p.add_argument("--div-images", type=int, help=f"test images completed with {DIV_SEEDS} seeds for div@r "
                                                  f"(default {Sizes.div_images}, --quick {QUICK.div_images})")
    p.add_argument("--data-root", type=Path, default=DATA_ROOT,
                   help="where torchvision downloads mnist-train, mnist-test and fashion-mnist-test when a data "
                        "option names one of them (default: %(default)s)")
    p.add_argument("--holdout", type=int, default=VAL_HOLDOUT,
                   help="size of the validation split at the end of --train-data (default: %(default)s)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def load_images(path: str | Path, what: str, shape: tuple[int, int, int], limit: int | None = None,
                data_root: Path = DATA_ROOT) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `limit` float images (N, C, H, W) and labels of an .npz or a torchvision set
    (`eval_classifier.TORCHVISION_SETS`); ValueError if missing or not of `shape` (C, H, W)."""
    if str(path) not in TORCHVISION_SETS and not Path(path).is_file():
        raise ValueError(f"{what} not found: {path}")
    images, labels = load_labelled(path, data_root)
    found = (1, *images.shape[1:]) if images.ndim == 3 else (images.shape[3], *images.shape[1:3])
    if tuple(found) != tuple(shape):
        raise ValueError(f"{what} {path} holds {found[0]}x{found[1]}x{found[2]} images (CxHxW) but the checkpoint "
                         f"is for {shape[0]}x{shape[1]}x{shape[2]} images")
    images, labels = images[:limit], labels[:limit]
    return to_float_images(images if images.ndim == 3 else images[..., 0]), torch.from_numpy(labels)


def nearest_model(train_data: str | Path, holdout: int = VAL_HOLDOUT,
                  data_root: Path = DATA_ROOT) -> NearestNeighbourModel:
    """The nearest-neighbour floor over the training part of `train_data` (the validation split left out)."""
    images, labels = load_images(train_data, "train data file", IMAGE_SHAPE, data_root=data_root)
    keep = validation_indices(len(images), holdout).start
    return NearestNeighbourModel(images[:keep], labels[:keep], get_preset("mnist-cpu").model)


def run(argv: list[str] | None = None) -> dict:
    """Parse arguments, load everything, evaluate, print the targets table; errors raise ValueError."""
    args = build_parser().parse_args(argv)
    base = QUICK if args.quick else Sizes()
    overrides = {"samples": args.num_samples, "complete": args.complete_samples, "div_images": args.div_images}
    for name, value in overrides.items():
        if value is not None and value < 2:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 2, got {value}")
    sizes = dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})
    if args.checkpoint == NEAREST:
        model = nearest_model(args.train_data, args.holdout, args.data_root)
    else:
        model = biglearn.load(args.checkpoint, device=args.device)
    c = model.config
    shape = (c.channels, c.height, c.width)
    if args.split == "val":
        everything, all_labels = load_images(args.train_data, "train data file", shape, data_root=args.data_root)
        val = validation_indices(len(everything), args.holdout)
        test, labels = everything[val.start:], all_labels[val.start:]
        train = everything[:min(sizes.samples, val.start)]
    else:
        test, labels = load_images(args.data, "data file", shape, data_root=args.data_root)
        train, _ = load_images(args.train_data, "train data file", shape, limit=sizes.samples,
                               data_root=args.data_root)
    ood, _ = load_images(args.ood_data, "out-of-domain data file", shape, data_root=args.data_root)
    if shape != IMAGE_SHAPE:
        raise ValueError(f"the evaluation classifier scores 1x28x28 digits; this checkpoint makes "
                         f"{shape[0]}x{shape[1]}x{shape[2]} images")
    if c.num_classes and int(labels.max()) >= c.num_classes:
        raise ValueError(f"{args.data} has labels up to {int(labels.max())}, the checkpoint knows {c.num_classes} "
                         "classes")
    clf, clf_info = load_or_fit(args.classifier, train_data=args.train_data, test_data=args.data,
                                data_root=args.data_root,
                                progress=not args.no_progress)
    header = {"checkpoint": str(args.checkpoint), "checkpoint_info": model.info, "objective": model.objective,
              "split": args.split, "data": str(args.data) if args.split == "test" else
              f"{args.train_data} [last {args.holdout}]",
              "eval_classifier": {"path": str(args.classifier), **clf_info}, "sizes": dataclasses.asdict(sizes)}
    result = evaluate(model, clf, EvalData(test, labels, train, ood), args.out, sizes, not args.no_progress, header)
    command = "python -m train.evaluate " + " ".join(argv if argv is not None else sys.argv[1:])
    if not model.can_generate:
        print(f"classify: acc@1.0 {result['classify']['acc@1.0']:.4f}, acc@0.5 {result['classify']['acc@0.5']:.4f} "
              f"(objective {model.objective!r} cannot generate: the other sections are skipped)")
        return result
    j = result["joint"]
    print(f"joint: fd {j['fd']:.2f} (train-vs-test floor {j['fd_train_vs_test']:.2f}), classes present "
          f"{j['classes_present']}/10, entropy {j['entropy']:.3f} of {j['entropy_max']:.3f}, mean confidence "
          f"{j['mean_confidence']:.3f}")
    for mode in MODES:
        res = result["complete"][mode]
        print(f"complete {mode:6}: " + "  ".join(f"r={r}: acc {res[f'acc@{r}']:.3f} fd {res[f'fd@{r}']:.1f} "
                                                 f"div {res[f'div@{r}']:.4f}" for r in RATIOS))
    print(format_table(result["targets"]))
    (args.out / "report.md").write_text(render_report(result, RATIOS, command))
    print(f"wrote {args.out / 'metrics.json'}, report.md and {len(result['figures'])} figures in "
          f"{result['seconds']['total']:.0f} s")
    return result


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: a one-line error and exit status 2 instead of a traceback."""
    try:
        run(argv)
    except (ValueError, OSError) as exc:  # CheckpointError and ClassifierError are ValueErrors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
