"""The training loop: alternating D and G updates with the big-learning objectives, EMA, checkpoints.

A step: sample (S1, T1, S2, T2) and label roles, draw the fakes once, update D on the detached fakes
(plus lazy R1), then update G through the same fakes against the updated D (plus the label
cross-entropy). All randomness comes from the global torch RNG (seeded, saved in resume files) and a
per-epoch data permutation, so a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import copy
import json
import math
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from biglearn import objectives
from biglearn.augment import random_shifts
from biglearn.checkpoint import (
    check_state_dict,
    flatten_optimizer,
    load_resume,
    prefixed,
    remove_stale_temporaries,
    save_inference,
    save_resume,
    unflatten_optimizer,
)
from biglearn.config import BigLearnConfig
from biglearn.discriminator import UniversalDiscriminator
from biglearn.generator import UniversalGenerator
from biglearn.inference import BigLearnModel
from biglearn.masks import Tasks, joint_only, sample_tasks
from biglearn.patches import to_model_range
from biglearn.precision import (
    Choice,
    autocast,
    compile_available,
    full_precision,
    probe_shape,
    resolve,
    set_static_shapes,
)

from .config import TrainConfig
from .data import Dataset
from .distributed import DistInfo, all_equal, any_rank, average_gradients, broadcast_parameters
from .schedules import ema_decay, lr_scale, progress

INFERENCE_FILE = "model.safetensors"
SNAPSHOT_DIR = "snapshots"  # inference files kept every --keep-every steps, for train.curve
RESUME_FILE = "resume.safetensors"
METRICS_FILE = "metrics.jsonl"


def lineage_totals(steps: int, seconds: float, init: dict[str, Any] | None) -> dict[str, Any]:
    """The training the weights received over a chain of warm starts: this run's steps and seconds plus those
    of every --init-from file before it (each record's own `init`), as "total_steps" and "total_train_seconds"."""
    while init:
        steps, seconds = steps + int(init.get("steps") or 0), seconds + float(init.get("train_seconds") or 0.0)
        init = init.get("init")
    return {"total_steps": steps, "total_train_seconds": round(seconds, 1)}


class ProgressLines:
    """One line of progress on stderr every `progress_every` seconds: step, images/s, losses, ETA."""

    def __init__(self, train: TrainConfig, world_size: int) -> None:
        self.train, self.world_size = train, world_size
        self.last = time.monotonic()

    def maybe_print(self, step: int, elapsed: float, sums: dict[str, float], n: int, window_start: float) -> None:
        """Print when the interval has passed (`sums` over the `n` steps since `window_start`)."""
        now = time.monotonic()
        if now - self.last < self.train.progress_every or n == 0:
            return
        self.last = now
        t = self.train
        ips = n * t.batch_size * self.world_size / max(now - window_start, 1e-9)
        losses = ", ".join(f"{k} {v / n:.3f}" for k, v in sums.items() if k in ("d_total", "g_total", "mse",
                                                                                   "label_ce"))
        left = []
        if t.time_budget_s:
            left.append(max(0.0, t.time_budget_s - elapsed))
        if t.steps and n:
            left.append(max(0, t.steps - step) * (now - window_start) / n)
        eta = f", ETA {format_seconds(min(left))}" if left else ""
        total = f"/{t.steps}" if t.steps else ""
        print(f"step {step}{total}: {ips:.0f} img/s, {losses}, {format_seconds(elapsed)} trained{eta}",
              file=sys.stderr, flush=True)


def format_seconds(seconds: float) -> str:
    """1h02m, 5m30s, 42s."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{sec:02d}s" if m else f"{sec}s"


class TrainingError(RuntimeError):
    """The run cannot go on (diverged, or inconsistent with its run directory)."""


def git_commit() -> str:
    """The checkout's commit, with "+dirty" when biglearn/ or train/ differ from it; "unknown" outside git.

    Taken once when a Trainer starts: the code a run executes is the code it imported then, whatever
    is committed while it trains."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=root).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "biglearn", "train"], capture_output=True,
                               text=True, timeout=5, cwd=root).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head + ("+dirty" if dirty else "")) if head else "unknown"


def adamw(module: torch.nn.Module, lr: float, train: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW over `module`, fused into one kernel where torch has one (3-5x faster optimiser steps on the CPU)."""
    return torch.optim.AdamW(module.parameters(), lr=lr, betas=(train.beta1, train.beta2), eps=train.eps,
                             weight_decay=train.weight_decay, fused=device.type in ("cpu", "cuda"))


def tensorboard_writer(out_dir: Path) -> Any | None:
    """A TensorBoard SummaryWriter into RUN_DIR/tensorboard when the `tensorboard` package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # optional: the metrics log is the record, TensorBoard only a view of it
        return None
    return SummaryWriter(str(out_dir / "tensorboard"))


class Trainer:
    """Owns the models, optimisers, EMA and the run directory of one training run."""

    def __init__(self, config: BigLearnConfig, train: TrainConfig, dataset: Dataset, out_dir: Path,
                 device: torch.device, dist: DistInfo = DistInfo(), precision: Choice | None = None) -> None:
        self.config, self.train, self.data, self.out = config, train, dataset, Path(out_dir)
        self.device, self.dist = device, dist
        self.precision = precision or resolve(train.precision, device,
                                              shape=probe_shape(config.model, train.batch_size))
        if device.type == "cpu":  # index backward accumulates in thread order otherwise: resume must be exact
            torch.use_deterministic_algorithms(True, warn_only=True)
            # ...but its NaN-filling of every new tensor is a debugging aid that costs 7% of a step
            torch.utils.deterministic.fill_uninitialized_memory = False
        torch.manual_seed(train.seed)  # identical initial weights on every rank
        self.G = UniversalGenerator(config.model).to(device)
        self.D = UniversalDiscriminator(config.model).to(device)
        broadcast_parameters(self.G, dist)
        broadcast_parameters(self.D, dist)
        self.ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        # the modules the step calls: compiled with --compile where torch.compile runs (else a warning, eager)
        self.step_G: torch.nn.Module = self.G
        self.step_D: torch.nn.Module = self.D
        self.compiled = False
        if train.compile:
            ok, why = compile_available(device)
            if ok:
                self.step_G, self.step_D = torch.compile(self.G, dynamic=False), torch.compile(self.D, dynamic=False)
                self.compiled = True
            elif dist.is_main:
                print(f"warning: --compile: torch.compile cannot run on {device} here ({why}); training without it",
                      file=sys.stderr, flush=True)
        # fixed shapes for bf16 kernels, GPUs and compiled graphs; fp32 on a CPU keeps the length buckets (and so
        # its exact past)
        static = self.precision.precision == "bf16" or device.type == "cuda" or self.compiled
        for module in (self.G, self.D, self.ema):
            set_static_shapes(module, static)
        self.opt_g = adamw(self.G, train.lr_g, train, device)
        self.opt_d = adamw(self.D, train.lr_d, train, device)
        self.step = 0
        self.saved_step: int | None = None  # the step of the last checkpoint written completely
        self.elapsed = 0.0  # training seconds over all sessions of this run
        self.init: dict[str, Any] | None = None  # the training of the weights it started from (--init-from)
        # steps trained in each precision by earlier sessions of this run: a run resumed on another CPU may change
        # precision (auto), and its record must say so rather than name only the last session's
        self.earlier_precision_steps: dict[str, int] = {}
        self.session_start = 0
        torch.manual_seed(train.seed * 1000 + dist.rank + 1)  # masks and noise differ per rank
        self.stop_requested = False
        self.probe_images = dataset.images[:8]
        self.probe_labels = None if dataset.labels is None else dataset.labels[:8]
        self.tensorboard = tensorboard_writer(self.out) if dist.is_main else None
        if dist.is_main:  # a run killed mid-write left its temporary file behind; the run is ours again
            for folder in (self.out, self.out / SNAPSHOT_DIR):
                remove_stale_temporaries(folder)
        self.commit = git_commit()

    # --- data ----------------------------------------------------------------------------------

    def batch_indices(self, step: int) -> torch.Tensor:
        """Indices of this rank's batch at `step`: a fresh seeded permutation every epoch."""
        n, b, w = len(self.data), self.train.batch_size, self.dist.world_size
        per_step = b * w
        steps_per_epoch = max(1, n // per_step)
        epoch, k = divmod(step, steps_per_epoch)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.train.seed * 7919 + epoch))
        start = k * per_step + self.dist.rank * b
        idx = perm[start:start + b]
        if len(idx) < b:  # datasets smaller than one global batch: wrap around
            idx = perm.repeat(math.ceil((start + b) / n))[start:start + b]
        return idx

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        idx = self.batch_indices(step)
        images = to_model_range(self.data.images[idx].float().div_(255)).to(self.device)
        labels = None if self.data.labels is None or not self.config.model.num_classes \
            else self.data.labels[idx].to(self.device)
        observed = None if self.data.observed is None else self.data.observed[idx].to(self.device)
        return images, labels, observed

    # --- one step ------------------------------------------------------------------------------

    def _lr_scale(self) -> float:
        t = self.train
        return lr_scale(t, self.step, progress(self.step, self.elapsed, t.steps, t.time_budget_s))

    def _apply(self, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], base_lr: float) -> None:
        average_gradients(params, self.dist)
        if self.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.train.grad_clip)
        for group in optimizer.param_groups:
            group["lr"] = base_lr * self._lr_scale()
        optimizer.step()

    def _check_finite(self, terms: dict[str, torch.Tensor]) -> None:
        for name, value in terms.items():
            if not math.isfinite(float(value.detach())):
                raise TrainingError(f"loss term {name!r} became {float(value.detach())} at step {self.step}: training "
                                    f"diverged; the last good checkpoint in {self.out} is kept (try a lower "
                                    "learning rate, --grad-clip or a stronger R1)")

    def train_step(self) -> dict[str, float]:
        """One update of the configured objective (DESIGN.md §4; docs/claims.md); returns the loss terms."""
        cfg = self.config
        images, labels, observed = self.batch(self.step)
        has_label = None if labels is None else labels >= 0
        tasks = sample_tasks(images.shape[0], cfg.model.num_patches, cfg.masks, observed=observed,
                             has_label=has_label, device=self.device)
        if cfg.loss.objective == "joint":
            tasks = joint_only(tasks, observed)
        with autocast(self.precision.precision, self.device):
            if cfg.loss.adversarial:
                terms = self._adversarial_step(images, labels, observed, tasks)
            else:
                terms = self._direct_step(images, labels, observed, tasks)
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.parameters()), list(self.G.parameters()),
                                 1.0 - ema_decay(self.train, self.ema_offset + self.step))
        self.step += 1
        return {k: float(v.detach()) for k, v in terms.items()}

    def _adversarial_step(self, images: torch.Tensor, labels: torch.Tensor | None, observed: torch.Tensor | None,
                          tasks: Tasks) -> dict[str, torch.Tensor]:
        """One D update and one G update through the same fakes (big learning and its joint-only case)."""
        cfg = self.config
        fakes = objectives.draw_fakes(self.step_G, images, tasks, labels, cfg.loss)  # G copies its sources unshifted
        real, seen = images, fakes  # what D sees: with augmentation, real and fakes shifted alike
        if self.train.augment_shift:
            shifts = random_shifts(images.shape[0], self.train.augment_shift, images.device)
            real, seen = objectives.shift_alike(images, fakes, shifts)
        # discriminator
        d_terms = objectives.discriminator_losses(self.step_D, real, seen.detach(), tasks, labels, cfg.loss)
        d_loss = d_terms["d_total"]
        if cfg.loss.r1_gamma > 0 and self.step % cfg.loss.r1_interval == 0:
            with full_precision(self.device):  # a double backward: fp32, like every loss
                d_terms["r1"] = objectives.r1_penalty(self.D, real, tasks, labels, cfg.loss, scale=cfg.loss.r1_interval)
            d_loss = d_loss + d_terms["r1"]
        self._check_finite(d_terms)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self._apply(self.opt_d, list(self.D.parameters()), self.train.lr_d)
        # generator, through the same fakes and the updated D
        self.D.requires_grad_(False)
        g_terms = objectives.generator_losses(self.step_D, seen, tasks, labels, cfg.loss)
        g_loss = g_terms["g_total"]
        if cfg.loss.diversity_weight > 0:  # on the unshifted fakes: what G drew, before D's augmentation
            g_terms["g_div"] = objectives.mode_seeking(self.step_G, images, fakes, tasks, labels, cfg.loss)
            g_loss = g_loss - cfg.loss.diversity_weight * g_terms["g_div"]
        if labels is not None and cfg.loss.label_weight > 0:
            g_terms["label_ce"] = objectives.label_loss(self.G, images, labels, tasks, cfg.masks, observed)
            g_loss = g_loss + cfg.loss.label_weight * g_terms["label_ce"]
        self.D.requires_grad_(True)
        self._check_finite(g_terms)
        self._update_generator(g_loss)
        return {**d_terms, **g_terms}

    def _direct_step(self, images: torch.Tensor, labels: torch.Tensor | None, observed: torch.Tensor | None,
                     tasks: Tasks) -> dict[str, torch.Tensor]:
        """One G update without a discriminator: MAE (MSE on the targets) or supervised cross-entropy."""
        cfg = self.config
        if cfg.loss.objective == "supervised":
            if labels is None:
                raise TrainingError("--objective supervised needs labelled data")
            terms = {"label_ce": objectives.supervised_loss(self.G, images, labels, observed)}
            loss = terms["label_ce"]
        else:
            terms = {"mse": objectives.mae_loss(self.step_G, images, tasks, labels)}
            loss = terms["mse"]
            if labels is not None and cfg.loss.label_weight > 0:
                terms["label_ce"] = objectives.label_loss(self.G, images, labels, tasks, cfg.masks, observed)
                loss = loss + cfg.loss.label_weight * terms["label_ce"]
        self._check_finite(terms)
        self._update_generator(loss)
        return terms

    def _update_generator(self, loss: torch.Tensor) -> None:
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self._apply(self.opt_g, list(self.G.parameters()), self.train.lr_g)

    # --- checkpoints ---------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Model-card facts stored in the inference file."""
        precisions = self.precision_steps()
        return {"preset": self.train.preset, "data": self.train.data, "dataset_size": len(self.data),
                "steps": self.step, "images_seen": self.step * self.train.batch_size * self.dist.world_size,
                "train_seconds": round(self.elapsed, 1), "commit": self.commit,
                "train_config": asdict(self.train), "world_size": self.dist.world_size,
                "precision": "+".join(precisions) or self.precision.precision, "precision_steps": precisions,
                **({"init": self.init, **lineage_totals(self.step, self.elapsed, self.init)} if self.init else {})}

    def precision_steps(self) -> dict[str, int]:
        """The steps of this run trained in each compute precision, over all its sessions (names sorted)."""
        steps = dict(self.earlier_precision_steps)
        current = self.precision.precision
        steps[current] = steps.get(current, 0) + self.step - self.session_start
        return {name: n for name, n in sorted(steps.items()) if n > 0}

    @property
    def ema_offset(self) -> int:
        """The updates the EMA averaged before this run: every warm start carries an EMA, so its warm-up
        (ema_rampup) goes on from the file's total steps instead of forgetting them within a few steps."""
        return lineage_totals(0, 0.0, self.init)["total_steps"]

    def start_from(self, weights: dict[str, torch.Tensor], record: dict[str, Any]) -> None:
        """Warm start (--init-from): each of G, EMA and D whose weights are in `weights` (named as in a resume
        file) takes them, and the optimisers take the Adam moments "opt_g."/"opt_d." when given, under this
        run's hyperparameters; anything not given keeps its fresh initialisation. The step count, schedules and
        RNG stay this run's own. `record` (the file's training) is kept as `init` in every file the run writes."""
        self.load_parts(weights, self.train.init_from)
        self.init = record

    def load_parts(self, tensors: dict[str, torch.Tensor], where: str, groups: dict[str, Any] | None = None) -> None:
        """Load G, EMA, D and the optimisers from tensors named as in a resume file. With `groups` (the saved
        param groups of "opt_g" and "opt_d": a resume) every part must be there; without (a warm start) the
        parts present are loaded, the optimisers' under this run's hyperparameters."""
        for name, module in (("G", self.G), ("ema", self.ema), ("D", self.D)):
            part = prefixed(tensors, name)
            if part or groups is not None:
                check_state_dict(module, part, f"{where} [{name}]")
                module.load_state_dict(part)
        for name, optimizer in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            if groups is not None or prefixed(tensors, name):
                saved = groups[name] if groups is not None else optimizer.state_dict()["param_groups"]
                unflatten_optimizer(optimizer, tensors, saved, name)

    def save(self) -> None:
        """Write the inference and resume files atomically (rank 0 only). A failed write (disk full, read-only)
        leaves the previous files intact and ends the run with a TrainingError naming the last complete step."""
        if not self.dist.is_main:
            return
        try:
            self._write_checkpoints()
        except OSError as exc:
            raise self.write_error(exc) from None
        self.saved_step = self.step

    def write_error(self, exc: OSError) -> TrainingError:
        """What ends a run whose file could not be written: the file, the reason, the last complete step."""
        where = exc.filename or self.out
        last = "none yet" if self.saved_step is None else f"step {self.saved_step}"
        return TrainingError(f"could not write {where} ({exc.strerror or exc}); the last complete checkpoint "
                             f"in {self.out} is {last}")

    def _write_checkpoints(self) -> None:
        save_inference(self.out / INFERENCE_FILE, self.ema, self.config, self.info())
        if self.train.keep_every and self.step % self.train.keep_every == 0:
            (self.out / SNAPSHOT_DIR).mkdir(exist_ok=True)
            save_inference(self.out / SNAPSHOT_DIR / f"model_{self.step:07d}.safetensors", self.ema, self.config,
                           self.info())
        tensors: dict[str, torch.Tensor] = {}
        for name, module in (("G", self.G), ("D", self.D), ("ema", self.ema)):
            tensors.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
        opt_g, groups_g = flatten_optimizer(self.opt_g, "opt_g")
        opt_d, groups_d = flatten_optimizer(self.opt_d, "opt_d")
        tensors.update(opt_g)
        tensors.update(opt_d)
        tensors["rng.cpu"] = torch.get_rng_state()
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        state = {"step": self.step, "elapsed": self.elapsed, "train_config": asdict(self.train),
                 "precision": self.precision.precision, "precision_steps": self.precision_steps(),
                 "opt_g_groups": groups_g, "opt_d_groups": groups_d, "init": self.init}
        save_resume(self.out / RESUME_FILE, tensors, self.config, state)

    def resume(self, path: Path) -> None:
        """Restore everything from a resume file written by `save` for the same config."""
        config, tensors, state = load_resume(path)
        if config != self.config:
            raise TrainingError(f"{path} was written for another model/objective config; use a new --out "
                                "directory or the same preset and overrides")
        self.load_parts(tensors, str(path), {"opt_g": state["opt_g_groups"], "opt_d": state["opt_d_groups"]})
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.init = state.get("init")
        # files from before the per-precision count trained every step in their one precision
        self.earlier_precision_steps = dict(state.get("precision_steps") or {state.get("precision", "fp32"): self.step})
        self.session_start = self.step
        self.saved_step = self.step
        self.truncate_log()
        if self.dist.world_size == 1:
            torch.set_rng_state(tensors["rng.cpu"])
            if self.device.type == "cuda" and "rng.cuda" in tensors:
                torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        else:  # each rank's stream continues from a seed that depends on the step
            torch.manual_seed(self.train.seed * 1000 + self.dist.rank + 1 + self.step)

    # --- observability -------------------------------------------------------------------------

    def inference_model(self) -> BigLearnModel:
        return BigLearnModel(self.ema, self.config, device=self.device)

    def probe(self) -> dict[str, float]:
        """Cheap collapse watch on the EMA generator: diversity across seeds at r = 0.1 and 0.9, and the
        class coverage of 64 joint samples as judged by the model's own classifier."""
        from biglearn.masks import random_source

        m = self.inference_model()
        out: dict[str, float] = {}
        if not m.can_generate:
            return out
        imgs = self.probe_images.float() / 255
        for r in (0.1, 0.5, 0.9):
            src = random_source(len(imgs), self.config.model.num_patches, r, generator=torch.Generator().manual_seed(1))
            s = m.complete(imgs, src, seeds=[0, 1, 2, 3])
            out[f"div@{r}"] = float(s.std(dim=1).mean())
        if self.config.model.num_classes:
            probs = m.classify(m.generate(64, seeds=10_000))
            counts = torch.bincount(probs.argmax(1), minlength=self.config.model.num_classes).float()
            p = counts / counts.sum()
            out["joint_classes"] = float((counts > 0).sum())
            out["joint_top_class_frac"] = float(p.max())
            out["joint_entropy"] = float(-(p[p > 0] * p[p > 0].log()).sum())
            out["joint_confidence"] = float(probs.max(1).values.mean())
        return out

    def write_samples(self) -> None:
        """Fig. 3 (ratio sweep) and Fig. 4 (seeds) grids of the EMA generator as PNGs."""
        from biglearn.figures import ratio_sweep, seed_grid, sweep_source
        from biglearn.render import grid_image, save_png

        m = self.inference_model()
        if not m.can_generate:
            return
        imgs = self.probe_images.float() / 255
        grid, outlines = ratio_sweep(m, imgs, seeds=[0])
        p = self.config.model.patch_size
        save_png(grid_image(grid, outlines=outlines, patch_size=p),
                 self.out / "samples" / f"{self.step:07d}_ratios.png")
        src = sweep_source(len(imgs), self.config.model.num_patches, 0.3, "random", seed=3)
        grid, outlines = seed_grid(m, imgs, src, seeds=range(8))
        save_png(grid_image(grid, outlines=outlines, patch_size=p), self.out / "samples" / f"{self.step:07d}_seeds.png")

    def ranks_in_sync(self) -> bool:
        """Whether G, D and the EMA hold bit-identical weights on every rank."""
        flat = torch.cat([p.detach().flatten() for m in (self.G, self.D, self.ema) for p in m.parameters()])
        return all_equal(flat, self.dist)

    def truncate_log(self) -> None:
        """Drop the metrics records after the current step (logged by a run that died before its next
        checkpoint), so that the resumed run's log stays monotonic in step."""
        path = self.out / METRICS_FILE
        if not self.dist.is_main or not path.exists():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                if int(json.loads(line)["step"]) <= self.step:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):  # a line cut by the crash
                continue
        path.write_text("".join(k + "\n" for k in kept))

    def log(self, record: dict[str, Any]) -> None:
        """Append a metrics record to the JSON-lines log (and TensorBoard, when installed); rank 0 only."""
        if not self.dist.is_main:
            return
        try:
            with open(self.out / METRICS_FILE, "a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as exc:
            raise self.write_error(exc) from None
        if self.tensorboard is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, int | float) and not isinstance(value, bool):
                    self.tensorboard.add_scalar(key, value, record["step"])
            self.tensorboard.flush()

    # --- the run -------------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.stop_requested = True

    def run(self) -> dict[str, Any]:
        """Train until --steps or --time-budget (or SIGINT/SIGTERM); checkpoint periodically and at the end."""
        t = self.train
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        bar = None
        if self.dist.is_main:
            from tqdm import tqdm

            bar = tqdm(total=t.steps or None, initial=self.step, unit="step", dynamic_ncols=True,
                       disable=None, mininterval=2.0)
        start_elapsed, start_step = self.elapsed, self.step
        # without a terminal tqdm stays silent: a plain progress line every t.progress_every seconds instead
        lines = ProgressLines(t, self.dist.world_size) if self.dist.is_main and not sys.stderr.isatty() \
            and t.progress_every > 0 else None
        session_start = time.monotonic()
        sums: dict[str, float] = {}
        n_sum, window_start = 0, time.monotonic()
        reason = "steps"
        try:
            while True:
                if t.steps and self.step >= t.steps:
                    reason = "steps"
                    break
                if any_rank(self.stop_requested or (t.time_budget_s > 0 and self.elapsed >= t.time_budget_s),
                            self.dist, self.device):
                    reason = "signal" if self.stop_requested else "time budget"
                    break
                terms = self.train_step()
                self.elapsed = start_elapsed + time.monotonic() - session_start
                if self.compiled and self.step == start_step + 1 and self.dist.is_main:
                    print(f"compiled: the first step (with compilation) took "
                          f"{self.elapsed - start_elapsed:.1f} s", file=sys.stderr, flush=True)
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v
                n_sum += 1
                if bar is not None:
                    bar.update(1)
                if lines is not None:
                    lines.maybe_print(self.step, self.elapsed, sums, n_sum, window_start)
                if t.log_every and (self.step % t.log_every == 0 or self.step == start_step + 1):
                    now = time.monotonic()
                    ips = n_sum * t.batch_size * self.dist.world_size / max(now - window_start, 1e-9)
                    record = {"step": self.step, "elapsed_s": round(self.elapsed, 1), "images_per_s": round(ips, 1),
                              "precision": self.precision.precision, "compiled": self.compiled,
                              **{k: round(v / n_sum, 5) for k, v in sums.items()}}
                    if self.dist.enabled:
                        record["ranks_in_sync"] = self.ranks_in_sync()
                    if t.probe_every and self.step % t.probe_every == 0 and self.dist.is_main:
                        record.update({k: round(v, 5) for k, v in self.probe().items()})
                    self.log(record)
                    if bar is not None:
                        bar.set_postfix(img_s=f"{ips:.0f}", d=f"{record.get('d_total', 0):.3f}",
                                        g=f"{record.get('g_total', 0):.3f}")
                    sums, n_sum, window_start = {}, 0, time.monotonic()
                if t.sample_every and self.step % t.sample_every == 0 and self.dist.is_main:
                    self.write_samples()
                if t.checkpoint_every and self.step % t.checkpoint_every == 0:
                    self.save()
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
            if bar is not None:
                bar.close()
            if self.tensorboard is not None:
                self.tensorboard.close()
        self.save()
        if self.dist.is_main and self.step > start_step:
            self.write_samples()
        return {"step": self.step, "stopped_by": reason, "elapsed_s": round(self.elapsed, 1)}
