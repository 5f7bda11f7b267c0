"""The sections of `train.evaluate`: how many images each uses, and one function per section
(joint, complete, conditional, classify, abused), each returning its part of metrics.json."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm import tqdm

import biglearn
from biglearn import masks
from biglearn.figures import sweep_source
from biglearn.patches import patch_to_pixel_mask

from . import metrics
from .eval_classifier import EvalClassifier
from .nearest import NearestNeighbourModel

Model = biglearn.BigLearnModel | NearestNeighbourModel
RATIOS = (0.1, 0.25, 0.5, 0.75, 0.9)
MODES = ("random", "first")
DIV_SEEDS = 8
VOTE_SEEDS = 8  # samples per image for the sampler-fair completion scores (train.metrics.sampler_scores)
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
    vote_images: int = 1000  # test images completed with VOTE_SEEDS seeds per ratio (random sources) for vote_acc@r
    conditional_per_class: int = 100
    abused: int = 200
    figure_rows: int = 8


QUICK = Sizes(samples=1000, complete=500, div_images=64, vote_images=128, conditional_per_class=20, abused=64,
              figure_rows=6)


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
    """acc@r, fd@r and div@r (inside T) for random and first-portion sources of each ratio r; for random sources
    also the sampler-fair scores of completion as inference (vote_acc@r, mass_acc@r, nll@r: VOTE_SEEDS samples
    per image, or the one output of a deterministic model)."""
    c = model.config
    n, n_div = min(sizes.complete, len(data.test)), min(sizes.div_images, len(data.test))
    n_vote, k_vote = min(sizes.vote_images, len(data.test)), vote_seeds(model)
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
            if mode == "random" and n_vote:
                vote_source = sweep_source(n_vote, c.num_patches, r, mode, seed=MASK_SEED)
                votes = complete_grouped(model, data.test[:n_vote], vote_source, k_vote, bar)
                scores = metrics.sampler_scores(clf.predict(votes.flatten(0, 1))[0].view(n_vote, k_vote, -1),
                                                data.labels[:n_vote])
                res.update({f"{name}@{r}": scores[key] for name, key in SAMPLER_KEYS})
        out[mode] = res
    return out


SAMPLER_KEYS = (("vote_acc", "vote"), ("mass_acc", "mass"), ("nll", "nll"))


def vote_seeds(model: Model) -> int:
    """Samples per image for the sampler-fair scores: one for a deterministic model (MAE, the nearest-neighbour
    floor: its single output is its answer), VOTE_SEEDS otherwise."""
    return 1 if model.deterministic else VOTE_SEEDS


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
