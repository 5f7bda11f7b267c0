"""Hostile checkpoint files, each a way a checkpoint can lie: the reliability suite feeds them to the app and
the loading tests to `biglearn.load`. Every one must be refused with a ValueError naming what is wrong, before
anything large is built."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file

from biglearn.checkpoint import INFERENCE_KIND, write_safetensors
from biglearn.config import FORMAT_VERSION, BigLearnConfig


def hostile_file(path: Path, config: dict, tensors: dict | None = None, version: int = FORMAT_VERSION) -> Path:
    """An inference checkpoint at `path` declaring `config` (a BigLearnConfig as JSON data) over `tensors` (by
    default one dummy tensor): the header says what it likes, whatever the tensors are."""
    meta = {"format": INFERENCE_KIND, "version": str(version), "config": json.dumps(config), "info": "{}"}
    write_safetensors(path, tensors or {"generator.mask_token": torch.zeros(4)}, meta)
    return path


def default_config() -> dict:
    """The default BigLearnConfig as JSON data, to edit."""
    return json.loads(BigLearnConfig().to_json())


def _poisoned(source: Path, poison: Callable[[dict[str, torch.Tensor]], None]) -> tuple[dict, dict, int]:
    """The config, a copy of the tensors changed by `poison`, and the format version of a real checkpoint."""
    from safetensors import safe_open

    with safe_open(str(source), "pt") as f:
        meta = f.metadata()
    tensors = {k: v.clone() for k, v in load_file(str(source)).items()}
    poison(tensors)
    return json.loads(meta["config"]), tensors, int(meta["version"])


def _replace_first(make: Callable[[torch.Tensor], torch.Tensor | None]) -> Callable[[dict], None]:
    """A poison: the first (by name) floating-point tensor becomes make(tensor), or goes when that is None."""
    def poison(tensors: dict[str, torch.Tensor]) -> None:
        name = sorted(k for k, v in tensors.items() if v.is_floating_point() and v.numel() > 1)[0]
        value = make(tensors.pop(name))
        if value is not None:
            tensors[name] = value
    return poison


POISONS: dict[str, Callable[[dict[str, torch.Tensor]], None]] = {
    "wrong shape": _replace_first(lambda t: t.reshape(-1)[:-1].clone()),
    "missing tensor": _replace_first(lambda t: None),
    "NaN weights": _replace_first(lambda t: torch.full_like(t, float("nan"))),
    "int64 weights": _replace_first(lambda t: t.to(torch.int64)),
}


def hostile_checkpoints(folder: Path, source: Path) -> dict[str, Path]:
    """Every hostile file, written into `folder`; `source` (a real inference checkpoint) is what the poisoned
    ones are copies of. Returns {what it is: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    big = default_config()
    big["model"].update(dec_dim=4096, dec_depth=64, dec_heads=64)  # 1.5 KB on disk, ~50 GB if built
    files["oversized config"] = hostile_file(folder / "oversized.safetensors", big)
    wrong_kind = default_config()
    wrong_kind["model"].update(mlp_ratio=-1, num_classes=10.0)
    files["wrong-kind config values"] = hostile_file(folder / "wrong_kind.safetensors", wrong_kind)
    for name, poison in POISONS.items():
        config, tensors, version = _poisoned(source, poison)
        files[name] = hostile_file(folder / f"{name.replace(' ', '_')}.safetensors", config, tensors, version)
    pickled = folder / "torch_pickle.safetensors"
    torch.save({"generator.mask_token": torch.zeros(4)}, pickled)  # a torch pickle under a safetensors name
    files["pickle renamed .safetensors"] = pickled
    truncated = folder / "truncated.safetensors"
    truncated.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    files["truncated file"] = truncated
    bomb = folder / "header_bomb.safetensors"
    bomb.write_bytes(struct.pack("<Q", 1 << 40) + b"{" * 64)  # claims a 1 TB header
    files["header claiming 1 TB"] = bomb
    return files
