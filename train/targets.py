"""The bundled checkpoint's pass/fail targets (issue 12, which raised issue 4's) and their tables.

`python -m train.targets NAME=metrics.json ...` sets candidates side by side: one Markdown row per target, one
column per `train.evaluate` metrics.json, a mark on every miss (docs/results.md's target table).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from biglearn.cli import run_main

from .sections import RATIOS


def check_targets(m: dict) -> list[dict]:
    """The issue's targets for the bundled checkpoint, each with its measured value and pass/fail."""
    rows = []

    def add(name: str, value, required: str, ok: bool) -> None:
        rows.append({"target": name, "value": value, "required": required, "pass": bool(ok)})

    rand = m["complete"]["random"]
    for r, bar_ in ((0.5, 0.92), (0.75, 0.97), (0.9, 0.985)):
        add(f"complete random acc@{r}", rand[f"acc@{r}"], f">= {bar_}", rand[f"acc@{r}"] >= bar_)
    divs = [rand[f"div@{r}"] for r in RATIOS]
    add("complete random div@r strictly decreasing", [round(v, 4) for v in divs], "div@0.1 > ... > div@0.9",
        all(a > b for a, b in zip(divs, divs[1:], strict=False)))
    ratio = divs[0] / divs[-1] if divs[-1] > 0 else (math.inf if divs[0] > 0 else 0.0)  # 0/0: no diversity
    add("complete random div@0.1 / div@0.9", ratio, ">= 3", ratio >= 3)
    add("complete random div@0.1", divs[0], ">= 0.07", divs[0] >= 0.07)
    fd = m["joint"]["fd"]
    add("joint Frechet distance", fd, "<= 10", fd <= 10)
    fr = m["joint"]["class_fractions"]
    add("joint class fractions", [min(fr), max(fr)], "all 10 in [0.05, 0.15]",
        len(fr) == 10 and all(0.05 <= p <= 0.15 for p in fr))
    add("joint mean confidence", m["joint"]["mean_confidence"], ">= 0.95", m["joint"]["mean_confidence"] >= 0.95)
    cond = m["conditional"].get("accuracy")
    add("conditional: asked class", cond, ">= 0.98", cond is not None and cond >= 0.98)
    for key, bar_ in (("acc@1.0", 0.985), ("acc@0.5", 0.93)):
        own = m["classify"].get(key)
        add(f"own classifier {key}", own, f">= {bar_}", own is not None and own >= bar_)
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


def _cell(v) -> str:
    if isinstance(v, list):
        return f"{v[0]:.3f}–{v[1]:.3f}" if len(v) == 2 else " > ".join(f"{x:.3f}" for x in v)
    return "n/a" if v is None else (f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}")


def compare_table(checked: dict[str, list[dict]]) -> str:
    """Markdown: every target (rows) against each named candidate's `check_targets` rows (columns); ✗ marks a
    miss."""
    names = list(checked)
    lines = ["| target | required | " + " | ".join(names) + " |", "| --- | --- |" + " ---: |" * len(names)]
    for i, row in enumerate(checked[names[0]]):
        cells = [_cell(checked[n][i]["value"]) + ("" if checked[n][i]["pass"] else " ✗") for n in names]
        lines.append(f"| {row['target']} | {row['required']} | " + " | ".join(cells) + " |")
    met = [f"{sum(r['pass'] for r in checked[n])} of {len(checked[n])}" for n in names]
    lines.append("| targets met | | " + " | ".join(met) + " |")
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> None:
    """Parse NAME=metrics.json pairs and print their comparison table."""
    p = argparse.ArgumentParser(prog="python -m train.targets", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("candidates", nargs="+", metavar="NAME=metrics.json",
                   help="a column name and a metrics.json written by python -m train.evaluate")
    checked = {}
    for item in p.parse_args(argv).candidates:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"{item!r}: give NAME=metrics.json")
        try:
            checked[name] = check_targets(json.loads(Path(path).read_text()))
        except (json.JSONDecodeError, KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"{path} is not a train.evaluate metrics.json ({type(exc).__name__}: {exc})") from None
    print(compare_table(checked))


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: one-line errors, no tracebacks."""
    return run_main(run, argv)


if __name__ == "__main__":
    sys.exit(main())
