"""The bf16 quality-parity table of docs/performance.md from the six runs' validation metrics in this folder.

    python docs/perf/bf16-parity-2026-12-06/parity_table.py docs/perf/bf16-parity-2026-12-06
"""

import json
import sys
from pathlib import Path

COLUMNS = (("acc@0.5", ("complete", "random", "acc@0.5")), ("vote acc@0.5", ("complete", "random", "vote_acc@0.5")),
           ("joint FD", ("joint", "fd")), ("own classifier (whole)", ("classify", "acc@1.0")),
           ("own classifier (half)", ("classify", "acc@0.5")))
GROUPS = (("from scratch, 3,000 steps", ("fp32-s0", "fp32-s1", "bf16-s0")),
          ("continued from docs/results/label-w4/carry_0010140, 1,000 steps",
           ("cont-fp32-s0", "cont-fp32-s1", "cont-bf16-s0")))


def value(metrics: dict, path: tuple[str, ...]) -> float:
    for key in path:
        metrics = metrics[key]
    return float(metrics)


def main(root: Path) -> None:
    for title, runs in GROUPS:
        found = {r: json.loads((root / r / "val-metrics.json").read_text()) for r in runs}
        print(f"\n**{title}**\n")
        print("| run | precision | seed | train s | " + " | ".join(c for c, _ in COLUMNS) + " |")
        print("| --- | --- | ---: | ---: |" + " ---: |" * len(COLUMNS))
        for run, m in found.items():
            info = m["checkpoint_info"]
            print(f"| {run} | {info.get('precision', 'fp32')} | {info['train_config']['seed']} | "
                  f"{info['train_seconds']:.0f} | " + " | ".join(f"{value(m, p):.4g}" for _, p in COLUMNS) + " |")
        f0, f1, b = (found[r] for r in runs)
        print("\n| measure | bf16 - fp32 seed 0 | fp32 seed 1 - seed 0 | within the seeds' spread |")
        print("| --- | ---: | ---: | --- |")
        for name, path in COLUMNS:
            d, spread = value(b, path) - value(f0, path), value(f1, path) - value(f0, path)
            print(f"| {name} | {d:+.4g} | {spread:+.4g} | {'yes' if abs(d) <= abs(spread) else 'no'} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
