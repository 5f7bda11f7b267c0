"""The gan2d variants' table (Markdown) from each run's metrics.json: python table.py RUNS_DIR [FULL_METRICS].

Every row reads the curves (2,500 samples per seed) at the last step and at half of it. FULL_METRICS
(docs/simulations/full/gan2d/metrics.json) adds the control: the full run's biglearn arm (the default task mix,
a joint share of 0.2) at the variants' step count."""

import json
import statistics
import sys
from pathlib import Path


def spread(values: list[float], digits: int) -> str:
    """mean ± std over seeds (population, as the sims' own tables) (per seed in brackets)."""
    per_seed = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"{statistics.mean(values):.{digits}f} ± {statistics.pstdev(values):.{digits}f} ({per_seed})"


def row(share: str, seeds: int, steps: int, seconds: str, modes: list[float], quality: list[float],
        kl: list[float], half_modes: list[float]) -> str:
    return (f"| {share} | {seeds} | {steps} | {seconds} | {spread(modes, 1)} | {spread(quality, 3)} | "
            f"{spread(kl, 2)} | {spread(half_modes, 1)} |")


def control(full: Path, steps: int) -> str:
    """The full run's biglearn arm at `steps` (its curves: one value per seed)."""
    m = json.loads(full.read_text())
    curves = m["curves"]
    at, half = curves["iterations"].index(steps), curves["iterations"].index(steps // 2)
    big = curves["biglearn"]
    return row("0.2 (the full run's biglearn arm at this step)", m["seeds"], steps, "–", big["modes"][at],
               big["quality"][at], big["kl"][at], big["modes"][half])


def main(runs: Path, full: Path | None = None) -> None:
    print("| joint share of the tasks | seeds | steps | s (1 thread) | modes (of 25) | high-quality share | "
          "reverse KL | modes at half the steps |")
    print("| ---: | ---: | ---: | ---: | --- | --- | --- | --- |")
    steps = None
    for metrics in sorted(runs.glob("joint-share-*/metrics.json"), key=lambda p: float(p.parent.name.split("-")[-1])):
        m = json.loads(metrics.read_text())
        curves, steps = m["curves"], m["config"]["steps"]
        big, at, half = curves["biglearn"], curves["iterations"].index(steps), curves["iterations"].index(steps // 2)
        share = m["config"]["joint_share"]
        label = "0.2 (the default mix)" if share is None else f"{share:g}"
        print(row(label, m["seeds"], steps, f"{m['seconds']:.0f}", big["modes"][at], big["quality"][at], big["kl"][at],
                  big["modes"][half]))
    if full is not None and steps is not None:
        print(control(full, steps))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
