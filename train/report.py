"""The Markdown report of an evaluation (`report.md` beside `metrics.json` and the figures it shows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

FIGURES = (
    ("fig3_ratio_sweep.png", "Paper Fig. 3: rows are test digits, columns give the model a growing share r = 0 to 0.9 "
                             "of the patches (kept patches outlined; random, then raster-first sources); the last "
                             "column is the real image."),
    ("fig4_seeds.png", "Paper Fig. 4: various random sources S (r = 0.25) with one seed, then one source with "
                       "eight seeds."),
    ("fig5_abused.png", "Paper Fig. 5: abused sources (relocated, duplicated, mixed and out-of-domain patches), "
                        "the source first, then six seeds."),
    ("joint_samples.png", "Joint generation p(x), S = ∅."),
    ("conditional_samples.png", "Class-conditional generation p(x | y), one row per class."),
    ("acc_vs_r.png", "Completion accuracy against the source ratio r."),
    ("div_vs_r.png", "Diversity across seeds inside T against the source ratio r."),
    ("fd_vs_r.png", "Fréchet distance of the completions against the source ratio r."),
)


def number(value: Any, digits: int = 3) -> str:
    """A metric as text: floats rounded, lists of floats bracketed, None as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(number(v, digits) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(header: Sequence[str], rows: list[Sequence[Any]]) -> list[str]:
    """A Markdown table (first column left-aligned, the others right-aligned; pipes in cells escaped)."""
    def row_line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    lines = [row_line(header), "| --- |" + " ---: |" * (len(header) - 1)]
    lines += [row_line([number(v) if i else str(v) for i, v in enumerate(row)]) for row in rows]
    return lines


def render_report(result: dict[str, Any], ratios: Sequence[float], command: str) -> str:
    """The whole report: how it was made, the targets, every section's numbers and the figures."""
    info = result.get("checkpoint_info") or {}
    lines = ["# Evaluation of " + f"`{result.get('checkpoint', '?')}`", "",
             f"Made by `{command}` on {result.get('data', '?')}; sizes: "
             + ", ".join(f"{k} {v}" for k, v in (result.get("sizes") or {}).items()) + ".", ""]
    if info:
        facts = [(k, v) for k, v in info.items() if not isinstance(v, dict)]
        lines += table(["checkpoint fact", "value"], facts) + [""]
    clf = result.get("eval_classifier") or {}
    if clf.get("test_accuracy") is not None:
        lines += [f"The evaluation classifier (a CNN fitted on MNIST train) scores {clf['test_accuracy']:.4f} on "
                  "the MNIST test set.", ""]
    lines += ["## Targets", ""]
    lines += table(["target", "measured", "required", "met"],
                   [(t["target"], t["value"], t["required"], "yes" if t["pass"] else "**no**")
                    for t in result.get("targets", [])]) + [""]
    j = result["joint"]
    lines += ["## Joint generation (S = ∅)", ""]
    lines += table(["n", "FD", "FD floor (train vs test)", "classes present", "entropy (max)", "mean confidence"],
                   [(j["n"], j["fd"], j["fd_train_vs_test"], j["classes_present"],
                     f"{j['entropy']:.3f} ({j['entropy_max']:.3f})", j["mean_confidence"])])
    lines += ["", "Class fractions 0-9: " + number(j["class_fractions"]), ""]
    c = result["complete"]
    lines += ["## Completion p(x_T | x_S)", "",
              f"{c['n']} test digits per ratio; diversity over {c['div_seeds']} seeds of {c['div_images']} digits, "
              f"inside T. FD floor (train vs test, same n): {number(c['fd_train_vs_test'])}.", ""]
    for mode, what in (("random", "random patches"), ("first", "the first r-portion in raster order")):
        rows = [(f"r = {r}", c[mode][f"source_patches@{r}"], c[mode][f"acc@{r}"], c[mode][f"fd@{r}"],
                 c[mode][f"div@{r}"]) for r in ratios]
        lines += [f"Source: {what}.", ""] + table(["ratio", "|S|", "acc", "FD", "div"], rows) + [""]
    cond, cls = result.get("conditional", {}), result.get("classify", {})
    if "accuracy" in cond:
        lines += ["## Class-conditional generation and the model's own classifier", ""]
        lines += table(["measure", "value"], [
            ("p(x | y): fraction classified as the asked class", cond["accuracy"]),
            ("per class 0-9", cond["per_class"]),
            ("p(y | x), full images: accuracy", cls.get("acc@1.0")),
            ("p(y | x_S), random half of the patches: accuracy", cls.get("acc@0.5"))]) + [""]
    a = result.get("abused", {})
    if a:
        lines += ["## Abused sources (paper 4.2)", "",
                  f"Mean evaluation-classifier confidence of the completions ({a['n']} digits each; real test "
                  f"digits: {number(a['real_test_confidence'])}).", ""]
        lines += table(["source", "|S|", "mean confidence"],
                       [(k, v["source_patches"], v["mean_confidence"]) for k, v in a.items() if isinstance(v, dict)])
        lines += [""]
    lines += ["## Figures", ""]
    for name, caption in FIGURES:
        if name in result.get("figures", []):
            lines += [f"{caption}", "", f"![{name}]({name})", ""]
    return "\n".join(lines).rstrip() + "\n"
