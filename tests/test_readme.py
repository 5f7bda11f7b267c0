"""The README's library snippet runs as written (from the repository root, on the bundled checkpoint)."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_library_snippet_runs_as_written(monkeypatch):
    text = (ROOT / "README.md").read_text()
    block = text.split("## The library in five lines", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 - our own documentation
    assert tuple(scope["samples"].shape) == (4, 3, 1, 28, 28)
    assert tuple(scope["digits"].shape) == (16, 1, 28, 28) and tuple(scope["probs"].shape) == (4, 10)
    assert os.getcwd() == str(ROOT)
