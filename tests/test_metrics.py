"""Evaluation metrics on tiny inputs with known answers, and a smoke test of `python -m train.evaluate`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tqdm import tqdm

import biglearn
from biglearn import BigLearnConfig, ModelConfig, UniversalGenerator
from train import evaluate, metrics, plots, sections
from train.eval_classifier import (
    ClassifierError,
    EvalClassifier,
    accuracy_of,
    load_classifier,
    load_or_fit,
    save_classifier,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = ModelConfig(height=28, width=28, channels=1, patch_size=4, num_classes=10, enc_dim=16, enc_depth=1,
                   enc_heads=2, dec_dim=16, dec_depth=1, dec_heads=2, mlp_ratio=1.0, noise_dim=8, noise_depth=2,
                   conv_head_channels=0, d_dim=16, d_depth=1, d_heads=2)


# --- pure metrics ------------------------------------------------------------------------------------------

def test_frechet_distance_of_a_set_with_itself_is_zero():
    feats = np.random.default_rng(0).normal(size=(300, 6))
    assert metrics.frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_shifted_sets_is_the_squared_shift():
    feats = np.random.default_rng(1).normal(size=(300, 6))
    shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0, 0.1])
    assert metrics.frechet_distance(feats, feats + shift) == pytest.approx((shift ** 2).sum(), rel=1e-9)


def test_frechet_distance_of_scaled_sets():
    # b = 2a: Σb = 4Σa, so tr Σa + tr Σb − 2 tr (2Σa) = tr Σa, and the means differ by μa
    a = np.random.default_rng(2).normal(loc=0.3, size=(400, 4))
    expected = (a.mean(0) ** 2).sum() + np.trace(np.cov(a, rowvar=False))
    assert metrics.frechet_distance(a, 2 * a) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_rejects_bad_shapes():
    with pytest.raises(ValueError, match="feature sets"):
        metrics.frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))


def test_accuracy_histogram_entropy_confidence():
    logits = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0], [5.0, 0.0, 0.0]])
    assert metrics.accuracy(logits, torch.tensor([0, 1, 0, 0])) == 0.75
    assert metrics.class_histogram(logits) == [0.5, 0.25, 0.25]
    assert metrics.entropy([1 / 3] * 3) == pytest.approx(math.log(3))
    assert metrics.entropy([1.0, 0.0, 0.0]) == 0.0
    top = math.exp(5) / (math.exp(5) + 2)
    assert metrics.mean_confidence(logits) == pytest.approx(top)


def test_diversity_counts_target_pixels_only():
    samples = torch.zeros(1, 2, 1, 2, 2)
    samples[0, 1] = 1.0  # two seeds differ by 1 everywhere: population std 0.5
    target = torch.tensor([[[[True, False], [False, False]]]])
    assert metrics.diversity(samples, target) == pytest.approx(0.5)
    samples[0, 1, 0, 0, 0] = 0.0  # now identical inside T, still different outside
    assert metrics.diversity(samples, target) == 0.0


# --- the evaluation pipeline with a fake generator -----------------------------------------------------------

class PerfectGenerator:
    """Returns the real image for every seed: a deterministic, perfect completer."""

    config = TINY
    deterministic = True

    def __init__(self) -> None:
        self.seed_counts: list[int] = []

    def complete(self, images, source, *, seeds):
        self.seed_counts.append(len(seeds))
        return images[:, None].expand(-1, len(seeds), -1, -1, -1)


def tiny_data(n: int = 12, seed: int = 0) -> sections.EvalData:
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, 28, 28, generator=g)
    return sections.EvalData(images, torch.arange(n) % 10, torch.rand(n, 1, 28, 28, generator=g),
                             torch.rand(n, 1, 28, 28, generator=g))


def test_perfect_generator_scores_the_classifiers_accuracy_with_zero_diversity():
    torch.manual_seed(0)
    clf = EvalClassifier().eval()
    data = tiny_data()
    sizes = sections.Sizes(samples=12, complete=12, div_images=5, vote_images=7)
    _, ref = clf.predict(data.test)
    perfect = PerfectGenerator()
    with tqdm(disable=True) as bar:
        res = sections.eval_complete(perfect, clf, ref, data, sizes, bar)
    expected = accuracy_of(clf, data.test, data.labels)
    for mode in sections.MODES:
        for r in sections.RATIOS:
            assert res[mode][f"acc@{r}"] == pytest.approx(expected)
            assert res[mode][f"div@{r}"] == 0.0
            assert res[mode][f"fd@{r}"] == pytest.approx(0.0, abs=1e-6)
    # a deterministic model is scored once on its one output: vote = mass = its accuracy on those images
    assert perfect.seed_counts.count(1) == 2 * len(sections.RATIOS) + len(sections.RATIOS)  # acc (2 modes) + vote
    vote_expected = accuracy_of(clf, data.test[:7], data.labels[:7])
    assert all(res["random"][f"vote_acc@{r}"] == pytest.approx(vote_expected) for r in sections.RATIOS)
    assert "vote_acc@0.5" not in res["first"]


def test_sampler_scores_take_the_posterior_mode_and_its_calibration():
    """A sampler whose samples are 70% the true class and 30% another: per-sample accuracy 0.7, vote 1.0, NLL of
    the true label -log 0.7."""
    n, k, classes = 6, 10, 10
    labels = torch.arange(n) % classes
    drawn = labels[:, None].repeat(1, k)
    drawn[:, 7:] = (labels[:, None] + 1) % classes  # 3 of 10 samples another class
    logits = torch.nn.functional.one_hot(drawn, classes).float() * 5
    per_sample = metrics.accuracy(logits.flatten(0, 1), labels.repeat_interleave(k))
    scores = metrics.sampler_scores(logits, labels)
    assert per_sample == pytest.approx(0.7) and scores["vote"] == 1.0 and scores["mass"] == 1.0
    assert scores["nll"] == pytest.approx(-math.log(0.7))
    assert metrics.sampler_scores(logits[:, :1], labels)["nll"] == pytest.approx(0.0)  # one sample, right
    wrong = metrics.sampler_scores(logits[:, 7:8], labels)
    assert wrong["vote"] == 0.0 and wrong["nll"] == pytest.approx(-math.log(1e-3))  # the floor
    with pytest.raises(ValueError):
        metrics.sampler_scores(logits[0], labels)


def test_vote_seeds_score_deterministic_models_once(tmp_path):
    from tests.helpers import save_tiny

    assert sections.vote_seeds(PerfectGenerator()) == 1
    stochastic = biglearn.load(save_tiny(tmp_path / "g.safetensors"))
    assert sections.vote_seeds(stochastic) == sections.VOTE_SEEDS == 8


# --- the evaluation classifier file ------------------------------------------------------------------------

def write_npz(path, n: int, size: int = 28, seed: int = 0):
    rng = np.random.default_rng(seed)
    np.savez_compressed(path, images=rng.integers(0, 256, size=(n, size, size), dtype=np.uint8),
                        labels=np.arange(n, dtype=np.int64) % 10)
    return path


def test_classifier_fits_once_then_loads_from_cache(tmp_path):
    data = write_npz(tmp_path / "d.npz", 20)
    path = tmp_path / "clf.safetensors"
    model, info = load_or_fit(path, train_data=data, test_data=data, progress=False)
    assert path.exists() and 0.0 <= info["test_accuracy"] <= 1.0
    again, info2 = load_or_fit(path, train_data=tmp_path / "absent.npz", test_data=data)
    assert info2 == info
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(model.predict(x)[0], again.predict(x)[0])


def test_classifier_rejects_a_foreign_file(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ClassifierError, match="bad.safetensors"):
        load_classifier(bad)


# --- python -m train.evaluate ------------------------------------------------------------------------------

@pytest.fixture
def files(tmp_path):
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.safetensors"
    biglearn.save(ckpt, UniversalGenerator(TINY), BigLearnConfig(model=TINY))
    clf = tmp_path / "clf.safetensors"
    save_classifier(clf, EvalClassifier(), {"test_accuracy": None})
    return {"ckpt": ckpt, "clf": clf, "test": write_npz(tmp_path / "test.npz", 12),
            "train": write_npz(tmp_path / "train.npz", 12, seed=1), "ood": write_npz(tmp_path / "ood.npz", 12, seed=2),
            "out": tmp_path / "eval"}


def cli(f, *extra):
    return ["--out", str(f["out"]), "--data", str(f["test"]), "--train-data", str(f["train"]),
            "--ood-data", str(f["ood"]), "--classifier", str(f["clf"]), "--quick", "--div-images", "4",
            "--no-progress", *extra]


def test_evaluate_smoke(files, capsys):
    assert evaluate.main([str(files["ckpt"]), *cli(files)]) == 0
    result = json.loads((files["out"] / "metrics.json").read_text())
    for section in ("joint", "complete", "conditional", "classify", "abused", "targets"):
        assert section in result
    assert len(result["joint"]["class_fractions"]) == 10
    assert set(result["complete"]["random"]) >= {f"{k}@{r}" for k in ("acc", "fd", "div") for r in sections.RATIOS}
    assert set(result["abused"]) >= {"relocated", "duplicated", "mixed", "out_of_domain"}
    assert all(isinstance(t["pass"], bool) for t in result["targets"])
    for name in result["figures"]:
        assert (files["out"] / name).stat().st_size > 0
    assert {"fig3_ratio_sweep.png", "fig4_seeds.png", "fig5_abused.png", "acc_vs_r.png",
            "div_vs_r.png"} <= set(result["figures"])
    assert "complete random acc@0.5" in capsys.readouterr().out
    report = (files["out"] / "report.md").read_text()
    for t in result["targets"]:  # every target, with its verdict
        assert any(line.startswith(f"| {t['target']} |") and line.endswith("| yes |" if t["pass"] else "| **no** |")
                   for line in report.splitlines()), t["target"]
    for name in result["figures"]:  # every figure shown, by a link that resolves beside the report
        assert f"]({name})" in report
    lines = report.splitlines()  # tables keep their columns: pipes inside cells are escaped
    for above, line in zip(lines, lines[1:], strict=False):
        if above.startswith("|") and line.startswith("|"):
            assert above.replace("\\|", "").count("|") == line.replace("\\|", "").count("|"), line


def error_of(argv, capsys) -> str:
    assert evaluate.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_evaluate_rejects_a_checkpoint_of_another_image_size(files, tmp_path, capsys):
    other = ModelConfig(height=32, width=32, patch_size=8, enc_dim=16, enc_depth=1, enc_heads=2, dec_dim=16,
                        dec_depth=1, dec_heads=2, noise_dim=8, noise_depth=2, conv_head_channels=0, d_dim=16,
                        d_depth=1, d_heads=2)
    ckpt = tmp_path / "big.safetensors"
    biglearn.save(ckpt, UniversalGenerator(other), BigLearnConfig(model=other))
    assert "1x32x32" in error_of([str(ckpt), *cli(files)], capsys)


def test_evaluate_names_the_missing_data_file(files, tmp_path, capsys):
    missing = tmp_path / "nowhere" / "mnist_test.npz"
    argv = [str(files["ckpt"]), *cli(files), "--data", str(missing)]
    assert str(missing) in error_of(argv, capsys)


def test_evaluate_rejects_a_bad_checkpoint(files, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    assert "bad.safetensors" in error_of([str(bad), *cli(files)], capsys)


def test_curve_orders_checkpoints_by_training_time(files):
    from train import curve

    later, earlier = files["out"].parent / "later.safetensors", files["out"].parent / "earlier.safetensors"
    torch.manual_seed(1)
    for path, steps, seconds in ((later, 20, 600.0), (earlier, 10, 300.0)):
        biglearn.save(path, UniversalGenerator(TINY), BigLearnConfig(model=TINY),
                      info={"steps": steps, "train_seconds": seconds})
    out = files["out"].parent / "curve"
    argv = [str(later), str(earlier), "--out", str(out), *cli(files)[2:]]  # evaluate's options, minus --out
    assert curve.main(argv) == 0
    lines = (out / "curve.md").read_text().splitlines()
    body = [line for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert [line.split(" | ")[0:2] for line in body] == [["| 10", "5.000"], ["| 20", "10.000"]]
    assert len(body[0].split(" | ")) == 2 + len(curve.COLUMNS)
    for ckpt in (later, earlier):
        assert (out / ckpt.stem / "metrics.json").is_file()
    assert (out / "curve.png").stat().st_size > 0


def test_a_curve_row_reads_every_measure_a_target_reads():
    from train import curve

    metrics = {"checkpoint_info": {"steps": 7, "train_seconds": 120.0},
               "complete": {"random": {"acc@0.5": 0.8, "acc@0.75": 0.9, "acc@0.9": 0.95, "div@0.1": 0.12,
                                       "div@0.9": 0.03}},
               "joint": {"fd": 13.5, "classes_present": 9, "class_fractions": [0.3, 0.02, *[0.085] * 8],
                         "mean_confidence": 0.97},
               "conditional": {"accuracy": 0.99}, "classify": {"acc@1.0": 0.98, "acc@0.5": 0.91}}
    r = curve.row(metrics)
    assert (r["steps"], r["minutes"]) == (7, 2.0)
    assert (r["acc@0.75"], r["joint FD"], r["own classifier acc from half"]) == (0.9, 13.5, 0.91)
    assert (r["joint smallest class"], r["joint top class"]) == (0.02, 0.3)
    assert r["div@0.1/div@0.9"] == pytest.approx(4.0)
    assert "joint FD" in curve.render_curve([r], "cmd").splitlines()[2]


def test_a_curve_row_of_an_arm_that_cannot_generate_has_only_its_classifier():
    """The supervised arm's metrics hold only `classify`: every other column is None (it crashed the study)."""
    from train import curve

    r = curve.row({"checkpoint_info": {"steps": 3, "train_seconds": 60.0},
                   "classify": {"acc@1.0": 0.94, "acc@0.5": 0.41}})
    assert (r["own classifier acc"], r["own classifier acc from half"]) == (0.94, 0.41)
    assert all(r[name] is None for name in curve.COLUMNS if not name.startswith("own classifier"))


def test_a_curve_row_of_a_continued_run_counts_the_training_it_started_from():
    from train import curve

    own = {"checkpoint_info": {"steps": 100, "train_seconds": 60.0}, "complete": {"random": {}}, "joint": {},
           "conditional": {}, "classify": {}}
    twice = {"steps": 200, "train_seconds": 180.0, "init": {"steps": 100, "train_seconds": 60.0}}
    continued = {**own, "checkpoint_info": {"steps": 100, "train_seconds": 60.0, "init": twice}}
    assert (curve.row_position(own), curve.row_position(continued)) == ((100, 1.0), (400, 5.0))


def test_line_plots_are_images_of_the_asked_size_with_readable_x_ticks():
    # matplotlib draws them; 40 x values must not give 40 crowded tick labels
    dense = plots.line_plot(list(range(40)), {"a": [0.5] * 40, "b": [float("nan")] * 40}, title="t", xlabel="x",
                            ylabel="y")
    assert dense.shape == (380, 600, 3) and dense.dtype == np.uint8
    assert dense.min() < 100 < 200 < dense.max()  # ink on white
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(range(40), [0.5] * 40)
    ax.xaxis.set_major_locator(plots.matplotlib.ticker.MaxNLocator(nbins=10))
    fig.canvas.draw()
    assert len([t for t in ax.get_xticklabels() if t.get_text()]) <= 11
    plt.close(fig)


def test_the_targets_are_issue_12s_bar():
    from train.targets import check_targets

    at_bar = {"complete": {"random": {"acc@0.1": 0.3, "acc@0.25": 0.6, "acc@0.5": 0.92, "acc@0.75": 0.97,
                                      "acc@0.9": 0.985, "div@0.1": 0.09, "div@0.25": 0.08, "div@0.5": 0.06,
                                      "div@0.75": 0.04, "div@0.9": 0.03}},
              "joint": {"fd": 10.0, "class_fractions": [0.05] + [0.95 / 9] * 9, "mean_confidence": 0.95},
              "conditional": {"accuracy": 0.98}, "classify": {"acc@1.0": 0.985, "acc@0.5": 0.93}}
    rows = check_targets(at_bar)
    assert len(rows) == 12 and all(r["pass"] for r in rows), [r for r in rows if not r["pass"]]
    below = {**at_bar, "joint": {**at_bar["joint"], "fd": 10.5}, "classify": {"acc@1.0": 0.99, "acc@0.5": 0.92}}
    failed = {r["target"] for r in check_targets(below) if not r["pass"]}
    assert failed == {"joint Frechet distance", "own classifier acc@0.5"}


def test_the_target_table_sets_candidates_side_by_side(tmp_path, capsys):
    from train import targets

    results = ROOT / "docs" / "results"
    assert targets.main([f"bundled={results / 'metrics.json'}", f"cont={results / 'continued' / 'metrics.json'}"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| target | required | bundled | cont |" and len(table) == 2 + 12 + 1
    bundled = json.loads((results / "metrics.json").read_text())
    fd_row = next(line for line in table if line.startswith("| joint Frechet distance"))
    assert f"{bundled['joint']['fd']:.1f} ✗" in fd_row  # the bundled file misses FD <= 10
    met = sum(r["pass"] for r in targets.check_targets(bundled))
    assert table[-1].startswith(f"| targets met | | {met} of 12 |")
    bad = tmp_path / "bad.json"
    bad.write_text('{"joint": {}}')
    for args in ([f"x={bad}"], [str(bad)], [f"x={tmp_path / 'missing.json'}"]):
        assert targets.main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and "Traceback" not in err


def test_curve_folders_tell_apart_snapshots_of_two_runs(tmp_path):
    from train import curve

    a, b = tmp_path / "m5" / "snapshots", tmp_path / "nB" / "snapshots"
    files = [a / "model_0001000.safetensors", b / "model_0001000.safetensors", b / "model_0002000.safetensors",
             tmp_path / "m5" / "model.safetensors", tmp_path / "nB" / "model.safetensors"]
    names = curve.output_names(files)
    assert names == ["m5-snapshots-model_0001000", "nB-snapshots-model_0001000", "model_0002000", "m5-model",
                     "nB-model"]
    with pytest.raises(SystemExit):
        curve.main([str(files[0]), str(files[0]), "--out", str(tmp_path / "curve")])
