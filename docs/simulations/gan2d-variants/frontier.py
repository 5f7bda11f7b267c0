"""Modes at equal sharpness, read off the gan2d curves: python frontier.py FULL_METRICS [VARIANT_METRICS ...].

Every arm covers most modes early and loses some as its samples sharpen, so the count of modes at one step
favours the arm that sharpens slowest. This table compares arms at the same sharpness instead: for each level
of the high-quality share, the first step at which an arm's mean over seeds reaches it, and the arm's mean modes
over the five evaluations around that step (2,000 steps either side).
"""

import json
import statistics
import sys
from pathlib import Path

LEVELS = (0.3, 0.4, 0.5, 0.6, 0.7)


def at_levels(curves: dict, arm: str) -> list[str]:
    """One cell per level: "modes (step)", or "not reached"."""
    steps = curves["iterations"]
    quality = [statistics.mean(v) for v in curves[arm]["quality"]]
    modes = [statistics.mean(v) for v in curves[arm]["modes"]]
    cells = []
    for level in LEVELS:
        k = next((i for i in range(1, len(steps)) if quality[i] >= level), None)  # step 0: all samples at the origin
        cells.append("not reached" if k is None else
                     f"{statistics.mean(modes[max(1, k - 2):k + 3]):.1f} ({steps[k]:,})")
    return cells


def main(full: Path, variants: list[Path]) -> None:
    print("| run | seeds | " + " | ".join(f"modes at {level:.0%} high quality (step)" for level in LEVELS) + " |")
    print("| --- | ---: |" + " ---: |" * len(LEVELS))
    m = json.loads(full.read_text())
    for arm in m["arms"]:
        share = " (joint share 0.2)" if arm == "biglearn" else ""
        print(f"| {arm}{share}, full run ({m['config']['steps']:,} steps) | {m['seeds']} | "
              + " | ".join(at_levels(m["curves"], arm)) + " |")
    for path in variants:
        v = json.loads(path.read_text())
        share = v["config"]["joint_share"]
        mix = "the default mix (0.2)" if share is None else f"{share:g}"
        print(f"| biglearn, joint share {mix}, {v['config']['steps']:,} steps | {v['seeds']} | "
              + " | ".join(at_levels(v["curves"], "biglearn")) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])
