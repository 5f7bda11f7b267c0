"""docs/claims/scaling.json: one row per arm x preset x seed x budget of the claims across compute (issue 32).

A row is `{"arm", "preset", "seed", "budget_flops", "train_s", "steps", "images", "precision", "metrics"}`, the
metrics keyed as `train.evaluate` names them. `python -m train.compare` merges its arms' rows into the file
(a row with the same arm, preset, seed and budget is replaced); every reader validates the rows it reads.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

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
