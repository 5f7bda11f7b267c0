"""Compute precision (biglearn.precision): auto's choice, bf16 training and inference, static shapes, --compile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import biglearn
from biglearn import precision
from biglearn.checkpoint import load_resume
from biglearn.discriminator import UniversalDiscriminator
from biglearn.generator import UniversalGenerator
from biglearn.presets import get_preset
from train import cli
from train.loop import INFERENCE_FILE, METRICS_FILE, RESUME_FILE

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "tests" / "fixtures" / "digits200.npz"
BUNDLED = ROOT / "assets" / "mnist-cpu.safetensors"
CPU = torch.device("cpu")
NATIVE_BF16 = precision.bf16_support(CPU)[0]
needs_bf16 = pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has no native bf16 (AMX-BF16 / AVX512-BF16)")


def fake_probe(speedup: float) -> tuple[list, object]:
    calls: list = []

    def probe(shape):
        calls.append(shape)
        return speedup
    return calls, probe


def test_auto_follows_the_probe_on_a_cpu_with_bf16():
    calls, fast = fake_probe(4.0)
    choice = precision.resolve("auto", CPU, shape=(10, 20, 30), probe=fast, flags={"amx_bf16"})
    assert choice.precision == "bf16" and "4.0x" in choice.reason and calls == [(10, 20, 30)]
    _, slow = fake_probe(1.3)
    choice = precision.resolve("auto", CPU, probe=slow, flags={"amx_bf16", "avx512_bf16"})
    assert choice.precision == "fp32" and "only 1.3x" in choice.reason


def test_auto_is_fp32_without_native_bf16_and_does_not_probe():
    calls, probe = fake_probe(10.0)
    choice = precision.resolve("auto", CPU, probe=probe, flags={"avx2", "fma"})
    assert choice.precision == "fp32" and "neither AMX-BF16 nor AVX512-BF16" in choice.reason and calls == []
    assert precision.resolve("fp32", CPU, probe=probe, flags={"amx_bf16"}).precision == "fp32" and calls == []


def test_bf16_is_refused_without_native_bf16():
    with pytest.raises(ValueError, match="needs native bf16"):
        precision.resolve("bf16", CPU, flags={"avx2"})
    with pytest.raises(ValueError, match="unknown precision"):
        precision.resolve("fp16", CPU)


def test_cli_refuses_bf16_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})
    out = tmp_path / "run"
    assert cli.main(["--data", str(DIGITS), "--out", str(out), "--preset", "smoke", "--steps", "2",
                     "--precision", "bf16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "native bf16" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("name", ["smoke", "mnist-cpu"])
def test_static_shapes_give_the_bucketed_outputs(name, randomise):
    """Padding every masked call to its full length computes what the per-length buckets compute."""
    model = get_preset(name).model
    g, d = randomise(UniversalGenerator(model)).eval(), randomise(UniversalDiscriminator(model)).eval()
    b, n = 12, model.num_patches
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(b, 1, 28, 28, generator=gen) * 2 - 1
    source = torch.rand(b, n, generator=gen) < torch.linspace(0, 1, b)[:, None]
    target = ~source & (torch.rand(b, n, generator=gen) < 0.5)
    noise, labels = torch.randn(b, model.noise_dim, generator=gen), torch.randint(-1, 10, (b,), generator=gen)
    with torch.no_grad():
        def outputs():
            return (g(images, source, noise, labels), d(images, source, target, labels),
                    g.classify_logits(images, source))
        bucketed = outputs()
        for m in (g, d):
            precision.set_static_shapes(m, True)
        static = outputs()
    for a, s in zip(bucketed, static, strict=True):
        torch.testing.assert_close(s, a, atol=2e-5, rtol=1e-4)


def test_the_static_step_has_no_host_sync_or_data_dependent_shape(tiny_config):
    """G and D with static shapes trace as one graph each: no .item(), int() or bool() of a tensor inside."""
    g, d = UniversalGenerator(tiny_config), UniversalDiscriminator(tiny_config)
    for m in (g, d):
        precision.set_static_shapes(m, True)
    b, n = 4, tiny_config.num_patches
    images, source = torch.rand(b, 1, tiny_config.height, tiny_config.width), torch.rand(b, n) < 0.4
    target, labels = ~source, torch.tensor([1, -1, 2, -1])
    torch._dynamo.reset()
    out = torch.compile(g, fullgraph=True, backend="eager")(images, source, torch.randn(b, tiny_config.noise_dim),
                                                               labels)
    logits = torch.compile(d, fullgraph=True, backend="eager")(images, source, target, labels)
    assert out.shape == images.shape and logits.shape == (b,)
    for m in (g, d):
        precision.set_static_shapes(m, False)
    with pytest.raises(Exception, match="(?i)graph break|data-dependent|Unsupported"):
        torch._dynamo.reset()
        torch.compile(g, fullgraph=True, backend="eager")(images, source, torch.randn(b, tiny_config.noise_dim))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_the_cuda_step_never_waits_for_the_host(tmp_path):
    from bench.training import make_trainer

    trainer = make_trainer(get_preset("smoke"), 8, torch.device("cuda"), tmp_path, "bf16")
    trainer.train_step()  # R1 step and first-call set-up
    trainer.train_step()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.no_grad():
            images = torch.rand(8, 1, 28, 28, device="cuda")
            source = torch.rand(8, 49, device="cuda") < 0.4
            trainer.G(images, source, torch.randn(8, 8, device="cuda"))
            trainer.D(images, source, ~source)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@needs_bf16
def test_a_bf16_run_trains_records_it_and_loads_in_fp32(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["--data", str(DIGITS), "--out", str(out), "--preset", "smoke", "--steps", "5", "--log-every",
                     "1", "--probe-every", "0", "--sample-every", "0", "--precision", "bf16"]) == 0
    log = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    assert len(log) == 5 and all(r["precision"] == "bf16" for r in log)
    assert all(torch.isfinite(torch.tensor(v)) for r in log for k, v in r.items() if k.startswith(("d_", "g_")))
    _, tensors, state = load_resume(out / RESUME_FILE)
    assert state["precision"] == "bf16"  # master weights, EMA and Adam moments stay fp32
    assert {v.dtype for k, v in tensors.items() if v.is_floating_point()} == {torch.float32}
    m = biglearn.load(out / INFERENCE_FILE, precision="fp32")
    assert m.info["precision"] == "bf16" and m.precision == "fp32"
    images, source = torch.rand(3, 1, 28, 28), biglearn.masks.first_portion_source(3, 49, 0.5)
    samples = m.complete(images, source, seeds=[0, 1])
    keep = biglearn.patches.patch_to_pixel_mask(source, 4, (7, 7))[:, None]
    assert torch.equal(samples[keep.expand_as(samples)], images[:, None].expand_as(samples)[keep.expand_as(samples)])


@needs_bf16
def test_bf16_inference_on_the_bundled_model_is_close_to_fp32():
    images = torch.rand(8, 1, 28, 28)
    source = biglearn.masks.first_portion_source(8, 49, 0.5)
    full, half = (biglearn.load(BUNDLED, precision=p) for p in ("fp32", "bf16"))
    assert half.precision == "bf16"
    a, b = full.complete(images, source, seeds=[0, 1]), half.complete(images, source, seeds=[0, 1])
    assert float((a - b).abs().mean()) < 0.02
    keep = biglearn.patches.patch_to_pixel_mask(source, 4, (7, 7))[:, None].expand_as(b)
    assert torch.equal(b[keep], images[:, None].expand_as(b)[keep])  # sources exact in bf16 too
    assert float((full.generate(8, seeds=0) - half.generate(8, seeds=0)).abs().mean()) < 0.02


def test_compile_falls_back_with_a_warning_where_it_cannot_run(tmp_path, monkeypatch, capsys):
    import train.loop

    monkeypatch.setattr(train.loop, "compile_available", lambda device: (False, "RuntimeError: no compiler"))
    out = tmp_path / "run"
    assert cli.main(["--data", str(DIGITS), "--out", str(out), "--preset", "smoke", "--steps", "2", "--compile",
                     "--precision", "fp32", "--probe-every", "0", "--sample-every", "0"]) == 0
    err = capsys.readouterr().err
    assert "warning: --compile: torch.compile cannot run" in err and "no compiler" in err
    log = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    assert log[-1]["compiled"] is False


def test_a_run_resumed_in_another_precision_records_both(tmp_path, monkeypatch):
    """A run resumed on a CPU where auto picks another precision: its record names every precision and the steps of
    each, not only the last session's (bf16 here is emulated where the CPU has none: slow, but it runs)."""
    out = tmp_path / "run"
    args = ["--data", str(DIGITS), "--out", str(out), "--preset", "smoke", "--log-every", "1", "--probe-every", "0",
            "--sample-every", "0"]
    assert cli.main([*args, "--steps", "3", "--precision", "fp32"]) == 0
    assert biglearn.load(out / INFERENCE_FILE).info["precision_steps"] == {"fp32": 3}
    monkeypatch.setattr(cli, "resolve", lambda *a, **k: precision.Choice("bf16", "the other machine"))
    assert cli.main([*args, "--steps", "5", "--resume"]) == 0
    info = biglearn.load(out / INFERENCE_FILE, precision="fp32").info
    assert info["precision"] == "bf16+fp32" and info["precision_steps"] == {"bf16": 2, "fp32": 3}
    assert load_resume(out / RESUME_FILE)[2]["precision_steps"] == {"bf16": 2, "fp32": 3}
    assert [r["precision"] for r in map(json.loads, (out / METRICS_FILE).read_text().splitlines())] == \
        ["fp32"] * 3 + ["bf16"] * 2
