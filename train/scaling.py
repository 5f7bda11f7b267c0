"""docs/claims/scaling.json: one row per arm x preset x seed x budget of the claims across compute (issue 32),
and `python -m train.scaling`, which makes the page's tables, figures and per-budget verdicts from it.

A row is `{"arm", "preset", "seed", "budget_flops", "train_s", "steps", "images", "precision", "metrics"}`, the
metrics keyed as `train.evaluate` names them. `python -m train.compare` merges its arms' rows into the file
(a row with the same arm, preset, seed and budget is replaced); every reader validates the rows it reads.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

from biglearn.cli import run_main

from . import claims, plateau

FIELDS: dict[str, type | tuple[type, ...]] = {
    "arm": str, "preset": str, "seed": int, "budget_flops": (int, float), "train_s": (int, float), "steps": int,
    "images": int, "precision": str, "metrics": dict}
KEY = ("arm", "preset", "seed", "budget_flops")  # what makes a row the same run


def validate_row(row: Any, where: str = "row") -> dict[str, Any]:
    """`row` if it has exactly FIELDS with their types (numbers finite and not negative); ValueError naming the
    first problem otherwise."""
    if not isinstance(row, dict):
        raise ValueError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
    missing, extra = FIELDS.keys() - row.keys(), row.keys() - FIELDS.keys()
    if missing or extra:
        raise ValueError(f"{where}: missing {sorted(missing)}, unknown {sorted(extra)}" if missing and extra else
                         f"{where}: missing {sorted(missing)}" if missing else f"{where}: unknown {sorted(extra)}")
    for name, kind in FIELDS.items():
        value = row[name]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ValueError(f"{where}: {name} must be {getattr(kind, '__name__', 'a number')}, got {value!r}")
        if isinstance(value, int | float) and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{where}: {name} must be finite and >= 0, got {value!r}")
    return row


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The validated rows of a scaling.json ([] when the file does not exist yet)."""
    if not path.exists():
        return []
    try:
        rows = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(rows, list):
        raise ValueError(f"{path} must hold a list of rows")
    return [validate_row(r, f"{path} row {i}") for i, r in enumerate(rows)]


def merge_rows(path: Path, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write `new` into the file at `path`, replacing rows of the same KEY; returns every row, sorted by KEY."""
    rows = {tuple(r[k] for k in KEY): r for r in read_rows(path)}
    rows.update({tuple(r[k] for k in KEY): validate_row(r) for r in new})
    ordered = [rows[k] for k in sorted(rows, key=lambda k: tuple(str(x) for x in k))]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ordered, indent=1) + "\n")
    return ordered


def make_row(arm: str, preset: str, seed: int, budget_flops: float, info: dict[str, Any],
             metrics: dict[str, Any]) -> dict[str, Any]:
    """A row from a checkpoint's training record (`info` of its inference file) and its train.evaluate metrics."""
    return validate_row({"arm": arm, "preset": preset, "seed": seed, "budget_flops": float(budget_flops),
                         "train_s": float(info.get("train_seconds", 0.0)), "steps": int(info.get("steps", 0)),
                         "images": int(info.get("images_seen", 0)), "precision": str(info.get("precision", "fp32")),
                         "metrics": metrics})


# the claims' measures: name, path in the metrics, label, higher is better
MEASURES = (("vote_acc@0.5", ("complete", "random", "vote_acc@0.5"), "completion as inference, vote acc@0.5", True),
            ("acc@0.5", ("complete", "random", "acc@0.5"), "per-sample completion accuracy acc@0.5", True),
            ("nll@0.5", ("complete", "random", "nll@0.5"), "NLL of the true label at r = 0.5", False),
            ("joint_fd", ("joint", "fd"), "joint FD (generation from nothing)", False),
            ("classifier", ("classify", "acc@1.0"), "own classifier, whole digits", True))
NOISE_PATHS = {"vote acc@0.5": MEASURES[0][1], "acc@0.5": MEASURES[1][1], "own classifier": MEASURES[4][1]}


def measure(metrics: dict[str, Any], path: tuple[str, ...]) -> float | None:
    """The number at `path` in a metrics dict, None where absent (an arm that cannot generate, an older file)."""
    value: Any = metrics
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def mean_metrics(group: list[dict[str, Any]]) -> dict[str, Any]:
    """The metrics of several seeds as one dict: every number the mean over the seeds that have it."""
    first = group[0]
    if isinstance(first, dict):
        return {k: mean_metrics([g[k] for g in group if isinstance(g, dict) and k in g]) for k in first}
    numbers = [g for g in group if isinstance(g, int | float) and not isinstance(g, bool)]
    return statistics.fmean(numbers) if numbers and len(numbers) == len(group) else first


def spread(values: list[float]) -> float:
    """Standard deviation over seeds (0 for one seed)."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def grouped(rows: list[dict[str, Any]]) -> dict[tuple[str, float], dict[str, list[dict[str, Any]]]]:
    """(preset, budget) -> arm -> its rows (one per seed)."""
    out: dict[tuple[str, float], dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        out.setdefault((row["preset"], row["budget_flops"]), {}).setdefault(row["arm"], []).append(row)
    return out


def noise_value(metrics: dict[str, Any], name: str) -> float | None:
    """One seed's value of a noise measure (claims.NOISE_MEASURES): a MEASURES column, or the train-test gap."""
    if name == "gap":
        return claims.gap_at(metrics)
    return measure(metrics, NOISE_PATHS[name])


def seed_noise(arms: dict[str, list[dict[str, Any]]]) -> dict[str, float] | None:
    """Per noise measure, twice the largest standard deviation over seeds among the arms at one budget (at least
    claims.NOISE); None where no arm has two seeds."""
    if all(len(group) < 2 for group in arms.values()):
        return None
    out = {}
    for name in claims.NOISE_MEASURES:
        stds = [spread(vals) for group in arms.values()
                if len(vals := [v for r in group if (v := noise_value(r["metrics"], name)) is not None]) > 1]
        out[name] = max(claims.NOISE, 2 * max(stds)) if stds else claims.NOISE
    return out


def budget_noises(groups: dict[tuple[str, float], dict[str, list[dict[str, Any]]]]
                  ) -> dict[tuple[str, float], tuple[dict[str, float], str]]:
    """Per (preset, budget) the noise its verdicts take and where it comes from: its seeds' spread where every arm
    there has seeds; where one has a single seed, per measure the larger of that and the spread at the nearest budget
    (in log FLOPs) of the same preset whose arms all have seeds, because one seed says nothing of its spread and the
    fixed floor (or another arm's tight seeds) alone would call seed luck a result; never below claims.NOISE."""
    own = {key: seed_noise(arms) for key, arms in groups.items()}
    seeded = {key: own[key] for key, arms in groups.items()
              if own[key] is not None and all(len(group) > 1 for group in arms.values())}
    out: dict[tuple[str, float], tuple[dict[str, float], str]] = {}
    for (preset, budget), noise in own.items():
        others = [b for (p, b) in seeded if p == preset]
        if (preset, budget) in seeded:
            out[(preset, budget)] = (seeded[(preset, budget)], "the seeds' spread")
        elif others:
            near = min(others, key=lambda b: abs(math.log(b / budget)))
            borrowed = seeded[(preset, near)]
            if noise is None:
                out[(preset, budget)] = (borrowed, f"the seeds' spread at {near:.3g} FLOPs")
            else:
                out[(preset, budget)] = ({name: max(noise[name], borrowed[name]) for name in noise},
                                         f"the seeds' spread and, where larger (an arm here has one seed), that "
                                         f"at {near:.3g} FLOPs")
        elif noise is not None:
            out[(preset, budget)] = (noise, "the seeds' spread of the arms that have seeds")
        else:
            out[(preset, budget)] = (claims.fixed_noise(), "the fixed floor: no seeds to measure the spread")
    return out


def budget_verdicts(arms: dict[str, list[dict[str, Any]]], noise: dict[str, float] | None = None
                    ) -> tuple[list[tuple[str, str, str, str]], dict[str, float]]:
    """The claims' verdicts at one budget on the seed means; `noise` from budget_noises, by default this budget's
    own seeds' spread (the fixed floor without seeds)."""
    if noise is None:
        noise = seed_noise(arms) or claims.fixed_noise()
    res = {arm: {**mean_metrics([r["metrics"] for r in group]), "checkpoint_info": {}} for arm, group in arms.items()}
    return claims.verdicts(res, noise=noise), noise


def summary(per_budget: dict[float, dict[str, str]]) -> dict[str, str]:
    """Per claim, from its verdict at each budget (ascending): where it holds, begins to hold, or does not."""
    out: dict[str, str] = {}
    budgets = sorted(per_budget)
    for claim in dict.fromkeys(c for b in budgets for c in per_budget[b]):
        seen = [(b, per_budget[b].get(claim, "not measured")) for b in budgets]
        holds = [b for b, v in seen if v == "holds"]
        if holds and len(holds) == len(seen):
            out[claim] = "holds at every budget measured"
        elif holds and all(v == "holds" for b, v in seen if b >= holds[0]):
            out[claim] = f"begins to hold at {holds[0]:.3g} FLOPs and holds above"
        elif holds:
            out[claim] = "mixed: holds at " + ", ".join(f"{b:.3g}" for b in holds) + " FLOPs only"
        elif all(v == "does not hold" for _, v in seen):
            out[claim] = f"does not hold at any budget measured (up to {budgets[-1]:.3g} FLOPs)"
        else:
            kinds = {v.replace(" at this budget", ""): [f"{b:.3g}" for b, w in seen if w == v]
                     for v in dict.fromkeys(v for _, v in seen)}
            out[claim] = (f"not shown at any budget measured (up to {budgets[-1]:.3g} FLOPs): "
                          + "; ".join(f"{v} at {', '.join(bs)}" for v, bs in kinds.items()))
    return out


def figure(rows: list[dict[str, Any]], path: tuple[str, ...], label: str, out: Path) -> None:
    """One measure against counted training FLOPs (log x): per preset and arm, the seed mean and its +- std bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    lines = {}
    for row in rows:
        value = measure(row["metrics"], path)
        if value is not None:
            lines.setdefault((row["preset"], row["arm"]), {}).setdefault(row["budget_flops"], []).append(value)
    arms = sorted({r["arm"] for r in rows})  # from every row: the same colour in a figure where an arm has no value
    presets = sorted({r["preset"] for r in rows})
    for (preset, arm), points in sorted(lines.items()):
        xs = sorted(points)
        mean = [statistics.fmean(points[x]) for x in xs]
        std = [spread(points[x]) for x in xs]
        # one colour an arm and one line style a preset in every figure; bars: +- std over seeds
        ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3, color=f"C{arms.index(arm)}",
                    linestyle=("-", "--", ":")[presets.index(preset) % 3], label=f"{arm} ({preset})")
    ax.set_xscale("log")
    ax.set_xlabel("counted training FLOPs")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    if lines:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def measure_cells(group: list[dict[str, Any]]) -> list[str]:
    """Each claim measure of one arm's rows: the mean over its seeds, +- their std where there are several."""
    cells = []
    for _, path, _, _ in MEASURES:
        values = [v for r in group if (v := measure(r["metrics"], path)) is not None]
        cells.append("–" if not values else f"{statistics.fmean(values):.3f}"
                     + (f" ± {spread(values):.3f}" if len(values) > 1 else ""))
    return cells


def verdict_table(rules: list[tuple[str, str, str, str]]) -> list[str]:
    """The claims' verdicts as table lines, or a sentence where no claim has both arms it compares (never an empty
    table)."""
    if not rules:
        return ["No claim can be judged here: none has both of the arms it compares at this budget.", ""]
    return ["| claim | measured | verdict |", "| --- | --- | --- |",
            *[f"| {c} | {m} | **{v}** |" for c, _, m, v in rules], ""]


def convergence_noise(preset: str, chosen: dict[str, tuple[float, bool, list[dict[str, Any]]]],
                      noises: dict[tuple[str, float], tuple[dict[str, float], str]]) -> tuple[dict[str, float], str]:
    """The noise of the verdicts at convergence and where it comes from: the seeded rows' own spread; an arm with
    one seed says nothing of its spread, so where one is among them each measure takes the larger of that and the
    noise the one-seed arm's budget takes (budget_noises), lest the specialists' tight seeds make one seed's luck a
    result."""
    own = seed_noise({arm: group for arm, (_, _, group) in chosen.items() if len(group) > 1})
    lone = sorted({budget for budget, _, group in chosen.values() if len(group) < 2})
    parts = ([own] if own is not None else []) + [noises[(preset, budget)][0] for budget in lone]
    noise = {name: max(part[name] for part in parts) for name in parts[0]}
    lone_text = "; ".join(f"for the one-seed rows at {budget:.3g} FLOPs, {noises[(preset, budget)][1]}"
                          for budget in lone)
    if own is None:
        return noise, lone_text
    source = "twice the largest std over seeds of the rows below"
    return noise, f"for each, the largest of: {source}; {lone_text}" if lone else f"for each, {source}"


def convergence(rows: list[dict[str, Any]], largest: dict[tuple[str, str], tuple[float, bool]]) -> list[str]:
    """The section at convergence: per preset, every arm at its largest budget (plateau.largest_budgets), whether its
    validation curves reached their plateau there, its seeds' test metrics and the claims' verdicts between them, the
    noise their seeds' spread; an arm still improving there makes the verdicts provisional."""
    groups = grouped(rows)
    noises = budget_noises(groups)
    lines: list[str] = []
    for preset in sorted({p for p, _ in largest}):
        chosen = {arm: (budget, reached, group) for (p, arm), (budget, reached) in sorted(largest.items())
                  if p == preset and (group := groups.get((preset, budget), {}).get(arm))}
        # big learning's variants (incomplete data, no communication) are judged against big learning itself: only
        # at its budget, never across budgets
        unequal = sorted(arm for arm in chosen if arm.startswith("biglearn-") and "biglearn" in chosen
                         and chosen[arm][0] != chosen["biglearn"][0])
        chosen = {arm: value for arm, value in chosen.items() if arm not in unequal}
        if not chosen:
            continue
        arms = {arm: group for arm, (_, _, group) in chosen.items()}
        noise, source = convergence_noise(preset, chosen, noises)
        rules, noise = budget_verdicts(arms, noise)
        short = sorted(arm for arm, (_, reached, _) in chosen.items() if not reached)
        lines += [f"### {preset} at convergence", "",
                  "Each arm at the largest budget it was trained for, scored on the test set, and whether its "
                  "validation curves reached their plateau there (see the plateau curves below). The arms' compute "
                  "may differ (equal compute is the per-budget sections' comparison). Noise: "
                  f"{claims.noise_text(noise)}; {source}.",
                  ""]
        if unequal:
            lines += [f"Not here: {', '.join(unequal)}, trained to smaller budgets than big learning (up to "
                      + ", ".join(f"{largest[(preset, arm)][0]:.3g}" for arm in unequal) + " FLOPs); the claims that "
                      "compare them with it are in the per-budget sections.", ""]
        if short:
            lines += [f"**Provisional**: still improving at its largest budget: {', '.join(short)}; the verdicts "
                      f"that involve {'it' if len(short) == 1 else 'them'} may change with more compute.", ""]
        lines += [*verdict_table(rules),
                  "| arm | FLOPs | plateau reached | seeds | steps | "
                  + " | ".join(label for _, _, label, _ in MEASURES) + " |",
                  "| --- | ---: | --- | ---: | ---: |" + " ---: |" * len(MEASURES)]
        lines += [f"| {arm} | {budget:.3g} | {'yes' if reached else '**no**'} | {len(group)} | {group[0]['steps']} | "
                  + " | ".join(measure_cells(group)) + " |" for arm, (budget, reached, group) in chosen.items()]
        lines.append("")
    return ["## At convergence", "", *lines] if lines else []


def render(rows: list[dict[str, Any]], figures: dict[str, str], command: str,
           plateaus: list[str] | None = None,
           largest: dict[tuple[str, str], tuple[float, bool]] | None = None) -> str:
    """The page: how it was made, per claim where it holds, per (preset, budget) the verdicts and the table."""
    lines = ["# The claims across compute", "", "Made from `docs/claims/scaling.json` by:", "", "```bash", command,
             "```", ""]
    groups = grouped(rows)
    by_preset: dict[str, dict[float, dict[str, str]]] = {}
    sections = []
    noises = budget_noises(groups)
    for (preset, budget), arms in sorted(groups.items()):
        rules, noise = budget_verdicts(arms, noises[(preset, budget)][0])
        by_preset.setdefault(preset, {})[budget] = {c: v.split(" (")[0] for c, _, _, v in rules}
        seeds = max(len(g) for g in arms.values())
        sections += [f"### {preset} at {budget:.3g} FLOPs ({seeds} seed(s))", "",
                     f"Noise ({noises[(preset, budget)][1]}): {claims.noise_text(noise)}.", "",
                     *verdict_table(rules),
                     "| arm | steps | images | train s | precision | "
                     + " | ".join(label for _, _, label, _ in MEASURES) + " |",
                     "| --- | ---: | ---: | ---: | --- |" + " ---: |" * len(MEASURES)]
        for arm, group in sorted(arms.items()):
            sections.append(f"| {arm} | {group[0]['steps']} | {group[0]['images']} | "
                            f"{statistics.fmean(r['train_s'] for r in group):.0f} | "
                            + ", ".join(f"{r['precision']} (s{r['seed']})" if len(group) > 1 else r["precision"]
                                        for r in sorted(group, key=lambda r: r["seed"])) + " | "
                            + " | ".join(measure_cells(group)) + " |")
        sections.append("")
    lines += ["## Where each claim holds", ""]
    for preset, per_budget in sorted(by_preset.items()):
        budgets = sorted(per_budget)
        lines += [f"**{preset}** (the verdict at each budget in counted training FLOPs, then across them)", "",
                  "| claim | " + " | ".join(f"{b:.3g}" for b in budgets) + " | across the budgets |",
                  "| --- |" + " --- |" * len(budgets) + " --- |",
                  *[f"| {c} | " + " | ".join(per_budget[b].get(c, "not measured") for b in budgets) + f" | {v} |"
                    for c, v in summary(per_budget).items()], ""]
    lines += convergence(rows, largest or {})
    lines += ["## Against compute", ""] + [f"![{name}]({file})" for name, file in figures.items()] + [""]
    lines += plateaus or []
    lines += ["## Per budget", "", "Each verdict is unclear where its difference is within the noise of its measure: "
              "twice the largest standard deviation over seeds of that measure among the arms at the budget, at least "
              f"{claims.NOISE}.", ""]
    return "\n".join(lines + sections)


def main(argv: list[str] | None = None) -> int:
    """`python -m train.scaling`: the page and its figures from scaling.json."""
    def run(argv: list[str] | None) -> None:
        p = argparse.ArgumentParser(prog="python -m train.scaling", description=__doc__.splitlines()[0])
        p.add_argument("--rows", type=Path, default=Path("docs/claims/scaling.json"), help="the rows to read")
        p.add_argument("--doc", type=Path, default=Path("docs/claims/scaling.md"),
                       help="the page to write (its figures beside it)")
        p.add_argument("--curves", type=Path, default=Path("docs/claims/curves"),
                       help="the plateau curves docs/claims/continue.sh scored (STAGE/ARM/curve.png)")
        args = p.parse_args(argv)
        rows = read_rows(args.rows)
        if not rows:
            raise ValueError(f"{args.rows} holds no rows yet: run python -m train.compare --budget-flops first")
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, path, label, _ in MEASURES:
            target = args.doc.parent / f"scaling_{name.replace('@', '_')}.png"
            figure(rows, path, label, target)
            files[name] = target.name
        command = "python -m train.scaling " + " ".join(argv if argv is not None else sys.argv[1:])
        plateaus, largest = [], {}
        if args.curves.is_dir():
            plateaus = plateau.section(args.curves, args.doc.parent.resolve())
            largest = plateau.largest_budgets(args.curves)
        args.doc.write_text(render(rows, files, command.strip(), plateaus, largest))
        print(f"wrote {args.doc} and {len(files)} figures", file=sys.stderr)

    return run_main(run, argv)


if __name__ == "__main__":
    sys.exit(main())
