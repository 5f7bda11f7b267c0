"""The tree's contract (docs/architecture.md): the library imports no UI, and the suite leaves the tree alone."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_biglearn_imports_no_gradio():
    code = ("import sys, biglearn, biglearn.sims, biglearn.sims.gmm25, biglearn.sims.gan2d, biglearn.figures\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('gradio', 'gradio_client', 'webapp', "
            "'train', 'bench')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_app_package_holds_the_app():
    assert not (ROOT / "biglearn" / "app_support.py").exists() and not (ROOT / "biglearn" / "widgets.py").exists()
    names = {p.name for p in (ROOT / "webapp").iterdir()}
    assert {"handlers.py", "layout.py", "widgets.py", "painter.js", "pad.js", "canvas.css"} <= names
