"""`python -m train.sweep`: the recipe sweep (issue 12), decided on the validation split.

Every arm is the trainer's `mnist-cpu` recipe plus the options its entry in the arms file adds (a JSON object:
arm name -> list of `python -m train` flags); all arms share the data, the seed, the validation hold-out and
the budget (`--steps`, or `--budget` training seconds, unless an arm's flags set their own). Arms train
`--parallel` at a time; each finished arm is scored by `train.evaluate --split val` (never the test set) and
the table of every arm goes into `--doc`. Re-running continues: finished arms and their scores are kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from biglearn.checkpoint import load_inference
from biglearn.cli import run_main

from .config import parse_duration
from .eval_classifier import TORCHVISION_SETS, add_evaluation_options, default_source
from .evaluate import run as run_evaluation
from .loop import INFERENCE_FILE
from .parallel import RunFailed, train_in_parallel, trainer_command
from .sections import Sizes

EVAL_DIR = "eval-val"
QUICK_SIZES = Sizes(samples=200, complete=64, div_images=16, conditional_per_class=4, abused=16, figure_rows=4)


@dataclass(frozen=True)
class Sweep:
    """What one sweep trains and how it scores it."""

    arms: dict[str, list[str]]
    data: str  # an .npz, or mnist-train (torchvision, in data_root)
    ood_data: str  # out-of-domain images for the abused-sources section
    data_root: Path
    classifier: Path
    runs: Path
    doc: Path
    preset: str
    budget_s: float
    steps: int
    holdout: int
    parallel: int
    seed: int
    sizes: Sizes | None  # None: train.evaluate's --quick sizes


class SweepError(ValueError):
    """The sweep cannot run as asked."""


def arm_budget(sweep: Sweep, flags: list[str]) -> list[str]:
    """The budget flags of an arm: its own --steps / --time-budget, else the sweep's."""
    if "--steps" in flags or "--time-budget" in flags:
        return []
    return ["--steps", str(sweep.steps)] if sweep.steps else ["--time-budget", str(sweep.budget_s)]


def arm_command(sweep: Sweep, arm: str, resume: bool) -> list[str]:
    """The `python -m train` command line of one arm."""
    flags = sweep.arms[arm]
    return trainer_command(sweep.data, sweep.data_root, sweep.runs / arm, sweep.preset, sweep.seed, sweep.holdout,
                           [*arm_budget(sweep, flags), *flags], resume)


def arm_finished(sweep: Sweep, arm: str) -> bool:
    """Whether the arm's inference file holds its whole budget (steps or training seconds)."""
    path = sweep.runs / arm / INFERENCE_FILE
    if not path.exists():
        return False
    info = load_inference(path)[2]
    flags = sweep.arms[arm] + arm_budget(sweep, sweep.arms[arm])
    if "--steps" in flags:
        return int(info.get("steps", 0)) >= int(flags[flags.index("--steps") + 1])
    return float(info.get("train_seconds", 0.0)) >= parse_duration(flags[flags.index("--time-budget") + 1]) - 1.0


def evaluate_arm(sweep: Sweep, arm: str) -> dict:
    """`train.evaluate --split val` of the arm's inference file, kept in RUNS/ARM/eval-val (reused while the
    file's step count is unchanged)."""
    out = sweep.runs / arm / EVAL_DIR
    model = sweep.runs / arm / INFERENCE_FILE
    steps = int(load_inference(model)[2].get("steps", -1))
    saved = out / "metrics.json"
    if saved.exists():
        result = json.loads(saved.read_text())
        if result.get("checkpoint_info", {}).get("steps") == steps:
            return result
    argv = [str(model), "--split", "val", "--out", str(out), "--train-data", sweep.data, "--ood-data", sweep.ood_data,
            "--classifier",
            str(sweep.classifier), "--data-root", str(sweep.data_root), "--holdout", str(sweep.holdout),
            "--no-progress", "--quick"]
    if sweep.sizes is not None:
        s = sweep.sizes
        argv += ["--num-samples", str(s.samples), "--complete-samples", str(s.complete), "--div-images",
                 str(s.div_images)]
    return run_evaluation(argv)


COLUMNS = ("arm", "change", "steps", "train min", "acc@0.5", "acc@0.75", "acc@0.9", "div@0.1", "div ratio",
           "joint FD", "class share min–max", "joint conf", "cond acc", "own acc whole", "own acc half")


def table_row(arm: str, flags: list[str], r: dict) -> list[str]:
    """One arm's row of the sweep table."""
    info, rand = r["checkpoint_info"], r["complete"]["random"]
    fr = r["joint"]["class_fractions"]
    ratio = rand["div@0.1"] / rand["div@0.9"] if rand["div@0.9"] > 0 else float("inf")
    return [arm, " ".join(f"`{f}`" if f.startswith("--") else f for f in flags) or "(the preset's recipe)",
            str(info["steps"]), f"{info['train_seconds'] / 60:.1f}",
            *(f"{rand[f'acc@{x}']:.3f}" for x in (0.5, 0.75, 0.9)), f"{rand['div@0.1']:.3f}", f"{ratio:.2f}",
            f"{r['joint']['fd']:.1f}", f"{min(fr):.3f}–{max(fr):.3f}", f"{r['joint']['mean_confidence']:.3f}",
            f"{r['conditional']['accuracy']:.3f}", f"{r['classify']['acc@1.0']:.3f}",
            f"{r['classify']['acc@0.5']:.3f}"]


def render(sweep: Sweep, results: dict[str, dict], command: str) -> str:
    """The sweep's Markdown page: how it was made and one row per arm."""
    size = "train.evaluate --quick sizes" if sweep.sizes is None else f"{sweep.sizes}"
    lines = [
        "# The recipe sweep: every arm on the validation split", "",
        f"Made by `{command}`. Every arm: preset `{sweep.preset}`, seed {sweep.seed}, the last {sweep.holdout} "
        f"training images held out; scored by `train.evaluate --split val` ({size}) on those held-out digits, "
        "never on the test set. Budget: each arm's `--steps` / `--time-budget` as listed (the sweep's default: "
        + (f"{sweep.steps} steps" if sweep.steps else f"{sweep.budget_s / 60:.0f} training minutes") + ").", "",
        "| " + " | ".join(COLUMNS) + " |", "| " + " | ".join("---" if i < 2 else "---:" for i in range(len(COLUMNS)))
        + " |"]
    for arm, r in results.items():
        lines.append("| " + " | ".join(table_row(arm, sweep.arms[arm], r)) + " |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """The `python -m train.sweep` argument parser."""
    p = argparse.ArgumentParser(prog="python -m train.sweep", description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--arms", type=Path, required=True, help="JSON file: arm name -> list of python -m train flags")
    p.add_argument("--only", default="", help="comma-separated arms of the file to train and score now (default: all)")
    p.add_argument("--runs", type=Path, default=Path("runs/sweep"), help="one run directory per arm under this")
    p.add_argument("--doc", type=Path, default=Path("runs/sweep/sweep.md"), help="the Markdown table to write")
    p.add_argument("--budget", default="25m", help="training seconds per arm (unless --steps or the arm's own)")
    p.add_argument("--steps", type=int, default=0, help="train each arm this many steps instead")
    p.add_argument("--parallel", type=int, default=2, help="arms trained at once (each on cores / N threads)")
    p.add_argument("--preset", default="mnist-cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=default_source("mnist_train.npz", "mnist-train"),
                   help="labelled training .npz (its last --holdout images are the validation split)")
    add_evaluation_options(p)
    p.add_argument("--quick", action="store_true", help="check the machinery: the smoke preset, tiny evaluations")
    p.add_argument("--no-train", action="store_true", help="only score and write (the arms must be trained)")
    return p


def without_budget(flags: list[str]) -> list[str]:
    """An arm's flags without its own --steps / --time-budget (and their values)."""
    out, skip = [], False
    for f in flags:
        if skip:
            skip = False
        elif f in ("--steps", "--time-budget"):
            skip = True
        else:
            out.append(f)
    return out


def load_arms(path: Path) -> dict[str, list[str]]:
    """The arms file: a JSON object of arm name -> list of string flags; SweepError naming what is wrong."""
    try:
        arms = json.loads(path.read_text())
    except OSError as exc:
        raise SweepError(f"cannot read the arms file {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise SweepError(f"the arms file {path} is not valid JSON: {exc}") from None
    if not isinstance(arms, dict) or not arms:
        raise SweepError(f"the arms file {path} must be a non-empty JSON object: arm name -> list of flags")
    for name, flags in arms.items():
        if not name or "/" in name or name.startswith("."):
            raise SweepError(f"arm name {name!r} cannot be a run directory name")
        if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
            raise SweepError(f"arm {name!r}: its flags must be a list of strings")
        reserved = {"--data", "--out", "--preset", "--seed", "--holdout", "--resume"} & set(flags)
        if reserved:
            raise SweepError(f"arm {name!r} sets {', '.join(sorted(reserved))}: the sweep sets those for every arm")
    return arms


def make_sweep(args: argparse.Namespace) -> Sweep:
    """Validate the arguments into a Sweep; SweepError names the bad one."""
    arms = load_arms(args.arms)
    if args.only:
        only = [a.strip() for a in args.only.split(",") if a.strip()]
        unknown = [a for a in only if a not in arms]
        if unknown:
            raise SweepError(f"--only names arm(s) not in {args.arms}: {', '.join(unknown)}")
        arms = {a: arms[a] for a in only}
    budget = parse_duration(args.budget)
    steps = 3 if args.quick and not args.steps else args.steps
    if args.quick:  # a machinery check: every arm's own budget gives way to the few steps
        arms = {name: without_budget(flags) for name, flags in arms.items()}
    if steps < 0 or (steps == 0 and budget <= 0):
        raise SweepError("give a positive --budget (training seconds per arm) or --steps")
    if args.parallel < 1:
        raise SweepError("--parallel must be >= 1")
    for path in (args.data, args.ood_data):
        if path not in TORCHVISION_SETS and not Path(path).is_file():
            raise SweepError(f"data file not found: {path}")
    for folder in (args.runs, args.doc.parent):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SweepError(f"cannot write into {folder}: {exc.strerror or exc}") from exc
    return Sweep(arms=arms, data=str(args.data), ood_data=str(args.ood_data),
                 data_root=args.data_root, classifier=args.classifier, runs=args.runs, doc=args.doc,
                 preset="smoke" if args.quick else args.preset, budget_s=budget, steps=steps, holdout=args.holdout,
                 parallel=args.parallel, seed=args.seed, sizes=QUICK_SIZES if args.quick else None)


def run(argv: list[str] | None = None) -> dict[str, dict]:
    """Train the unfinished arms (unless --no-train), score every arm on validation, write the table."""
    args = build_parser().parse_args(argv)
    sweep = make_sweep(args)
    if not args.no_train:
        todo = [a for a in sweep.arms if not arm_finished(sweep, a)]
        try:
            train_in_parallel(todo, sweep.runs, lambda arm, resume: arm_command(sweep, arm, resume), sweep.parallel,
                              "sweep")
        except RunFailed as exc:
            raise SweepError(str(exc)) from None
    missing = [a for a in sweep.arms if not (sweep.runs / a / INFERENCE_FILE).exists()]
    if missing:
        raise SweepError(f"arm(s) not trained yet: {', '.join(missing)} (run without --no-train)")
    results = {}
    for arm in sweep.arms:
        print(f"[sweep] scoring {arm} on the validation split", file=sys.stderr, flush=True)
        results[arm] = evaluate_arm(sweep, arm)
    command = "python -m train.sweep " + " ".join(argv if argv is not None else sys.argv[1:])
    sweep.doc.write_text(render(sweep, results, command))
    print(f"[sweep] wrote {sweep.doc}", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: one-line errors, exit 2."""
    return run_main(run, argv, interrupted="interrupted (run the same command again to continue)")


if __name__ == "__main__":
    sys.exit(main())
