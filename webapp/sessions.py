"""Checkpoints per browser session: everyone starts on the app's default model; loading another one changes
that visitor's session only. Loaded models live in one small shared cache keyed by the file's content hash,
so two visitors who load the same file share one copy, and the cache stays within a count and a size."""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from biglearn.checkpoint import resolve_path
from biglearn.inference import BigLearnModel
from biglearn.inference import load as load_model

from .model_slot import ModelSlot

MAX_MODELS = 3  # loaded checkpoints besides the default
MAX_BYTES = 1_000_000_000  # their parameters together
MAX_SESSIONS = 10_000  # sessions remembered (the oldest forget their choice first)


@dataclass(frozen=True)
class Choice:
    """A session's checkpoint: its cache key (content hash), the name it was loaded by, and the local file."""

    key: str
    name: str
    path: Path


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes (the cache key: the same weights under two names are one entry)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_bytes(model: BigLearnModel) -> int:
    """Bytes of the model's parameters."""
    return sum(p.numel() * p.element_size() for p in model.generator.parameters())


class SessionModels:
    """The default model (a `ModelSlot`) for every session, and the checkpoints sessions loaded themselves."""

    def __init__(self, default: ModelSlot, max_models: int = MAX_MODELS, max_bytes: int = MAX_BYTES,
                 max_sessions: int = MAX_SESSIONS) -> None:
        self.default = default
        self.max_models, self.max_bytes, self.max_sessions = max_models, max_bytes, max_sessions
        self._models: OrderedDict[str, BigLearnModel] = OrderedDict()
        self._choices: OrderedDict[str, Choice] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: str | None) -> tuple[BigLearnModel, str]:
        """The session's model and its name; the default for a new session. A model the cache let go is read
        again from its file; if the file is gone too, the session returns to the default (ValueError says so)."""
        choice = self._choices.get(session) if session else None
        if choice is None:
            return self.default.get(), self.default.name
        with self._lock:
            model = self._models.get(choice.key)
            if model is not None:
                self._models.move_to_end(choice.key)
                return model, choice.name
        if not choice.path.is_file():
            self.forget(session)
            raise ValueError(f"the checkpoint {choice.name} was unloaded and its file is gone: this session is back "
                             "on the default model (load it again to use it)")
        return self._cache(choice.key, load_model(choice.path)), choice.name

    def load(self, session: str | None, path_or_hub_id: str, name: str | None = None) -> tuple[BigLearnModel, str]:
        """Load a checkpoint (a local file or a Hub id) for this session only; raises (the session keeps its
        model) with a ValueError naming the problem."""
        if not session:
            raise ValueError("loading a checkpoint needs a browser session")
        path = resolve_path(path_or_hub_id)
        key = file_hash(path)
        with self._lock:
            model = self._models.get(key)
        if model is None:
            model = self._cache(key, load_model(path))
        name = name or str(path_or_hub_id)
        with self._lock:
            self._choices[session] = Choice(key, name, path)
            self._choices.move_to_end(session)
            while len(self._choices) > self.max_sessions:
                self._choices.popitem(last=False)
        return model, name

    def forget(self, session: str | None) -> None:
        """The session returns to the default model (it closed its page, or its file is gone)."""
        with self._lock:
            self._choices.pop(session or "", None)

    def loaded(self) -> int:
        """How many checkpoints besides the default are in memory."""
        return len(self._models)

    def _cache(self, key: str, model: BigLearnModel) -> BigLearnModel:
        with self._lock:
            self._models[key] = model
            self._models.move_to_end(key)
            while len(self._models) > 1 and (len(self._models) > self.max_models or sum(
                    model_bytes(m) for m in self._models.values()) > self.max_bytes):
                self._models.popitem(last=False)  # the least recently used; its sessions reload it on demand
            return model


HUB_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def checked_source(text: str, allowed: tuple[Path, ...]) -> str:
    """A checkpoint named in the app's text box: a Hub id `user/repo[/file.safetensors]`, or a local path inside
    one of the `allowed` folders (`python app.py --allow-path DIR`, and assets/). ValueError otherwise: a visitor
    must not make the server open any file it can read."""
    if not text:
        raise ValueError("give a Hugging Face Hub id (user/repo) or upload a .safetensors file")
    path = Path(text).expanduser()
    looks_local = text.startswith((".", "/", "~")) or path.exists() or "\\" in text
    if looks_local:
        real = path.resolve()
        if not any(real.is_relative_to(folder.resolve()) for folder in allowed):
            raise ValueError("this app opens local files only inside the folders it was started with "
                             "(python app.py --allow-path DIR); upload the file instead, or give a Hub id")
        if not real.is_file():
            raise ValueError(f"no checkpoint file {path.name} in the allowed folders")
        return str(real)
    parts = text.split("/")
    if not 2 <= len(parts) <= 3 or not all(HUB_PART.match(p) for p in parts) or ".." in text:
        raise ValueError("a Hub id looks like user/repo or user/repo/file.safetensors (letters, digits, . _ -)")
    if len(parts) == 3 and not parts[2].endswith(".safetensors"):
        raise ValueError("the file in a Hub id must be a .safetensors file")
    return text
