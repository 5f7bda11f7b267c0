"""`python -m train.curve CHECKPOINT... --out DIR`: the evaluation metrics against training time.

Evaluates each checkpoint (typically the `--keep-every` snapshots of one run) with `train.evaluate`
(quick sizes by default) into DIR/<checkpoint name>/ (with its parent folders where names repeat), then
writes DIR/curve.md (a table ordered by training time) and DIR/curve.png (the headline metrics against training
minutes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from biglearn.render import save_png

from . import evaluate, plots
from .loop import lineage_totals
from .report import table


def _at(metrics: dict[str, Any], *keys: str) -> Any:
    """metrics[k1][k2]...; None where an arm has no such measure (supervised generates nothing)."""
    for key in keys:
        if not isinstance(metrics, dict) or key not in metrics:
            return None
        metrics = metrics[key]
    return metrics


def _ratio(top: Any, bottom: Any) -> float | None:
    return None if top is None or bottom is None else top / max(bottom, 1e-12)


def _extreme(pick: Any, values: list[float] | None) -> float | None:
    return pick(values) if values else None


# (column, how to read it from metrics.json): every measure an issue-12 target reads (train/targets.py)
COLUMNS: dict[str, Any] = {
    "acc@0.5": lambda m: _at(m, "complete", "random", "acc@0.5"),
    "acc@0.75": lambda m: _at(m, "complete", "random", "acc@0.75"),
    "acc@0.9": lambda m: _at(m, "complete", "random", "acc@0.9"),
    "div@0.1": lambda m: _at(m, "complete", "random", "div@0.1"),
    "div@0.1/div@0.9": lambda m: _ratio(_at(m, "complete", "random", "div@0.1"),
                                        _at(m, "complete", "random", "div@0.9")),
    "joint FD": lambda m: _at(m, "joint", "fd"),
    "joint classes": lambda m: _at(m, "joint", "classes_present"),
    "joint smallest class": lambda m: _extreme(min, _at(m, "joint", "class_fractions")),
    "joint top class": lambda m: _extreme(max, _at(m, "joint", "class_fractions")),
    "joint confidence": lambda m: _at(m, "joint", "mean_confidence"),
    "conditional acc": lambda m: _at(m, "conditional", "accuracy"),
    "own classifier acc": lambda m: _at(m, "classify", "acc@1.0"),
    "own classifier acc from half": lambda m: _at(m, "classify", "acc@0.5"),
}
PLOTTED = ("acc@0.5", "joint confidence", "conditional acc", "own classifier acc")


def row_position(metrics: dict[str, Any]) -> tuple[int | None, float]:
    """Where a checkpoint lies on the curve: (steps, training minutes), both over its warm starts too, so that
    a continued run's curve goes on from where the run it started from ended."""
    info = metrics.get("checkpoint_info") or {}
    if info.get("steps") is None:
        return None, round(float(info.get("train_seconds", 0.0)) / 60, 1)
    totals = lineage_totals(int(info["steps"]), float(info.get("train_seconds", 0.0)), info.get("init"))
    return totals["total_steps"], round(totals["total_train_seconds"] / 60, 1)


def row(metrics: dict[str, Any]) -> dict[str, Any]:
    """One checkpoint's line of the curve: steps, training minutes and every column."""
    steps, minutes = row_position(metrics)
    return {"steps": steps, "minutes": minutes, **{name: read(metrics) for name, read in COLUMNS.items()}}


def render_curve(rows: list[dict[str, Any]], command: str) -> str:
    """The curve as Markdown: one line per checkpoint, ordered by training time."""
    header = ["steps", "train min", *COLUMNS]
    body = [(r["steps"], r["minutes"], *(r[name] for name in COLUMNS)) for r in rows]
    return "\n".join([f"Made by `{command}`.", "", *table(header, body)]) + "\n"


def output_names(checkpoints: list[Path]) -> list[str]:
    """The folder under --out for each checkpoint: its file's stem, or, where stems repeat (two runs'
    `model_0001000`), as many of its parent folders as tell them apart (`m5-snapshots-model_0001000`)."""
    keys = [path.resolve().with_suffix("").parts for path in checkpoints]
    names = []
    for parts in keys:
        k = 1
        while k < len(parts) and sum(other[-k:] == parts[-k:] for other in keys) > 1:
            k += 1
        names.append("-".join(parts[-k:]))
    return names


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: evaluate every checkpoint, then write the table and the plot."""
    p = argparse.ArgumentParser(prog="python -m train.curve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", type=Path, help="inference checkpoints of one run")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--full", action="store_true", help="full evaluation sizes instead of --quick")
    args, evaluate_args = p.parse_known_args(argv)
    if len({c.resolve() for c in args.checkpoints}) < len(args.checkpoints):
        p.error("a checkpoint is given twice")
    rows = []
    for i, (ckpt, name) in enumerate(zip(args.checkpoints, output_names(args.checkpoints), strict=True)):
        print(f"[{i + 1}/{len(args.checkpoints)}] {ckpt}", file=sys.stderr)
        out = args.out / name
        code = evaluate.main([str(ckpt), "--out", str(out), "--no-progress", *([] if args.full else ["--quick"]),
                              *evaluate_args])
        if code:
            return code
        rows.append(row(json.loads((out / "metrics.json").read_text())))
    rows.sort(key=lambda r: (r["minutes"], r["steps"] or 0))
    command = "python -m train.curve " + " ".join(argv if argv is not None else sys.argv[1:])
    (args.out / "curve.md").write_text(render_curve(rows, command))
    if len(rows) > 1:
        series = {name: [float(r[name]) if r[name] is not None else float("nan") for r in rows] for name in PLOTTED}
        save_png(plots.line_plot([r["minutes"] for r in rows], series, title="metrics against training time",
                                    xlabel="training minutes", ylabel="value", top=1.0, size=(760, 400)),
                 args.out / "curve.png")
    print(f"wrote {args.out / 'curve.md'}" + (" and curve.png" if len(rows) > 1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
