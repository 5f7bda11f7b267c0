"""The comparison of objectives (issue 11): every objective trains and loads, the special cases behave as
defined, the nearest-neighbour floor, the validation split, and `train.compare --quick`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import biglearn
from biglearn.config import OBJECTIVES, LossConfig
from biglearn.masks import sample_tasks
from biglearn.presets import get_preset
from train import cli, compare
from train.data import DataError, Dataset, hold_out, validation_indices
from train.loop import INFERENCE_FILE
from train.nearest import NearestNeighbourModel

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "tests" / "fixtures" / "digits200.npz"
FAST = ["--preset", "smoke", "--log-every", "1", "--probe-every", "0", "--sample-every", "0", "--steps", "5"]


def train(out: Path, *extra: str) -> int:
    return cli.main(["--data", str(DIGITS), "--out", str(out), *FAST, *extra])


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_every_objective_trains_and_writes_a_checkpoint_that_loads(tmp_path, objective):
    assert train(tmp_path / objective, "--objective", objective) == 0
    m = biglearn.load(tmp_path / objective / INFERENCE_FILE)
    assert m.objective == objective and m.full_config.loss.objective == objective
    images = torch.rand(2, 1, 28, 28)
    source = biglearn.masks.first_portion_source(2, 49, 0.5)
    assert m.classify(images).shape == (2, 10)
    if objective == "supervised":
        assert not m.can_generate
        with pytest.raises(ValueError, match="cannot complete"):
            m.complete(images, source, seeds=[0])
        return
    samples = m.complete(images, source, seeds=[0, 1])
    assert samples.shape == (2, 2, 1, 28, 28)
    spread = float((samples[:, 0] - samples[:, 1]).abs().max())
    assert (spread == 0.0) == (objective == "mae")  # MAE's samples do not depend on the seed; a GAN's do


def test_joint_objective_never_samples_a_source(monkeypatch, tmp_path):
    seen = []
    real = biglearn.objectives.draw_fakes

    def spy(generator, images, tasks, labels, config):
        seen.append(tasks.source.clone())
        return real(generator, images, tasks, labels, config)

    monkeypatch.setattr(biglearn.objectives, "draw_fakes", spy)
    assert train(tmp_path / "j", "--objective", "joint") == 0
    assert len(seen) == 5 and not any(bool(s.any()) for s in seen)


def test_joint_only_tasks_target_the_observed_patches():
    observed = torch.rand(16, 49) < 0.6
    observed[:, 0] = True
    tasks = biglearn.masks.joint_only(sample_tasks(16, 49, get_preset("smoke").masks, observed=observed), observed)
    assert not bool(tasks.source.any()) and torch.equal(tasks.target, observed)


@pytest.mark.parametrize("extra, message", [
    (["--objective", "nope"], "invalid choice"),
    (["--objective", "mae", "--r1-gamma", "1"], "trains no discriminator"),
    (["--objective", "supervised", "--lr-d", "0.1"], "trains no discriminator"),
    (["--objective", "joint", "--comm-weight", "1"], "no communication term"),
    (["--holdout", "200"], "--holdout must lie in"),
])
def test_bad_objective_options_are_refused(tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) if message == "invalid choice" else _no_raise():
        assert train(tmp_path / "x", *extra) == 2
    assert message in capsys.readouterr().err


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_resume_of_another_objective_names_it(tmp_path, capsys):
    assert train(tmp_path / "r", "--objective", "biglearn") == 0
    assert train(tmp_path / "r", "--objective", "mae", "--resume") == 2
    err = capsys.readouterr().err
    assert "loss.objective: 'biglearn' in the file, 'mae' asked" in err


def test_loss_config_refuses_communication_outside_biglearn():
    with pytest.raises(ValueError, match="no communication"):
        LossConfig(objective="mae", comm_weight=1.0)
    with pytest.raises(ValueError, match="unknown objective"):
        LossConfig(objective="vae")


def test_validation_split_never_overlaps_training():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1).expand(100, 1, 28, 28).contiguous()
    data = Dataset(images, torch.arange(100) % 10, None, 10, "t")
    train_part = hold_out(data, 30)
    val = validation_indices(100, 30)
    seen = set(train_part.images[:, 0, 0, 0].tolist())
    assert len(train_part) == 70 and seen.isdisjoint(val) and seen | set(val) == set(range(100))
    with pytest.raises(DataError):
        hold_out(data, 100)


def test_nearest_neighbour_copies_sources_and_fills_from_one_training_image():
    g = torch.Generator().manual_seed(0)
    train_images = torch.rand(50, 1, 28, 28, generator=g)
    nn = NearestNeighbourModel(train_images, torch.arange(50) % 10, get_preset("mnist-cpu").model)
    query = train_images[[7, 21]].clone()
    query[:, :, 14:] = torch.rand(2, 1, 14, 28, generator=g)  # the bottom half differs from every training image
    source = biglearn.masks.first_portion_source(2, 49, 3 / 7)  # the top three patch rows
    out = nn.complete(query, source, seeds=[0, 5])
    assert torch.equal(out[:, 0], out[:, 1])  # deterministic
    top = slice(0, 12)
    assert torch.equal(out[:, 0, :, top], query[:, :, top])  # sources exact
    assert torch.equal(out[0, 0, :, 12:], train_images[7, :, 12:]) and torch.equal(out[1, 0, :, 12:],
                                                                                    train_images[21, :, 12:])
    assert nn.classify(query, source).argmax(1).tolist() == [7, 1]


def test_compare_quick_writes_a_well_formed_table(tmp_path):
    doc = tmp_path / "claims.md"
    results = compare.run(["--quick", "--runs", str(tmp_path / "runs"), "--doc", str(doc), "--data", str(DIGITS),
                           "--test-data", str(DIGITS), "--ood-data", str(DIGITS), "--holdout", "50",
                           "--arms", "biglearn,joint,mae,supervised"])
    assert set(results) == {"biglearn", "joint", "mae", "supervised", "nearest-neighbour"}
    text = doc.read_text()
    table = [line for line in text.splitlines() if line.startswith("| biglearn |")]
    assert len(table) == 7  # one row in each of the seven tables
    blocks, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line.count("|"))
        elif current:
            blocks.append(current)
            current = []
    assert len(blocks) == 8 and all(len(set(b)) == 1 for b in blocks)  # verdicts + seven tables, columns aligned
    for arm in ("biglearn", "joint", "mae"):
        assert results[arm]["checkpoint_info"]["steps"] == 4
        assert 0.0 <= results[arm]["gap"]["train"]["acc@0.5"] <= 1.0
    assert results["supervised"]["complete"] == {"skipped": "objective 'supervised' cannot generate"}
    assert (tmp_path / "claims" / "side_by_side.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "claims" / "results.json").read_text())
    assert np.isclose(saved["mae"]["complete"]["random"]["div@0.5"], 0.0)
    assert "**" in text and "## Verdicts" in text


def test_a_flops_budget_gives_every_arm_the_same_compute_and_a_scaling_row(tmp_path):
    from train.scaling import read_rows

    doc, runs = tmp_path / "claims.md", tmp_path / "runs"
    budget = 2.0e9
    results = compare.run(["--quick", "--runs", str(runs), "--doc", str(doc), "--data", str(DIGITS), "--test-data",
                           str(DIGITS), "--ood-data", str(DIGITS), "--holdout", "50", "--arms", "biglearn,joint,mae",
                           "--budget-flops", str(budget), "--precision", "fp32"])
    rows = read_rows(tmp_path / "claims" / "scaling.json")
    assert sorted(r["arm"] for r in rows) == ["biglearn", "joint", "mae"]
    for row in rows:
        per_step = json.loads((runs / row["arm"] / "flops.json").read_text())["flops_per_step"]
        assert abs(row["steps"] * per_step - budget) <= per_step / 2 + 1  # within one step of the budget
        assert row["budget_flops"] == budget and row["preset"] == "smoke" and row["precision"] == "fp32"
        assert row["images"] == row["steps"] * 8 and row["train_s"] > 0
        assert row["metrics"]["complete"]["random"]["vote_acc@0.5"] == \
            results[row["arm"]]["complete"]["random"]["vote_acc@0.5"]
    steps = {r["arm"]: r["steps"] for r in rows}
    assert steps["mae"] > steps["biglearn"]  # the cheaper step gets more of them
    assert "counted training FLOPs" in doc.read_text() and "training GFLOP" in doc.read_text()


def step_plan(runs: Path, steps: int, *extra: str) -> compare.Plan:
    """A smoke comparison of the biglearn arm for `steps` steps (no evaluation: train_arms alone)."""
    return compare.make_plan(compare.build_parser().parse_args(
        ["--quick", "--runs", str(runs), "--doc", str(runs / "claims.md"), "--data", str(DIGITS), "--test-data",
         str(DIGITS), "--ood-data", str(DIGITS), "--holdout", "50", "--arms", "biglearn", "--steps", str(steps),
         "--precision", "fp32", "--parallel", "1", "--threads", "1", *extra]))


def test_a_larger_budget_extending_a_smaller_one_is_the_run_from_scratch(tmp_path):
    from safetensors.torch import load_file

    from train.loop import RESUME_FILE

    # snapshots at other steps in each (every step, every 3rd, every 2nd): saving does not move the run
    compare.train_arms(step_plan(tmp_path / "small", 3, "--snapshots", "3"))
    compare.train_arms(step_plan(tmp_path / "large", 6, "--snapshots", "2", "--extend-from", str(tmp_path / "small")))
    compare.train_arms(step_plan(tmp_path / "scratch", 6, "--snapshots", "3"))
    extended, scratch = (load_file(tmp_path / r / "biglearn" / RESUME_FILE) for r in ("large", "scratch"))
    assert extended.keys() == scratch.keys()
    assert all(torch.equal(extended[k], scratch[k]) for k in extended if not k.startswith("rng"))
    assert biglearn.load(tmp_path / "small" / "biglearn" / INFERENCE_FILE).info["steps"] == 3  # the source stays
    assert biglearn.load(tmp_path / "large" / "biglearn" / INFERENCE_FILE).info["steps"] == 6
    steps = [json.loads(line)["step"] for line in (tmp_path / "large" / "biglearn" / "metrics.jsonl").open()]
    assert steps == sorted(steps) and steps[0] == 1 and steps[-1] > 3  # one log: the source's records, then its own
    first = [(tmp_path / r / "biglearn" / "metrics.jsonl").open().readline() for r in ("small", "large")]
    assert first[0] == first[1]  # the source's record itself (its wall seconds too): trained on, not trained again
    kept = sorted(p.name for p in (tmp_path / "large" / "biglearn" / "snapshots").iterdir())
    assert kept == [f"model_{k:07d}.safetensors" for k in (1, 2, 3, 6)]  # the source's snapshots, then its own


def test_an_extension_is_refused_where_it_would_not_be_that_run(tmp_path, monkeypatch):
    import dataclasses

    from train.run_lock import run_directory_lock

    compare.train_arms(step_plan(tmp_path / "small", 4))
    source = ["--extend-from", str(tmp_path / "small")]
    with pytest.raises(compare.CompareError, match="trained 4 steps, more than this budget's 2"):
        compare.train_arms(step_plan(tmp_path / "shorter", 2, *source))
    with run_directory_lock(tmp_path / "small" / "biglearn"), \
            pytest.raises(compare.CompareError, match="being trained by another process"):
        compare.train_arms(step_plan(tmp_path / "busy", 8, *source))
    (tmp_path / "small" / "biglearn" / "resume.safetensors").unlink()
    with pytest.raises(compare.CompareError, match="only a run with its resume file"):
        compare.train_arms(step_plan(tmp_path / "no-resume", 8, *source))
    smoke = compare.REGISTRY["smoke"]
    monkeypatch.setitem(compare.REGISTRY, "smoke",
                        dataclasses.replace(smoke, recipe=dataclasses.replace(smoke.recipe, lr_decay=0.2)))
    with pytest.raises(compare.CompareError, match="decays its learning rate"):
        compare.train_arms(step_plan(tmp_path / "decay", 8, *source))
    for extra, message in ((["--extend-from", str(tmp_path / "nowhere")], "no such folder"),
                           (["--extend-from", str(tmp_path / "x"), "--runs", str(tmp_path / "x")], "not --runs")):
        (tmp_path / "x").mkdir(exist_ok=True)
        with pytest.raises(compare.CompareError, match=message):
            step_plan(tmp_path / "y", 8, *extra)


def test_scaling_rows_are_validated_when_read(tmp_path):
    from train.scaling import make_row, merge_rows, read_rows

    path = tmp_path / "scaling.json"
    row = make_row("mae", "smoke", 0, 1e9, {"train_seconds": 3.0, "steps": 4, "images_seen": 32}, {"x": 1})
    merge_rows(path, [row])
    merge_rows(path, [{**row, "steps": 5}])  # the same run again replaces its row
    assert [r["steps"] for r in read_rows(path)] == [5]
    for bad, message in (({**row, "seed": "0"}, "seed must be int"), ({**row, "steps": -1}, ">= 0"),
                         ({k: v for k, v in row.items() if k != "arm"}, "missing"), ({**row, "x": 1}, "unknown")):
        path.write_text(json.dumps([bad]))
        with pytest.raises(ValueError, match=message):
            read_rows(path)


@pytest.mark.parametrize("extra, message", [
    (["--budget", "0"], "positive --budget"),
    (["--budget-flops", "-1"], "--budget-flops must be"),
    (["--arms", "biglearn,vae"], "unknown arm"),
    (["--doc", "/proc/nowhere/claims.md"], "cannot write into"),
])
def test_compare_refuses_bad_input(tmp_path, capsys, extra, message):
    argv = ["--runs", str(tmp_path / "runs"), "--data", str(DIGITS), "--test-data", str(DIGITS), "--ood-data",
            str(DIGITS), *extra]
    assert compare.main(argv) == 2
    assert message in capsys.readouterr().err


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """torchvision's raw MNIST files (idx format, big-endian) for `images` uint8 (N, 28, 28)."""
    import struct

    folder.mkdir(parents=True, exist_ok=True)
    n = len(images)
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
    label_bytes = labels.astype(np.uint8).tobytes()
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + label_bytes)


def test_evaluate_runs_on_a_fresh_clone_from_torchvision_files(tmp_path, monkeypatch):
    """No ../shared/data: the evaluation's defaults become torchvision's MNIST / Fashion-MNIST in --data-root."""
    from train import eval_classifier, evaluate

    data = np.load(DIGITS)
    images, labels = data["images"], data["labels"]
    for name in ("MNIST", "FashionMNIST"):
        for prefix in ("train", "t10k"):
            write_idx(tmp_path / "root" / name / "raw", prefix, images, labels)
    monkeypatch.setattr(eval_classifier, "DATA_DIR", tmp_path / "no-shared-data")
    out = tmp_path / "eval"
    result = evaluate.run([str(ROOT / "assets" / "mnist-cpu.safetensors"), "--out", str(out), "--data-root",
                           str(tmp_path / "root"), "--quick", "--num-samples", "64", "--complete-samples", "32",
                           "--div-images", "8", "--no-progress"])
    assert result["data"] == "mnist-test" and result["joint"]["n"] == 64
    assert (out / "metrics.json").is_file() and (out / "report.md").is_file()


def test_evaluate_offline_without_files_says_how_to_supply_them(tmp_path, monkeypatch, capsys):
    from train import eval_classifier, evaluate

    monkeypatch.setattr(eval_classifier, "DATA_DIR", tmp_path / "no-shared-data")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # no network, whatever this machine has
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    code = evaluate.main([str(ROOT / "assets" / "mnist-cpu.safetensors"), "--out", str(tmp_path / "e"),
                          "--data-root", str(tmp_path / "empty"), "--quick", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "could not download or read torchvision's MNIST" in err and "pass an .npz" in err


def test_the_small_preset_costs_at_most_an_eighth_of_mnist_cpu_per_image():
    from biglearn.presets import get_preset
    from train.flops import step_flops

    small, full = (step_flops(get_preset(name), 4, steps=4) for name in ("mnist-small", "mnist-cpu"))
    assert small <= full / 8


def scaling_rows(accs: dict[tuple[str, float], list[float]]) -> list[dict]:
    from train.scaling import make_row

    rows = []
    for (arm, budget), values in accs.items():
        for seed, acc in enumerate(values):
            metrics = {"complete": {"random": {"acc@0.5": acc, "vote_acc@0.5": acc, "nll@0.5": 1 - acc}},
                       "joint": {"fd": 10.0}, "classify": {"acc@1.0": 0.9}}
            rows.append(make_row(arm, "mnist-small", seed, budget, {"steps": 10, "images_seen": 320,
                                                                    "train_seconds": 5.0}, metrics))
    return rows


def test_the_scaling_page_says_where_each_claim_begins_to_hold(tmp_path):
    from train import scaling

    rows = scaling_rows({("biglearn", 1e12): [0.50, 0.50], ("biglearn-no-comm", 1e12): [0.60, 0.60],
                         ("biglearn", 1e13): [0.70, 0.70], ("biglearn-no-comm", 1e13): [0.60, 0.60],
                         ("biglearn", 1e14): [0.80, 0.80], ("biglearn-no-comm", 1e14): [0.60, 0.60]})
    per_budget = {}
    for (_, budget), arms in scaling.grouped(rows).items():
        verdicts, noise = scaling.budget_verdicts(arms)
        assert set(noise.values()) == {0.01}  # identical seeds: the fixed noise floor
        per_budget[budget] = {c: v for c, _, _, v in verdicts}
    assert scaling.summary(per_budget)["communication (eq. 5) helps"] == \
        "begins to hold at 1e+13 FLOPs and holds above"
    # seeds that disagree by 0.1 make a 0.1 difference unclear: the seeds' spread is the noise
    noisy = scaling_rows({("biglearn", 1e13): [0.65, 0.75], ("biglearn-no-comm", 1e13): [0.60, 0.60]})
    verdicts, noise = scaling.budget_verdicts(scaling.grouped(noisy)[("mnist-small", 1e13)])
    assert noise["acc@0.5"] == pytest.approx(2 * 0.0707, abs=1e-3)
    assert [v for c, _, _, v in verdicts if c.startswith("communication")] == ["unclear at this budget"]
    assert scaling.summary({1e12: {"c": "does not hold"}, 1e13: {"c": "unclear at this budget"}})["c"] == \
        "not shown at any budget measured (up to 1e+13 FLOPs): does not hold at 1e+12; unclear at 1e+13"
    assert scaling.summary({1e12: {"c": "does not hold"}, 1e13: {"c": "does not hold"}})["c"] == \
        "does not hold at any budget measured (up to 1e+13 FLOPs)"
    path = tmp_path / "claims" / "scaling.json"
    scaling.merge_rows(path, rows)
    doc = tmp_path / "claims" / "scaling.md"
    assert scaling.main(["--rows", str(path), "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert "begins to hold at 1e+13 FLOPs" in text and "### mnist-small at 1e+13 FLOPs (2 seed(s)" in text
    assert "| claim | 1e+12 | 1e+13 | 1e+14 | across the budgets |" in text  # a column per budget
    assert "| communication (eq. 5) helps | does not hold | holds | holds | begins to hold at 1e+13" in text
    assert (tmp_path / "claims" / "scaling_vote_acc_0.5.png").stat().st_size > 5000
    assert scaling.main(["--rows", str(tmp_path / "none.json"), "--doc", str(doc)]) == 2  # no rows yet


def test_a_budget_where_no_claim_has_its_arms_says_so_instead_of_an_empty_table():
    from train import scaling

    rows = scaling_rows({("biglearn", 1e13): [0.7, 0.7], ("biglearn-no-comm", 1e13): [0.6, 0.6],
                         ("biglearn", 1e14): [0.8]})
    text = scaling.render(rows, {}, "python -m train.scaling")
    lone = text.split("### mnist-small at 1e+14 FLOPs")[1]
    assert "No claim can be judged here" in lone and "| claim | measured | verdict |" not in lone
    seeded = text.split("### mnist-small at 1e+13 FLOPs")[1].split("###")[0]
    assert "| communication (eq. 5) helps |" in seeded and "No claim can be judged" not in seeded


def test_a_budget_with_one_seed_takes_the_noise_of_the_nearest_seeded_budget():
    from train import scaling

    rows = scaling_rows({("biglearn", 1e12): [0.50, 0.70], ("biglearn-no-comm", 1e12): [0.60, 0.60],
                         ("biglearn", 1e13): [0.60, 0.64], ("biglearn-no-comm", 1e13): [0.60, 0.60],
                         ("biglearn", 8e13): [0.70], ("biglearn-no-comm", 8e13): [0.60]})
    noises = scaling.budget_noises(scaling.grouped(rows))
    assert noises[("mnist-small", 1e13)][1] == "the seeds' spread"
    assert noises[("mnist-small", 1e13)][0]["vote acc@0.5"] == pytest.approx(2 * 0.0283, abs=1e-3)
    # one seed at 8e13: the spread at 1e13 (nearer in log FLOPs than 1e12), so a 0.1 lead is a result...
    assert noises[("mnist-small", 8e13)] == (noises[("mnist-small", 1e13)][0], "the seeds' spread at 1e+13 FLOPs")
    one_seed = scaling.grouped(rows)[("mnist-small", 8e13)]
    verdicts, _ = scaling.budget_verdicts(one_seed, noises[("mnist-small", 8e13)][0])
    assert [v for c, _, _, v in verdicts if c.startswith("communication")] == ["holds"]
    # an arm with one seed beside another's two tight ones: the larger of their spread and the seeded budget's
    mixed = rows + scaling_rows({("mae", 8e13): [0.80, 0.80]})
    noise, source = scaling.budget_noises(scaling.grouped(mixed))[("mnist-small", 8e13)]
    assert noise["vote acc@0.5"] == pytest.approx(2 * 0.0283, abs=1e-3) and "that at 1e+13 FLOPs" in source
    # ...while one seed alone, with no seeded budget beside it, falls back on the fixed floor
    alone = scaling.budget_noises(scaling.grouped(scaling_rows({("biglearn", 8e13): [0.7]})))
    floor = {"vote acc@0.5": 0.01, "acc@0.5": 0.01, "own classifier": 0.01, "gap": 0.01}
    assert alone[("mnist-small", 8e13)] == (floor, "the fixed floor: no seeds to measure the spread")


def test_the_scaling_page_judges_each_arms_plateau_on_its_own_measures(tmp_path, capsys):
    """Curves as continue.sh leaves them (STAGE/ARM/curve.png, a metrics.json per scored snapshot, the final model
    a step after the last snapshot): per budget a figure and, per arm and measure, the last point over seeds and
    each seed's verdict; the joint GAN is judged by its FD (lower is better), not by completion."""
    from train import plateau

    def snapshot(arm_dir, name, steps, acc, fd):
        (arm_dir / name).mkdir(parents=True)
        metrics = {"checkpoint_info": {"steps": steps, "train_seconds": steps},
                   "complete": {"random": {"acc@0.5": acc}}, "joint": {"fd": fd}, "classify": {"acc@1.0": 0.9}}
        (arm_dir / name / "metrics.json").write_text(json.dumps(metrics))

    curves = tmp_path / "claims" / "curves"
    fd_falling, fd_flat = [400, 300, 200, 150], [400, 155, 151, 150]
    for stage, arm, accs, fds in (("mnist-small-1e+13-s0", "biglearn", [0.3, 0.5, 0.51, 0.52], fd_flat),
                                  ("mnist-small-1e+13-s1", "biglearn", [0.3, 0.5, 0.56, 0.50], fd_flat),
                                  ("mnist-small-1e+13-s0", "joint", [0.5, 0.45, 0.4, 0.3], fd_falling),
                                  ("mnist-small-1e+13-s1", "joint", [0.5, 0.45, 0.4, 0.3], fd_flat),
                                  ("mnist-small-4e+13-s0-side", "mae", [0.3, 0.5, 0.6, 0.4], fd_flat)):
        for k, (acc, fd) in enumerate(zip(accs, fds, strict=True)):
            snapshot(curves / stage / arm, f"model_{k:07d}", 1000 * (k + 1), acc, fd)
        snapshot(curves / stage / arm, "model", 4002, accs[-1], fds[-1])  # the final model: the last snapshot again
        (curves / stage / arm / "curve.png").write_bytes(b"png")
    doc_dir = (tmp_path / "claims").resolve()
    lines = plateau.section(Path(os.path.relpath(curves)), doc_dir)
    assert (doc_dir / "plateau_mnist-small_1e13.png").stat().st_size > 0
    assert "![plateau curves](plateau_mnist-small_1e13.png)" in lines
    big = [line for line in lines if line.startswith("| biglearn |")]
    assert [line.split(" | ")[1] for line in big] == ["acc@0.5", "joint FD", "own classifier"]
    assert big[0].startswith("| biglearn | acc@0.5 | 0.510 ± 0.014 | "
                             "[s0 flat](curves/mnist-small-1e+13-s0/biglearn/curve.png), [s1 past its best](")
    assert all(line.endswith("| yes |") for line in big)
    joint = [line for line in lines if line.startswith("| joint |")]
    assert len(joint) == 1 and "| joint FD | 150.000 ± 0.000 | [s0 still improving]" in joint[0]
    assert "[s1 flat]" in joint[0] and joint[0].endswith("**no** (1 seed-measure(s) still improving) |")
    mae = [line for line in lines if line.startswith("| mae |")]
    assert len(mae) == 1 and "[s0 past its best]" in mae[0]
    assert lines.index("### mnist-small at 4e+13 FLOPs") < lines.index(mae[0])
    assert plateau.largest_budgets(Path(os.path.relpath(curves))) == {
        ("mnist-small", "biglearn"): (1e13, True), ("mnist-small", "joint"): (1e13, False),
        ("mnist-small", "mae"): (4e13, True)}  # past its best is no longer improving: its plateau
    # what a larger budget trains on: the arms still improving in some seed; a flat arm waits for its seeds
    rel = Path(os.path.relpath(curves))
    assert plateau.improving_arms(rel, "mnist-small", 1e13, ["biglearn", "joint"], seeds=2) == ["joint"]
    assert plateau.improving_arms(rel, "mnist-small", 1e13, ["biglearn", "joint"], seeds=3) is None  # biglearn flat
    # still improving in one seed decides at once: the seeds to come cannot undo "in some seed"
    assert plateau.improving_arms(rel, "mnist-small", 1e13, ["joint"], seeds=3) == ["joint"]
    assert plateau.improving_arms(rel, "mnist-small", 4e13, ["mae"], seeds=1) == []
    assert plateau.main(["mnist-small", "1e13", "biglearn,joint", "--seeds", "2", "--curves", str(rel)]) == 0
    assert plateau.main(["mnist-small", "4e13", "mae,joint", "--seeds", "1", "--curves", str(rel)]) == 3
    assert plateau.main(["mnist-small", "1e13", "joint", "--curves", str(tmp_path / "none")]) == 2
    out = capsys.readouterr()
    assert out.out == "joint\n" and "undecided" in out.err and "is not a folder" in out.err


def test_each_verdict_takes_the_noise_of_its_own_measure():
    """Seeds of the joint GAN that disagree on completion do not make a classifier gap the seeds agree on unclear."""
    from train import scaling

    rows = []
    for arm, votes, classifier in (("biglearn", [0.80, 0.80], [0.930, 0.931]), ("joint", [0.45, 0.55], [0.96, 0.96]),
                                   ("mae", [0.92, 0.92], [0.95, 0.95]), ("supervised", [None, None], [0.974, 0.973])):
        for seed, (vote, own) in enumerate(zip(votes, classifier, strict=True)):
            complete = {} if vote is None else {"complete": {"random": {"acc@0.5": vote, "vote_acc@0.5": vote}}}
            metrics = {**complete, "joint": {"fd": 100.0}, "classify": {"acc@1.0": own}}
            rows.append(scaling.make_row(arm, "mnist-small", seed, 8e13, {"steps": 10, "images_seen": 320,
                                                                          "train_seconds": 5.0}, metrics))
    verdicts, noise = scaling.budget_verdicts(scaling.grouped(rows)[("mnist-small", 8e13)])
    assert noise["vote acc@0.5"] == pytest.approx(2 * 0.0707, abs=1e-3)
    assert noise["own classifier"] == 0.01  # the floor: the classifier's seeds agree within 0.001
    verdict = {c.split(":")[0]: v for c, _, _, v in verdicts}
    assert verdict["(iv) unifies paradigms"] == "does not hold"  # 0.9305 against 0.9735: 0.043 > 0.01
    # (ii): completion within the vote noise (0.12 < 0.14), the classifier behind by more than its own noise
    assert verdict["(ii) every capability at once, as good as the specialists"] == \
        "does not hold (1 of 3 capabilities behind)"


def test_the_page_at_convergence_takes_each_arm_at_its_largest_budget_and_says_what_is_provisional():
    from train import scaling

    rows = scaling_rows({("biglearn", 1e13): [0.60, 0.62], ("biglearn", 1e14): [0.80, 0.82],
                         ("mae", 1e13): [0.85, 0.86], ("biglearn-no-comm", 1e13): [0.60, 0.60]})
    largest = {("mnist-small", "biglearn"): (1e14, False), ("mnist-small", "mae"): (1e13, True),
               ("mnist-small", "biglearn-no-comm"): (1e13, True)}
    text = "\n".join(scaling.convergence(rows, largest))
    assert text.startswith("## At convergence") and "### mnist-small at convergence" in text
    assert "| biglearn | 1e+14 | **no** | 2 | 10 | 0.810 ± 0.014 |" in text
    assert "| mae | 1e+13 | yes | 2 | 10 | 0.855 ± 0.007 |" in text
    assert ("Noise: vote acc@0.5 0.028, acc@0.5 0.028, own classifier 0.010, gap 0.010; for each, twice the largest "
            "std over seeds of the rows below.") in text
    assert "**Provisional**: still improving at its largest budget: biglearn;" in text
    # no communication claim across budgets: the ablation is at 1e13, big learning at 1e14
    assert "Not here: biglearn-no-comm" in text and "| biglearn-no-comm |" not in text
    assert "communication" not in text
    # one seed each: the noise of the nearest seeded budget (1e13's spread, 0.014 x 2)
    one = [r for r in rows if r["seed"] == 0 or r["budget_flops"] == 1e13]
    text = "\n".join(scaling.convergence(one, {**largest, ("mnist-small", "mae"): (1e14, True)}))
    assert "| mae |" not in text  # no mae row at 1e14: nothing to show for it
    assert "own classifier 0.010, gap 0.010; for the one-seed rows at 1e+14 FLOPs, the seeds' spread at 1e+13 FLOPs." \
        in text
    # one seed of big learning beside two tight seeds of mae: its budget's noise (0.028), not mae's spread (0.007)
    tight = scaling_rows({("mae", 1e14): [0.850, 0.855]})
    text = "\n".join(scaling.convergence(one + tight, {**largest, ("mnist-small", "mae"): (1e14, True)}))
    assert ("Noise: vote acc@0.5 0.028, acc@0.5 0.028, own classifier 0.010, gap 0.010; for each, the largest of: "
            "twice the largest std over seeds of the rows below; for the one-seed rows at 1e+14 FLOPs, the seeds' "
            "spread and, where larger (an arm here has one seed), that at 1e+13 FLOPs.") in text
    assert scaling.convergence(rows, {}) == []


def test_plateau_states_follow_the_measures_direction_and_tolerance():
    from train.plateau import MEASURES, state

    acc, fd = MEASURES["acc@0.5"], MEASURES["joint FD"]
    # the last point against the best of the first half (0.6) and against the best of all
    assert state([0.5, 0.6, 0.61, 0.62], acc) == "flat" and state([0.5, 0.6, 0.62, 0.64], acc) == "still improving"
    assert state([0.5, 0.7, 0.66, 0.6], acc) == "past its best"
    assert state([0.4, 0.5, 0.52, 0.55], acc) == "still improving"
    # FD: lower is better, 5 % of the last value
    assert state([300, 200, 197, 195], fd) == "flat" and state([300, 200, 190, 185], fd) == "still improving"
    assert state([300, 150, 155, 160], fd) == "past its best"
    # still improving is decided first: the second half bought 37 -> 22 though the last snapshot fell back from 16
    assert state([330, 140, 86, 37, 31, 16, 22], fd, [0.1, 0.2, 0.3, 0.5, 0.6, 0.9, 1.0]) == "still improving"
    assert state([330, 140, 40, 37, 20, 45], fd) == "past its best"  # fell back past the first half's best
    # the first half by the budget: a run trained on from a smaller budget has its snapshots dense early
    dense = [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 1.0]
    assert state([0.5, 0.55, 0.58, 0.6, 0.61, 0.62, 0.625], acc, dense) == "flat"  # 0.625 against 0.6 at 0.5
    assert state([0.5, 0.55, 0.58, 0.6, 0.61, 0.62, 0.625], acc) == "still improving"  # by count: against 0.58


def test_an_arm_that_exits_cleanly_before_its_budget_is_not_scored(tmp_path, monkeypatch):
    """A trainer stopped by SIGTERM checkpoints and exits 0 part-way: compare must not score it as finished."""
    runs = tmp_path / "runs"
    assert train(runs / "mae", "--objective", "mae", "--precision", "fp32") == 0  # 5 steps of a far larger budget
    monkeypatch.setattr(compare, "train_in_parallel", lambda *a, **k: None)  # every run "exited 0" at once
    with pytest.raises(compare.CompareError, match="stopped before their budget: mae"):
        compare.run(["--quick", "--runs", str(runs), "--doc", str(tmp_path / "claims.md"), "--data", str(DIGITS),
                     "--test-data", str(DIGITS), "--ood-data", str(DIGITS), "--holdout", "50", "--arms", "mae",
                     "--budget-flops", "2e9", "--precision", "fp32"])
    assert not (tmp_path / "claims" / "scaling.json").exists()
