"""Keep a scored plateau curve small and free of this machine's paths: python docs/claims/tidy_curves.py RUNS DIR.

In DIR (docs/claims/curves/STAGE/ARM, as train.curve wrote it) the figures of each scored snapshot are deleted
(curve.png, the metrics.json and report.md of every snapshot stay: about 20 KB an arm instead of 3 MB), and the
run folder RUNS is written as `RUNS/` in the text files, as docs/claims/scaling.json names checkpoints.
"""

import sys
from pathlib import Path


def main(runs: Path, folder: Path) -> None:
    prefix = str(runs.resolve()) + "/"
    for figure in folder.glob("*/*.png"):
        figure.unlink()
    for text in [*folder.glob("*.md"), *folder.glob("*/*.md"), *folder.glob("*/*.json")]:
        body = text.read_text()
        if prefix in body:
            text.write_text(body.replace(prefix, "RUNS/"))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
