"""`python -m bench --quick` runs and writes well-formed results; its pure helpers are right.

No timing assertions: the numbers depend on the machine and on what else runs on it.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from bench.measure import count_flops, summarise
from bench.training import growth_exponent
from biglearn.sims import gan2d

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = {"complete_1x8", "ratio_sweep_10x4", "generate_64", "classify_256"}


def positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def test_quick_run_prints_the_report(quick):
    stdout, _ = quick
    for heading in ("limits:", "training:", "inference", "scaling with tokens", "scaling with batch", "2-D simulations",
                    "start-up", "targets"):
        assert heading in stdout


def test_quick_results_time_the_simulations(quick):
    _, r = quick
    sims = r["sims"]
    assert positive(sims["landscape"]["seconds"]) and sims["gmm25"]["arms"] == 5
    assert positive(sims["gmm25"]["us_per_seed_step"]) and positive(sims["gan2d"]["step_s"])
    # the projection is the measured rate times the full experiment's length
    assert sims["gmm25"]["projected_full_s"] == pytest.approx(sims["gmm25"]["us_per_seed_step"] * 1e-6 * 10_000 * 20
                                                              * 5 * 10)
    assert sims["gan2d"]["projected_full_s"] == pytest.approx(sims["gan2d"]["step_s"] * gan2d.GanConfig.steps)
    rows = sims["gan2d"]["arms"] * sims["gan2d"]["seeds"]
    assert sims["gan2d"]["us_per_seed_step"] == pytest.approx(1e6 * sims["gan2d"]["step_s"] / rows)
    assert positive(sims["gan2d"]["pacgan_us_per_seed_step"])
    from bench.sims import sims_targets

    rows = sims_targets(sims, full_size=True)
    assert [t["met"] for t in rows][1] == (sims["gmm25"]["us_per_seed_step"] <= 90.0)


def test_quick_results_are_well_formed(quick):
    _, r = quick
    assert r["format_version"] == 1 and r["quick"] is True
    assert {"cpu", "cores", "torch_threads", "device", "load_average_1m"} <= set(r["machine"])
    assert positive(r["limits"]["matmul"]["flops_per_s"]) and positive(r["limits"]["copy"]["bytes_per_s"])
    assert r["limits"]["peak_flops_per_s"] == r["limits"]["matmul"]["flops_per_s"]
    assert r["training"]["rows"]
    for row in r["training"]["rows"]:
        for key in ("step_s", "images_per_s", "flops_per_step", "mfu"):
            assert positive(row[key]), key
        assert row["images_per_s"] == pytest.approx(row["batch"] / row["step_s"])
    workloads = r["inference"]["workloads"]
    assert set(workloads) == WORKLOADS
    for w in workloads.values():
        assert positive(w["p50_ms"]) and w["p50_ms"] <= w["p95_ms"]
        assert positive(w["flops"]) and positive(w["mfu"])
    tokens, batch = r["scaling"]["tokens"], r["scaling"]["batch"]
    assert [row["tokens"] for row in tokens["rows"]] == [16, 49]
    assert math.isfinite(tokens["time_exponent"]) and math.isfinite(batch["time_exponent"])
    assert [row["batch"] for row in batch["rows"]] == [2, 4]
    assert positive(r["startup"]["import_biglearn_s"]) and positive(r["startup"]["load_s"])
    assert [t["met"] in (True, False, None) for t in r["targets"]] == [True] * 4
    assert positive(r["wall_s"])


def test_growth_exponent_recovers_a_power_law():
    xs = [16.0, 36.0, 49.0, 64.0]
    assert growth_exponent(xs, [3 * x**1.5 for x in xs]) == pytest.approx(1.5)
    with pytest.raises(ValueError):
        growth_exponent([2.0, 2.0], [1.0, 2.0])


def test_summarise_orders_samples():
    t = summarise([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (t.p50, t.p95, t.mean, t.n) == (3.0, 5.0, 3.0, 5)


def test_flops_counted_for_matmul_and_cpu_attention():
    """The CPU flash kernel is counted (torch leaves it out): forward as the math kernel's two matmuls,
    backward by torch's flash formula (five matmuls, q·kᵀ recomputed)."""
    a = torch.randn(8, 16)
    assert count_flops(lambda: a @ torch.randn(16, 4)) == 2 * 8 * 16 * 4
    q = torch.randn(2, 3, 5, 8, requires_grad=True)  # (B, heads, N, head dim)
    matmul = 2 * 2 * 3 * 5 * 5 * 8
    with torch.no_grad():
        assert count_flops(lambda: F.scaled_dot_product_attention(q, q, q)) == 2 * matmul
        with sdpa_kernel(SDPBackend.MATH):
            assert count_flops(lambda: F.scaled_dot_product_attention(q, q, q)) == 2 * matmul
    assert count_flops(lambda: F.scaled_dot_product_attention(q, q, q).sum().backward()) == 7 * matmul


def test_app_latency_measures_handler_and_server(tmp_path, monkeypatch):
    import time

    import biglearn
    from webapp import sessions

    def unreachable(path_or_hub_id):  # no network in tests: a Hub lookup that times out
        time.sleep(0.3)
        raise ValueError(f"{path_or_hub_id} could not be fetched from the Hugging Face Hub (offline?)")

    monkeypatch.setattr(sessions, "resolve_path", unreachable)
    from bench import app_latency
    from biglearn.config import BigLearnConfig, ModelConfig

    cfg = BigLearnConfig(model=ModelConfig(enc_dim=16, enc_depth=1, enc_heads=2, dec_dim=16, dec_depth=1,
                                           dec_heads=2, noise_dim=8, noise_depth=2, conv_head_channels=0,
                                           d_dim=16, d_depth=1, d_heads=2))
    ckpt = tmp_path / "tiny.safetensors"
    biglearn.save(ckpt, biglearn.UniversalGenerator(cfg.model), cfg)
    results = app_latency.measure(str(ckpt), warmup=0, reps=2, browser=False)
    for depth in ("handler", "server", "server_during_load", "page", "page_during_load"):
        r = results[depth]
        assert r["n"] == 2 and positive(r["p50"]) and r["p50"] <= r["p95"]
    assert results["server_during_load"]["loads_tried"] >= 1 and results["page_during_load"]["loads_tried"] >= 1
    assert results["browser"] == {"skipped": "--no-browser"}
    table = app_latency.render(results)
    assert "| handler |" in table and "| server |" in table and "skipped: --no-browser" in table
    assert "| server_during_load |" in table and "| page_during_load |" in table


def test_precision_modes_time_a_real_step_and_restore_the_matmul_precision():
    from bench.precision import MODES, cells, measure_preset, precision
    from biglearn.precision import bf16_support

    before = torch.get_float32_matmul_precision()
    row = measure_preset("smoke", device=torch.device("cpu"), batch=4, warmup=0, reps=2)
    assert torch.get_float32_matmul_precision() == before
    assert row["batch"] == 4 and positive(row["flops_per_step"])
    timed = MODES if bf16_support(torch.device("cpu"))[0] else MODES[:2]
    assert [m for m in MODES if m in row] == list(timed)
    for mode in timed:
        assert positive(row[mode]["step_s"]) and row[mode]["losses_finite"] is True
    assert row["tf32"]["speedup"] == pytest.approx(row["fp32"]["step_s"] / row["tf32"]["step_s"])
    assert len(cells(row)) == 8
    with precision("tf32"):
        assert torch.get_float32_matmul_precision() == "high"
    with pytest.raises(ValueError, match="unknown precision"), precision("fp8"):
        pass


def test_profile_names_the_preset_it_trains(capsys):
    from bench.profile import main
    assert main(["--preset", "smoke", "--batch", "2", "--steps", "1", "--rows", "3"]) == 0
    out = capsys.readouterr().out
    assert f"smoke training (fp32), 1 steps at batch 2, {torch.get_num_threads()} threads" in out
    assert "Self CPU" in out and "mnist-cpu training" not in out
    with pytest.raises(SystemExit):
        main(["--preset", "no-such-preset"])
