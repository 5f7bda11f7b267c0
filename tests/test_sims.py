"""The 2-D simulations: the Gaussian-mixture closed forms, the KL estimators, the landscapes and the race."""

import dataclasses
import math
import subprocess
import sys
import time

import pytest
import torch

from biglearn.sims import gmm25, landscape
from biglearn.sims.gmm import Mixture, forward_kl, grid_mixture, random_orthogonal, reverse_kl, rotation


def skewed_mixture() -> Mixture:
    """Three correlated, unequally weighted components in 2-D."""
    means = torch.tensor([[-1.0, 0.5], [1.5, -1.0], [0.0, 2.0]])
    low = torch.tensor([[[0.6, 0.0], [0.3, 0.4]], [[0.3, 0.0], [-0.2, 0.5]], [[0.5, 0.0], [0.1, 0.2]]])
    return Mixture(means, low @ low.transpose(-1, -2), torch.tensor([0.2, 0.5, 0.3]).log())


def test_transformed_marginal_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    m = skewed_mixture()
    a = random_orthogonal(1, 2, generator=g)[0]
    y = m.sample(200_000, g) @ a.T
    marg = m.transform(a).marginal([0])
    assert float(marg.means[:, 0] @ marg.logw.exp()) == pytest.approx(float(y[:, 0].mean()), abs=0.01)
    hist = torch.histc(y[:, 0], bins=20, min=-3, max=3) / len(y) / 0.3
    centres = torch.linspace(-3 + 0.15, 3 - 0.15, 20)
    density = marg.log_prob(centres[:, None]).exp()
    assert torch.allclose(hist, density, atol=0.02)


def test_conditional_matches_monte_carlo():
    g = torch.Generator().manual_seed(1)
    m = skewed_mixture()
    x = m.sample(400_000, g)
    near = x[(x[:, 1] - 0.8).abs() < 0.02, 0]  # samples with x2 ≈ 0.8
    cond = m.conditional([0], [1], torch.tensor([0.8]))
    mean = float(cond.means[:, 0] @ cond.logw.exp())
    second = float(((cond.cov[:, 0, 0] + cond.means[:, 0] ** 2) * cond.logw.exp()).sum())
    assert mean == pytest.approx(float(near.mean()), abs=0.03)
    assert second - mean ** 2 == pytest.approx(float(near.var()), rel=0.08)


def test_quarter_turn_swaps_the_marginals():
    m = Mixture(torch.tensor([[2.0, -1.0]]), torch.tensor([[[0.5, 0.0], [0.0, 0.1]]]), torch.zeros(1))
    turned = m.transform(rotation(torch.tensor(math.pi / 2)))
    assert torch.allclose(turned.marginal([1]).means, m.marginal([0]).means, atol=1e-6)
    assert torch.allclose(turned.marginal([0]).cov, m.marginal([1]).cov, atol=1e-6)


def test_kl_estimators_vanish_on_the_target_and_grow_with_a_shift():
    g = torch.Generator().manual_seed(2)
    q = grid_mixture(3, 2.0, 0.1)
    shifted = Mixture(q.means + torch.tensor([0.5, 0.0]), q.cov, q.logw)
    for estimator in (reverse_kl, forward_kl):
        same = float(estimator(q, q, 20_000, g))
        assert abs(same) < 1e-4
        assert float(estimator(shifted, q, 20_000, g)) > 0.5


def test_landscape_global_optima():
    result = landscape.run(points=21)  # step 0.2: ±1 lie on the grid
    ticks = torch.tensor(result["ticks"])
    for key, surf in result["surfaces"].items():
        i, j = divmod(int(surf.argmin()), surf.shape[1])
        assert (round(float(ticks[i]), 3), round(float(ticks[j]), 3)) in landscape.OPTIMA, key
    # joint reverse KL has local minima away from the optima; the conditional surface does not
    assert len(result["minima"]["reverse/joint"]) > 2
    assert len(result["minima"]["reverse/conditionals"]) == 2


def test_landscape_quadrature_is_converged(monkeypatch):
    """The surfaces at the quadrature's points equal those of a 4x finer rule (float32 rounding aside)."""
    mu = torch.linspace(-2, 2, 9)
    mu1, mu2 = torch.meshgrid(mu, mu, indexing="ij")
    coarse = {d: landscape.surfaces(mu1, mu2, d) for d in ("reverse", "forward")}
    monkeypatch.setitem(landscape.QUADRATURE, "points", 4 * landscape.QUADRATURE["points"] - 3)
    for d, surfaces in coarse.items():
        for name, surf in landscape.surfaces(mu1, mu2, d).items():
            assert torch.allclose(surfaces[name], surf, rtol=1e-4, atol=1e-4), (d, name)



def race_model(narrow: bool, rows: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[Mixture]]:
    """Random race parameters (means, Cholesky entries) and the same models as float64 `Mixture`s; `narrow`:
    components 3e-3 wide across one direction, as collapsing components get."""
    g = torch.Generator().manual_seed(seed)
    means = 3 * torch.randn(rows, gmm25.K, 2, generator=g)
    width = 3e-3 if narrow else 0.2 + torch.rand(rows, gmm25.K, generator=g)
    chol = torch.stack([0.2 + torch.rand(rows, gmm25.K, generator=g), 0.3 * torch.randn(rows, gmm25.K, generator=g),
                        width * torch.ones(rows, gmm25.K)], -1)
    low = torch.zeros(rows, gmm25.K, 2, 2, dtype=torch.float64)
    low[..., 0, 0], low[..., 1, 0], low[..., 1, 1] = chol.double().unbind(-1)
    logw = torch.full((gmm25.K,), -math.log(gmm25.K), dtype=torch.float64)
    return means, chol, [Mixture(means[r].double(), low[r] @ low[r].transpose(-1, -2), logw) for r in range(rows)]


@pytest.mark.parametrize("narrow", [False, True])
def test_race_densities_match_the_generic_mixture(narrow):
    """The race's float32 densities (joint, transformed marginal, transformed conditional, and the target's)
    equal the float64 closed forms of `Mixture`, also for narrow components at the model's own samples."""
    means, chol, models = race_model(narrow)
    target = grid_mixture(5, 2.0, gmm25.TARGET_VAR)
    g = torch.Generator().manual_seed(1)
    x = gmm25.draw(means, chol, 50, g) if narrow else 4 * torch.randn(3, 50, 2, generator=g)
    rot = gmm25.random_rotations(3, g)
    m1, v1, m2, gain, cvar = gmm25.chain(means, chol, rot)
    y = x @ rot.transpose(1, 2)  # y = A x per row
    marginal, joint = gmm25.chain_components(y, m1, v1, m2, gain, cvar)
    fast = {"joint": gmm25.model_log_prob_2d(x, means, chol),
            "target": gmm25.target_log_prob_2d(x, gmm25.target_means()),
            "marginal": gmm25.log_prob_1d(y[..., 0], m1, v1),
            "target marginal": gmm25.target_log_prob_1d(y[..., 0], rot[:, 0] @ gmm25.target_means().T),
            "conditional": gmm25.log_mean_exp(joint) - gmm25.log_mean_exp(marginal)}
    x, y = x.double(), y.double()
    for r, m in enumerate(models):
        turned = m.transform(rot[r].double())
        exact = {"joint": m.log_prob(x[r]), "target": target.log_prob(x[r]),
                 "marginal": turned.marginal([0]).log_prob(y[r, :, :1]),
                 "target marginal": target.transform(rot[r]).marginal([0]).log_prob(y[r, :, :1].float()),
                 "conditional": torch.stack([turned.conditional([1], [0], y[r, n, :1]).log_prob(y[r, n, None, 1:])[0]
                                             for n in range(50)])}
        for key, value in exact.items():
            assert torch.allclose(fast[key][r].double(), value.double(), rtol=1e-4, atol=2e-3), key


def test_every_task_kind_of_the_unified_step_is_its_own_loss():
    """task_loss computes every kind for every row and keeps the row's own: each row's loss equals the same row
    computed alone, and the joint row's is the 2-D KL at the model's samples."""
    g = torch.Generator().manual_seed(0)
    means, chol = 3 * torch.randn(3, gmm25.K, 2, generator=g), torch.tensor([0.5, 0.1, 0.4]).repeat(3, gmm25.K, 1)
    kind = torch.tensor([gmm25.JOINT, gmm25.MARGINAL, gmm25.CONDITIONAL])
    rot = gmm25.random_rotations(3, g)
    rot[0] = torch.eye(2)
    centres = gmm25.target_means()
    for forward in (torch.zeros(3, dtype=torch.bool), torch.ones(3, dtype=torch.bool)):
        noise = gmm25.step_noise(3, 64, centres, g)
        together = gmm25.task_loss(means, chol, kind, rot, forward, centres, noise)
        alone = torch.cat([gmm25.task_loss(means[r:r + 1], chol[r:r + 1], kind[r:r + 1], rot[r:r + 1],
                                           forward[r:r + 1], centres, tuple(t[r:r + 1] for t in noise))
                           for r in range(3)])
        assert torch.allclose(together, alone, atol=1e-5)
    x = gmm25.model_samples(means[:1], chol[:1], noise[1][:1], noise[2][:1])
    kl = (gmm25.model_log_prob_2d(x, means[:1], chol[:1]) - gmm25.target_log_prob_2d(x, centres)).mean()
    joint = gmm25.task_loss(means[:1], chol[:1], kind[:1], rot[:1], torch.zeros(1, dtype=torch.bool), centres,
                            tuple(t[:1] for t in noise))
    assert torch.allclose(joint, kl[None], atol=1e-4)


def test_the_compiled_step_matches_the_eager_one():
    """torch.compile of the race's step (the app's live race and the bench use it) gives the eager step's result
    (fused float32 arithmetic: to 1e-4); where compiling fails it falls back to eager."""
    g = torch.Generator().manual_seed(0)
    arms = [gmm25.ARMS[a] for a in ("joint", "biglearn+cond", "biglearn-forward")]
    means, chol = gmm25.init_params(arms, 1, seed=0)
    kind, rot = gmm25.draw_tasks(arms, 1, 80, gmm25.RaceConfig(iters=100), g)
    forward = torch.tensor([False, False, True])
    args = (means, chol, kind, rot, forward, gmm25.target_means(),
            gmm25.step_noise(3, 100, gmm25.target_means(), g), 0.1)
    eager = gmm25.sgd_step(*args)
    compiled = gmm25.CompiledStep()(*args)
    for a, b in zip(eager, compiled, strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    waiting = gmm25.CompiledStep()
    waiting.background = True  # the app's mode: sizes compile on the warm-up thread, never in a race
    assert torch.allclose(waiting(*args)[0], eager[0]) and waiting.compiled is None and not waiting.ready
    broken = gmm25.CompiledStep()
    broken.compiled = lambda *a: (_ for _ in ()).throw(RuntimeError("no compiler"))
    with pytest.warns(UserWarning, match="runs eagerly"):
        fallback = broken(*args)
    assert broken.failed.startswith("RuntimeError") and torch.allclose(fallback[0], eager[0])


def test_an_interrupted_gan2d_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    """Killed mid-run and continued from its state file, a gan2d run ends bit for bit where an uninterrupted one
    does (weights, optimiser, random state and curves are in the file); another setup's file is refused."""
    from biglearn.checkpoint import shard_files
    from biglearn.sims import gan2d

    monkeypatch.setattr(gan2d, "SAVE_EVERY_S", 0.0)  # a state file after every step
    monkeypatch.setattr(gan2d, "SHARD_BYTES", 20_000)  # split into several files, as a full run's is
    cfg = gan2d.GanConfig(steps=200, hidden=16, depth=2, batch=32, eval_every=50, eval_samples=200)
    whole = gan2d.train(["plain", "biglearn"], 2, cfg, seed=3)

    def interrupt(step, total):
        if step == 100:
            raise KeyboardInterrupt

    state = tmp_path / "state.pt"
    with pytest.raises(KeyboardInterrupt):
        gan2d.train(["plain", "biglearn"], 2, cfg, seed=3, progress=interrupt, checkpoint=state)
    assert len(shard_files(state)) >= 3
    resumed = gan2d.train(["plain", "biglearn"], 2, cfg, seed=3, checkpoint=state)
    for a, b in zip(whole["generator"].net.parameters(), resumed["generator"].net.parameters(), strict=True):
        assert torch.equal(a, b)
    assert resumed["curves"] == whole["curves"] and resumed["curves"]["iterations"] == [0, 50, 100, 150, 200]
    with pytest.raises(ValueError, match="another setup"):
        gan2d.train(["plain"], 2, cfg, seed=3, checkpoint=state)
    shard_files(state)[1].unlink()  # a part lost
    with pytest.raises(ValueError, match="not a whole gan2d state"):
        gan2d.train(["plain", "biglearn"], 2, cfg, seed=3, checkpoint=state)


def test_gan2d_setups_and_the_command_line_options(tmp_path):
    from biglearn.sims import __main__ as sims
    from biglearn.sims import gan2d

    assert gan2d.SETUPS["sharp"]() == gan2d.GanConfig() and gan2d.GanConfig().r1_gamma == 0.0
    assert gan2d.SETUPS["small"]().steps == 6000 and gan2d.SETUPS["pacgan"]().arch == "pacgan"
    args = sims.build_parser().parse_args(["gan2d", "--out", str(tmp_path), "--setup", "small", "--lr", "2e-4",
                                           "--beta1", "0.7", "--r1", "0", "--batch", "64"])
    cfg = sims.gan_setup(args, 500)
    assert (cfg.lr, cfg.betas, cfg.r1_gamma, cfg.batch, cfg.steps) == (2e-4, (0.7, 0.9), 0.0, 64, 500)
    args = sims.build_parser().parse_args(["gan2d", "--out", str(tmp_path), "--joint-share", "0.5"])
    assert sims.gan_setup(args, 500).joint_share == 0.5
    for bad in (["--lr", "0"], ["--beta1", "1.0"], ["--batch", "0"], ["--joint-share", "1.5"]):
        args = sims.build_parser().parse_args(["gan2d", "--out", str(tmp_path), *bad])
        with pytest.raises(sims.SimError):
            sims.gan_setup(args, 500)
    assert sims.main(["gan2d", "--out", str(tmp_path), "--quick", "--arms", "plain,vae"]) == 2


def test_log_mean_exp_and_its_gradient():
    g = torch.Generator().manual_seed(0)
    comp = torch.randn(2, 7, 5, generator=g, dtype=torch.float64) * 30  # terms far below the top are dropped
    expected = comp.logsumexp(1) - math.log(7)
    assert torch.allclose(gmm25.log_mean_exp(comp), expected, atol=1e-12)
    assert torch.autograd.gradcheck(gmm25.log_mean_exp, (comp.clone().requires_grad_(True),))


def test_big_learning_covers_more_modes_than_joint_matching():
    cfg = gmm25.RaceConfig(iters=60, eval_every=60, eval_samples=2_000, compile=False)
    result = gmm25.race(["joint", "biglearn"], seeds=3, cfg=cfg)
    joint = sum(result["curves"]["joint"]["modes"][-1]) / 3
    big = sum(result["curves"]["biglearn"]["modes"][-1]) / 3
    assert big > joint + 1, (joint, big)


def test_race_arms_share_their_start_and_kinds_follow_the_schedule():
    arms = [gmm25.ARMS[a] for a in ("joint", "biglearn+cond")]
    means, _ = gmm25.init_params(arms, 4, seed=0)
    assert torch.equal(means[:4], means[4:])
    cfg = gmm25.RaceConfig(iters=100)
    g = torch.Generator().manual_seed(0)
    early = torch.stack([gmm25.draw_tasks(arms, 4, 10, cfg, g)[0] for _ in range(50)])
    late = torch.stack([gmm25.draw_tasks(arms, 4, 60, cfg, g)[0] for _ in range(50)])
    assert bool((early[:, :4] == gmm25.JOINT).all()) and bool((late[:, :4] == gmm25.JOINT).all())
    assert not bool((early[:, 4:] == gmm25.JOINT).any())
    assert {int(k) for k in early[:, 4:].unique()} == {gmm25.MARGINAL, gmm25.CONDITIONAL}
    assert bool((late[:, 4:] == gmm25.JOINT).any())


@pytest.mark.parametrize("args, message", [
    (["gan3d", "--out", "{tmp}"], "unknown experiment"),
    (["gmm25", "--seeds", "0", "--out", "{tmp}"], "--seeds must lie in"),
    (["gmm25", "--iters", "999999999", "--out", "{tmp}"], "--iters must lie in"),
    (["gmm25", "--arms", "nope", "--out", "{tmp}"], "unknown arm"),
    (["landscape", "--out", "/proc/not-here"], "cannot write into"),
])
def test_cli_refuses_bad_input(tmp_path, args, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = subprocess.run([sys.executable, "-m", "biglearn.sims", *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_cli_landscape_writes_metrics_and_figure(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "biglearn.sims", "landscape", "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    import json
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["local_minima"]) == {f"{d}/{n}" for d in ("reverse", "forward") for n in landscape.LOSSES}
    assert (tmp_path / "landscapes.png").stat().st_size > 10_000


def test_cli_gan2d_quick_writes_every_arm_per_seed_and_refuses_to_overwrite(tmp_path):
    import json

    cmd = [sys.executable, "-m", "biglearn.sims", "gan2d", "--quick", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["setup"] == "sharp" and set(metrics["per_arm"]) == {"plain", "biglearn", "pacgan2"}
    for arm in metrics["per_arm"].values():
        assert len(arm["modes"]) == 2 and all(0 <= q <= 1 for q in arm["quality"])  # one value per seed
    assert metrics["curves"]["iterations"] == [0, 50, 100, 150, 200]
    assert (tmp_path / "curves.png").stat().st_size > 5_000 and (tmp_path / "samples.png").exists()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "--resume" in again.stderr and "Traceback" not in again.stderr


def test_2d_generator_copies_the_source_and_ignores_absent_coordinates():
    from biglearn.sims import gan2d

    g = torch.Generator().manual_seed(0)
    gen = gan2d.UniversalGenerator2D(3, gan2d.GanConfig(hidden=16, depth=2), g)
    y = torch.randn(3, 50, 2, generator=g)
    z = torch.randn(3, 50, gen.noise_dim, generator=g)
    theta = torch.rand(3, 50, generator=g)
    source, target = torch.tensor([1.0, 0.0]).expand(3, 50, 2), torch.tensor([0.0, 1.0]).expand(3, 50, 2)
    out = gen(y, source, target, theta, z)
    assert torch.equal(out[..., 0], y[..., 0])  # y_S copied exactly
    moved = y.clone()
    moved[..., 1] += 5.0  # the absent (target) coordinate of the input
    assert torch.equal(gen(moved, source, target, theta, z), out)
    marginal = gen(y, torch.zeros(3, 50, 2), target, theta, z)
    assert bool((marginal[..., 0] == 0).all())  # outside S ∪ T: zero
    assert not torch.allclose(gen(y, source, target, theta, z + 1.0)[..., 1], out[..., 1])  # the noise matters


def test_2d_mode_metrics_follow_the_literatures_rule():
    """All on one mode: 1 mode, full quality, KL log 25; exact mixture samples: 25 modes and the 3σ rule's
    ceiling of ~98.9% high quality, KL ~0."""
    from biglearn.sims import gan2d

    g = torch.Generator().manual_seed(0)
    centre = gan2d.target_means()[7]
    one = (centre + gan2d.STD * 0.5 * torch.randn(1, 2500, 2, generator=g))
    m = gan2d.mode_metrics(one)
    assert m["modes"].item() == 1 and m["quality"].item() == 1.0
    assert m["kl"].item() == pytest.approx(math.log(25), rel=1e-6)
    exact = gan2d.sample_data(4, 20_000, g)
    m = gan2d.mode_metrics(exact)
    assert m["modes"].tolist() == [25.0] * 4 and m["modes_1pct"].tolist() == [25.0] * 4
    expected = 1 - math.exp(-9 / 2)  # P(|N(0, I2)| < 3): the 3σ rule's ceiling, 0.9889
    assert m["quality"].mean().item() == pytest.approx(expected, abs=0.003)
    assert m["kl"].max().item() < 0.01
    far = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])  # a point between four modes is no mode's
    assert gan2d.mode_metrics(far)["modes"].item() == 1 and gan2d.mode_metrics(far)["quality"].item() == 0.5


def test_2d_tasks_with_a_given_joint_share():
    """joint_share 0.5: about half of a biglearn row's tasks are the joint, the rest the four other kinds; 0: none;
    a baseline row is all joint whatever the share."""
    from biglearn.sims import gan2d

    g = torch.Generator().manual_seed(0)
    for share in (0.5, 0.0):
        source, target, theta = gan2d.sample_tasks(torch.tensor([False, True]), 4000, g, joint_share=share)
        joint = (source == 0).all(-1) & (target == 1).all(-1)
        assert bool(joint[0].all()) and abs(float(joint[1].float().mean()) - share) < 0.03
        kinds = {tuple(row) for row in torch.cat([source[1], target[1]], -1).int().tolist()}
        assert len(kinds) == (5 if share else 4)


def test_a_gan2d_state_from_before_joint_share_still_resumes(tmp_path):
    """A state file whose setup lacks an option added later (joint_share) ran with its default: it continues."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from biglearn.sims import gan2d

    cfg = gan2d.GanConfig(steps=10, hidden=8, depth=1, batch=16, eval_every=0, eval_samples=50)
    run = gan2d.Gan2dRun(["plain", "biglearn"], 1, cfg, seed=1)
    run.step = 4
    path = tmp_path / "state.safetensors"
    run.save(path)
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["gan2d"])
    del meta["identity"]["config"]["joint_share"]
    save_file(load_file(str(path)), str(path), metadata={"gan2d": json.dumps(meta)})
    again = gan2d.Gan2dRun(["plain", "biglearn"], 1, cfg, seed=1)
    again.load(path)
    assert again.step == 4
    with pytest.raises(ValueError, match="another setup"):
        gan2d.Gan2dRun(["plain", "biglearn"], 1, dataclasses.replace(cfg, joint_share=0.5), seed=1).load(path)


def test_2d_tasks_baseline_rows_are_the_untransformed_joint():
    from biglearn.sims import gan2d

    g = torch.Generator().manual_seed(0)
    source, target, theta = gan2d.sample_tasks(torch.tensor([False, True]), 500, g)
    assert bool((source[0] == 0).all()) and bool((target[0] == 1).all()) and bool((theta[0] == 0).all())
    kinds = {tuple(map(tuple, torch.stack([s, t]).int().tolist())) for s, t in zip(source[1], target[1], strict=True)}
    assert len(kinds) == 5 and float(theta[1].std()) > 1.0
    joint = (source[1] == 0).all(-1) & (target[1] == 1).all(-1)
    assert bool((theta[1][joint] == 0).all()) and bool((theta[1][~joint] != 0).all())  # the joint untransformed


# --- the app's live race (biglearn.sims.live) and its tab --------------------------------------------------------

def test_live_race_yields_pictures_and_ends_with_a_final_frame():
    from biglearn.sims import live

    frames = list(live.live_race(["joint", "biglearn"], "reverse", 20, seed=3, compile=False))
    assert [f.iteration for f in frames] == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    assert [f.final for f in frames] == [False] * 10 + [True] and not frames[-1].stopped_early
    assert set(frames[-1].modes) == {"joint", "biglearn"} and all(0 <= n <= 25 for n in frames[-1].modes.values())
    assert frames[0].picture.size[0] > 2 * frames[0].picture.size[1] * 0.8  # two panels side by side
    assert frames[0].modes == {"joint": 0, "biglearn": 0}  # every component starts in the corner


def test_live_race_stops_at_its_time_bound():
    from biglearn.sims import live

    frames = list(live.live_race(["biglearn"], "forward", live.MAX_ITERS, seed=0, max_seconds=0.0, compile=False))
    assert len(frames) == 1 and frames[0].final and frames[0].stopped_early and frames[0].iteration == 0
    assert list(frames[0].modes) == ["biglearn-forward"]


def test_the_race_checks_its_deadline_after_every_iteration_not_only_at_frames(monkeypatch):
    """With a clock that moves one second a reading, a deadline of 7.5 s passes at the 8th reading (after the 8th
    iteration): the race yields that iteration's state and stops, though frames fall every 30 iterations."""
    import types

    from biglearn.sims import gmm25

    readings = iter(range(1, 1000))
    monkeypatch.setattr(gmm25, "time", types.SimpleNamespace(monotonic=lambda: float(next(readings)),
                                                             perf_counter=time.perf_counter))
    cfg = gmm25.RaceConfig(iters=300, eval_every=30, eval_samples=200, compile=False)
    states = list(gmm25.race_states(["joint", "biglearn"], 1, cfg, seed=0, deadline=7.5))
    assert [s.iteration for s in states] == [0, 8]


def test_live_race_ends_soon_after_its_bound():
    """Past its bound the live race pays for the iteration under way and one last frame (an evaluation and a
    drawing, as the first frame did): its end is within a second of the bound plus that, also on a busy machine."""
    from biglearn.sims import live

    start = time.monotonic()
    frames, first = [], None
    for frame in live.live_race(["joint", "biglearn", "biglearn+cond"], "reverse", live.MAX_ITERS, seed=0,
                                max_seconds=0.3, compile=False):
        frames.append(frame)
        first = first if first is not None else time.monotonic() - start
    took = time.monotonic() - start
    assert frames[-1].final and frames[-1].stopped_early and frames[-1].iteration < live.MAX_ITERS
    assert took <= 0.3 + first + 1.0
    assert [f.final for f in frames].count(True) == 1


@pytest.mark.parametrize("arms, direction, iters, message", [
    ([], "reverse", 10, "at least one arm"),
    (["vae"], "reverse", 10, "unknown arm"),
    (["biglearn+cond"], "forward", 10, "no forward-KL version"),
    (["joint"], "sideways", 10, "reverse or forward"),
    (["joint"], "reverse", 0, "from 1 to 300"),
    (["joint"], "reverse", 301, "from 1 to 300"),
    (["joint"], "reverse", 10.5, "whole number"),
    (["joint"], "reverse", True, "whole number"),
])
def test_live_race_refuses_bad_input(arms, direction, iters, message):
    from biglearn.sims import live

    with pytest.raises(ValueError, match=message):
        next(live.live_race(arms, direction, iters, seed=0))


def test_the_tab_handler_streams_frames_and_shows_errors_readably():
    import gradio as gr

    from webapp import principle

    out = list(principle.live_run(["joint"], "reverse", 10, 0, cache=principle.RaceCache()))
    assert len(out) >= 2 and out[0][0].ndim == 3 and out[-1][1].startswith("**Done at iteration 10 of 10**")
    assert "Iteration 0 of 10" in out[0][1] and "░" * 20 + " 0 %" in out[0][1]
    assert principle.progress_bar(0.55, width=10) == "██████░░░░ 55 %"  # half-way and a bit: rounded to cells
    for bad in ((["joint"], "reverse", 10, -1), (["joint"], "reverse", 10, 1.5), (["joint"], "reverse", None, 0),
                (["biglearn+cond"], "forward", 10, 0), (None, "reverse", 10, 0)):
        with pytest.raises(gr.Error):
            next(principle.live_run(*bad))
    assert "not bundled" in principle.bundled_text("nothing.md")


def test_2d_maxout_layers_have_the_right_shapes_and_gradients():
    from biglearn.sims import gan2d

    g = torch.Generator().manual_seed(0)
    net = gan2d.BatchedMLP(3, [8, 20, 20, 1], g, activation="maxout")
    assert net.weights[0].shape == (3, 8, 20 * gan2d.MAXOUT_PIECES) and net.weights[-1].shape == (3, 20, 1)
    x = torch.randn(3, 7, 8, generator=g)
    out = net(x)
    assert out.shape == (3, 7, 1)
    out.sum().backward()
    first = net.weights[0].grad.view(3, 8, 20, gan2d.MAXOUT_PIECES)
    winners = (first.abs().sum(1) > 0).sum(-1)  # per unit: the pieces that got a gradient
    assert bool((winners >= 1).all()) and float(first.abs().sum()) > 0  # max picks a piece per point
    # one layer by hand: each unit is the max of its pieces
    h = torch.baddbmm(net.biases[0], x, net.weights[0]).view(3, 7, 20, gan2d.MAXOUT_PIECES).amax(-1)
    assert torch.allclose(net(x), torch.baddbmm(net.biases[2], torch.baddbmm(
        net.biases[1], h, net.weights[1]).view(3, 7, 20, gan2d.MAXOUT_PIECES).amax(-1), net.weights[2]), atol=1e-6)


def test_2d_batchnorm_normalises_each_rows_batch():
    from biglearn.sims import gan2d

    g = torch.Generator().manual_seed(0)
    net = gan2d.BatchedMLP(2, [3, 16, 2], g, activation="relu", batchnorm=True)
    x = torch.randn(2, 50, 3, generator=g) * torch.tensor([1.0, 100.0])[:, None, None]
    pre = torch.baddbmm(net.biases[0], x, net.weights[0])
    normed = (pre - pre.mean(1, keepdim=True)) / (pre.var(1, keepdim=True, correction=0) + 1e-5).sqrt()
    expected = torch.baddbmm(net.biases[1], torch.relu(normed), net.weights[1])
    assert torch.allclose(net(x), expected, atol=1e-5)  # the row scaled by 100 gives the same shape of output
    assert len(net.parameters()) == 2 + 2 + 2


def test_pacgan2s_discriminator_sees_two_samples_and_the_others_one():
    from biglearn.sims import gan2d

    g = torch.Generator().manual_seed(0)
    cfg = gan2d.pacgan_config()
    packed = torch.tensor([False, True])
    d = gan2d.UniversalDiscriminator2D(2, cfg, g, packed)
    assert d.net.weights[0].shape[1] == 16  # two views of 2 coordinates + 6 task features
    y = torch.randn(2, 10, 2, generator=g)
    zeros, ones = torch.zeros(2, 10, 2), torch.ones(2, 10, 2)
    out = d(y, zeros, ones, torch.zeros(2, 10))
    moved = y.clone()
    moved[:, 5] += 1.0  # point 5 is the partner of point 4 in a packed row
    changed = (d(moved, zeros, ones, torch.zeros(2, 10)) != out)
    assert changed[1].tolist() == [i in (4, 5) for i in range(10)]  # packed: point 5 and its pair (4, 5)
    assert changed[0].tolist() == [i == 5 for i in range(10)]  # unpacked: point 5 alone
    assert gan2d.UniversalDiscriminator2D(2, cfg, g).net.weights[0].shape[1] == 8  # no pacgan2 row: one view
    result = gan2d.train(["plain", "pacgan2"], 1, gan2d.pacgan_config(steps=3, batch=16))
    assert result["generator"].net.weights[0].shape[0] == 2
    with pytest.raises(ValueError, match="unknown gan2d arm"):
        gan2d.train(["vae"], 1, gan2d.GanConfig(steps=1))
    with pytest.raises(ValueError, match="unknown gan2d architecture"):
        gan2d.GanConfig(arch="resnet")


def test_identical_races_are_replayed_from_the_cache(monkeypatch):
    from biglearn.sims import live
    from webapp import principle

    cache = principle.RaceCache(size=2)
    first = list(principle.live_run(["joint"], "reverse", 10, 0, cache=cache))
    monkeypatch.setattr(live, "live_race", lambda *a, **k: (_ for _ in ()).throw(AssertionError("ran again")))
    again = list(principle.live_run(["joint"], "reverse", 10.0, 0, cache=cache))
    assert [s for _, s in again] == [s for _, s in first]
    assert all(a[0] is b[0] for a, b in zip(again, first, strict=True))  # the same frames, not a new run
    with pytest.raises(AssertionError, match="ran again"):  # another seed is another race
        list(principle.live_run(["joint"], "reverse", 10, 1, cache=cache))


def test_a_race_cut_short_by_its_bound_is_not_cached(monkeypatch):
    from biglearn.sims import live
    from webapp import principle

    cache = principle.RaceCache()
    monkeypatch.setattr(live, "MAX_SECONDS", 0.0)
    real = live.live_race
    monkeypatch.setattr(live, "live_race", lambda *a, **k: real(*a, **{**k, "max_seconds": 0.0}))
    out = list(principle.live_run(["joint"], "reverse", 10, 0, cache=cache))
    assert "stopped after" in out[-1][1] and cache.get((("joint",), 10, 0)) is None


def test_forward_kl_does_not_offer_the_arm_it_has_no_version_of():
    from webapp import principle

    forward = principle.arm_choices("forward", ["joint", "biglearn+cond"])
    assert "biglearn+cond" not in forward["choices"] and forward["value"] == ["joint"]
    reverse = principle.arm_choices("reverse", ["joint"])
    assert "biglearn+cond" in reverse["choices"] and reverse["value"] == ["joint"]


def test_live_titles_count_modes_in_words_on_a_readable_panel():
    from biglearn.sims import live
    from webapp.widgets import DrawingPad

    assert [live.mode_count(n) for n in (0, 1, 3)] == ["0 modes", "1 mode", "3 modes"]
    frame = next(live.live_race(["joint"], "reverse", 10, seed=0, compile=False))
    assert frame.picture.size[0] >= 300  # a readable panel (it was 192 px)
    assert DrawingPad(caption="x").preprocess("") is None  # a blank pad: "draw something first", not a URL error


def test_the_full_gan2d_runs_metrics_hold_one_value_per_seed():
    """docs/simulations/full/gan2d/metrics.json (the page's and the app's table) is the full run of the chosen
    setup: 10 seeds of each arm, modes by the literature's rule (whole numbers of 25) and high-quality shares."""
    import json
    from pathlib import Path

    m = json.loads((Path(__file__).resolve().parent.parent / "docs/simulations/full/gan2d/metrics.json").read_text())
    assert m["setup"] == "sharp" and m["config"]["steps"] == 60_000 and m["seeds"] == 10
    assert set(m["per_arm"]) == {"plain", "biglearn", "pacgan2"}
    for arm in m["per_arm"].values():
        assert len(arm["modes"]) == len(arm["quality"]) == 10
        assert all(float(v).is_integer() and 0 <= v <= 25 for v in arm["modes"])
        assert all(0 <= v <= 1 for v in arm["quality"])
