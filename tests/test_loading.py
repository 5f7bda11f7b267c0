"""Bounded, strict loading: a checkpoint's header is checked before anything is built (issues 13 and 15)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import biglearn
from bench.hostile import default_config, hostile_file
from biglearn.checkpoint import CheckpointError
from biglearn.config import FORMAT_VERSION, ModelConfig

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "assets" / "mnist-cpu.safetensors"
PREVIOUS_BUNDLED = ROOT / "docs" / "results" / "previous-bundled" / "mnist-cpu-230min.safetensors"


@pytest.mark.parametrize("field, value", [
    ("mlp_ratio", -1), ("num_classes", 10.0), ("conv_head_channels", 1.5), ("noise_norm", "no"),
    ("dec_dim", 8192), ("enc_depth", True), ("mlp_ratio", float("nan")), ("height", 0),
])
def test_config_values_of_the_wrong_kind_or_size_are_value_errors(field, value):
    with pytest.raises(ValueError, match=f"ModelConfig.{field}"):
        ModelConfig(**{field: value})


def test_oversized_config_is_refused_before_anything_is_built(tmp_path):
    config = default_config()
    config["model"].update(dec_dim=4096, dec_depth=64, dec_heads=64)
    path = hostile_file(tmp_path / "big.safetensors", config)
    code = ("import resource, sys, biglearn\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n    biglearn.load(sys.argv[1])\nexcept biglearn.CheckpointError as e:\n    print('refused:', e)\n"
            "print('grew_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120).stdout
    assert "refused:" in out and "parameters, more than the" in out
    grew_kb = int(out.rsplit("grew_kb", 1)[1])
    assert grew_kb < 200 * 1024


def test_parameter_limit_is_an_argument(tmp_path, generator, full_config):
    path = tmp_path / "m.safetensors"
    biglearn.save(path, generator, full_config)
    assert biglearn.load(path).config == full_config.model
    with pytest.raises(CheckpointError, match="more than the 10 allowed"):
        biglearn.load(path, max_parameters=10)


@pytest.mark.parametrize("poison, message", [
    (lambda t: t.__setitem__("generator.mask_token", torch.full_like(t["generator.mask_token"], float("nan"))),
     "'mask_token' holds NaN"),
    (lambda t: t.__setitem__("generator.mask_token", t["generator.mask_token"].to(torch.int64)),
     "'mask_token' is I64"),
])
def test_bad_weights_are_refused(tmp_path, generator, full_config, poison, message):
    tensors = {f"generator.{k}": v.clone() for k, v in generator.state_dict().items()}
    poison(tensors)
    config = json.loads(full_config.to_json())
    path = hostile_file(tmp_path / "bad.safetensors", config, tensors)
    with pytest.raises(CheckpointError, match=message):
        biglearn.load(path)


def test_a_config_missing_a_key_is_refused_with_its_name(tmp_path, generator, full_config):
    tensors = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    config = json.loads(full_config.to_json())
    del config["loss"]["objective"]
    with pytest.raises(CheckpointError, match="missing config key.*'loss': objective"):
        biglearn.load(hostile_file(tmp_path / "m.safetensors", config, tensors))
    # the same file written at version 1 migrates (version-1 readers filled missing keys)
    model = biglearn.load(hostile_file(tmp_path / "v1.safetensors", config, tensors, version=1))
    assert model.objective == "biglearn" and model.format_version == 1


def test_bundled_checkpoint_is_written_at_the_current_version():
    model = biglearn.load(BUNDLED)
    assert model.format_version == FORMAT_VERSION
    assert model.objective == "biglearn" and model.config.noise_norm is True


def test_a_real_version_1_file_loads_through_the_migration_and_says_its_version():
    model = biglearn.load(PREVIOUS_BUNDLED)  # the file assets/ held until 4 Dec 2026, written at version 1
    assert model.format_version == 1 < FORMAT_VERSION
    assert model.objective == "biglearn" and model.config.noise_norm is True
    assert model.full_config.loss.diversity_weight == 0.0 and model.full_config.model.cls_pool == "global"


def test_new_files_are_written_at_the_current_version(tmp_path, generator, full_config):
    path = tmp_path / "m.safetensors"
    biglearn.save(path, generator, full_config)
    assert biglearn.load(path).format_version == FORMAT_VERSION
