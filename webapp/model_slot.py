"""The app's one shared, swappable model (`ModelSlot`) and the Markdown model card of a checkpoint.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import torch

from biglearn.inference import BigLearnModel
from biglearn.inference import load as load_model


def public_name(value: Any) -> Any:
    """A name or fact as a visitor may see it: a path (absolute, of the machine that trained or serves, or a local
    file) as its file name; anything else (a Hub id, "uploaded x.safetensors", a number) as it is."""
    if not isinstance(value, str):
        return value
    if PureWindowsPath(value).drive:
        return PureWindowsPath(value).name
    return PurePosixPath(value).name if PurePosixPath(value).is_absolute() or Path(value).exists() else value


def _table(title: str, rows: list[tuple[str, Any]]) -> list[str]:
    return [f"| {title} | value |", "| --- | --- |", *(f"| {k} | {public_name(v)} |" for k, v in rows)]


def _details(title: str, lines: list[str]) -> list[str]:
    return ["", f"<details><summary>{title}</summary>", "", *lines, "", "</details>"]


def model_card(model: BigLearnModel, source: str, readme: str | None = None) -> str:
    """Markdown model card: where the checkpoint came from, the facts the trainer stored in it (preset, data,
    budget, metrics), its architecture and an optional README."""
    c = model.config
    n_params = sum(p.numel() for p in model.generator.parameters())
    lines = [f"### Checkpoint `{public_name(source)}`", "",
             f"{c.height}x{c.width}, {c.channels} channel(s), patch {c.patch_size} -> {c.grid[0]}x{c.grid[1]} "
             f"patch grid ({c.num_patches} patches), {c.num_classes or 'no'} classes; generator "
             f"{n_params / 1e6:.2f} M parameters, on `{model.device}`.", ""]
    facts = [(k, v) for k, v in model.info.items() if not isinstance(v, dict)]
    if facts:
        lines += _table("training facts", facts)
    for key, value in model.info.items():
        if isinstance(value, dict):
            lines += _details(key, _table(key, list(value.items())))
    lines += _details("architecture", _table("ModelConfig", list(vars(c).items())))
    if readme:
        lines += ["", readme.strip()]
    return "\n".join(lines)


class ModelSlot:
    """The app's one shared model: loaded lazily on first use, swappable by `load`. A failed load keeps
    the current model. Requests that already hold the old model finish with it."""

    def __init__(self, provider: Callable[[], BigLearnModel], name: str = "default checkpoint") -> None:
        self._provider = provider
        self._model: BigLearnModel | None = None
        self._lock = threading.Lock()
        self.name = name

    def get(self) -> BigLearnModel:
        """The current model (loading it on first use)."""
        model = self._model
        if model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._provider()
                model = self._model
        return model

    def load(self, path_or_hub_id: str | Path, device: str | torch.device | None = None) -> BigLearnModel:
        """Load another checkpoint (path or Hub id) and make it current; raises (keeping the old model) on
        failure with a ValueError naming the problem."""
        text = str(path_or_hub_id).strip()
        if not text:
            raise ValueError("give a checkpoint path or a Hugging Face Hub id")
        model = load_model(text, device)
        with self._lock:
            self._model = model
            self.name = text
        return model
