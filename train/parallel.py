"""Training several runs side by side, each `python -m train` process on its share of the cores, one log each.

Used by the claims comparison (`train.compare`) and the recipe sweep (`train.sweep`): both train named runs
at an equal budget, resume the unfinished ones when re-run, and stop at the first run that fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .loop import RESUME_FILE

TRAINER_NAMES = {"mnist-train": "mnist"}  # the trainer's name of a torchvision training set


def trainer_command(data: str, data_root: Path, out: Path, preset: str, seed: int, holdout: int,
                    flags: list[str], resume: bool) -> list[str]:
    """The `python -m train` command line of one run of a comparison or sweep: the shared data, split, preset
    and seed, then the run's own flags (and --resume when continuing)."""
    cmd = [sys.executable, "-m", "train", "--data", TRAINER_NAMES.get(data, data), "--data-root", str(data_root),
           "--out", str(out), "--preset", preset, "--seed", str(seed), "--holdout", str(holdout), *flags]
    return cmd + (["--resume"] if resume else [])


class RunFailed(ValueError):
    """A training run ended with a non-zero exit status."""


def train_in_parallel(names: list[str], runs: Path, command: Callable[[str, bool], list[str]], parallel: int,
                      tag: str, threads: int = 0) -> None:
    """Train `names` (run directories RUNS/NAME), `parallel` at a time, each on `threads` threads (0: cores //
    parallel).

    `command(name, resume)` gives a run's command line; a run whose directory holds a resume file is resumed.
    Each run's output goes to RUNS/NAME/train.log; progress lines `[tag] ...` to stderr."""
    todo = list(names)
    threads = threads or max(1, (os.cpu_count() or 1) // parallel)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    running: list[tuple[str, subprocess.Popen, object]] = []
    root = Path(__file__).resolve().parents[1]
    try:
        while todo or running:
            while todo and len(running) < parallel:
                name = todo.pop(0)
                out = runs / name
                out.mkdir(parents=True, exist_ok=True)
                log = open(out / "train.log", "a")  # noqa: SIM115 - closed when the process ends
                cmd = command(name, (out / RESUME_FILE).exists())
                print(f"[{tag}] training {name} ({threads} thread(s)): {' '.join(cmd[1:])}", file=sys.stderr,
                      flush=True)
                running.append((name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root),
                                log))
            time.sleep(0.2)
            for item in list(running):
                name, proc, log = item
                if proc.poll() is None:
                    continue
                running.remove(item)
                log.close()
                if proc.returncode != 0:
                    tail = (runs / name / "train.log").read_text().strip().splitlines()[-1:]
                    raise RunFailed(f"run {name} failed (exit {proc.returncode}): {' '.join(tail)}; "
                                    f"log: {runs / name / 'train.log'}")
                print(f"[{tag}] {name} done", file=sys.stderr, flush=True)
    finally:  # interrupted (or one run failed): the others stop too, checkpointing on SIGTERM
        for _, proc, log in running:
            proc.terminate()
            proc.wait()
            log.close()
