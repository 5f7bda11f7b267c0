"""One training process per run directory: a lock held for the run's life, so that a second trainer started on the
same `--out` (a scheduler's lane and a hand-started resume, say) stops with a clear error instead of interleaving
its metrics log and checkpoints with the first's."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = ".train.lock"


class RunBusy(RuntimeError):
    """Another process is training in this run directory."""


@contextlib.contextmanager
def run_directory_lock(out: Path) -> Iterator[None]:
    """Hold OUT/.train.lock (an advisory flock, released by the system when the process dies, so a crash leaves no
    stale lock) while the block runs; RunBusy naming the holder's pid where another process holds it."""
    path = Path(out) / LOCK_FILE
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunBusy(f"{out} is being trained by another process (pid {holder}); wait for it to end or stop "
                          "it (SIGTERM saves a checkpoint) before starting another run there") from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
