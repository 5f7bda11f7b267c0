"""The app's constants: where its files are, its limits and its texts."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import torch

# a Hub id that cannot be reached fails within seconds instead of the library's long default timeouts
os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "5")
os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "10")

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
BUNDLED = ASSETS / "mnist-cpu.safetensors"
CHECKPOINT_NOTE = ASSETS / "checkpoint.txt"  # written by `python -m webapp.deploy --checkpoint` into a Space


def default_checkpoint() -> str:
    """What the app serves: env BIGLEARN_CHECKPOINT, else the checkpoint a staged Space names in
    assets/checkpoint.txt (a Hub id, or a path inside the Space), else the bundled file."""
    if "BIGLEARN_CHECKPOINT" in os.environ:
        return os.environ["BIGLEARN_CHECKPOINT"]
    if CHECKPOINT_NOTE.is_file():
        named = CHECKPOINT_NOTE.read_text(encoding="utf-8").strip()
        return str(ROOT / named) if (ROOT / named).is_file() else named
    return str(BUNDLED)


DEFAULT_CHECKPOINT = default_checkpoint()
# the live race's inner step through torch.compile, compiled at start-up (BIGLEARN_RACE_COMPILE=0: eager, e.g.
# for tests that start many short-lived servers)
RACE_COMPILE = os.environ.get("BIGLEARN_RACE_COMPILE", "1") != "0"
DIGITS = ASSETS / "examples" / "mnist_examples.npz"
FASHION = ASSETS / "examples" / "fashion_examples.npz"
README = ASSETS / "README.md"  # the bundled checkpoint's model card
# model calls at once: on a CPU one call already uses every core, more would only fight over them
MODEL_CONCURRENCY = 2 if torch.cuda.is_available() else 1
MAX_FILE_SIZE = "20mb"
THUMB_SCALE = 3
MAX_SAMPLES = 16


@dataclass(frozen=True)
class Upkeep:
    """How often, and after how long, the server drops what visitors left behind. Every `cache_every_s` Gradio
    deletes the files the app served (gallery tiles, uploads) older than `cache_age_s`, and webapp/cache_files.py
    what that leaves (empty folders and upload leftovers older than `folder_grace_s`); every `sweep_every_s`
    webapp/session_memory.py drops the state of sessions idle `session_idle_s` (API clients) or closed
    `closed_grace_s` (pages). Env BIGLEARN_UPKEEP ("cache_every_s=10,cache_age_s=20,...") changes them: the
    reliability suite shortens them to see whole cycles in seconds."""

    cache_every_s: float = 600.0
    cache_age_s: float = 3600.0
    folder_grace_s: float = 60.0
    session_idle_s: float = 120.0
    closed_grace_s: float = 60.0
    sweep_every_s: float = 30.0

    @classmethod
    def from_env(cls, text: str | None = None) -> Upkeep:
        """The defaults with BIGLEARN_UPKEEP's changes; ValueError names a bad one."""
        text = os.environ.get("BIGLEARN_UPKEEP", "") if text is None else text
        changes: dict[str, float] = {}
        known = {f.name for f in fields(cls)}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, _, value = item.partition("=")
            try:
                number = float(value)
            except ValueError:
                number = float("nan")
            if name not in known or not number > 0:
                raise ValueError(f"BIGLEARN_UPKEEP: {item!r} is not NAME=SECONDS with NAME one of "
                                 f"{', '.join(sorted(known))} and SECONDS > 0")
            changes[name] = number
        return cls(**changes)


UPKEEP = Upkeep.from_env()
DELETE_CACHE = (int(UPKEEP.cache_every_s), int(UPKEEP.cache_age_s))

DESCRIPTION = """\
# BigLearn-GAN: one model for every joint, conditional and marginal of image patches
Images are cut into a grid of patches. **Paint the patches to keep** (the source *S*) and the model samples
the rest *T* from p(x_T | x_S); the same network generates from nothing, from a class, any region alone, and
classifies what it is shown (Cong & Zhao, *Big Learning*). Each seed gives one sample.
"""

CSS = (Path(__file__).resolve().parent / "app.css").read_text()
# run once when the page loads: each file is one arrow function with a comment saying what it mends
PAGE_JS = "() => {\n" + "\n".join(f"({(Path(__file__).resolve().parent / name).read_text().strip()})();"
                                   for name in ("toasts.js", "slider_boxes.js")) + "\n}"

# what a click on the out-of-domain tab's digit does, in the order of the steps: first the digit's own patches
# that stay, then where the picked patches of the second image go
OOD_KEEP, OOD_DEST = "1. digit patches to keep", "3. where picked patches go"
OOD_DIGIT_CLICKS = (OOD_KEEP, OOD_DEST)
