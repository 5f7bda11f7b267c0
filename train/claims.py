"""docs/claims.md from the results of `python -m train.compare`: tables, the figure and rule-based verdicts.

Every verdict comes from a rule stated next to it in the document, applied to the measured numbers, so the
same numbers always give the same verdict and a reader can check it. Differences smaller than `NOISE`
(about the spread of acc@r between neighbouring snapshots of one run, docs/results.md) are called unclear.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .sections import RATIOS

NOISE = 0.01
# the measures whose noise a verdict takes, each its own: one measure's spread over seeds says nothing of another's
NOISE_MEASURES = ("vote acc@0.5", "acc@0.5", "own classifier", "gap")


def fixed_noise() -> dict[str, float]:
    """The floor, NOISE, for every one of NOISE_MEASURES: the noise where no seeds measure a spread."""
    return dict.fromkeys(NOISE_MEASURES, NOISE)


def _get(result: dict, *keys: str) -> Any:
    for k in keys:
        if not isinstance(result, dict) or k not in result:
            return None
        result = result[k]
    return result


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def gap_at(result: dict, r: float = 0.5) -> float | None:
    """Training minus test completion accuracy at source ratio r (random sources)."""
    tr, te = _get(result, "gap", "train", f"acc@{r}"), _get(result, "gap", "test", f"acc@{r}")
    return None if tr is None or te is None else tr - te


def compare_values(a: float | None, b: float | None, higher_is_better: bool = True, noise: float = NOISE) -> str:
    """'holds' when a beats b by more than `noise`, 'does not hold' when b beats a by more, else 'unclear'."""
    if a is None or b is None:
        return "unclear (not measured)"
    d = (a - b) if higher_is_better else (b - a)
    return "holds" if d > noise else "does not hold" if d < -noise else "unclear at this budget"


def noise_text(noise: dict[str, float]) -> str:
    """The noise of each of NOISE_MEASURES, for the page."""
    return ", ".join(f"{name} {noise.get(name, NOISE):.3f}" for name in NOISE_MEASURES)


def verdicts(res: dict[str, dict], noise: dict[str, float] | None = None) -> list[tuple[str, str, str, str]]:
    """(claim, rule, measured, verdict) rows; a difference within the noise of its measure (`noise`, keyed by
    NOISE_MEASURES; at least NOISE) is unclear."""
    big = res.get("biglearn", {})
    tol = lambda measure: max(NOISE, (noise or {}).get(measure, NOISE))  # noqa: E731
    rows = []
    acc = lambda arm: _get(res.get(arm, {}), "complete", "random", "acc@0.5")  # noqa: E731
    fd = lambda arm: _get(res.get(arm, {}), "joint", "fd")  # noqa: E731
    own = lambda arm: _get(res.get(arm, {}), "classify", "acc@1.0")  # noqa: E731

    def vote(arm: str) -> float | None:
        """Completion as inference: the posterior mode of 8 samples (one output for MAE); results written before
        the sampler-fair scores existed fall back to per-sample acc@0.5."""
        found = _get(res.get(arm, {}), "complete", "random", "vote_acc@0.5")
        return acc(arm) if found is None else found
    miss = "biglearn-missing-0.5"
    if miss in res:
        worse = (acc("biglearn") or 0) - (acc(miss) or 0)
        v = "unclear (not measured)" if acc(miss) is None else \
            "holds" if worse <= 0.05 and (fd(miss) or 1e9) <= 2 * (fd("biglearn") or 0) else "does not hold"
        rows.append(("(i) copes with incomplete data", "trained on images with half their patches missing, acc@0.5 "
                     "within 0.05 of complete-data big learning and joint FD at most 2x",
                     f"acc@0.5 {_fmt(acc(miss))} vs {_fmt(acc('biglearn'))}; FD {_fmt(fd(miss), 1)} vs "
                     f"{_fmt(fd('biglearn'), 1)}", v))
    if all(a in res for a in ("joint", "mae", "supervised")):
        parts = [fd("biglearn") is not None and fd("joint") is not None and fd("biglearn") <= 1.1 * fd("joint"),
                 compare_values(vote("mae"), vote("biglearn"), noise=tol("vote acc@0.5")) != "holds",
                 compare_values(own("supervised"), own("biglearn"), noise=tol("own classifier")) != "holds"]
        rows.append(("(ii) every capability at once, as good as the specialists",
                     "one model: joint FD at most 10% above the joint-only GAN's, completion as inference (vote "
                     "acc@0.5: the class most of 8 samples get; MAE's one output) not worse than MAE, own "
                     "classifier not worse than supervised (each by more than the noise)",
                     f"FD {_fmt(fd('biglearn'), 1)} vs {_fmt(fd('joint'), 1)}; vote acc@0.5 {_fmt(vote('biglearn'))} "
                     f"vs {_fmt(vote('mae'))}; classifier {_fmt(own('biglearn'))} vs {_fmt(own('supervised'))}",
                     "holds" if all(parts) else f"does not hold ({3 - sum(parts)} of 3 capabilities behind)"))
    others = {a: gap_at(r) for a, r in res.items() if a not in ("biglearn",) and gap_at(r) is not None}
    if gap_at(big) is not None and others:
        best = min(others, key=lambda a: others[a])
        rows.append(("(iii) a smaller training-test gap", "acc@0.5 on training digits minus on test digits: big "
                     "learning's gap below every other arm's",
                     f"big learning {_fmt(gap_at(big), 4)}; smallest other: {best} {_fmt(others[best], 4)}",
                     compare_values(others[best], gap_at(big), noise=tol("gap"))))
    if "supervised" in res:
        rows.append(("(iv) unifies paradigms: supervised learning is its special case S = L, T = {y}",
                     "the universal model's own classifier reaches the specialist's accuracy (within the noise)",
                     f"{_fmt(own('biglearn'), 4)} vs supervised {_fmt(own('supervised'), 4)}",
                     "holds" if (own("biglearn") or 0) >= (own("supervised") or 1) - tol("own classifier")
                     else "does not hold"))
    if "biglearn-no-comm" in res:
        rows.append(("communication (eq. 5) helps", "acc@0.5 of big learning above the arm without it",
                     f"{_fmt(acc('biglearn'))} vs {_fmt(acc('biglearn-no-comm'))}",
                     compare_values(acc("biglearn"), acc("biglearn-no-comm"), noise=tol("acc@0.5"))))
    if "nearest-neighbour" in res:
        rows.append(("beats the non-learned floor", "acc@0.5 above the nearest training image's",
                     f"{_fmt(acc('biglearn'))} vs {_fmt(acc('nearest-neighbour'))}",
                     compare_values(acc("biglearn"), acc("nearest-neighbour"), noise=tol("acc@0.5"))))
    return rows


def render(res: dict[str, dict], plan: Any, command: str, figure: Path) -> str:
    """The whole Markdown document."""
    arms = list(res)
    budget = f"{plan.budget_flops:.3g} counted training FLOPs" if getattr(plan, "budget_flops", 0) else \
        f"{plan.steps} steps" if plan.steps else f"{plan.budget_s / 60:.0f} minutes of training"
    lines = [
        "# The paper's claims at equal compute", "",
        f"Every arm trained for the same budget ({budget} each, preset `{plan.preset}`, seed {plan.seed}, "
        f"{plan.parallel} arm(s) at a time on {'one thread' if plan.parallel > 1 else 'all threads'} each, the last "
        f"{plan.holdout} training digits held out), then scored once on the test set by `train.evaluate` "
        f"with the same evaluation. Produced by:", "", "```bash", command, "```", "",
        "## Verdicts", "",
        f"Each rule is applied to the numbers below; a difference within {NOISE} is *unclear*.", "",
        "| claim | rule | measured | verdict |", "| --- | --- | --- | --- |"]
    lines += [f"| {c} | {r} | {m} | **{v}** |" for c, r, m, v in verdicts(res)]
    lines += ["", "## Joint, conditional and classifier", "",
              "| arm | training GFLOP | steps | images seen | train s | joint FD | classes present | smallest / "
              "largest class | conditional | own classifier (whole) | own classifier (half) |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for a in arms:
        r = res[a]
        fr = _get(r, "joint", "class_fractions")
        flops = _get(r, "train_flops")
        gflop = "–" if flops is None else f"{flops / 1e9:,.0f}"
        lines.append(f"| {a} | {gflop} | {_fmt(_get(r, 'checkpoint_info', 'steps'))} | "
                     f"{_fmt(_get(r, 'checkpoint_info', 'images_seen'))} | "
                     f"{_fmt(_get(r, 'checkpoint_info', 'train_seconds'))} | {_fmt(_get(r, 'joint', 'fd'), 1)} | "
                     f"{_fmt(_get(r, 'joint', 'classes_present'))} | "
                     f"{'–' if not fr else f'{min(fr):.3f} / {max(fr):.3f}'} | "
                     f"{_fmt(_get(r, 'conditional', 'accuracy'))} | {_fmt(_get(r, 'classify', 'acc@1.0'), 4)} | "
                     f"{_fmt(_get(r, 'classify', 'acc@0.5'), 4)} |")
    for key, name, digits in (("acc", "completion accuracy acc@r", 3), ("fd", "completion Fréchet distance fd@r", 1),
                              ("div", "diversity div@r (std over 8 seeds inside T)", 4),
                              ("vote_acc", "completion as inference: vote acc@r (the class most of 8 samples get; MAE "
                                           "and the floor: their one output)", 3),
                              ("nll", "calibration: NLL of the true label under the 8 samples' class histogram "
                                      "(floor 0.001; lower is better)", 3)):
        lines += ["", f"## {name}, random sources", "", "| arm | " + " | ".join(f"r = {r}" for r in RATIOS) + " |",
                  "| --- |" + " ---: |" * len(RATIOS)]
        lines += [f"| {a} | " + " | ".join(_fmt(_get(res[a], "complete", "random", f"{key}@{r}"), digits)
                                          for r in RATIOS) + " |" for a in arms]
    lines += ["", "## Training-test gap (claim iii)", "",
              "acc@r of completions of training digits the arm was trained on, and of as many test digits "
              "(random sources, same masks and seeds).", "",
              "| arm | " + " | ".join(f"train / test @{r}" for r in RATIOS) + " | gap @0.5 |",
              "| --- |" + " ---: |" * (len(RATIOS) + 1)]
    for a in arms:
        g = res[a].get("gap", {})
        if "train" not in g:
            lines.append(f"| {a} | " + " | ".join("–" for _ in RATIOS) + " | – |")
            continue
        lines.append(f"| {a} | " + " | ".join(f"{g['train'][f'acc@{r}']:.3f} / {g['test'][f'acc@{r}']:.3f}"
                                             for r in RATIOS) + f" | {_fmt(gap_at(res[a]), 4)} |")
    lines += ["", "## The same digits completed by every arm", "", f"![side by side]({figure.as_posix()})", "",
              "Raw numbers: `claims/results.json`; every arm's full report: `RUNS/ARM/eval-test/report.md`.", ""]
    return "\n".join(lines)
