"""The gan2d variants' table (Markdown) from each run's metrics.json: python table.py RUNS_DIR."""

import json
import statistics
import sys
from pathlib import Path


def spread(values: list[float], digits: int) -> str:
    """mean ± std over seeds (population, as the sims' own tables) (per seed in brackets)."""
    per_seed = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"{statistics.mean(values):.{digits}f} ± {statistics.pstdev(values):.{digits}f} ({per_seed})"


def main(runs: Path) -> None:
    print("| joint share of the tasks | seeds | steps | s (1 thread) | modes (of 25) | high-quality share | "
          "reverse KL | modes at half the steps |")
    print("| ---: | ---: | ---: | ---: | --- | --- | --- | --- |")
    for metrics in sorted(runs.glob("joint-share-*/metrics.json"), key=lambda p: float(p.parent.name.split("-")[-1])):
        m = json.loads(metrics.read_text())
        arm, curves = m["per_arm"]["biglearn"], m["curves"]
        half = curves["iterations"].index(m["config"]["steps"] // 2)
        print(f"| {m['config']['joint_share']:g} | {m['seeds']} | {m['config']['steps']} | {m['seconds']:.0f} | "
              f"{spread(arm['modes'], 1)} | {spread(arm['quality'], 3)} | {spread(arm['kl'], 2)} | "
              f"{spread(curves['biglearn']['modes'][half], 1)} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
