"""The trainer end to end on a tiny fixture: checkpoints, samples, resume, SIGKILL, incomplete data, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import biglearn
from train import cli, loop
from train.loop import INFERENCE_FILE, METRICS_FILE, RESUME_FILE
from webapp.headless import free_port

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "tests" / "fixtures" / "digits200.npz"
FAST = ["--preset", "smoke", "--log-every", "1", "--probe-every", "0", "--sample-every", "0"]


def train(out: Path, *extra: str, data: Path | str = DIGITS) -> int:
    return cli.main(["--data", str(data), "--out", str(out), *FAST, *extra])


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]


def test_short_run_writes_loadable_checkpoints_and_samples(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["--data", str(DIGITS), "--out", str(out), "--preset", "smoke", "--steps", "20",
                     "--log-every", "10", "--probe-every", "10", "--sample-every", "10"]) == 0
    m = biglearn.load(out / INFERENCE_FILE)
    assert m.info["steps"] == 20 and m.config.num_classes == 10
    samples = m.complete(torch.rand(2, 1, 28, 28), torch.zeros(2, 49, dtype=torch.bool), seeds=[1, 2])
    assert samples.shape == (2, 2, 1, 28, 28)
    pngs = sorted(p.name for p in (out / "samples").glob("*.png"))
    assert pngs == ["0000010_ratios.png", "0000010_seeds.png", "0000020_ratios.png", "0000020_seeds.png"]
    assert Image.open(out / "samples" / pngs[0]).size[0] > 28 * 10
    log = metrics(out)
    assert [r["step"] for r in log] == [1, 10, 20]  # the first step of a session is logged at once
    assert "div@0.1" in log[1] and "joint_classes" in log[1] and log[1]["images_per_s"] > 0


def test_resume_equals_uninterrupted(tmp_path):
    assert train(tmp_path / "a", "--steps", "6") == 0
    assert train(tmp_path / "b", "--steps", "3") == 0
    assert train(tmp_path / "b", "--steps", "6", "--resume") == 0
    a, b = load_file(tmp_path / "a" / RESUME_FILE), load_file(tmp_path / "b" / RESUME_FILE)
    assert a.keys() == b.keys()
    for k in a:
        if not k.startswith("rng"):
            assert torch.equal(a[k], b[k]), k
    losses = lambda out: [{k: v for k, v in r.items() if k not in ("elapsed_s", "images_per_s")}  # noqa: E731
                          for r in metrics(out)]
    assert losses(tmp_path / "a") == losses(tmp_path / "b")


def test_sigkill_then_resume(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "train", "--data", str(DIGITS), "--out", str(out), *FAST,
           "--steps", "100000", "--checkpoint-every", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def steps_logged() -> int:
            log = out / METRICS_FILE
            return len(log.read_text().splitlines()) if log.exists() else 0

        # kill once the run is well under way: a checkpoint exists and two more were due (mid-step or mid-write)
        deadline = time.monotonic() + 60
        while not ((out / RESUME_FILE).exists() and steps_logged() >= 6) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (out / RESUME_FILE).exists()
    step = biglearn.checkpoint.load_resume(out / RESUME_FILE)[2]["step"]
    assert train(out, "--steps", str(step + 2), "--resume") == 0
    assert biglearn.load(out / INFERENCE_FILE).info["steps"] == step + 2
    assert not list(out.glob(".*.tmp"))


def test_a_second_trainer_on_a_busy_run_directory_stops_with_a_clear_error(tmp_path, capsys):
    from train.run_lock import run_directory_lock

    out = tmp_path / "run"
    assert train(out, "--steps", "2") == 0
    before = (out / METRICS_FILE).read_text()
    with run_directory_lock(out):  # as a first trainer still running there holds it
        assert train(out, "--steps", "4", "--resume") == 2
    err = capsys.readouterr().err
    assert f"is being trained by another process (pid {os.getpid()})" in err and "Traceback" not in err
    assert (out / METRICS_FILE).read_text() == before  # the second one touched nothing
    assert train(out, "--steps", "4", "--resume") == 0  # released with its holder: the run goes on
    assert biglearn.load(out / INFERENCE_FILE).info["steps"] == 4


def test_a_run_clears_what_a_killed_writer_left(tmp_path):
    out = tmp_path / "run"
    (out / "snapshots").mkdir(parents=True)
    stale = [out / ".model.safetensors.abc123.tmp", out / "snapshots" / ".model_0000002.safetensors.x1.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    (out / "notes.tmp").write_text("not ours")
    assert train(out, "--steps", "2") == 0
    assert not any(path.exists() for path in stale) and (out / "notes.tmp").exists()


def test_sigterm_saves_and_exits_cleanly(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "train", "--data", str(DIGITS), "--out", str(out), *FAST,
           "--steps", "100000", "--checkpoint-every", "0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / METRICS_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert '"stopped_by": "signal"' in err
    assert biglearn.load(out / INFERENCE_FILE).info["steps"] >= 1


def test_missing_rate_never_feeds_hidden_patches(tmp_path, monkeypatch):
    seen = {"g": 0, "d": 0}
    observed_of: dict[str, torch.Tensor] = {}
    real_batch = loop.Trainer.batch

    def batch(self, step):
        images, labels, observed = real_batch(self, step)
        observed_of["current"] = observed
        assert observed is not None and bool((observed.sum(1) <= 25).all())  # half of 49 hidden
        return images, labels, observed

    def check(kind, mask):
        obs = observed_of["current"].repeat(mask.shape[0] // observed_of["current"].shape[0], 1)
        assert not bool((mask & ~obs).any()), f"{kind} got a hidden patch"
        seen[kind] += 1

    g_fwd = biglearn.UniversalGenerator.forward
    d_fwd = biglearn.UniversalDiscriminator.forward

    def g_forward(self, images, source, noise, labels=None):
        if self.training:
            check("g", source)
        return g_fwd(self, images, source, noise, labels)

    def d_forward(self, images, source, target, labels=None):
        if images.shape[0] % observed_of["current"].shape[0] == 0:
            check("d", source | target)
        return d_fwd(self, images, source, target, labels)

    monkeypatch.setattr(loop.Trainer, "batch", batch)
    monkeypatch.setattr(biglearn.UniversalGenerator, "forward", g_forward)
    monkeypatch.setattr(biglearn.UniversalDiscriminator, "forward", d_forward)
    assert train(tmp_path / "run", "--steps", "5", "--missing-rate", "0.5") == 0
    assert seen["g"] >= 10 and seen["d"] >= 10


def test_folder_with_corrupt_file(tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (40 + i, 50, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    (folder / "broken.png").write_bytes(b"not a png at all")
    with pytest.warns(UserWarning, match="broken.png"):
        assert train(tmp_path / "run", "--steps", "2", data=folder) == 0
    m = biglearn.load(tmp_path / "run" / INFERENCE_FILE)
    assert m.config.num_classes == 0


def test_two_process_gloo_run_stays_in_sync(tmp_path):
    out = tmp_path / "ddp"
    # a clean environment: variables left by other tests in this process (gradio, playwright) must not reach
    # the ranks
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env["OMP_NUM_THREADS"] = "1"
    port = free_port()  # a fixed port fails when anything else holds it
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
           "-m", "train", "--data", str(DIGITS), "--out", str(out), *FAST, "--steps", "4", "--device", "cpu"]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    log = metrics(out)
    assert [r["step"] for r in log] == [1, 2, 3, 4]  # only rank 0 writes
    assert all(r["ranks_in_sync"] for r in log)
    assert biglearn.load(out / INFERENCE_FILE).info["world_size"] == 2


# --- bad input: a clear message, exit code 2, nothing destroyed ------------------------------------

def run_error(capsys, *args) -> str:
    capsys.readouterr()  # drop earlier output
    assert cli.main(list(args)) == 2
    err = capsys.readouterr().err
    assert "\nerror: " in "\n" + err and "Traceback" not in err
    return err


def test_missing_data_source(tmp_path, capsys):
    assert "neither" in run_error(capsys, "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r"), *FAST)


def test_empty_folder_and_unreadable_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert "no image files" in run_error(capsys, "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "r"), *FAST)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"garbage")
    with pytest.warns(UserWarning):
        err = run_error(capsys, "--data", str(bad), "--out", str(tmp_path / "r"), *FAST)
    assert "a.jpg" in err


def test_labels_that_do_not_match_images(tmp_path, capsys):
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.zeros((10, 28, 28), np.uint8), labels=np.zeros(9, np.int64))
    assert "labels" in run_error(capsys, "--data", str(path), "--out", str(tmp_path / "r"), *FAST)


def test_out_dir_with_another_run_and_resume_of_another_config(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out, "--steps", "2") == 0
    before = (out / RESUME_FILE).read_bytes()
    assert "already holds a run" in run_error(capsys, "--data", str(DIGITS), "--out", str(out), *FAST, "--steps", "3")
    err = run_error(capsys, "--data", str(DIGITS), "--out", str(out), *FAST, "--steps", "3", "--resume",
                    "--r1-gamma", "3.0")
    assert "another config" in err
    assert (out / RESUME_FILE).read_bytes() == before


def test_non_finite_loss_stops_and_keeps_last_checkpoint(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert train(out, "--steps", "2") == 0
    before = (out / INFERENCE_FILE).read_bytes()
    real = loop.objectives.generator_losses

    def exploding(*args, **kwargs):
        terms = real(*args, **kwargs)
        terms["g_data"] = terms["g_data"] * float("nan")
        return terms

    monkeypatch.setattr(loop.objectives, "generator_losses", exploding)
    err = run_error(capsys, "--data", str(DIGITS), "--out", str(out), *FAST, "--steps", "4", "--resume")
    assert "'g_data'" in err and "step 2" in err
    assert (out / INFERENCE_FILE).read_bytes() == before


class RecordingWriter:
    """Stands in for TensorBoard's SummaryWriter: keeps what the trainer writes."""

    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int]] = []
        self.closed = False

    def add_scalar(self, key: str, value: float, step: int) -> None:
        self.scalars.append((key, value, step))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_tensorboard_gets_every_logged_scalar(tmp_path, monkeypatch):
    writer = RecordingWriter()
    monkeypatch.setattr(loop, "tensorboard_writer", lambda out: writer)
    out = tmp_path / "tb"
    assert train(out, "--steps", "3") == 0
    logged = {(k, v, r["step"]) for r in metrics(out) for k, v in r.items()
              if k != "step" and not isinstance(v, str | bool)}  # precision and compiled are facts, not scalars
    assert set(writer.scalars) == logged and len(logged) >= 3 * 4
    assert writer.closed


def test_tensorboard_writer_is_none_or_a_summary_writer(tmp_path):
    writer = loop.tensorboard_writer(tmp_path)
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        assert writer is None
    else:
        assert (tmp_path / "tensorboard").is_dir()
        writer.close()


def test_keep_every_keeps_snapshots_of_the_inference_file(tmp_path):
    out = tmp_path / "snaps"
    assert train(out, "--steps", "4", "--checkpoint-every", "2", "--keep-every", "2") == 0
    snaps = sorted(p.name for p in (out / loop.SNAPSHOT_DIR).iterdir())
    assert snaps == ["model_0000002.safetensors", "model_0000004.safetensors"]
    assert biglearn.load(out / loop.SNAPSHOT_DIR / snaps[0]).info["steps"] == 2


def test_keep_every_must_be_a_multiple_of_checkpoint_every(tmp_path, capsys):
    assert train(tmp_path / "bad", "--steps", "4", "--checkpoint-every", "2", "--keep-every", "3") == 2
    assert "--keep-every must be a multiple of --checkpoint-every" in capsys.readouterr().err


def test_checkpoints_record_the_commit_the_run_started_from(tmp_path, monkeypatch):
    calls = iter(["started-here", "committed-later", "committed-later"])
    monkeypatch.setattr(loop, "git_commit", lambda: next(calls))
    out = tmp_path / "commit"
    assert train(out, "--steps", "2", "--checkpoint-every", "1") == 0
    assert biglearn.load(out / INFERENCE_FILE).info["commit"] == "started-here"


def test_disk_full_while_writing_ends_cleanly_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    import errno

    out = tmp_path / "run"
    assert train(out, "--steps", "2") == 0

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(loop, "save_inference", full)
    assert train(out, "--steps", "4", "--checkpoint-every", "2", "--resume") == 2
    err = capsys.readouterr().err
    assert "error: could not write" in err and "(No space left on device)" in err
    assert "the last complete checkpoint" in err and "is step 2" in err and "Traceback" not in err
    assert biglearn.load(out / INFERENCE_FILE).info["steps"] == 2  # the previous files are intact
    assert biglearn.checkpoint.load_resume(out / RESUME_FILE)[2]["step"] == 2


def test_metrics_log_stays_monotonic_after_a_crash_and_resume(tmp_path):
    out = tmp_path / "run"
    assert train(out, "--steps", "4", "--checkpoint-every", "4") == 0
    with open(out / METRICS_FILE, "a") as f:  # what a run that died after step 6, before its next checkpoint, left
        f.write(json.dumps({"step": 5}) + "\n" + json.dumps({"step": 6}) + "\n" + '{"step": 7, "d_to')
    assert train(out, "--steps", "6", "--resume") == 0
    assert [r["step"] for r in metrics(out)] == [1, 2, 3, 4, 5, 6]
    assert "d_total" in metrics(out)[-1]  # the resumed run's own records, not the dead run's


def test_without_a_terminal_the_trainer_prints_progress_lines(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "train", "--data", str(DIGITS), "--out", str(out), "--preset", "smoke",
           "--steps", "40", "--log-every", "50", "--probe-every", "0", "--sample-every", "0", "--progress-every",
           "0.01"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)  # stderr is a pipe here
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [line for line in res.stderr.splitlines() if line.startswith("step ")]
    assert len(lines) >= 2, res.stderr
    assert "/40: " in lines[0] and "img/s" in lines[0] and "d_total" in lines[0] and "ETA" in lines[0]
    assert [r["step"] for r in metrics(out)] == [1]  # the first step is logged at once, not after --log-every


def test_a_real_write_failure_ends_cleanly_and_keeps_the_last_checkpoint(tmp_path):
    """Not a mocked writer: the process may write no file past half a checkpoint (RLIMIT_FSIZE, EFBIG), so the
    safetensors writer itself fails (it reports that as its own error type, not an OSError)."""
    from bench.reliability import disk_full

    result = disk_full(tmp_path)
    assert result["exit_status"] == 2 and not result["traceback"]
    assert result["message"].startswith("error: could not write") and "(File too large)" in result["message"]
    assert "is step 4" in result["message"]
    assert result["previous_intact"] and result["previous_loads"] and not result["temporaries_left"]


def test_more_ranks_than_gpus_is_refused_before_nccl(monkeypatch):
    from train.distributed import init_distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="2 processes but this machine has 1 GPU.*--device cpu"):
        init_distributed(torch.device("cuda"))
