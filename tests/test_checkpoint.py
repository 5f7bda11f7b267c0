"""Checkpoints: safetensors round trips, resume files, and a clear CheckpointError for every bad file."""

import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

import biglearn
from biglearn import CheckpointError, UniversalGenerator
from biglearn.checkpoint import (
    INFERENCE_KIND,
    flatten_optimizer,
    load_inference,
    load_resume,
    prefixed,
    read_header,
    save_resume,
    shard_files,
    unflatten_optimizer,
    write_safetensors,
    write_shards,
)
from biglearn.config import FORMAT_VERSION, BigLearnConfig
from biglearn.masks import random_source

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def saved(tmp_path, generator, full_config):
    path = tmp_path / "model.safetensors"
    biglearn.save(path, generator, full_config, info={"steps": 7})
    return path


def metadata(path):
    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


def tensors_of(generator):
    return {f"generator.{k}": v for k, v in generator.state_dict().items()}


# --- round trips ---------------------------------------------------------------------------------

def test_save_load_round_trip_gives_identical_outputs(saved, model, images, full_config):
    loaded = biglearn.load(saved, device="cpu")
    assert loaded.full_config == full_config and loaded.config == full_config.model
    assert loaded.info == {"steps": 7}
    for name, tensor in model.generator.state_dict().items():
        assert torch.equal(loaded.generator.state_dict()[name], tensor), name
    source = random_source(4, 6, 0.5, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, -1, 2, 1])
    assert torch.equal(loaded.complete(images, source, seeds=[0, 5], labels=labels),
                       model.complete(images, source, seeds=[0, 5], labels=labels))
    assert torch.equal(loaded.classify(images, source), model.classify(images, source))


def test_file_is_safetensors_with_versioned_json_config(saved, full_config):
    meta = metadata(saved)
    assert meta["format"] == INFERENCE_KIND and meta["version"] == str(FORMAT_VERSION)
    assert BigLearnConfig.from_json(meta["config"]) == full_config
    assert json.loads(meta["info"]) == {"steps": 7}
    assert not list(saved.parent.glob("*.tmp"))  # the atomic write leaves no temporary file


def test_save_overwrites_atomically(saved, generator, full_config):
    with torch.no_grad():
        generator.global_token.add_(1.0)
    biglearn.save(saved, generator, full_config)
    _, state, info = load_inference(saved)
    assert torch.equal(state["global_token"], generator.global_token) and info == {}
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_save_rejects_a_generator_of_another_config(tmp_path, generator, full_config):
    other = dataclasses.replace(full_config, model=dataclasses.replace(full_config.model, dec_dim=64))
    with pytest.raises(ValueError, match="differs"):
        biglearn.save(tmp_path / "m.safetensors", generator, other)


def test_resume_file_and_optimizer_state_round_trip(tmp_path, generator, full_config, images):
    def adam_steps(module, opt, n):
        for _ in range(n):
            opt.zero_grad()
            module(images * 2 - 1, torch.zeros(4, 6, dtype=torch.bool), torch.randn(4, 8)).square().mean().backward()
            opt.step()

    opt = torch.optim.AdamW(generator.parameters(), lr=1e-3, betas=(0.5, 0.99))
    adam_steps(generator, opt, 2)
    flat, groups = flatten_optimizer(opt, "opt_g")
    assert flat and all(isinstance(v, torch.Tensor) for v in flat.values())
    path = tmp_path / "resume.safetensors"
    state = {"step": 2, "opt_g_groups": groups}
    save_resume(path, {**tensors_of(generator), **flat, "rng.cpu": torch.get_rng_state()}, full_config, state)

    config, tensors, state_back = load_resume(path)
    assert config == full_config and state_back == json.loads(json.dumps(state))
    assert torch.equal(tensors["rng.cpu"], torch.get_rng_state())
    twin = UniversalGenerator(full_config.model)
    twin.load_state_dict(prefixed(tensors, "generator"))
    twin_opt = torch.optim.AdamW(twin.parameters(), lr=1e-3, betas=(0.5, 0.99))
    unflatten_optimizer(twin_opt, tensors, state_back["opt_g_groups"], "opt_g")
    a, b = opt.state_dict(), twin_opt.state_dict()
    assert json.loads(json.dumps(a["param_groups"])) == b["param_groups"]  # betas come back as a list
    assert a["state"].keys() == b["state"].keys()
    for idx, slots in a["state"].items():
        for name, value in slots.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["state"][idx][name])), (idx, name)
    # one more step from the same RNG state gives identical weights
    torch.manual_seed(1)
    adam_steps(generator, opt, 1)
    torch.manual_seed(1)
    adam_steps(twin, twin_opt, 1)
    for (name, p), q in zip(generator.named_parameters(), twin.parameters(), strict=True):
        assert torch.equal(p, q), name


def test_a_resume_file_split_into_shards_reads_back_whole(tmp_path, generator, full_config):
    tensors = {**tensors_of(generator), "rng.cpu": torch.get_rng_state()}
    total = sum(v.numel() * v.element_size() for v in tensors.values())
    limit = total // 3
    path = tmp_path / "carry.safetensors"
    save_resume(path, tensors, full_config, {"step": 5}, shard_bytes=limit)
    files = shard_files(path)
    assert len(files) >= 3 and sorted(tmp_path.iterdir()) == sorted(files)
    assert re.fullmatch(r"carry[.][0-9a-f]{16}[.]1[.]safetensors", files[1].name)
    biggest = max(v.numel() * v.element_size() for v in tensors.values())
    for f in files:  # at most the limit, or one tensor larger than it alone
        with safe_open(str(f), framework="pt") as g:
            count = len(list(g.keys()))
        assert count == 1 or f.stat().st_size <= max(limit, biggest) + 4096
    config, back, state = load_resume(path)
    assert config == full_config and state == {"step": 5} and back.keys() == tensors.keys()
    assert all(torch.equal(back[k], tensors[k]) for k in tensors)
    assert read_header(path)[0].keys() == tensors.keys()  # the header of the whole set
    # written again as one file: the old set's other files are removed
    save_resume(path, tensors, full_config, {"step": 6})
    assert shard_files(path) == [path] and list(tmp_path.iterdir()) == [path]


def test_a_write_of_shards_cut_short_leaves_the_old_set_whole(tmp_path, generator, full_config, monkeypatch):
    tensors = tensors_of(generator)
    limit = sum(v.numel() * v.element_size() for v in tensors.values()) // 3
    path = tmp_path / "carry.safetensors"
    save_resume(path, tensors, full_config, {"step": 1}, shard_bytes=limit)
    old = set(tmp_path.iterdir())
    real = biglearn.checkpoint.write_safetensors

    def crash_at_the_first_file(target, *args):
        if Path(target) == path:
            raise OSError(28, "No space left on device", str(target))
        real(target, *args)

    monkeypatch.setattr(biglearn.checkpoint, "write_safetensors", crash_at_the_first_file)
    with pytest.raises(OSError):
        save_resume(path, {k: v + 1 for k, v in tensors.items()}, full_config, {"step": 2}, shard_bytes=limit)
    assert load_resume(path)[2] == {"step": 1}  # the old set, whole
    assert all(torch.equal(load_resume(path)[1][k], tensors[k]) for k in tensors)
    monkeypatch.setattr(biglearn.checkpoint, "write_safetensors", real)
    save_resume(path, tensors, full_config, {"step": 3}, shard_bytes=limit)  # the cut write's files go too
    assert set(tmp_path.iterdir()) == set(shard_files(path)) and not old & set(shard_files(path)[1:])


def test_a_broken_set_of_shards_is_refused_readably(tmp_path, generator, full_config):
    tensors = tensors_of(generator)
    limit = sum(v.numel() * v.element_size() for v in tensors.values()) // 3
    path = tmp_path / "carry.safetensors"
    save_resume(path, tensors, full_config, {"step": 1}, shard_bytes=limit)
    files = shard_files(path)
    with pytest.raises(CheckpointError, match=r"part 1 of a checkpoint split into files: give its first file "
                                              r"\(carry.safetensors\)"):
        load_resume(files[1])
    files[2].unlink()
    with pytest.raises(CheckpointError, match=re.escape(files[2].name)):
        load_resume(path)


def test_write_shards_keeps_small_tensors_together(tmp_path):
    tensors = {f"t{i}": torch.full((10,), float(i)) for i in range(6)}  # 40 bytes each
    assert write_shards(tmp_path / "s.safetensors", tensors, {"note": "x"}, max_bytes=100) == 3
    assert write_shards(tmp_path / "one.safetensors", tensors, {}, max_bytes=10**6) == 1
    first, second, _ = shard_files(tmp_path / "s.safetensors")
    assert metadata(first)["note"] == "x" and "note" not in metadata(second)


# --- bad files -----------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        biglearn.load(tmp_path / "nope.safetensors")


def test_not_a_safetensors_file(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_text("this is not a checkpoint\n")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        biglearn.load(path)


def test_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointError, match="truncated"):
        biglearn.load(saved)


def test_safetensors_without_biglearn_metadata(tmp_path):
    path = tmp_path / "foreign.safetensors"
    write_safetensors(path, {"w": torch.zeros(2)}, {"producer": "someone else"})
    with pytest.raises(CheckpointError, match="not a biglearn checkpoint"):
        biglearn.load(path)


def test_unknown_format_version(tmp_path, generator, full_config):
    path = tmp_path / "future.safetensors"
    meta = {"format": INFERENCE_KIND, "version": "999", "config": full_config.to_json(), "info": "{}"}
    write_safetensors(path, tensors_of(generator), meta)
    with pytest.raises(CheckpointError, match="version '999'"):
        biglearn.load(path)


def rewrite(path, edit_tensors=None, edit_config=None):
    """Rewrite an inference file with its tensors or its config JSON edited (metadata otherwise kept)."""
    meta = metadata(path)
    _, state, _ = load_inference(path)
    tensors = {f"generator.{k}": v for k, v in state.items()}
    if edit_tensors:
        edit_tensors(tensors)
    if edit_config:
        config = json.loads(meta["config"])
        edit_config(config)
        meta["config"] = json.dumps(config)
    write_safetensors(path, tensors, meta)


def test_tensor_of_the_wrong_shape(saved):
    rewrite(saved, edit_tensors=lambda t: t.update({"generator.mask_token": torch.zeros(5)}))
    with pytest.raises(CheckpointError, match=r"'mask_token' has shape \(5,\), the config implies \(32,\)"):
        biglearn.load(saved)


def test_missing_tensor(saved):
    rewrite(saved, edit_tensors=lambda t: t.pop("generator.dec_pos"))
    with pytest.raises(CheckpointError, match="'dec_pos' is missing"):
        biglearn.load(saved)


def test_unexpected_tensor(saved):
    rewrite(saved, edit_tensors=lambda t: t.update({"generator.extra.weight": torch.zeros(3)}))
    with pytest.raises(CheckpointError, match="unexpected tensor 'extra.weight'"):
        biglearn.load(saved)


def test_config_that_does_not_match_the_tensors(saved):
    rewrite(saved, edit_config=lambda c: c["model"].update(dec_dim=64))
    with pytest.raises(CheckpointError, match="the config implies"):
        biglearn.load(saved)


@pytest.mark.parametrize("edit,message", [
    (lambda c: c["model"].update(hidden_size=3), "unknown config key.*hidden_size"),
    (lambda c: c["model"].update(patch_size=5), "patch_size 5 must divide"),
    (lambda c: c["loss"].update(r1_interval=0), "r1_interval"),
])
def test_invalid_config_names_the_key(saved, edit, message):
    rewrite(saved, edit_config=edit)
    with pytest.raises(CheckpointError, match=message):
        biglearn.load(saved)


def test_resume_and_inference_files_are_not_interchangeable(saved, generator, full_config):
    path = saved.with_name("resume.safetensors")
    save_resume(path, tensors_of(generator), full_config, {"step": 1})
    with pytest.raises(CheckpointError, match="biglearn-resume file, expected a biglearn-inference file"):
        biglearn.load(path)
    with pytest.raises(CheckpointError, match="biglearn-inference file, expected a biglearn-resume file"):
        load_resume(saved)


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)


# --- the Hub and pickle --------------------------------------------------------------------------

def test_hub_id_offline_raises_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    try:  # huggingface_hub reads these at import time
        from huggingface_hub import constants
    except ImportError:
        pass
    else:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)  # so "user/repo" is not a local path
    with pytest.raises(CheckpointError, match="user/repo.*(Hugging Face Hub|huggingface_hub)"):
        biglearn.load("user/repo")
    with pytest.raises(CheckpointError, match="file ckpt/m.safetensors"):
        biglearn.load("user/repo/ckpt/m.safetensors")


def test_an_unreachable_hub_fails_in_seconds_and_a_cached_copy_still_loads(monkeypatch, tmp_path):
    import socket
    import time

    from huggingface_hub import constants

    from biglearn import hub

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: a refused connection
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert hub.hub_reachable() is False
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{listening.getsockname()[1]}")
        assert hub.hub_reachable() is True
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: False)
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    with pytest.raises(CheckpointError, match="Hugging Face Hub could not be reached") as refused:
        biglearn.load("nobody/model")
    assert time.monotonic() - start < 5 and "nobody/model" in str(refused.value)
    assert "Error" not in str(refused.value)  # no exception class names in what a user reads
    cached = tmp_path / "cached.safetensors"
    smoke = biglearn.get_preset("smoke")
    biglearn.save(cached, UniversalGenerator(smoke.model), smoke)
    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", lambda repo, name: str(cached))
    assert biglearn.load("nobody/model").config == smoke.model


@pytest.mark.parametrize("bad", ["./nope.safetensors", "nope", "/abs/nope.safetensors"])
def test_local_looking_missing_paths_are_not_sent_to_the_hub(bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match="not found"):
        biglearn.load(bad)


def test_no_pickle_anywhere():
    """No pickle-based loading in the project's Python sources (safetensors only)."""
    banned = re.compile(r"\b(import|from) c?pickle\b|\bpickle\.|torch\.load\(|allow_pickle\s*=\s*True"
                        r"|weights_only\s*=\s*False")
    folders = ("biglearn", "train", "bench", "tests")
    files = [*REPO.glob("*.py"), *(p for d in folders for p in (REPO / d).rglob("*.py"))]
    assert any(p.name == "checkpoint.py" for p in files)
    offenders = [f"{p.relative_to(REPO)}:{i}" for p in files if p != Path(__file__).resolve()
                 for i, line in enumerate(p.read_text().splitlines(), 1) if banned.search(line)]
    assert not offenders, f"pickle-based loading in: {offenders}"
