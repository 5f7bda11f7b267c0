"""Whether each arm of the claims study reached its plateau within its budget (issue 32, "at convergence").

docs/claims/continue.sh scores 8 snapshots of every arm on the validation split (`train.curve`) into
CURVES/STAGE/ARM/NAME/metrics.json, STAGE being PRESET-BUDGET-sSEED[-TAG]. Here each arm is judged on the measures
the claims compare it by (the joint GAN by its joint FD, MAE by completion, supervised by its classifier, big
learning by all three): a measure is *still improving* when the second half of the budget bought more than the
tolerance (the last snapshot against the best of the first half), *past its best* when it did not and its last
snapshot fell back from its best by more than the tolerance, *flat* otherwise; an arm has reached its plateau when
no measure of any seed is still improving. Still improving is decided first: a GAN's curve that fell from 37 to 16
over the second half and ended at 22 (one snapshot's noise) has not reached its plateau. One figure per preset and
budget shows the curves.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biglearn.cli import run_main

from . import curve


@dataclass(frozen=True)
class Measure:
    """A curve column the plateau is judged on; `tolerance` absolute, or relative to the value when `relative`."""

    column: str
    higher_is_better: bool
    tolerance: float
    relative: bool = False


# acc: about one standard error of the difference of two accuracies near 0.5 on 500 validation digits. FD: about two
# standard deviations of the difference of two scorings: one model's FD over five sample seeds had a std of 0.5-1.8 %
# of its value (three mnist-small models at 2.15e13 FLOPs; docs/claims/fd_noise.py)
MEASURES = {"acc@0.5": Measure("acc@0.5", True, 0.03),
            "joint FD": Measure("joint FD", False, 0.05, relative=True),
            "own classifier": Measure("own classifier acc", True, 0.03)}
ARM_MEASURES = {"joint": ("joint FD",), "mae": ("acc@0.5",), "supervised": ("own classifier",)}
BIG_LEARNING = tuple(MEASURES)  # every big-learning arm: all three
STAGE_NAME = re.compile(r"^(?P<preset>.+)-(?P<budget>[0-9.]+e[+-]?[0-9]+)-s(?P<seed>[0-9]+)(-[a-z]+)?$")


@dataclass
class Curve:
    """One seed's scored snapshots of one arm: the fraction of the budget at each, and each measure's values."""

    seed: int
    fractions: list[float]
    values: dict[str, list[float]]
    figure: Path


def read_curve(arm_dir: Path) -> tuple[list[float], dict[str, list[float]]] | None:
    """(fraction of the run's steps at each snapshot, measure -> values) of ARM/NAME/metrics.json; the final
    model, a step or two after the last snapshot, is that point again. None with fewer than two points."""
    scored = sorted((curve.row(json.loads(m.read_text())) for m in arm_dir.glob("*/metrics.json")),
                    key=lambda r: r["steps"] or 0)
    points: list[dict[str, Any]] = []
    for point in scored:
        if points and (point["steps"] or 0) <= 1.01 * (points[-1]["steps"] or 0):
            points[-1] = point
        else:
            points.append(point)
    if len(points) < 2:
        return None
    last = points[-1]["steps"] or 1
    names = ARM_MEASURES.get(arm_dir.name, BIG_LEARNING)
    values = {n: [p[MEASURES[n].column] for p in points] for n in names}
    values = {n: v for n, v in values.items() if all(x is not None for x in v)}
    return [(p["steps"] or 0) / last for p in points], values


def read_curves(curves: Path) -> dict[tuple[str, float, str], list[Curve]]:
    """(preset, budget, arm) -> one Curve per seed, from CURVES/STAGE/ARM as continue.sh leaves them."""
    found: dict[tuple[str, float, str], list[Curve]] = {}
    for arm_dir in sorted(p for p in curves.glob("*/*") if p.is_dir()):
        stage = STAGE_NAME.match(arm_dir.parent.name)
        scored = read_curve(arm_dir) if stage else None
        if stage is None or scored is None:
            continue
        found.setdefault((stage["preset"], float(stage["budget"]), arm_dir.name), []).append(
            Curve(int(stage["seed"]), scored[0], scored[1], arm_dir / "curve.png"))
    return found


def state(values: list[float], measure: Measure, fractions: list[float] | None = None) -> str:
    """flat, still improving or past its best (see the module), from a measure's values at the snapshots, taken at
    `fractions` of the budget (default: evenly spaced, the last at 1). The first half is by the budget, not by the
    count of snapshots: a run trained on from a smaller budget's run has that run's denser snapshots early."""
    sign = 1.0 if measure.higher_is_better else -1.0
    tol = measure.tolerance * (abs(values[-1]) if measure.relative else 1.0)
    last = sign * values[-1]
    at = fractions or [(i + 1) / len(values) for i in range(len(values))]
    first_half = [v for v, x in zip(values, at, strict=True) if x <= 0.5 + 1e-9] or values[:1]
    if last - max(sign * v for v in first_half) > tol:
        return "still improving"
    return "past its best" if max(sign * v for v in values) - last > tol else "flat"


def still_improving(curves_of_arm: list[Curve]) -> int:
    """How many (seed, measure) curves of one arm at one budget are still improving: 0 = plateau reached."""
    return sum(state(c.values[name], measure, c.fractions) == "still improving"
               for c in curves_of_arm for name, measure in MEASURES.items() if name in c.values)


def largest_budgets(curves: Path) -> dict[tuple[str, str], tuple[float, bool]]:
    """(preset, arm) -> (the largest budget the arm has curves at, whether it reached its plateau there in every
    seed's curve). The largest, not the first flat one: a run flat over its second half can still gain from a
    budget many times larger (MAE: vote acc@0.5 0.83 at 5.4e12 FLOPs, 0.92 at 8.6e13)."""
    found = read_curves(curves)
    out: dict[tuple[str, str], tuple[float, bool]] = {}
    for preset, budget, arm in sorted(found):  # ascending budgets: the last one stays
        out[(preset, arm)] = (budget, not still_improving(found[(preset, budget, arm)]))
    return out


def improving_arms(curves: Path, preset: str, budget: float, arms: list[str], seeds: int) -> list[str] | None:
    """Those of `arms` still improving at (preset, budget) in some seed's curve, which a larger budget should train
    on; None (undecided) while one of them is flat in every curve it has there but has fewer than `seeds` seeds'.
    An arm still improving in one seed is decided at once: the seeds to come cannot undo "in some seed"."""
    if not curves.is_dir():
        raise ValueError(f"{curves} is not a folder of plateau curves (continue.sh writes CURVES/STAGE/ARM)")
    found = read_curves(curves)
    groups = [found.get((preset, budget, arm), []) for arm in arms]
    improving = [bool(still_improving(group)) for group in groups]
    if any(not on and len({c.seed for c in group}) < seeds for on, group in zip(improving, groups, strict=True)):
        return None
    return [arm for arm, on in zip(arms, improving, strict=True) if on]


def figure(group: dict[str, list[Curve]], title: str, out: Path, arms: list[str]) -> None:
    """The curves of one preset and budget: a panel per measure, a line per arm (mean over seeds, +- std band),
    against the fraction of the budget trained; `arms`: every arm of the study, in the order that gives colours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(MEASURES), figsize=(4.2 * len(MEASURES), 3.4), dpi=100)
    for ax, (name, measure) in zip(axes, MEASURES.items(), strict=True):
        for arm, curves in sorted(group.items()):
            runs = [c for c in curves if name in c.values]
            if not runs:
                continue
            at: dict[float, list[float]] = {}  # seeds' snapshots lie at the same fractions of the budget
            for c in runs:
                for x, v in zip(c.fractions, c.values[name], strict=True):
                    at.setdefault(round(x, 2), []).append(v)
            # where the seeds' snapshots differ (a run trained on from a smaller budget's has more), the points all
            # of them have: a mean over fewer seeds would zigzag
            shared = [x for x in sorted(at) if len(at[x]) == len(runs)]
            xs = shared if len(shared) > 1 else sorted(at)
            mean = [statistics.fmean(at[x]) for x in xs]
            std = [statistics.stdev(at[x]) if len(at[x]) > 1 else 0.0 for x in xs]
            color = f"C{arms.index(arm)}"  # one colour an arm in every panel, as in the figures against compute
            ax.plot(xs, mean, marker="o", markersize=3, color=color, label=f"{arm} ({len(runs)} seed(s))")
            ax.fill_between(xs, [m - s for m, s in zip(mean, std, strict=True)],
                            [m + s for m, s in zip(mean, std, strict=True)], color=color, alpha=0.15)
        ax.set_title(f"{name} ({'higher' if measure.higher_is_better else 'lower'} is better)", fontsize=9)
        ax.set_xlabel("fraction of the budget trained")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def section(curves: Path, doc_dir: Path) -> list[str]:
    """The page's plateau section: per preset and budget a figure (written into `doc_dir`) and a table of each
    arm's measures at the last snapshot (mean +- std over seeds), each seed's verdict linked to its own figure, and
    whether the arm reached its plateau."""
    found = read_curves(curves)
    budgets = sorted({(preset, budget) for preset, budget, _ in found})
    if not budgets:
        return []
    lines = ["## Plateau curves (validation split)", "",
             "Each arm's 8 snapshots over its run, scored on the validation split (`train.curve`), on the measures "
             "the claims compare it by. Tolerance: " + ", ".join(
                 f"{n} {m.tolerance:g}{' of its value' if m.relative else ''}" for n, m in MEASURES.items())
             + ". Past its best: the last snapshot fell back from the best by more than the tolerance; still "
             "improving: the second half of the budget bought more than the tolerance (the last snapshot against the "
             "best of the first half); flat otherwise. An arm has reached its plateau within the budget when no "
             "measure of any seed is still improving.", ""]
    for preset, budget in budgets:
        group = {arm: c for (p, b, arm), c in found.items() if (p, b) == (preset, budget)}
        name = f"plateau_{preset}_{budget:.3g}.png".replace("+", "")
        figure(group, f"{preset} at {budget:.3g} FLOPs: validation curves", doc_dir / name,
               sorted({arm for _, _, arm in found}))
        lines += [f"### {preset} at {budget:.3g} FLOPs", "", f"![plateau curves]({name})", "",
                  "| arm | measure | last snapshot | each seed | plateau reached |", "| --- | --- | ---: | --- | --- |"]
        for arm, curves_of_arm in sorted(group.items()):
            improving = still_improving(curves_of_arm)
            rows = []
            for measure_name, measure in MEASURES.items():
                runs = sorted((c for c in curves_of_arm if measure_name in c.values), key=lambda c: c.seed)
                if not runs:
                    continue
                last = [c.values[measure_name][-1] for c in runs]
                states = [state(c.values[measure_name], measure, c.fractions) for c in runs]
                links = ", ".join(f"[s{c.seed} {s}]({link(c.figure, doc_dir)})" for c, s in zip(runs, states,
                                                                                                strict=True))
                rows.append([measure_name, f"{statistics.fmean(last):.3f}"
                             + (f" ± {statistics.stdev(last):.3f}" if len(last) > 1 else ""), links])
            reached = "yes" if not improving else f"**no** ({improving} seed-measure(s) still improving)"
            lines += [f"| {arm} | {m} | {v} | {s} | {reached} |" for m, v, s in rows]
        lines.append("")
    return lines


def link(path: Path, doc_dir: Path) -> str:
    """`path` relative to the page's folder where it lies below it, else as given."""
    resolved = path.resolve()
    return str(resolved.relative_to(doc_dir)) if resolved.is_relative_to(doc_dir) else str(path)


def main(argv: list[str] | None = None) -> int:
    """`python -m train.plateau PRESET BUDGET ARMS`: print those of ARMS (comma-separated; maybe none) still improving
    at BUDGET in some seed, for docs/claims/continue.sh to train on; exit status 3 while an arm flat so far has fewer
    seeds' curves there."""
    undecided: list[str] = []

    def run(argv: list[str] | None) -> None:
        p = argparse.ArgumentParser(prog="python -m train.plateau", description=main.__doc__.splitlines()[0])
        p.add_argument("preset")
        p.add_argument("budget", type=float, help="the budget in counted training FLOPs, as the stage names it")
        p.add_argument("arms", help="comma-separated arms")
        p.add_argument("--seeds", type=int, default=3, help="seeds whose curves decide (default 3)")
        p.add_argument("--curves", type=Path, default=Path("docs/claims/curves"),
                       help="the plateau curves (CURVES/STAGE/ARM/NAME/metrics.json)")
        args = p.parse_args(argv)
        if args.seeds < 1:
            raise ValueError(f"--seeds must be at least 1, not {args.seeds}")
        arms = improving_arms(args.curves, args.preset, args.budget, args.arms.split(","), args.seeds)
        if arms is None:
            undecided.append(f"undecided: an arm flat so far has fewer than {args.seeds} seeds' curves at "
                             f"{args.budget:g} FLOPs yet")
            print(undecided[-1], file=sys.stderr)
        else:
            print(",".join(arms))

    status = run_main(run, argv)
    return 3 if undecided and status == 0 else status


if __name__ == "__main__":
    sys.exit(main())
