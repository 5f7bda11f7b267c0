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
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from tqdm import tqdm

import biglearn
from biglearn.cli import run_main
from biglearn.presets import get_preset
from biglearn.render import save_png

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
from .plots import paper_figures, summary_figures
from .report import render_report
from .sections import (
    DIV_SEEDS,
    MODES,
    QUICK,
    RATIOS,
    EvalData,
    Model,
    Sizes,
    eval_abused,
    eval_classify,
    eval_complete,
    eval_conditional,
    eval_joint,
    vote_seeds,
)
from .targets import check_targets, format_table

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
    n_vote = min(sizes.vote_images, len(data.test)) * (vote_seeds(model) if model.can_generate else 0)
    total = (n + len(MODES) * len(RATIOS) * (n_complete + DIV_SEEDS * n_div) + len(RATIOS) * n_vote
             + k * sizes.conditional_per_class
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
    p.add_argument("--vote-images", type=int,
                   help="test images completed with 8 seeds each (one for deterministic models) for the sampler-fair "
                        f"vote_acc@r, mass_acc@r and nll@r (default {Sizes.vote_images}, --quick {QUICK.vote_images})")
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
    overrides = {"samples": args.num_samples, "complete": args.complete_samples, "div_images": args.div_images,
                 "vote_images": args.vote_images}
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
    return run_main(run, argv)  # CheckpointError and ClassifierError are ValueErrors



if __name__ == "__main__":
    sys.exit(main())
