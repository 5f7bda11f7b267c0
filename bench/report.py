"""The benchmark's targets and its printed report (the JSON holds the same numbers, unrounded)."""

from __future__ import annotations

from typing import Any

TRAIN_MFU_GOAL = 0.40  # mnist-cpu training step at batch 64
COMPLETE_P50_GOAL_MS = 25.0  # complete 1 image x 8 seeds
COMPLETE_MFU_GOAL = 0.15
TOKEN_EXPONENT_GOAL = 1.0  # training cost per image grows at most linearly in tokens, up to 64


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the performance issue: the measured value, the goal and whether it is met
    (None where this run did not measure it, e.g. --quick trains at a smaller batch)."""
    train = next((r for r in results["training"]["rows"] if r["preset"] == "mnist-cpu" and r["batch"] == 64
                  and r.get("precision", "fp32") == "fp32"), None)
    complete = results["inference"]["workloads"]["complete_1x8"]
    exponent = results["scaling"]["tokens"]["time_exponent"]

    def row(name: str, value: float | None, goal: float, at_least: bool) -> dict[str, Any]:
        met = None if value is None else (value >= goal if at_least else value <= goal)
        return {"target": name, "value": value, "goal": goal, "met": met}

    return [
        row("training MFU, mnist-cpu at batch 64", train and train["mfu"], TRAIN_MFU_GOAL, True),
        row("complete 1x8 p50 (ms)", complete["p50_ms"], COMPLETE_P50_GOAL_MS, False),
        row("complete 1x8 MFU", complete["mfu"], COMPLETE_MFU_GOAL, True),
        row("time/image growth exponent in tokens (<= 64)", exponent, TOKEN_EXPONENT_GOAL, False),
    ]


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain fixed-width table; floats get 3 significant digits."""
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.0f}"
        return str(v)

    cells = [headers] + [[cell(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in cells]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def render(results: dict[str, Any]) -> str:
    """The whole report as text."""
    m, lim = results["machine"], results["limits"]
    out = [f"machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads, device {m['device']}, "
           f"torch {m['torch']}; load average {m['load_average_1m']}"
           + (" (a training run was in progress)" if m["training_in_progress"] else ""),
           f"limits: fp32 matmul {lim['matmul']['flops_per_s'] / 1e9:.1f} GFLOP/s (median of "
           f"{lim['matmul']['size']}^2 calls; best {lim['matmul']['best_flops_per_s'] / 1e9:.1f}), copy "
           f"{lim['copy']['bytes_per_s'] / 1e9:.1f} GB/s; MFU below = counted FLOPs / time / "
           f"{lim['peak_flops_per_s'] / 1e9:.1f} GFLOP/s", ""]
    if "matmul_bf16" in lim:
        out[-1:-1] = [f"bf16 matmul {lim['matmul_bf16']['flops_per_s'] / 1e9:.1f} GFLOP/s: the peak of the bf16 "
                      "rows' MFU"]
    tr = results["training"]
    out += ["training: one full big-learning step (both objectives, R1 amortised at its interval); bf16 rows: "
            "--precision bf16, x = fp32 step time / bf16 step time, measured back to back",
            table(["preset", "precision", "tokens", "batch", "step s", "img/s", "x fp32", "GFLOP/step", "MFU",
                   "peak MiB"],
                  [[r["preset"], r.get("precision", "fp32"), r["tokens"], r["batch"], r["step_s"], r["images_per_s"],
                    r.get("speedup", 1.0), r["flops_per_step"] / 1e9, r["mfu"], r["peak_mem_mib"]]
                   for r in tr["rows"]])]
    out += [f"  skipped {s['preset']}: {s['reason']}" for s in tr["skipped"]]
    inf = results["inference"]
    out += ["", f"inference ({inf['model']})",
            table(["workload", "p50 ms", "p95 ms", "img/s", "GFLOP", "MFU"],
                  [[k, v["p50_ms"], v["p95_ms"], v["images_per_s"], v["flops"] / 1e9, v["mfu"]]
                   for k, v in inf["workloads"].items()])]
    tok = results["scaling"]["tokens"]
    out += ["", f"scaling with tokens ({tok['preset']} widths, batch {tok['batch']}): at patch "
                f"{tok['fit_patch_size']}, time/image ~ tokens^{_num(tok['time_exponent'])} up to "
                f"{tok['fit_up_to_tokens']} tokens "
                f"(^{_num(tok['time_exponent_all'])} over all); counted FLOPs/image ~ tokens^"
                f"{_num(tok['flops_exponent'])}",
            table(["image", "patch", "tokens", "step s", "ms/image", "GFLOP/image", "MFU", "peak MiB"],
                  [[r["image_size"], r["patch_size"], r["tokens"], r["step_s"], 1e3 * r["step_s"] / r["batch"],
                    r["flops_per_image"] / 1e9, r["mfu"], r["peak_mem_mib"]] for r in tok["rows"]])]
    bat = results["scaling"]["batch"]
    out += ["", f"scaling with batch ({bat['preset']}): step time ~ batch^{_num(bat['time_exponent'])}, peak memory ~ "
                f"batch^{_num(bat['memory_exponent'])}",
            table(["batch", "step s", "img/s", "MFU", "peak MiB"],
                  [[r["batch"], r["step_s"], r["images_per_s"], r["mfu"], r["peak_mem_mib"]] for r in bat["rows"]])]
    sm = results["sims"]
    gm, ga = sm["gmm25"], sm["gan2d"]
    out += ["", f"2-D simulations ({gm['seeds']} seeds per arm, batched): landscape on a {sm['landscape']['points']}^2 "
                f"grid {sm['landscape']['seconds']:.1f} s; gmm25 {gm['us_per_seed_step']:.0f} us per seed-step "
                f"({gm['arms']} arms, {gm['iterations']} iterations x {gm['inner']} steps; the full race projected "
                f"{gm['projected_full_s'] / 60:.1f} min); gan2d {1e3 * ga['step_s']:.1f} ms per step ({ga['arms']} "
                f"arms; {ga['steps']} steps; the full run projected {ga['projected_full_s'] / 60:.1f} min; "
                f"{ga.get('us_per_seed_step', 0):.0f} us per seed-step, PacGAN's networks "
                f"{ga.get('pacgan_us_per_seed_step', 0):.0f})"]
    st = results["startup"]
    out += ["", f"start-up ({st['loader']}, median of {st['runs']} fresh processes): import biglearn "
                f"{_num(st['import_biglearn_s'])} s, import app {_num(st['import_app_s'])} s, load "
                f"{_num(st['load_s'])} s, first complete {_num(st['first_complete_s'])} s; whole process "
                f"{_num(st['process_s'])} s", "",
            "targets",
            table(["target", "value", "goal", "met"],
                  [[t["target"], t["value"], t["goal"], {True: "yes", False: "NO", None: "not measured"}[t["met"]]]
                   for t in results["targets"]]),
            "", f"bench wall time {results['wall_s']:.1f} s" + (" (--quick)" if results["quick"] else "")]
    return "\n".join(out)


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"
