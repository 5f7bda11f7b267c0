"""Checkpoints: safetensors only, the config as versioned JSON metadata, atomic writes (DESIGN.md §8).

Two kinds of file share one format:
- an *inference* file: the EMA generator's weights (`generator.*`) and the config; all the app needs;
- a *resume* file: any flat dict of tensors (generator, EMA, discriminator, optimiser states, RNG
  states) plus JSON-able training state, everything needed to continue a run bit-for-bit.

A file meant to be kept in a repository (10 MB a file at most) may be written as a *set of shards*: `NAME.safetensors`
with the metadata, then `NAME.SET.1.safetensors`, ... named by the write's token SET, so that a write cut short
leaves the previous set whole. Readers take the first file's path and read the whole set.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import FORMAT_VERSION, BigLearnConfig

SUPPORTED_VERSIONS = tuple(range(1, FORMAT_VERSION + 1))  # older files load through `config.migrate`
DEFAULT_MAX_PARAMETERS = 200_000_000  # ~0.8 GB of float32 weights: 25x the paper's largest preset

SHARD_BYTES = 8 * 2**20  # a shard's tensor bytes at most: well under the 10 MB a file a repository or Space takes
INFERENCE_KIND = "biglearn-inference"
RESUME_KIND = "biglearn-resume"


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, of an unknown version or inconsistent with its config."""


def write_safetensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write atomically: a temporary file in the same folder, fsync, then rename over `path`. An I/O failure
    (disk full, file too large, read-only) is an OSError naming `path`, whichever layer met it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        try:
            save_file(tensors, tmp, metadata=metadata)
        except SafetensorError as exc:  # the Rust writer reports ENOSPC and friends as its own error type
            raise io_error(exc, path) from exc
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


SHARD_NAME = re.compile(r"^(?P<stem>.+)[.](?P<set>[0-9a-f]{16})[.](?P<index>[0-9]+)(?P<suffix>[.]safetensors)$")


def shard_path(path: str | Path, index: int, token: str) -> Path:
    """The `index`-th file of the set `token` whose first file is `path` (0: `path` itself)."""
    path = Path(path)
    return path if index == 0 else path.with_name(f"{path.stem}.{token}.{index}{path.suffix}")


def shard_stamp(metadata: dict[str, str]) -> dict[str, Any]:
    """What a file's metadata says of its set: {"count", "set"} in a first file, {"index", "set"} in the others,
    {} in a file of its own."""
    return json.loads(metadata.get("shards", "{}"))


def write_shards(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str],
                 max_bytes: int | None = SHARD_BYTES) -> int:
    """Write `tensors` as a set of files of at most `max_bytes` of tensor data each (a larger tensor gets a file of
    its own; None: one file), `metadata` in the first. The other files are new names (the write's token in them),
    written before the first file replaces the old one atomically; the old set's other files go after that. So
    a crash at any point leaves one whole set to read, the old or the new. A set of one file is a plain file.
    Returns the number of files."""
    path = Path(path)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, value in tensors.items():
        nbytes = value.numel() * value.element_size()
        if shards[-1] and max_bytes is not None and size + nbytes > max_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = value
        size += nbytes
    token = secrets.token_hex(8)
    for i in range(1, len(shards)):
        write_safetensors(shard_path(path, i, token), shards[i], {"shards": json.dumps({"index": i, "set": token})})
    extra = {"shards": json.dumps({"count": len(shards), "set": token})} if len(shards) > 1 else {}
    write_safetensors(path, shards[0], {**metadata, **extra})
    for other in path.parent.glob(f"{glob.escape(path.stem)}.*{path.suffix}"):
        found = SHARD_NAME.match(other.name)
        if found and found["stem"] == path.stem and found["set"] != token:  # an earlier write's
            other.unlink(missing_ok=True)
    return len(shards)


def shard_files(path: str | Path) -> list[Path]:
    """Every file of the set whose first file is `path` (`[path]` for a file of its own)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        stamp = shard_stamp(f.metadata() or {})
    return [shard_path(path, i, stamp.get("set", "")) for i in range(stamp.get("count", 1))]


def read_shards(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors of a file or of a set `write_shards` wrote (`path`: its first file) and the first file's raw
    metadata. CheckpointError when a shard is missing or of another set; OSError/SafetensorError when unreadable."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    tensors = load_file(str(path))
    stamp = shard_stamp(metadata)
    for i in range(1, stamp.get("count", 1)):
        part = shard_path(path, i, stamp["set"])
        if not part.is_file():
            raise CheckpointError(f"{path} is the first of {stamp['count']} files and {part.name} is missing")
        tensors.update(load_file(str(part)))
    return tensors, metadata


def io_error(exc: SafetensorError, path: Path) -> OSError | SafetensorError:
    """The OSError behind a safetensors "I/O error: ... (os error N)", or `exc` itself for other failures."""
    found = re.search(r"I/O error:.*\(os error (\d+)\)", str(exc))
    if found is None:
        return exc
    code = int(found.group(1))
    return OSError(code, os.strerror(code), str(path))


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that `write_safetensors` left in `folder` when its process was killed
    mid-write (the file they were to replace is intact); returns what was removed. Call it only while no
    other process writes there."""
    removed = []
    for tmp in Path(folder).glob(".*.safetensors.*.tmp"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def read_header(path: str | Path, kind: str | None = None,
                ) -> tuple[dict[str, tuple[tuple[int, ...], str]], dict[str, Any]]:
    """The tensor names with (shape, dtype) and the parsed metadata of a biglearn file of `kind` (None: either
    kind; the metadata's "format" says which), without reading any tensor data: what a file declares can be
    checked before anything is allocated."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
        header: dict[str, tuple[tuple[int, ...], str]] = {}
        stamp = shard_stamp(raw)
        for i in range(stamp.get("count", 1)):  # every file of a set
            with safe_open(str(shard_path(path, i, stamp.get("set", ""))), framework="pt") as f:
                header.update({k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()})
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is not a readable safetensors file (truncated or another format?): {exc}") from exc
    if "index" in stamp:
        found = SHARD_NAME.match(path.name)
        first = f"{found['stem']}{found['suffix']}" if found else "NAME.safetensors"
        raise CheckpointError(f"{path} is part {stamp['index']} of a checkpoint split into files: give its first "
                              f"file ({first})")
    if raw.get("format") not in (INFERENCE_KIND, RESUME_KIND):
        raise CheckpointError(f"{path} is a safetensors file but not a biglearn checkpoint (no 'format' metadata)")
    if kind is not None and raw["format"] != kind:
        raise CheckpointError(f"{path} is a {raw['format']} file, expected a {kind} file")
    version = raw.get("version")
    if version not in [str(v) for v in SUPPORTED_VERSIONS]:
        raise CheckpointError(f"{path} has format version {version!r}; this biglearn reads versions "
                              f"{', '.join(map(str, SUPPORTED_VERSIONS))}")
    meta: dict[str, Any] = {"format": raw["format"], "version": int(version)}
    for key, value in raw.items():
        if key in ("format", "version"):
            continue
        try:
            meta[key] = json.loads(value)
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path}: metadata key {key!r} is not valid JSON") from exc
    return header, meta


def read_safetensors(path: str | Path, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a biglearn safetensors file of the given kind; returns (tensors, parsed metadata)."""
    _, meta = read_header(path, kind)
    try:
        tensors, _ = read_shards(path)
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is not a readable safetensors file (truncated or another format?): {exc}") from exc
    return tensors, meta


def _metadata(kind: str, config: BigLearnConfig, info: dict[str, Any] | None) -> dict[str, str]:
    meta = {"format": kind, "version": str(FORMAT_VERSION), "config": config.to_json()}
    meta["info"] = json.dumps(info or {}, sort_keys=True)
    return meta


def _parse_config(path: str | Path, meta: dict[str, Any]) -> BigLearnConfig:
    if "config" not in meta:
        raise CheckpointError(f"{path} has no 'config' metadata")
    try:
        return BigLearnConfig.from_json(json.dumps(meta["config"]), version=meta.get("version", FORMAT_VERSION))
    except ValueError as exc:
        raise CheckpointError(f"{path}: invalid config: {exc}") from exc


def check_state_dict(module: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """Raise CheckpointError naming the first missing, unexpected or mis-shaped tensor."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing:
        raise CheckpointError(f"{where}: tensor {missing[0]!r} is missing ({len(missing)} missing in all)")
    if unexpected:
        raise CheckpointError(f"{where}: unexpected tensor {unexpected[0]!r} for this config")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(f"{where}: tensor {name!r} has shape {tuple(tensor.shape)}, the config "
                                  f"implies {tuple(expected[name].shape)}")


def prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Keys `prefix.*` of a flat dict, with the prefix removed."""
    p = prefix + "."
    return {k[len(p):]: v for k, v in state.items() if k.startswith(p)}


def save_inference(path: str | Path, generator: torch.nn.Module, config: BigLearnConfig,
                   info: dict[str, Any] | None = None) -> None:
    """Write an inference file: generator weights + config + free-form `info` (model card facts)."""
    tensors = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    write_safetensors(path, tensors, _metadata(INFERENCE_KIND, config, info))


def load_inference(path: str | Path, max_parameters: int = DEFAULT_MAX_PARAMETERS,
                   ) -> tuple[BigLearnConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """Read an inference file: (config, generator state dict, info).

    Everything the header declares is checked before any tensor is read or any network is built: the config
    (types and ranges), the generator's size against `max_parameters`, and every tensor's name, shape and dtype
    against the config; then the weights must be finite. Each failure is a CheckpointError naming the part."""
    header, meta = read_header(path, INFERENCE_KIND)
    config = _parse_config(path, meta)
    expected = expected_generator_tensors(config)
    count = sum(math.prod(shape) for shape in expected.values())
    if count > max_parameters:
        raise CheckpointError(f"{path}: its config declares a generator of {count:,} parameters, more than the "
                              f"{max_parameters:,} allowed here")
    declared = prefixed(header, "generator")
    missing = sorted(set(expected) - set(declared))
    unexpected = sorted((set(declared) - set(expected)) | {k for k in header if not k.startswith("generator.")})
    if missing:
        raise CheckpointError(f"{path}: tensor {missing[0]!r} is missing ({len(missing)} missing in all)")
    if unexpected:
        raise CheckpointError(f"{path}: unexpected tensor {unexpected[0]!r} for this config")
    for name, shape in expected.items():
        got, dtype = declared[name]
        if got != shape:
            raise CheckpointError(f"{path}: tensor {name!r} has shape {got}, the config implies {shape}")
        if dtype != "F32":
            raise CheckpointError(f"{path}: tensor {name!r} is {dtype}; biglearn writes float32 weights")
    tensors, _ = read_safetensors(path, INFERENCE_KIND)
    state = prefixed(tensors, "generator")
    for name, tensor in state.items():
        if not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path}: tensor {name!r} holds NaN or infinite values")
    return config, state, meta.get("info", {})


def file_kind(path: str | Path) -> str:
    """INFERENCE_KIND or RESUME_KIND: which of the two biglearn files `path` is (a CheckpointError if neither)."""
    return read_header(path)[1]["format"]


def format_version(path: str | Path, kind: str = INFERENCE_KIND) -> int:
    """The format version a biglearn file was written in (read from its header)."""
    return read_header(path, kind)[1]["version"]


def expected_generator_tensors(config: BigLearnConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor of the generator the config describes, built on the meta device (no memory)."""
    from .generator import UniversalGenerator

    with torch.device("meta"):
        generator = UniversalGenerator(config.model)
    return {k: tuple(v.shape) for k, v in generator.state_dict().items()}


def save_resume(path: str | Path, tensors: dict[str, torch.Tensor], config: BigLearnConfig,
                state: dict[str, Any], shard_bytes: int | None = None) -> None:
    """Write a resume file: flat tensors + config + JSON-able training `state`; with `shard_bytes`, as a set of
    files of at most that many tensor bytes each (`write_shards`)."""
    meta = _metadata(RESUME_KIND, config, None)
    meta["state"] = json.dumps(state, sort_keys=True)
    write_shards(path, tensors, meta, shard_bytes)


def load_resume(path: str | Path) -> tuple[BigLearnConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """Read a resume file: (config, flat tensors, training state)."""
    tensors, meta = read_safetensors(path, RESUME_KIND)
    # fresh (allocator-aligned) copies: vectorised CPU kernels may round differently on unaligned
    # memory, and a resumed run must repeat an uninterrupted one bit for bit
    tensors = {k: v.clone() for k, v in tensors.items()}
    return _parse_config(path, meta), tensors, meta.get("state", {})


def flatten_optimizer(optimizer: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], Any]:
    """An optimiser's state dict as flat tensors `prefix.<param>.<name>` plus its JSON-able param groups."""
    sd = optimizer.state_dict()
    tensors = {}
    for idx, slots in sd["state"].items():
        for name, value in slots.items():
            tensors[f"{prefix}.{idx}.{name}"] = torch.as_tensor(value)
    return tensors, sd["param_groups"]


def unflatten_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: Any,
                        prefix: str) -> None:
    """Inverse of `flatten_optimizer`: load the flat state back into `optimizer`."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in prefixed(tensors, prefix).items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def resolve_path(path_or_hub_id: str | Path) -> Path:
    """A local file, or a Hugging Face Hub id `user/repo` or `user/repo/file.safetensors` (downloaded)."""
    path = Path(path_or_hub_id)
    if path.exists():
        return path
    text = str(path_or_hub_id)
    parts = text.split("/")
    looks_local = (text.startswith((".", "/", "~")) or len(parts) < 2 or not all(parts)
                   or (len(parts) == 2 and parts[1].endswith(".safetensors")) or Path(parts[0]).is_dir())
    if looks_local:  # e.g. runs/x.safetensors: a missing local file, not a Hub id
        raise CheckpointError(f"checkpoint not found: {text}")
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:]) or "model.safetensors"
    try:
        from huggingface_hub import hf_hub_download, try_to_load_from_cache
        from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
    except ImportError as exc:
        raise CheckpointError(f"{text} is not a local file, and huggingface_hub is not installed to fetch it "
                              "from the Hub") from exc
    from .hub import hub_reachable

    if not hub_reachable():  # fail in seconds, not after the client's retries; a cached copy still loads
        cached = try_to_load_from_cache(repo_id, filename)
        if isinstance(cached, str):
            return Path(cached)
        raise CheckpointError(f"{text} is not a local file, and the Hugging Face Hub could not be reached to fetch "
                              f"it (repo {repo_id}, file {filename}; no copy in the local cache)")
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename))
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise CheckpointError(f"{text}: there is no Hub repository {repo_id} (or it is private)") from exc
    except EntryNotFoundError as exc:
        raise CheckpointError(f"{text}: the Hub repository {repo_id} has no file {filename}") from exc
    except Exception as exc:  # a time-out, a refused connection, a server error: all mean "cannot fetch it now"
        raise CheckpointError(f"{text} could not be fetched from the Hugging Face Hub (repo {repo_id}, file "
                              f"{filename}): the Hub did not answer as expected; try again later") from exc
