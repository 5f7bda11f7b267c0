"""The bundled checkpoint's pass/fail targets (issue 12, which raised issue 4's) and their plain-text table."""

from __future__ import annotations

import math

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
