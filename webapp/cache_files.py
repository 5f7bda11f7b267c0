"""Gradio's file cache kept bounded: files and folders of dead runs removed at start-up; empty folders and upload
leftovers removed on a schedule; the whole cache capped in size (oldest first).

Gradio writes every served tile and upload into its cache (GRADIO_TEMP_DIR, else TMP/gradio), each in a folder
of its own. Its own clean-up (`gr.Blocks(delete_cache=...)`) deletes the files this process served once they are
older than their age bound, but leaves every folder and the 0-byte `tmp*` file of each upload, and a server
stopped by SIGTERM or SIGKILL leaves all of it behind. Several servers may share one cache (tests, a second copy
of the app): each live server keeps a marker file with its process's start time, and the start-up clean-up
removes only what is older than the oldest live server's start; the scheduled one removes only what no server
can still want (empty folders and leftovers older than a minute, and the oldest files over the cap).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG = logging.getLogger("biglearn.app")
PROCESS_START = time.time()  # this process's start, near enough: when the app's modules were imported
MARKERS = ".biglearn-servers"
MAX_BYTES = 500 * 2**20  # the cache's cap; a free CPU Space has 50 GB of disk, a laptop less to spare
FOLDER_GRACE_S = 60.0  # an empty folder younger than this may be about to get its file: it stays


@dataclass
class Cleaned:
    """What one clean-up removed and what it left."""

    files: int = 0
    folders: int = 0
    bytes_left: int = 0
    files_left: int = 0


def cache_root() -> Path:
    """The folder Gradio caches files in (as gradio.utils.get_upload_folder finds it)."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


def alive(pid: int) -> bool:
    """Whether a process with this id is running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        return True
    return True


def register(root: Path) -> float:
    """Mark this process as a live server of the cache at `root`, forget dead servers' markers; returns the start
    time of the oldest live server (this one included): files older than it belong to no live server."""
    folder = root / MARKERS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(os.getpid())).write_text(str(PROCESS_START))
    oldest = PROCESS_START
    for marker in folder.iterdir():
        try:
            pid, started = int(marker.name), float(marker.read_text())
        except (ValueError, OSError):
            continue
        if pid != os.getpid() and not alive(pid):
            marker.unlink(missing_ok=True)
        else:
            oldest = min(oldest, started)
    return oldest


def clean(root: Path, *, older_than: float | None = None, max_bytes: int = MAX_BYTES,
          now: float | None = None, grace_s: float = FOLDER_GRACE_S, keep: frozenset[Path] | set[Path] = frozenset(),
          ) -> Cleaned:
    """Remove the cache's files last changed before `older_than` (a time.time() value; None: none by age) and the
    upload leftovers (empty files) older than `grace_s`, then the oldest files until the rest fit in
    `max_bytes`, then the empty folders that it emptied or that are older than `grace_s`. The markers and the
    files in `keep` stay."""
    now = time.time() if now is None else now
    done = Cleaned()
    files = []
    emptied: set[Path] = set()  # folders this clean-up took files from: nobody is about to write there
    for path in root.rglob("*"):
        if MARKERS in path.relative_to(root).parts[:1] or path in keep or not path.is_file():
            continue
        try:
            stat = path.stat()
        except OSError:
            continue
        leftover = stat.st_size == 0 and now - stat.st_mtime >= grace_s
        if (older_than is not None and stat.st_mtime < older_than) or leftover:
            done.files += _remove(path, emptied)
        else:
            files.append((stat.st_mtime, stat.st_size, path))
    files.sort()
    total = sum(size for _, size, _ in files)
    while files and total > max_bytes:
        _, size, path = files.pop(0)
        done.files += _remove(path, emptied)
        total -= size
    for folder in sorted((p for p in root.rglob("*") if p.is_dir() and p.name != MARKERS), key=lambda p: -len(p.parts)):
        try:
            settled = folder in emptied or now - folder.stat().st_mtime >= grace_s
            if settled and not any(folder.iterdir()):
                folder.rmdir()
                done.folders += 1
        except OSError:
            continue
    done.bytes_left, done.files_left = total, len(files)
    return done


def _remove(path: Path, emptied: set[Path]) -> int:
    """Delete one file (1) or leave it (0, already gone or not ours); its folder goes into `emptied`."""
    try:
        path.unlink()
    except OSError:
        return 0
    emptied.add(path.parent)
    return 1


def page_files(blocks: Any) -> set[Path]:
    """The files the components of `blocks` keep in the cache for as long as the server runs (`keep_in_cache`:
    their initial values, examples), which no clean-up may delete whatever their age. (Their `temp_files` sets
    are no guide: they gather every file an event served too.)"""
    keep: set[Path] = set()
    for component in list(blocks.blocks.values()):
        keep.update(Path(f) for f in getattr(component, "keep_in_cache", set()).copy())  # a copy: atomic
    return keep


_STARTED: dict[Path, threading.Thread] = {}


def keep_bounded(root: Path, frequency_s: float, max_bytes: int = MAX_BYTES, grace_s: float = FOLDER_GRACE_S,
                 page_of: Any = None, age_s: float | None = None) -> threading.Thread:
    """At start-up remove what no live server made (a killed run's files too); then every `frequency_s` seconds
    (at least every second) the files older than `age_s` (the page's own excepted: those there at start-up and
    those of `page_of()`, a weak reference to the gr.Blocks), the empty folders and leftovers older than `grace_s`
    and the oldest files over `max_bytes`, on one daemon thread per process and cache; returns the thread.

    The age rule is Gradio's (`delete_cache`), done here because Gradio 6.31 deletes only its components' own
    files that way, never the files its events served (measured: 8 users clicking Complete for 3 minutes left
    1,945 tiles, none deleted, under a 30-second age bound)."""
    if root in _STARTED:
        return _STARTED[root]
    try:
        first = clean(root, older_than=register(root), max_bytes=max_bytes, grace_s=grace_s)
        LOG.info("cache %s at start-up: removed %d files and %d folders of earlier runs", root, first.files,
                 first.folders)
    except OSError as exc:  # an unwritable cache: Gradio will say so itself when it writes there
        LOG.warning("cache %s could not be cleaned at start-up: %s", root, exc)

    at_start = {p for p in root.rglob("*") if p.is_file()}  # the page's files, written before the server started

    def loop() -> None:
        while True:
            time.sleep(max(frequency_s, 1.0))
            try:
                blocks = None if page_of is None else page_of()
                keep = at_start | (set() if blocks is None else page_files(blocks))
                del blocks
                clean(root, max_bytes=max_bytes, grace_s=grace_s, keep=keep,
                      older_than=None if age_s is None else time.time() - age_s)
            except OSError as exc:
                LOG.warning("cache clean-up failed: %s", exc)

    thread = threading.Thread(target=loop, name="biglearn-cache", daemon=True)
    thread.start()
    _STARTED[root] = thread
    return thread
