"""The recipe options of the sweep (issue 12): translation augmentation for D, the EMA warm-up, the learning-rate
decay, the classifier's pooling and the architecture overrides: formulas, ranges, records, resume checks."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

import biglearn
from biglearn import objectives
from biglearn.augment import random_shifts, translate
from biglearn.config import BigLearnConfig, ModelConfig
from biglearn.generator import UniversalGenerator
from biglearn.presets import Recipe
from train import cli, loop
from train.config import TrainConfig
from train.loop import INFERENCE_FILE, RESUME_FILE
from train.schedules import ema_decay, lr_scale, progress

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "tests" / "fixtures" / "digits200.npz"
FAST = ["--preset", "smoke", "--log-every", "1", "--probe-every", "0", "--sample-every", "0"]


def train(out: Path, *extra: str) -> int:
    return cli.main(["--data", str(DIGITS), "--out", str(out), *FAST, *extra])


# --- translation augmentation -----------------------------------------------------------------------------

def test_translate_moves_content_and_replicates_the_edge():
    img = torch.arange(16.0).view(1, 1, 4, 4)
    assert torch.equal(translate(img, torch.tensor([[0, 0]])), img)
    down = translate(img, torch.tensor([[1, 0]]))
    assert torch.equal(down[0, 0, 1:], img[0, 0, :3]) and torch.equal(down[0, 0, 0], img[0, 0, 0])
    left = translate(img, torch.tensor([[0, -2]]))
    assert torch.equal(left[0, 0, :, :2], img[0, 0, :, 2:]) and torch.equal(left[0, 0, :, 3], img[0, 0, :, 3])
    # per sample: two images, two shifts
    pair = translate(torch.cat([img, img]), torch.tensor([[0, 0], [1, 0]]))
    assert torch.equal(pair[0], img[0]) and torch.equal(pair[1], down[0])
    with pytest.raises(ValueError, match="shape"):
        translate(img, torch.tensor([0, 0]))


def test_translate_passes_gradients_and_shifts_stay_in_range():
    img = torch.rand(3, 1, 8, 8, requires_grad=True)
    translate(img, torch.tensor([[1, 1], [0, 0], [-2, 3]])).sum().backward()
    assert img.grad is not None and float(img.grad.sum()) == pytest.approx(3 * 64)
    torch.manual_seed(0)
    s = random_shifts(1000, 2)
    assert s.shape == (1000, 2) and int(s.min()) == -2 and int(s.max()) == 2


def test_the_trainer_shifts_real_and_fakes_alike_and_never_the_sources(tmp_path, monkeypatch):
    """G gets the data unshifted; D gets real and every fake of a sample under one and the same shift."""
    seen: dict[str, object] = {}
    real_draw, real_d = objectives.draw_fakes, objectives.discriminator_losses

    def draw(generator, images, tasks, labels, config):
        seen["g_images"], seen["tasks"] = images.clone(), tasks
        seen["fakes"] = real_draw(generator, images, tasks, labels, config)
        return seen["fakes"]

    def d_losses(discriminator, images, fakes, tasks, labels, config):
        seen["d_real"], seen["d_fakes"] = images, fakes
        return real_d(discriminator, images, fakes, tasks, labels, config)

    batches = []
    real_batch = loop.Trainer.batch

    def batch(self, step):
        out = real_batch(self, step)
        batches.append(out[0].clone())
        return out

    monkeypatch.setattr(loop.objectives, "draw_fakes", draw)
    monkeypatch.setattr(loop.objectives, "discriminator_losses", d_losses)
    monkeypatch.setattr(loop.Trainer, "batch", batch)
    assert train(tmp_path / "run", "--steps", "1", "--augment-shift", "3") == 0
    data = batches[-1]
    assert torch.equal(seen["g_images"], data)  # the sources G copies are the data's, unshifted
    fakes, d_fakes = seen["fakes"], seen["d_fakes"]
    moved = 0
    for i in range(len(data)):
        offsets = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)
                   if torch.equal(translate(data[i:i + 1], torch.tensor([[dy, dx]], device=data.device)),
                               seen["d_real"][i:i + 1])]
        assert offsets, f"sample {i}: D's real image is not a shift of the data"
        shift = torch.tensor([offsets[0]], device=data.device)
        assert torch.equal(translate(fakes.x1[i:i + 1].detach(), shift), d_fakes.x1[i:i + 1])
        if fakes.x2 is not None:
            assert torch.equal(translate(fakes.x2[i:i + 1].detach(), shift), d_fakes.x2[i:i + 1])
        moved += offsets[0] != (0, 0)
    assert moved > 0  # the option did something


# --- schedules ----------------------------------------------------------------------------------------------

def test_lr_scale_follows_warmup_and_linear_decay():
    r = Recipe(warmup_steps=10, lr_decay=0.25)
    assert lr_scale(r, 0, 0.0) == pytest.approx(0.1)
    assert lr_scale(r, 50, 0.5) == 1.0
    assert lr_scale(r, 50, 0.75) == pytest.approx(1.0)
    assert lr_scale(r, 50, 0.875) == pytest.approx(0.5)
    assert lr_scale(r, 50, 1.0) == 0.0
    assert lr_scale(Recipe(), 5, 0.99) == 1.0  # both off
    assert progress(25, 0.0, 100, 0.0) == 0.25 and progress(0, 30.0, 0, 60.0) == 0.5
    assert progress(25, 45.0, 100, 60.0) == 0.75 and progress(500, 0.0, 100, 0.0) == 1.0


def test_ema_warmup_follows_its_formula():
    r = Recipe(ema_decay=0.999, ema_rampup=0.05)
    half_life = math.log(0.5) / math.log(0.999)  # ~693 steps
    for step in (0, 10, 1000, 13_000, 20_000):
        expected = 0.5 ** (1 / min(half_life, 0.05 * (step + 1)))
        assert ema_decay(r, step) == pytest.approx(expected)
    assert ema_decay(r, 0) < 1e-5 and ema_decay(r, 20_000) == pytest.approx(0.999)
    assert ema_decay(Recipe(ema_decay=0.999), 0) == 0.999  # off


def test_the_trainer_applies_the_decayed_learning_rate(tmp_path, monkeypatch):
    lrs = []
    real_step = torch.optim.AdamW.step

    def step(self, *a, **k):
        lrs.append(self.param_groups[0]["lr"])
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    assert train(tmp_path / "run", "--steps", "4", "--lr-decay", "0.5", "--lr-g", "1e-3", "--lr-d", "1e-3") == 0
    d_lrs = lrs[0::2]  # D then G each step
    assert d_lrs == pytest.approx([1e-3, 1e-3, 1e-3, 0.5e-3])  # progress 0, .25, .5, .75 before each step


# --- ranges, records, resume ----------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"ema_rampup": -0.1}, "ema_rampup"), ({"ema_rampup": math.nan}, "ema_rampup"),
    ({"lr_decay": 1.5}, "lr_decay"), ({"lr_decay": 0.2}, "needs a run length"),
    ({"augment_shift": 9}, "augment_shift"), ({"augment_shift": True}, "augment_shift"),
])
def test_recipe_values_out_of_range_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**change)


@pytest.mark.parametrize("flags, message", [
    (["--augment-shift", "12"], "--augment-shift"), (["--lr-decay", "0.3"], "needs a run length"),
    (["--ema-rampup", "-1"], "--ema-rampup"), (["--d-depth", "0"], "--d-depth"),
    (["--label-full-source", "1.5"], "--label-full-source"), (["--diversity-weight", "-1"], "--diversity-weight"),
    (["--diversity-cap", "0"], "--diversity-cap"), (["--objective", "mae", "--diversity-weight", "1"],
                                                    "--diversity-weight must be 0"),
])
def test_the_cli_names_the_flag_of_a_bad_value(tmp_path, capsys, flags, message):
    assert train(tmp_path / "run", *flags) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_unknown_pooling_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train(tmp_path / "run", "--cls-pool", "max")
    assert "invalid choice" in capsys.readouterr().err


def test_a_switch_other_than_on_or_off_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train(tmp_path / "run", "--diversity-labelled", "no")
    assert "--diversity-labelled: expected on or off, got 'no'" in capsys.readouterr().err


def test_every_new_option_is_recorded_in_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    assert train(out, "--steps", "2", "--augment-shift", "2", "--ema-rampup", "0.05", "--lr-decay", "0.5",
                 "--cls-pool", "mean", "--d-depth", "2", "--d-dim", "24", "--d-overlap", "0",
                 "--label-full-source", "0.8") == 0
    m = biglearn.load(out / INFERENCE_FILE)
    t = m.info["train_config"]
    assert (t["augment_shift"], t["ema_rampup"], t["lr_decay"]) == (2, 0.05, 0.5)
    c = m.full_config
    assert (c.model.cls_pool, c.model.d_depth, c.model.d_dim, c.model.d_overlap) == ("mean", 2, 24, 0)
    assert c.masks.label_full_source == 0.8
    assert m.classify(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_the_mode_seeking_term_is_logged_recorded_and_off_by_default(tmp_path):
    on, off = tmp_path / "on", tmp_path / "off"
    assert train(on, "--steps", "2", "--diversity-weight", "0.5", "--diversity-cap", "0.3") == 0
    assert train(off, "--steps", "2") == 0
    loss = biglearn.load(on / INFERENCE_FILE).full_config.loss
    assert (loss.diversity_weight, loss.diversity_cap, loss.diversity_labelled) == (0.5, 0.3, True)
    assert biglearn.load(off / INFERENCE_FILE).full_config.loss.diversity_weight == 0.0
    logged = [json.loads(line) for line in (on / "metrics.jsonl").read_text().splitlines()]
    assert all(r["g_div"] > 0 for r in logged if "g_total" in r) and any("g_total" in r for r in logged)
    assert not any("g_div" in line for line in (off / "metrics.jsonl").read_text().splitlines())


def test_version_3_configs_load_with_mode_seeking_off():
    data = json.loads(BigLearnConfig().to_json())
    del data["loss"]["diversity_weight"], data["loss"]["diversity_cap"]
    assert BigLearnConfig.from_json(json.dumps(data), version=3).loss.diversity_weight == 0.0
    with pytest.raises(ValueError, match="diversity"):
        BigLearnConfig.from_json(json.dumps(data), version=4)


def test_version_4_configs_load_with_the_mode_seeking_term_covering_every_sample(tmp_path):
    data = json.loads(BigLearnConfig().to_json())
    del data["loss"]["diversity_labelled"]
    assert BigLearnConfig.from_json(json.dumps(data), version=4).loss.diversity_labelled is True
    with pytest.raises(ValueError, match="diversity_labelled"):
        BigLearnConfig.from_json(json.dumps(data), version=5)
    assert train(tmp_path / "off", "--steps", "1", "--diversity-weight", "1", "--diversity-labelled", "off") == 0
    assert biglearn.load(tmp_path / "off" / INFERENCE_FILE).full_config.loss.diversity_labelled is False


def test_resume_with_another_recipe_is_refused_naming_the_option(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out, "--steps", "2", "--augment-shift", "2") == 0
    assert train(out, "--steps", "3", "--resume") == 2
    err = capsys.readouterr().err
    assert "--augment-shift 2" in err and "Traceback" not in err
    assert train(out, "--steps", "3", "--resume", "--augment-shift", "2", "--lr-g", "1e-3") == 2
    assert "--lr-g" in capsys.readouterr().err
    assert train(out, "--steps", "3", "--resume", "--augment-shift", "2") == 0


def test_a_resume_file_from_before_the_options_counts_them_off(tmp_path):
    """Files written before a recipe field existed lack it; it meant "off", so resuming without it works."""
    saved = {"data": str(DIGITS), "seed": 0, "holdout": 0, "missing_rate": 0.0, **dataclasses.asdict(Recipe())}
    for name in ("ema_rampup", "lr_decay", "augment_shift"):
        del saved[name]
    assert cli.resume_differences(saved, TrainConfig(data=str(DIGITS))) == []
    assert cli.resume_differences(saved, TrainConfig(data=str(DIGITS), augment_shift=1)) == \
        ["--augment-shift 0 (asked: 1)"]


# --- the classifier's pooling and the format version ----------------------------------------------------------

def test_mean_pooling_reads_the_source_tokens():
    torch.manual_seed(0)
    cfg = ModelConfig(enc_dim=16, enc_depth=1, enc_heads=2, dec_dim=16, dec_depth=1, dec_heads=2, noise_dim=8,
                      noise_depth=2, conv_head_channels=0, d_dim=16, d_depth=1, d_heads=2)
    g_global = UniversalGenerator(cfg).eval()
    g_mean = UniversalGenerator(dataclasses.replace(cfg, cls_pool="mean")).eval()
    g_mean.load_state_dict(g_global.state_dict())  # same parameters: pooling adds none
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    src = torch.zeros(2, 49, dtype=torch.bool)
    src[:, :20] = True
    with torch.no_grad():
        a, b = g_global.classify_logits(x, src), g_mean.classify_logits(x, src)
        enc = g_mean.encode(biglearn.patches.patchify(x, 4), src, None)
        pooled = torch.cat([enc.prefix[:, :1], enc.tokens[:, :20]], 1).mean(1)
        assert torch.allclose(b, g_mean.classifier(pooled), atol=1e-5)
        assert not torch.allclose(a, b)
        # no source patch: the mean is the global token alone
        empty = torch.zeros(2, 49, dtype=torch.bool)
        assert torch.allclose(g_global.classify_logits(x, empty), g_mean.classify_logits(x, empty), atol=1e-5)


def test_version_2_configs_load_as_global_pooling_and_version_3_requires_the_key():
    data = json.loads(BigLearnConfig().to_json())
    del data["model"]["cls_pool"]
    assert BigLearnConfig.from_json(json.dumps(data), version=2).model.cls_pool == "global"
    with pytest.raises(ValueError, match="cls_pool"):
        BigLearnConfig.from_json(json.dumps(data), version=3)
    with pytest.raises(ValueError, match="cls_pool"):
        ModelConfig(cls_pool="max")


# --- warm start (--init-from) -------------------------------------------------------------------------------

def generator_weights(path: Path) -> dict[str, torch.Tensor]:
    return biglearn.checkpoint.load_inference(path)[1]


def test_a_warm_start_begins_from_the_files_generator_and_records_it(tmp_path, capsys):
    source = tmp_path / "source"
    assert train(source, "--steps", "3") == 0
    start = source / INFERENCE_FILE
    # a learning rate too small to move the weights: what comes out is what the run started from
    still = ["--steps", "1", "--lr-g", "1e-12", "--ema-decay", "0", "--seed", "1"]
    assert train(tmp_path / "warm", *still, "--init-from", str(start)) == 0
    assert train(tmp_path / "cold", *still) == 0
    want, warm = generator_weights(start), generator_weights(tmp_path / "warm" / INFERENCE_FILE)
    cold = generator_weights(tmp_path / "cold" / INFERENCE_FILE)
    assert all(torch.allclose(warm[k], want[k], atol=1e-6) for k in want)
    assert not all(torch.allclose(cold[k], want[k], atol=1e-6) for k in want)
    info = biglearn.load(tmp_path / "warm" / INFERENCE_FILE).info
    assert info["train_config"]["init_from"] == str(start)
    assert info["init"]["steps"] == 3 and info["init"]["file"] == str(start)
    # the record survives a resume, which does not warm-start again
    assert train(tmp_path / "warm", "--steps", "2", "--lr-g", "1e-12", "--ema-decay", "0", "--seed", "1",
                 "--init-from", str(start), "--resume") == 0
    assert biglearn.load(tmp_path / "warm" / INFERENCE_FILE).info["init"]["steps"] == 3
    assert "warning" not in capsys.readouterr().err  # no hold-out: nothing to warn about


def test_a_warm_start_from_a_resume_file_carries_d_and_the_optimiser_moments(tmp_path):
    source = tmp_path / "source"
    assert train(source, "--steps", "3") == 0
    _, saved, _ = biglearn.checkpoint.load_resume(source / RESUME_FILE)
    still = ["--steps", "1", "--lr-g", "1e-12", "--lr-d", "1e-12", "--ema-decay", "0", "--seed", "1"]
    assert train(tmp_path / "warm", *still, "--init-from", str(source / RESUME_FILE)) == 0
    assert train(tmp_path / "cold", *still, "--init-from", str(source / INFERENCE_FILE)) == 0
    _, warm, state = biglearn.checkpoint.load_resume(tmp_path / "warm" / RESUME_FILE)
    _, cold, _ = biglearn.checkpoint.load_resume(tmp_path / "cold" / RESUME_FILE)
    for name in ("G.", "D."):
        keys = [k for k in saved if k.startswith(name)]
        assert all(torch.allclose(warm[k], saved[k], atol=1e-6) for k in keys)
    d_keys = [k for k in saved if k.startswith("D.")]
    assert not all(torch.allclose(cold[k], saved[k], atol=1e-6) for k in d_keys)  # from G alone, D is fresh
    # Adam's step count goes on from the file's (3 + 1), while the run's own step count starts again
    steps = [v for k, v in warm.items() if k.startswith("opt_d.") and k.endswith(".step")]
    assert steps and all(float(v) == 4 for v in steps)
    assert state["step"] == 1 and state["init"]["kind"] == "resume" and state["init"]["steps"] == 3
    info = biglearn.load(tmp_path / "warm" / INFERENCE_FILE).info
    assert info["init"]["file"] == str(source / RESUME_FILE) and info["init"]["train_seconds"] > 0
    assert info["total_steps"] == 4  # 3 steps in the file and 1 here
    assert info["total_train_seconds"] == pytest.approx(info["init"]["train_seconds"] + info["train_seconds"], abs=0.2)


def test_a_warm_starts_ema_warm_up_counts_the_steps_its_ema_already_averaged(tmp_path):
    source = tmp_path / "source"
    assert train(source, "--steps", "3") == 0
    _, saved, _ = biglearn.checkpoint.load_resume(source / RESUME_FILE)
    ramp = Recipe(ema_decay=0.9, ema_rampup=1.0)  # half-life 6.6 steps, capped at 1.0 x the steps counted
    # G does not move (lr 1e-12), so one step's EMA is the file's EMA pulled towards its G by 1 - decay
    assert train(tmp_path / "warm", "--steps", "1", "--lr-g", "1e-12", "--lr-d", "1e-12", "--ema-decay", "0.9",
                 "--ema-rampup", "1.0", "--init-from", str(source / RESUME_FILE)) == 0
    _, warm, _ = biglearn.checkpoint.load_resume(tmp_path / "warm" / RESUME_FILE)
    keys = [k[len("ema."):] for k in saved if k.startswith("ema.")]
    moved = [k for k in keys if not torch.allclose(saved["G." + k], saved["ema." + k])]
    assert moved
    for decay, expect in ((ema_decay(ramp, 3), True), (ema_decay(ramp, 0), False)):  # 3 earlier steps, not 0
        want = {k: saved["ema." + k] + (1 - decay) * (saved["G." + k] - saved["ema." + k]) for k in moved}
        assert all(torch.allclose(warm["ema." + k], want[k], atol=1e-5) for k in moved) is expect


def test_a_carry_file_is_smaller_continues_with_d_and_cannot_be_resumed(tmp_path, capsys):
    from train import carry

    source = tmp_path / "source"
    assert train(source, "--steps", "3") == 0
    _, saved, _ = biglearn.checkpoint.load_resume(source / RESUME_FILE)
    kept = tmp_path / "kept" / "carry.safetensors"
    assert carry.main([str(source / RESUME_FILE), str(kept)]) == 0
    _, tensors, state = biglearn.checkpoint.load_resume(kept)
    assert {k.split(".", 1)[0] for k in tensors} == {"G", "ema", "D", "opt_d"} and state["carry"] is True
    assert all(torch.equal(tensors[k], saved[k]) for k in tensors)
    assert kept.stat().st_size < (source / RESUME_FILE).stat().st_size
    still = ["--steps", "1", "--lr-g", "1e-12", "--lr-d", "1e-12", "--ema-decay", "0", "--seed", "1"]
    assert train(tmp_path / "warm", *still, "--init-from", str(kept)) == 0
    _, warm, warm_state = biglearn.checkpoint.load_resume(tmp_path / "warm" / RESUME_FILE)
    assert all(torch.allclose(warm[k], saved[k], atol=1e-6) for k in saved if k.startswith(("G.", "D.")))
    assert warm_state["init"]["kind"] == "carry" and warm_state["init"]["steps"] == 3
    # refused readably: resuming from it, carrying a carry file or a file that is not a resume file
    (tmp_path / "copied").mkdir()
    (tmp_path / "copied" / RESUME_FILE).write_bytes(kept.read_bytes())
    assert train(tmp_path / "copied", "--steps", "5", "--resume") == 2
    assert "carry file" in capsys.readouterr().err
    assert carry.main([str(kept), str(tmp_path / "again.safetensors")]) == 2
    assert carry.main([str(source / INFERENCE_FILE), str(tmp_path / "again.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "carry file already" in err and "expected a biglearn-resume file" in err and "Traceback" not in err


def test_a_carry_file_split_into_files_starts_a_run(tmp_path, monkeypatch, capsys):
    from train import carry

    source = tmp_path / "source"
    assert train(source, "--steps", "2") == 0
    _, saved, _ = biglearn.checkpoint.load_resume(source / RESUME_FILE)
    monkeypatch.setattr(carry, "SHARD_BYTES", 40_000)  # the tiny model's carry in several files, as 15 MB in 8 MiB
    kept = tmp_path / "kept" / "carry.safetensors"
    assert carry.main([str(source / RESUME_FILE), str(kept)]) == 0
    files = sorted((tmp_path / "kept").iterdir())
    assert len(files) >= 3 and f"in {len(files)} file(s)" in capsys.readouterr().out
    still = ["--steps", "1", "--lr-g", "1e-12", "--lr-d", "1e-12", "--ema-decay", "0", "--seed", "1"]
    assert train(tmp_path / "warm", *still, "--init-from", str(kept)) == 0
    _, warm, _ = biglearn.checkpoint.load_resume(tmp_path / "warm" / RESUME_FILE)
    assert all(torch.allclose(warm[k], saved[k], atol=1e-6) for k in saved if k.startswith(("G.", "D.")))
    lost = biglearn.checkpoint.shard_files(kept)[-1]
    lost.unlink()  # a lost part is named, not a traceback
    assert train(tmp_path / "warm2", *still, "--init-from", str(kept)) == 2
    err = capsys.readouterr().err
    assert lost.name in err and "Traceback" not in err


def test_a_warm_start_is_refused_readably(tmp_path, capsys):
    source = tmp_path / "source"
    assert train(source, "--steps", "1") == 0
    start = str(source / INFERENCE_FILE)
    assert train(tmp_path / "a", "--steps", "1", "--init-from", start, "--cls-pool", "mean") == 2
    err = capsys.readouterr().err
    assert "--init-from" in err and "model.cls_pool" in err and "Traceback" not in err
    assert train(tmp_path / "b", "--steps", "1", "--init-from", str(tmp_path / "nothing.safetensors")) == 2
    err = capsys.readouterr().err
    assert "nothing.safetensors" in err and "Traceback" not in err
    assert train(tmp_path / "c", "--steps", "1", "--init-from", start) == 0
    assert train(tmp_path / "c", "--steps", "2", "--resume") == 2
    assert "--init-from" in capsys.readouterr().err
    # a file trained on everything may have seen the hold-out: said, not refused
    assert train(tmp_path / "d", "--steps", "1", "--init-from", start, "--holdout", "20") == 0
    assert "may have seen this run's validation images" in capsys.readouterr().err
