"""`python -m train.sweep`: arms from a file, trained at one budget, scored on the validation split only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from train import sweep

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "tests" / "fixtures" / "digits200.npz"


def common(tmp_path: Path) -> list[str]:
    return ["--runs", str(tmp_path / "runs"), "--doc", str(tmp_path / "sweep.md"), "--data", str(DIGITS),
            "--ood-data", str(DIGITS), "--holdout", "50"]


def test_sweep_quick_trains_scores_on_validation_and_tabulates(tmp_path):
    arms = tmp_path / "arms.json"
    arms.write_text(json.dumps({"base": [], "aug": ["--augment-shift", "2"], "long": ["--time-budget", "25m"]}))
    results = sweep.run(["--quick", "--arms", str(arms), *common(tmp_path)])
    assert set(results) == {"base", "aug", "long"}
    for r in results.values():
        assert r["split"] == "val"  # never the test set
        assert r["checkpoint_info"]["steps"] == 3  # --quick: an arm's own budget gives way
        assert r["checkpoint_info"]["train_config"]["holdout"] == 50
    assert results["aug"]["checkpoint_info"]["train_config"]["augment_shift"] == 2
    rows = [line for line in (tmp_path / "sweep.md").read_text().splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 3 and len({r.count("|") for r in rows}) == 1
    assert any(r.startswith("| aug | `--augment-shift` 2 | 3 |") for r in rows)
    # a second run trains nothing and reuses the scores
    before = (tmp_path / "runs" / "base" / "eval-val" / "metrics.json").stat().st_mtime_ns
    again = sweep.run(["--quick", "--arms", str(arms), *common(tmp_path)])
    assert again["base"] == results["base"]
    assert (tmp_path / "runs" / "base" / "eval-val" / "metrics.json").stat().st_mtime_ns == before


@pytest.mark.parametrize("content, extra, message", [
    ("[1, 2]", [], "non-empty JSON object"),
    ('{"a": "--lr-g 1e-3"}', [], "list of strings"),
    ('{"a": ["--seed", "3"]}', [], "the sweep sets those"),
    ('{"../x": []}', [], "run directory name"),
    ("{not json", [], "not valid JSON"),
    ('{"a": []}', ["--only", "b"], "not in"),
    ('{"a": []}', ["--budget", "0"], "positive --budget"),
])
def test_sweep_refuses_bad_input(tmp_path, capsys, content, extra, message):
    arms = tmp_path / "arms.json"
    arms.write_text(content)
    assert sweep.main(["--arms", str(arms), *common(tmp_path), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_arms_own_budget_is_kept_without_quick():
    s = sweep.Sweep(arms={"a": ["--steps", "7"], "b": []}, data="x.npz", ood_data="y.npz", data_root=Path("."),
                    classifier=Path("c"), runs=Path("r"), doc=Path("d"), preset="mnist-cpu", budget_s=60.0, steps=0,
                    holdout=50, parallel=1, seed=0, sizes=None)
    assert sweep.arm_command(s, "a", False)[-2:] == ["--steps", "7"]
    assert sweep.arm_command(s, "b", True)[-3:] == ["--time-budget", "60.0", "--resume"]
    assert sweep.without_budget(["--lr-g", "1e-3", "--time-budget", "25m", "--steps", "9"]) == ["--lr-g", "1e-3"]


def test_a_failing_arm_is_reported_with_its_log(tmp_path, capsys):
    arms = tmp_path / "arms.json"
    arms.write_text(json.dumps({"bad": ["--lr-decay", "2"]}))
    assert sweep.main(["--quick", "--arms", str(arms), *common(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "run bad failed" in err and "train.log" in err
