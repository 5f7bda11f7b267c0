"""docs/claims/continue.sh's carry: what a stage keeps in the tree so that a lost run folder costs no retraining."""

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "claims" / "continue.sh"


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `command` in bash with the script's helper functions (not its stages) defined."""
    helpers = subprocess.run(["sed", "-n", "/^finished() {/,/^}/p;/^carry_arm() {/,/^}/p", str(SCRIPT)],
                             capture_output=True, text=True, check=True).stdout
    assert "carry_arm()" in helpers and "finished()" in helpers
    return subprocess.run(["bash", "-c", f"set -euo pipefail\n{helpers}\n{command}"], cwd=cwd,
                          capture_output=True, text=True)


def arm(folder: Path, stopped_by: str) -> Path:
    folder.mkdir(parents=True)
    for name in ("model.safetensors", "metrics.jsonl", "flops.json", "resume.safetensors"):
        (folder / name).write_text(name)
    (folder / "train.log").write_text(f'run directory /machine/runs/x\nstep 10/10\n{{"stopped_by": "{stopped_by}"}}\n')
    return folder


def test_a_finished_arm_is_carried_with_its_log_and_without_a_stale_resume_file(tmp_path):
    arm(tmp_path / "run" / "done", "steps")
    carry = tmp_path / "carry" / "done"
    carry.mkdir(parents=True)
    (carry / "resume.safetensors").write_text("the state of an earlier keep, before the arm finished")
    result = shell("carry_arm run/done carry/done; finished carry/done && echo finished", tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in carry.iterdir()) == ["flops.json", "metrics.jsonl", "model.safetensors",
                                                       "train.log"]
    assert result.stdout.strip() == "finished"  # a restored finished arm counts as one (a source to go on from)
    assert (carry / "train.log").read_text() == '{"stopped_by": "steps"}\n'  # no machine paths in the tree


def test_an_unfinished_arm_is_carried_with_its_resume_file_and_not_called_finished(tmp_path):
    arm(tmp_path / "run" / "stopped", "signal")
    result = shell('carry_arm run/stopped carry/stopped "$(finished run/stopped || echo resume)";'
                   "finished carry/stopped || echo unfinished", tmp_path)
    assert result.returncode == 0, result.stderr
    carried = tmp_path / "carry" / "stopped"
    assert (carried / "resume.safetensors").read_text() == "resume.safetensors"
    assert not (carried / "train.log").exists()  # a source state's log would call the next stage's arm finished
    assert result.stdout.strip() == "unfinished"
