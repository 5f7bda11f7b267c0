"""Gradio's cache kept bounded (webapp/cache_files.py): a dead run's files, empty folders, leftovers, the cap."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from webapp import cache_files


def old(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def populate(root):
    """A cache as Gradio leaves it: hash folders with files, an empty folder, an upload's 0-byte leftover."""
    for name in ("a1", "b2"):
        (root / name).mkdir(parents=True)
        (root / name / "tile.png").write_bytes(b"x" * 1000)
    (root / "c3").mkdir()
    (root / "tmpabc123").write_bytes(b"")
    return root


def test_start_up_removes_what_no_live_server_made(tmp_path):
    root = populate(tmp_path / "gradio")
    for path in root.rglob("*"):
        old(path, 3600)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    markers = root / cache_files.MARKERS
    markers.mkdir()
    (markers / dead.stdout.strip()).write_text(str(time.time() - 7200))  # a killed server's marker
    cutoff = cache_files.register(root)
    assert cutoff == cache_files.PROCESS_START  # the dead server's start no longer protects anything
    assert not (markers / dead.stdout.strip()).exists() and (markers / str(os.getpid())).exists()
    done = cache_files.clean(root, older_than=cutoff)
    assert done.files == 3 and done.folders == 3
    assert [p.name for p in root.iterdir()] == [cache_files.MARKERS]


def test_a_live_servers_files_survive_another_servers_start(tmp_path):
    root = populate(tmp_path / "gradio")
    markers = root / cache_files.MARKERS
    markers.mkdir()
    (markers / "1").write_text(str(time.time() - 7200))  # pid 1 is alive: an older live server
    for path in root.rglob("*"):
        old(path, 3600)  # made an hour ago, after that server started
    cutoff = cache_files.register(root)
    cache_files.clean(root, older_than=cutoff)
    assert (root / "a1" / "tile.png").exists() and (root / "b2" / "tile.png").exists()
    assert not (root / "tmpabc123").exists() and not (root / "c3").exists()  # leftovers go whoever made them


def test_the_scheduled_clean_up_removes_empty_folders_and_leftovers_and_caps_the_size(tmp_path):
    root = populate(tmp_path / "gradio")
    (root / "d4").mkdir()
    (root / "d4" / "new.png").write_bytes(b"y" * 5000)
    old(root / "c3", 120)
    old(root / "tmpabc123", 120)
    old(root / "a1" / "tile.png", 30)
    old(root / "b2" / "tile.png", 20)
    done = cache_files.clean(root, max_bytes=6000)  # no removal by age: Gradio's own clean-up does that
    assert not (root / "c3").exists() and not (root / "tmpabc123").exists()
    assert not (root / "a1" / "tile.png").exists() and (root / "b2" / "tile.png").exists()  # the oldest first
    assert (root / "d4" / "new.png").exists() and done.bytes_left == 6000 and done.files_left == 2
    assert not (root / "a1").exists()  # emptied by the clean-up itself
    young = root / "e5"  # empty and new: a file may be about to land in it
    young.mkdir()
    cache_files.clean(root)
    assert young.exists()


def test_one_clean_up_thread_per_cache(tmp_path):
    root = tmp_path / "gradio"
    first = cache_files.keep_bounded(root, 600)
    assert cache_files.keep_bounded(root, 1) is first and first.daemon and first.is_alive()


def test_upkeep_timings_come_from_the_environment_and_bad_ones_are_named():
    from webapp.settings import Upkeep

    assert Upkeep.from_env("") == Upkeep()
    short = Upkeep.from_env("cache_every_s=5, cache_age_s=20,folder_grace_s=2")
    assert (short.cache_every_s, short.cache_age_s, short.folder_grace_s) == (5, 20, 2)
    assert short.session_idle_s == Upkeep().session_idle_s
    for bad in ("cache_every_s=0", "cache_every=5", "session_idle_s=soon", "sweep_every_s=-1"):
        with pytest.raises(ValueError, match="BIGLEARN_UPKEEP"):
            Upkeep.from_env(bad)


def test_served_files_past_their_age_go_and_the_pages_own_files_stay(tmp_path):
    """The age rule on every served file: a tile older than the bound goes (though its component's `temp_files`
    names it, as Gradio's do), a young one stays, and what a component keeps in the cache stays whatever its age
    (the page's files there at start-up are kept by keep_bounded)."""
    from types import SimpleNamespace

    files = {name: tmp_path / name / "image.png" for name in ("tile", "young", "example", "kept")}
    for path in files.values():
        path.parent.mkdir()
        path.write_bytes(b"x")
    old = time.time() - 100
    for name in ("tile", "example", "kept"):
        os.utime(files[name], (old, old))
    blocks = SimpleNamespace(blocks={1: SimpleNamespace(keep_in_cache={str(files["kept"])})},
                             temp_file_sets=[{str(files["tile"])}, set()])
    keep = cache_files.page_files(blocks) | {files["example"]}  # the example: there when the server started
    assert cache_files.page_files(blocks) == {files["kept"]}
    done = cache_files.clean(tmp_path, older_than=time.time() - 50, keep=keep)
    assert done.files == 1 and not files["tile"].exists() and not files["tile"].parent.exists()
    assert files["young"].exists() and files["example"].exists() and files["kept"].exists()
