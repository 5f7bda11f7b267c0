"""The gan2d trials' table (Markdown) from each trial's metrics.json: python table.py RUNS_DIR."""

import json
import sys
from pathlib import Path


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def main(runs: Path) -> None:
    print("| trial | arch | batch | lr | betas | R1 | steps | s (1 thread) | µs/seed-step | plain modes (per seed) | "
          "plain high-quality share (per seed) | KL | best quality on the curve after step 0 (step) |")
    print("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- | ---: | --- |")
    for metrics in sorted(runs.glob("*/metrics.json"), key=lambda p: p.stat().st_mtime):
        m = json.loads(metrics.read_text())
        c, arm = m["config"], m["per_arm"]["plain"]
        curve = [mean(v) for v in m["curves"]["plain"]["quality"]]
        # step 0 is left out: an untrained G puts every sample near the origin, which is a mode
        best = max(range(1, len(curve)), key=curve.__getitem__)
        print(f"| {metrics.parent.name} | {c['arch']} | {c['batch']} | {c['lr']:g} | {tuple(c['betas'])} | "
              f"{c['r1_gamma']:g} | {c['steps']} | {m['seconds']:.0f} | {m['us_per_seed_step']:.0f} | "
              f"{mean(arm['modes']):.1f} ({', '.join(f'{v:g}' for v in arm['modes'])}) | "
              f"{mean(arm['quality']):.3f} ({', '.join(f'{v:.3f}' for v in arm['quality'])}) | "
              f"{mean(arm['kl']):.2f} | {curve[best]:.3f} ({m['curves']['iterations'][best]}) |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
