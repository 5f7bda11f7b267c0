"""`python -m biglearn.sims EXPERIMENT --out DIR`: the 2-D simulations of big learning (docs/simulations.md).

Experiments: `landscape` (loss surfaces of joint matching and big learning, §3.3), `gmm25` (the 25-GMM
race, §4.1) and `gan2d` (a 2-D BigLearn-GAN against a plain GAN on 25 Gaussians). Each writes
DIR/metrics.json, a Markdown table and its figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import torch

from ..cli import run_main
from . import gan2d, gmm25, landscape

EXPERIMENTS = ("landscape", "gmm25", "gan2d")
MAX_SEEDS = 100
MAX_ITERS = 100_000
TABLE_AT = (1_000, 5_000, 10_000)
SNAPSHOTS = (0, 500, 2_000, 6_000, 10_000)


class SimError(ValueError):
    """The simulation cannot run as asked."""


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(prog="python -m biglearn.sims", description=__doc__.split("\n\n")[1])
    p.add_argument("experiment", help=" | ".join(EXPERIMENTS))
    p.add_argument("--out", required=True, type=Path, help="output directory (metrics.json, table.md, figures)")
    p.add_argument("--seeds", type=int, help=f"gmm25: runs per arm, batched (default 10, at most {MAX_SEEDS})")
    p.add_argument("--iters", type=int, help=f"gmm25: outer iterations (default 10000); gan2d: training steps "
                                             f"(default: the setup's, {gan2d.GanConfig.steps} for sharp); at most "
                                             f"{MAX_ITERS}")
    p.add_argument("--arms", help=f"comma-separated subset of the arms: gmm25 {', '.join(gmm25.ARMS)} (default all); "
                                  f"gan2d {', '.join(gan2d.ARMS)} (default all)")
    p.add_argument("--seed", type=int, default=0, help="base seed")
    p.add_argument("--setup", default="sharp", choices=tuple(gan2d.SETUPS),
                   help="gan2d: sharp (LeakyReLU MLPs, Adam 1e-4, no R1, 60,000 steps; chosen on the trials of "
                        "docs/simulations.md), small (the 6,000-step setup of 2 Dec) or pacgan (PacGAN's 2DGrid "
                        "networks and optimiser)")
    setup = p.add_argument_group("gan2d setup (defaults: the --setup's)")
    for flag, kind, text in (("batch", int, "points per step"), ("lr", float, "Adam learning rate (G and D)"),
                             ("beta1", float, "Adam β1"), ("beta2", float, "Adam β2"),
                             ("hidden", int, "mlp: hidden width"), ("depth", int, "mlp: hidden layers"),
                             ("noise-dim", int, "dimensions of z"), ("r1", float, "R1 weight γ (0 = off)"),
                             ("eval-every", int, "steps between points of the curves (0 = none)"),
                             ("joint-share", float, "biglearn arm: the joint's share of the tasks, 0 to 1 (default: "
                                                    "one of the five task kinds uniformly, 0.2)")):
        setup.add_argument(f"--{flag}", type=kind, help=text)
    p.add_argument("--resume", action="store_true",
                   help="gan2d: continue the run whose state is in --out (written every minute)")
    p.add_argument("--quick", action="store_true", help="a small version in seconds (fewer seeds, iterations, "
                                                         "samples, grid points)")
    return p


def checked_out(path: Path) -> Path:
    """Create the output directory and prove it writable; SimError otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / ".write-test").write_text("")
        (path / ".write-test").unlink()
    except OSError as exc:
        raise SimError(f"cannot write into {path}: {exc.strerror or exc}") from exc
    return path


def bounded(name: str, value: int | None, default: int, limit: int) -> int:
    value = default if value is None else value
    if not 0 < value <= limit:
        raise SimError(f"--{name} must lie in [1, {limit}], got {value}")
    return value


def chosen_arms(text: str | None, known: tuple[str, ...]) -> list[str]:
    """The --arms list (all `known` when not given); SimError names unknown ones."""
    arms = list(known) if text is None else [a.strip() for a in text.split(",") if a.strip()]
    unknown = [a for a in arms if a not in known]
    if unknown or not arms:
        raise SimError(f"unknown arm(s) {', '.join(unknown) or '(none)'}; known: {', '.join(known)}")
    return arms


def gan_setup(args: argparse.Namespace, steps: int) -> gan2d.GanConfig:
    """The --setup's GanConfig with the setup flags given on the command line; SimError on a bad value."""
    changes = {name: getattr(args, name) for name in ("batch", "lr", "hidden", "depth", "noise_dim", "eval_every",
                                                      "joint_share") if getattr(args, name) is not None}
    if args.r1 is not None:
        changes["r1_gamma"] = args.r1
    if args.quick and args.eval_every is None:
        changes["eval_every"] = 50
    try:
        base = gan2d.SETUPS[args.setup](steps=steps)
        betas = tuple(b if flag is None else flag for b, flag in zip(base.betas, (args.beta1, args.beta2), strict=True))
        return dataclasses.replace(base, betas=betas, **changes)
    except ValueError as exc:
        raise SimError(str(exc)) from None


def run_landscape(args: argparse.Namespace) -> dict:
    from .plots import landscape_figure

    start = time.perf_counter()
    result = landscape.run(points=40 if args.quick else 100)
    seconds = time.perf_counter() - start
    landscape_figure(result, args.out / "landscapes.png")
    metrics = {"experiment": "landscape", "grid_points": len(result["ticks"]), "seconds": round(seconds, 2),
               "global_optima": landscape.OPTIMA, "local_minima": result["minima"]}
    lines = ["| surface | local minima | where (μ₁, μ₂) |", "| --- | ---: | --- |"]
    for key, minima in result["minima"].items():
        lines.append(f"| {key} | {len(minima)} | " + ", ".join(f"({m[0]:.2f}, {m[1]:.2f})" for m in minima) + " |")
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    return metrics


def summary(result: dict, at: list[int]) -> dict:
    """mean and std over seeds of every metric, per arm, at the logged iterations `at`."""
    out: dict = {}
    for arm in result["arms"]:
        out[arm] = {}
        for it in at:
            k = result["iterations"].index(it)
            out[arm][str(it)] = {m: {"mean": round(float(torch.tensor(v[k]).mean()), 4),
                                     "std": round(float(torch.tensor(v[k]).std(correction=0)), 4)}
                                 for m, v in result["curves"][arm].items()}
    return out


def run_gmm25(args: argparse.Namespace) -> dict:
    from . import plots

    seeds = bounded("seeds", args.seeds, 3 if args.quick else 10, MAX_SEEDS)
    iters = bounded("iters", args.iters, 200 if args.quick else 10_000, MAX_ITERS)
    arms = chosen_arms(args.arms, gmm25.ARMS)
    every = max(1, min(100, iters // 20))
    # compiling the step costs tens of seconds once: it pays for a full race, not for a quick one
    cfg = gmm25.RaceConfig(iters=iters, eval_every=every, eval_samples=2_000 if args.quick else 10_000,
                           compile=not args.quick)
    last = [time.perf_counter()]

    def progress(it: int, total: int) -> None:
        if time.perf_counter() - last[0] >= 10 or it == total:
            last[0] = time.perf_counter()
            print(f"gmm25: iteration {it}/{total}", file=sys.stderr, flush=True)

    result = gmm25.race(arms, seeds, cfg, seed=args.seed, progress=progress)
    at = sorted({it for it in (*TABLE_AT, iters) if it in result["iterations"]})
    table = summary(result, at)
    plots.race_curves(result, "modes", args.out / "modes_covered.png", "modes covered (of 25)")
    plots.race_curves(result, "reverse_kl", args.out / "reverse_kl.png", "reverse KL")
    snaps = sorted({min(s, iters) for s in SNAPSHOTS})
    plots.contour_snapshots(result, snaps, args.out / "contours.png")
    if "joint" in arms and "biglearn" in arms:
        plots.race_gif(result, ["joint", "biglearn"], args.out / "race.gif")
    lines = ["| arm | iteration | modes covered | reverse KL | forward KL | samples within 3σ |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for arm in arms:
        for it in at:
            m = table[arm][str(it)]
            lines.append(f"| {arm} | {it} | " + " | ".join(f"{m[k]['mean']:.2f} ± {m[k]['std']:.2f}" for k in
                                                         ("modes", "reverse_kl", "forward_kl", "quality")) + " |")
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    return {"experiment": "gmm25", "arms": arms, "seeds": seeds, "config": dataclasses.asdict(cfg),
            "seconds": round(result["seconds"], 1), "us_per_seed_step": round(result["us_per_seed_step"], 1),
            "iterations": result["iterations"], "curves": result["curves"], "table": table}


def run_gan2d(args: argparse.Namespace) -> dict:
    from . import plots

    seeds = bounded("seeds", args.seeds, 2 if args.quick else 10, MAX_SEEDS)
    steps = bounded("iters", args.iters, 200 if args.quick else gan2d.SETUPS[args.setup]().steps, MAX_ITERS)
    arms = chosen_arms(args.arms, gan2d.ARMS)
    cfg = gan_setup(args, steps)
    state = args.out / "state.safetensors"
    if state.exists() and not args.resume:
        raise SimError(f"{args.out} holds an unfinished or finished gan2d run (state.safetensors): give --resume to "
                       "continue it, or another --out")
    last = [time.perf_counter()]

    def progress(step: int, total: int) -> None:
        if time.perf_counter() - last[0] >= 10 or step == total:
            last[0] = time.perf_counter()
            print(f"gan2d: step {step}/{total}", file=sys.stderr, flush=True)

    try:
        result = gan2d.train(arms, seeds, cfg, seed=args.seed, progress=progress, checkpoint=state)
    except ValueError as exc:
        raise SimError(str(exc)) from None
    ev = gan2d.evaluate(result, seed=args.seed)
    plots.gan_samples(ev["samples"], arms, seeds, args.out / "samples.png")
    if result["curves"]["iterations"]:
        plots.gan_curves(result["curves"], arms, args.out / "curves.png")
    table = {arm: {k: {"mean": round(float(torch.tensor(v).mean()), 4),
                       "std": round(float(torch.tensor(v).std(correction=0)), 4)} for k, v in m.items()}
             for arm, m in ev["per_arm"].items()}
    lines = ["| arm | modes captured (of 25; ≥ 1 high-quality sample) | high-quality share (within 3σ) | reverse KL | "
             "modes with ≥ 1% of the samples | conditional modes (of 25) | conditional W1 |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for arm, m in table.items():
        lines.append(f"| {arm} | " + " | ".join(f"{m[k]['mean']:.2f} ± {m[k]['std']:.2f}" for k in
                                               ("modes", "quality", "kl", "modes_1pct", "conditional_modes",
                                                "conditional_w1")) + " |")
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    return {"experiment": "gan2d", "setup": args.setup, "arms": arms, "seeds": seeds, "seed": args.seed,
            "config": dataclasses.asdict(cfg),
            "seconds": round(result["seconds"], 1),
            "us_per_seed_step": round(1e6 * result["seconds"] / (steps * seeds * len(arms)), 1),
            "per_arm": ev["per_arm"], "table": table, "curves": result["curves"]}


def run(argv: list[str] | None = None) -> dict:
    """Parse, run the experiment, write DIR/metrics.json; SimError on bad input."""
    args = build_parser().parse_args(argv)
    if args.experiment not in EXPERIMENTS:
        raise SimError(f"unknown experiment {args.experiment!r}; known: {', '.join(EXPERIMENTS)}")
    checked_out(args.out)
    metrics = {"landscape": run_landscape, "gmm25": run_gmm25, "gan2d": run_gan2d}[args.experiment](args)
    text = json.dumps(metrics, indent=1, default=lambda o: None if isinstance(o, float) and math.isnan(o) else o)
    (args.out / "metrics.json").write_text(text + "\n")
    print(f"{args.experiment}: wrote {args.out / 'metrics.json'} and its figures in {metrics['seconds']} s",
          file=sys.stderr)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: a one-line error and exit 2 instead of a traceback."""
    return run_main(run, argv)



if __name__ == "__main__":
    sys.exit(main())
