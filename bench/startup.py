"""Start-up time of a fresh process: imports, then the model load, then the first sample.

Runs in a subprocess (a warm interpreter would hide the import cost). With `app=True` and an
`app.py` beside the library, the app module is imported too and its own loader
(`checkpoint_provider`) is used, as the app would at its first request.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .inference import ROOT

SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import torch, biglearn
t1 = time.perf_counter()
app = None
if sys.argv[2] == "app":
    import app
    from webapp.handlers import checkpoint_provider
t2 = time.perf_counter()
provider = checkpoint_provider if app else None
model = provider(sys.argv[1])() if provider else biglearn.load(sys.argv[1])
t3 = time.perf_counter()
c = model.config
model.complete(torch.rand(1, c.channels, c.height, c.width), torch.zeros(1, c.num_patches, dtype=torch.bool), seeds=0)
t4 = time.perf_counter()
print(json.dumps({"import_biglearn_s": t1 - t0, "import_app_s": t2 - t1 if app else None, "load_s": t3 - t2,
                  "first_complete_s": t4 - t3, "loader": "checkpoint_provider" if provider else "biglearn.load"}))
"""


def measure_startup(checkpoint: Path, *, app: bool, runs: int) -> dict[str, Any]:
    """Median over `runs` fresh processes of each start-up phase, plus the whole process's wall time."""
    use_app = app and (ROOT / "app.py").is_file()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", SCRIPT, str(checkpoint), "app" if use_app else "library"],
                             capture_output=True, text=True, cwd=ROOT, timeout=600)
        wall = time.perf_counter() - start
        if out.returncode:
            raise RuntimeError(f"start-up probe failed:\n{out.stderr[-2000:]}")
        samples.append({**json.loads(out.stdout.strip().splitlines()[-1]), "process_s": wall})

    def median(key: str) -> float | None:
        values = sorted(s[key] for s in samples if s[key] is not None)
        return values[len(values) // 2] if values else None

    keys = ("import_biglearn_s", "import_app_s", "load_s", "first_complete_s", "process_s")
    return {"runs": runs, "loader": samples[0]["loader"], "checkpoint": str(checkpoint), **{k: median(k) for k in keys}}
