"""`python -m train.compare`: the paper's claims on MNIST at equal compute (docs/claims.md).

Trains every arm (big learning, its ablation without communication, its special cases joint / MAE /
supervised, and big learning on incomplete data) for the same budget of training seconds on the same data,
seed, widths and validation hold-out, then evaluates every arm, and the nearest-neighbour floor, with the same
`train.evaluate`, measures the training-test gap of completion and writes the tables, a side-by-side
figure and the verdicts into one Markdown file. An interrupted comparison continues where it stopped: finished
arms are kept, unfinished ones resume (`python -m train --resume`) with the same options.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

import biglearn
from biglearn.checkpoint import load_inference
from biglearn.cli import run_main, writable_folder
from biglearn.config import BigLearnConfig
from biglearn.figures import sweep_source
from biglearn.precision import PRECISIONS
from biglearn.presets import REGISTRY
from biglearn.render import grid_image, save_png

from . import claims, cli
from .config import parse_duration
from .eval_classifier import (
    IMAGE_SHAPE,
    TORCHVISION_SETS,
    add_evaluation_options,
    default_source,
    load_or_fit,
)
from .evaluate import load_images, nearest_model
from .evaluate import run as run_evaluation
from .flops import step_flops
from .loop import INFERENCE_FILE, RESUME_FILE
from .nearest import NAME as NEAREST
from .parallel import RunFailed, train_in_parallel, trainer_command
from .plots import titled
from .run_lock import RunBusy, run_directory_lock
from .scaling import make_row, merge_rows
from .sections import RATIOS, EvalData, Sizes, eval_complete

# arm name -> the trainer options that make it (everything else is shared)
ARMS: dict[str, list[str]] = {
    "biglearn": ["--objective", "biglearn"],
    "biglearn-no-comm": ["--objective", "biglearn-no-comm"],
    "joint": ["--objective", "joint"],
    "mae": ["--objective", "mae"],
    "supervised": ["--objective", "supervised"],
    "biglearn-missing-0.5": ["--objective", "biglearn", "--missing-rate", "0.5"],
}
GAP_IMAGES = 2000  # training digits and test digits completed for the training-test gap
FIGURE_DIGITS = 6
FIGURE_RATIO = 0.25


@dataclass(frozen=True)
class Plan:
    """What one comparison trains and how it is evaluated."""

    data: str  # an .npz, or a torchvision set of eval_classifier.TORCHVISION_SETS (in data_root)
    test_data: str
    ood_data: str
    data_root: Path
    classifier: Path
    runs: Path
    doc: Path
    preset: str
    budget_s: float
    steps: int
    budget_flops: float  # counted training FLOPs per arm (0 = off): each arm gets the steps that spend them
    holdout: int
    parallel: int
    seed: int
    sizes: Sizes
    gap_images: int
    arms: tuple[str, ...]
    precision: str = "auto"
    threads: int = 0  # threads per arm (0 = cores // parallel)
    snapshots: int = 0  # inference files kept per arm over its run, for train.curve's plateau curves (0 = none)
    extend_from: Path | None = None  # a smaller budget's runs (same preset, seed, hold-out) each arm trains on from


class CompareError(ValueError):
    """The comparison cannot run as asked."""


# --- training ----------------------------------------------------------------------------------------------

def arm_config(plan: Plan, arm: str) -> BigLearnConfig:
    """The model and objective configuration the arm trains (as `python -m train` builds it from its flags)."""
    args = cli.build_parser().parse_args(["--data", "x", "--out", "x", "--preset", plan.preset, *ARMS[arm]])
    return cli.build_configs(args, num_classes=biglearn.get_preset(plan.preset).model.num_classes)[0]


def flops_per_step(plan: Plan, arm: str) -> float:
    """The arm's mean counted training FLOPs per step at its preset's batch (cached in RUNS/ARM/flops.json)."""
    cache = plan.runs / arm / "flops.json"
    if cache.is_file():
        return float(json.loads(cache.read_text())["flops_per_step"])
    batch = REGISTRY[plan.preset].recipe.batch_size
    value = step_flops(arm_config(plan, arm), batch)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"flops_per_step": value, "batch": batch}) + "\n")
    return value


def arm_steps(plan: Plan, arm: str) -> int:
    """The steps the arm trains: --steps, or with --budget-flops the whole steps nearest to the budget (so every arm
    stops within one step's FLOPs of it); 0 = the time budget decides."""
    if plan.budget_flops:
        return max(1, round(plan.budget_flops / flops_per_step(plan, arm)))
    return plan.steps


def snapshot_flags(plan: Plan, arm: str) -> list[str]:
    """--checkpoint-every/--keep-every that keep about `plan.snapshots` inference files over a step-bounded run."""
    steps = arm_steps(plan, arm)
    if not plan.snapshots or not steps:
        return []
    every = max(1, steps // plan.snapshots)
    return ["--checkpoint-every", str(every), "--keep-every", str(every)]


def arm_command(plan: Plan, arm: str, resume: bool) -> list[str]:
    """The `python -m train` command line of one arm."""
    budget = ["--steps", str(arm_steps(plan, arm))] if plan.budget_flops else \
        ["--time-budget", str(plan.budget_s), "--steps", str(plan.steps)]
    return trainer_command(plan.data, plan.data_root, plan.runs / arm, plan.preset, plan.seed, plan.holdout,
                           [*budget, "--precision", plan.precision, *snapshot_flags(plan, arm), *ARMS[arm]],
                           resume)


def arm_finished(plan: Plan, arm: str) -> bool:
    """Whether the arm's inference file already holds its whole budget (steps or seconds)."""
    path = plan.runs / arm / INFERENCE_FILE
    if not path.exists():
        return False
    info = load_inference(path)[2]
    steps = arm_steps(plan, arm)
    if steps:
        return int(info.get("steps", 0)) >= steps
    return float(info.get("train_seconds", 0.0)) >= plan.budget_s - 1.0


# what an arm's run at a larger budget takes over from the same arm's run at a smaller one
EXTENDED_FILES = (RESUME_FILE, INFERENCE_FILE, "metrics.jsonl", "flops.json")


def extend_arm(plan: Plan, arm: str) -> None:
    """Start the arm's run from its run in `plan.extend_from` (copied, so that run and its row stay as they are),
    to train on from its last step to this budget. With a constant learning rate (the preset's lr_decay = 0, and
    every other schedule a function of the step alone) that is the run this budget would train from scratch (a
    resumed run equals an uninterrupted one), so a doubled budget costs only its second half. An arm that already
    has a run here is left alone; CompareError where the extension would not be that run."""
    target = plan.runs / arm
    if plan.extend_from is None or (target / RESUME_FILE).exists() or (target / INFERENCE_FILE).exists():
        return
    if REGISTRY[plan.preset].recipe.lr_decay > 0:
        raise CompareError(f"--extend-from: preset {plan.preset} decays its learning rate over the run, so a longer "
                           "budget is not the shorter run trained on; train it from scratch")
    if not plan.budget_flops and not plan.steps:
        raise CompareError("--extend-from needs a budget in steps or FLOPs (--budget-flops or --steps)")
    source = plan.extend_from / arm
    if not (source / RESUME_FILE).is_file():
        raise CompareError(f"--extend-from: {source / RESUME_FILE} does not exist (only a run with its resume file "
                           "can be trained on)")
    try:
        with run_directory_lock(source):  # not while a trainer is still writing it
            steps, budget = int(load_inference(source / INFERENCE_FILE)[2].get("steps", 0)), arm_steps(plan, arm)
            if steps > budget:
                raise CompareError(f"--extend-from: {source} has trained {steps} steps, more than this budget's "
                                   f"{budget}")
            target.mkdir(parents=True, exist_ok=True)
            for name in EXTENDED_FILES:
                if (source / name).is_file():
                    shutil.copy2(source / name, target / name)
            if (source / "snapshots").is_dir():
                shutil.copytree(source / "snapshots", target / "snapshots", dirs_exist_ok=True)
    except RunBusy as exc:
        raise CompareError(f"--extend-from: {exc}") from None
    print(f"[compare] {arm} goes on from {source} (step {steps})", file=sys.stderr, flush=True)


def train_arms(plan: Plan) -> None:
    """Train the unfinished arms, `plan.parallel` at a time, each on cores // parallel threads; logs per arm."""
    todo = [a for a in plan.arms if a in ARMS and not arm_finished(plan, a)]
    for arm in todo:
        extend_arm(plan, arm)
    try:
        train_in_parallel(todo, plan.runs, lambda arm, resume: arm_command(plan, arm, resume), plan.parallel,
                          "compare", plan.threads)
    except RunFailed as exc:
        raise CompareError(str(exc)) from None
    # a trainer stopped by SIGTERM saves and exits 0: scoring it would pass a part of the budget off as all of it
    short = [a for a in todo if not arm_finished(plan, a)]
    if short:
        raise CompareError(f"arm(s) stopped before their budget: {', '.join(short)} (stopped by a signal?); run the "
                           "same command again to resume them")


# --- evaluation --------------------------------------------------------------------------------------------

def checkpoint_of(plan: Plan, arm: str) -> str:
    return NEAREST if arm == NEAREST else str(plan.runs / arm / INFERENCE_FILE)


def evaluate_arm(plan: Plan, arm: str) -> dict:
    """`train.evaluate` of one arm on the test set (written to RUNS/ARM/eval-test), plus the training-test gap."""
    out = plan.runs / arm / "eval-test"
    s = plan.sizes
    argv = [checkpoint_of(plan, arm), "--out", str(out), "--data", str(plan.test_data),
            "--train-data", str(plan.data), "--ood-data", str(plan.ood_data), "--classifier", str(plan.classifier),
            "--data-root", str(plan.data_root),
            "--holdout", str(plan.holdout), "--num-samples", str(s.samples), "--complete-samples", str(s.complete),
            "--div-images", str(s.div_images), "--vote-images", str(s.vote_images), "--no-progress"]
    if s != Sizes():
        argv.append("--quick")
    result = run_evaluation(argv)
    result["gap"] = training_test_gap(plan, arm)
    return result


def training_test_gap(plan: Plan, arm: str) -> dict:
    """Completion metrics (random sources) on training digits the arm saw against as many test digits."""
    model = nearest_model(plan.data, plan.holdout, plan.data_root) if arm == NEAREST else \
        biglearn.load(checkpoint_of(plan, arm))
    if not model.can_generate:
        return {"skipped": f"objective {model.objective!r} cannot complete"}
    clf, _ = load_or_fit(plan.classifier, train_data=plan.data, test_data=plan.test_data, progress=False,
                         data_root=plan.data_root)
    n = plan.gap_images
    train, train_labels = load_images(plan.data, "train data file", IMAGE_SHAPE, limit=n, data_root=plan.data_root)
    test, test_labels = load_images(plan.test_data, "data file", IMAGE_SHAPE, limit=n, data_root=plan.data_root)
    sizes = dataclasses.replace(plan.sizes, complete=n, div_images=min(plan.sizes.div_images, n))
    _, ref = clf.predict(test)
    with tqdm(disable=True) as bar:
        on_train = eval_complete(model, clf, ref, EvalData(train, train_labels, train, test), sizes, bar)["random"]
        on_test = eval_complete(model, clf, ref, EvalData(test, test_labels, train, test), sizes, bar)["random"]
    return {"n": n, "train": {f"acc@{r}": on_train[f"acc@{r}"] for r in RATIOS},
            "test": {f"acc@{r}": on_test[f"acc@{r}"] for r in RATIOS}}


def scaling_row(plan: Plan, arm: str, metrics: dict) -> dict:
    """The arm's row of scaling.json: its counted training FLOPs (the budget asked, or its steps' count), steps,
    images, seconds and precision from its checkpoint, and its metrics."""
    info = load_inference(plan.runs / arm / INFERENCE_FILE)[2]
    flops = plan.budget_flops or int(info.get("steps", 0)) * flops_per_step(plan, arm)
    return make_row(arm, plan.preset, plan.seed, flops, info, metrics)


def side_by_side(plan: Plan, arms: list[str], path: Path) -> None:
    """The same test digits and the same random sources (r = FIGURE_RATIO) completed by every arm, seed 0."""
    test, _ = load_images(plan.test_data, "data file", IMAGE_SHAPE, limit=FIGURE_DIGITS, data_root=plan.data_root)
    panels = []
    for arm in arms:
        model = nearest_model(plan.data, plan.holdout, plan.data_root) if arm == NEAREST else \
            biglearn.load(checkpoint_of(plan, arm))
        if not model.can_generate:
            continue
        c = model.config
        source = sweep_source(len(test), c.num_patches, FIGURE_RATIO, "random", seed=7)
        done = model.complete(test, source, seeds=[0])[:, 0]
        panels.append((arm, done))
    c = biglearn.get_preset(plan.preset).model
    source = sweep_source(len(test), c.num_patches, FIGURE_RATIO, "random", seed=7)
    shown = torch.where(biglearn.patches.patch_to_pixel_mask(source, c.patch_size, c.grid), test,
                        torch.full_like(test, 0.5))
    columns = [shown] + [p[1] for p in panels] + [test]
    grid = torch.stack(columns, dim=1)
    outlines = source.view(len(test), 1, *c.grid).expand(-1, len(columns), -1, -1).clone().numpy()
    outlines[:, -1] = False
    title = "columns: the source (r = 0.25), " + ", ".join(p[0] for p in panels) + ", the real digit"
    save_png(titled([(title, grid_image(grid, outlines=outlines, patch_size=c.patch_size))]), path)


# --- command line ------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The `python -m train.compare` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m train.compare",
        description="Train every arm of the claims comparison for the same budget of training seconds (same data, "
                    "seed, widths and validation hold-out), evaluate each with train.evaluate on the test set, and "
                    "write the tables, a side-by-side figure and the verdicts to --doc. Re-running continues: "
                    "finished arms are kept, unfinished ones resume.")
    p.add_argument("--runs", type=Path, default=Path("runs/compare"), help="one run directory per arm under this")
    p.add_argument("--doc", type=Path, default=Path("docs/claims.md"), help="the Markdown file to write")
    p.add_argument("--budget", default="40m", help="training seconds per arm, e.g. 40m (ignored with --steps)")
    p.add_argument("--steps", type=int, default=0, help="train each arm this many steps instead of a time budget")
    p.add_argument("--budget-flops", type=float, default=0.0,
                   help="train each arm for this many counted training FLOPs (e.g. 2.6e15; each arm gets the whole "
                        "number of steps nearest to it: equal compute whatever the machine's load); overrides "
                        "--budget and --steps")
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help="every arm's --precision")
    p.add_argument("--parallel", type=int, default=2, help="arms trained at once (each on cores / N threads)")
    p.add_argument("--threads", type=int, default=0, help="threads per arm (default: cores / --parallel)")
    p.add_argument("--snapshots", type=int, default=0,
                   help="with --budget-flops or --steps: keep about this many inference files per arm over its run "
                        "(RUNS/ARM/snapshots) for the plateau curves of `python -m train.curve`")
    p.add_argument("--extend-from", type=Path, default=None, metavar="RUNS",
                   help="train each arm on from the same arm's run in RUNS (a smaller --budget-flops or --steps of "
                        "the same preset, seed and hold-out, with its resume file) instead of from scratch: with the "
                        "presets' constant learning rate that is the same run, for the cost of the difference")
    p.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated subset of {', '.join(ARMS)}")
    p.add_argument("--preset", default="mnist-cpu", help="model widths shared by every arm")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=default_source("mnist_train.npz", "mnist-train"),
                   help="labelled training .npz, or mnist-train (torchvision, in --data-root)")
    p.add_argument("--test-data", default=default_source("mnist_test.npz", "mnist-test"),
                   help="labelled test .npz, or mnist-test")
    add_evaluation_options(p)
    p.add_argument("--quick", action="store_true",
                   help="check the machinery in seconds: the smoke preset, 4 steps per arm, tiny evaluation sizes")
    p.add_argument("--no-train", action="store_true", help="only evaluate and write (every arm must be trained)")
    return p


def make_plan(args: argparse.Namespace) -> Plan:
    """Validate the arguments into a Plan; CompareError names the bad one."""
    arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
    unknown = [a for a in arms if a not in ARMS]
    if unknown or not arms:
        raise CompareError(f"unknown arm(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(ARMS)}")
    budget = parse_duration(args.budget)
    steps = 4 if args.quick and not args.steps else args.steps
    if not 0 <= args.budget_flops < float("inf"):
        raise CompareError(f"--budget-flops must be a positive number of FLOPs, got {args.budget_flops}")
    if steps < 0 or (steps == 0 and budget <= 0 and not args.budget_flops):
        raise CompareError("give a positive --budget (training seconds per arm), --steps or --budget-flops")
    if args.parallel < 1:
        raise CompareError("--parallel must be >= 1")
    if args.threads < 0 or args.snapshots < 0:
        raise CompareError("--threads and --snapshots must be >= 0")
    if args.extend_from is not None and not args.extend_from.is_dir():
        raise CompareError(f"--extend-from: no such folder: {args.extend_from}")
    if args.extend_from is not None and args.extend_from.resolve() == args.runs.resolve():
        raise CompareError("--extend-from must be another budget's runs, not --runs itself")
    for path in (args.data, args.test_data, args.ood_data):
        if path not in TORCHVISION_SETS and not Path(path).is_file():
            raise CompareError(f"data file not found: {path}")
    sizes = Sizes(samples=200, complete=64, div_images=16, vote_images=16, conditional_per_class=4, abused=16,
                  figure_rows=4) if args.quick else Sizes()
    for folder in (args.runs, args.doc.parent):
        try:
            writable_folder(folder)
        except OSError as exc:
            raise CompareError(f"cannot write into {folder}: {exc.strerror or exc}") from exc
    return Plan(data=str(args.data), test_data=str(args.test_data), ood_data=str(args.ood_data),
                data_root=args.data_root, classifier=args.classifier,
                runs=args.runs, doc=args.doc, preset="smoke" if args.quick else args.preset, budget_s=budget,
                steps=steps, budget_flops=args.budget_flops, holdout=args.holdout, parallel=args.parallel,
                seed=args.seed, sizes=sizes, gap_images=32 if args.quick else GAP_IMAGES, arms=arms,
                precision=args.precision, threads=args.threads, snapshots=args.snapshots,
                extend_from=args.extend_from)


def run(argv: list[str] | None = None) -> dict:
    """Train (unless --no-train), evaluate every arm and the floor, write the document; returns the results."""
    args = build_parser().parse_args(argv)
    plan = make_plan(args)
    if not args.no_train:
        train_arms(plan)
    missing = [a for a in plan.arms if not (plan.runs / a / INFERENCE_FILE).exists()]
    if missing:
        raise CompareError(f"arm(s) not trained yet: {', '.join(missing)} (run without --no-train)")
    results = {}
    for arm in (*plan.arms, NEAREST):
        print(f"[compare] evaluating {arm}", file=sys.stderr, flush=True)
        results[arm] = evaluate_arm(plan, arm)
    figure = plan.doc.parent / "claims" / "side_by_side.png"
    figure.parent.mkdir(parents=True, exist_ok=True)
    side_by_side(plan, [*plan.arms, NEAREST], figure)
    (plan.doc.parent / "claims" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    rows = [scaling_row(plan, arm, results[arm]) for arm in plan.arms]
    for row in rows:
        results[row["arm"]]["train_flops"] = row["budget_flops"]
    merge_rows(plan.doc.parent / "claims" / "scaling.json", rows)
    command = "python -m train.compare " + " ".join(argv if argv is not None else sys.argv[1:])
    plan.doc.write_text(claims.render(results, plan, command, figure.relative_to(plan.doc.parent)))
    print(f"[compare] wrote {plan.doc}", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: one-line errors, exit 2."""
    return run_main(run, argv, interrupted="interrupted (run the same command again to continue)")



if __name__ == "__main__":
    sys.exit(main())
