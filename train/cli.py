"""`python -m train`: train a BigLearn-GAN checkpoint on MNIST, CelebA, CIFAR-10, a folder or an .npz."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import sys
from pathlib import Path

import torch

from biglearn.checkpoint import RESUME_KIND, CheckpointError, file_kind, load_inference, load_resume
from biglearn.cli import run_main
from biglearn.config import CLS_POOLS, OBJECTIVES, BigLearnConfig, LossConfig
from biglearn.precision import PRECISIONS, probe_shape, resolve
from biglearn.presets import REGISTRY, Recipe, get_preset

from .config import FIELD_DEFAULTS, TrainConfig, parse_duration
from .data import DataError, hold_out, load_source, simulate_missing
from .distributed import init_distributed, shutdown_distributed
from .loop import RESUME_FILE, Trainer, TrainingError
from .run_lock import RunBusy, run_directory_lock

RECIPE_FLAGS = ("batch_size", "lr_g", "lr_d", "beta1", "eps", "warmup_steps", "grad_clip", "ema_decay", "ema_rampup",
                "lr_decay", "augment_shift")
# ModelConfig / MaskConfig fields the command line can override (recorded in the checkpoint's config)
MODEL_FLAGS = ("cls_pool", "d_dim", "d_depth", "d_overlap")
MASK_FLAGS = ("label_full_source",)
LOSS_FLAGS = ("comm_weight", "r1_gamma", "r1_interval", "label_weight", "diversity_weight", "diversity_cap",
              "diversity_labelled")
FLAGS = {"time_budget_s": "--time-budget"}  # TrainConfig fields whose flag is not --field-name


def flag(field_name: str) -> str:
    """The command-line flag of a TrainConfig field."""
    return FLAGS.get(field_name, "--" + field_name.replace("_", "-"))


def in_flags(message: str) -> str:
    """A config error with its `TrainConfig.<field>` names (and those of the model and mask fields the command
    line sets) replaced by the flags that set them."""
    settable = {"TrainConfig": None, "ModelConfig": MODEL_FLAGS, "MaskConfig": MASK_FLAGS, "LossConfig": LOSS_FLAGS}

    def name(m: re.Match) -> str:
        fields = settable[m.group(1)]
        return flag(m.group(2)) if fields is None or m.group(2) in fields else m.group(0)

    return re.sub(r"(TrainConfig|ModelConfig|MaskConfig|LossConfig)\.(\w+)", name, message)


def on_off(value: str) -> bool:
    """An argparse type for a switch written `on` or `off`."""
    if value not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {value!r}")
    return value == "on"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m train",
        description="Train a BigLearn-GAN (universal generator + universal discriminator) and write an "
                    "inference checkpoint (model.safetensors, loadable by biglearn.load and the app) and a "
                    "resume file into --out. Multi-GPU / multi-node: launch with torchrun.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True,
                   help="mnist | fashion-mnist | cifar10 | celeba (torchvision, downloaded into --data-root), "
                        "a folder of images (any sizes, resized/cropped), or an .npz with 'images' "
                        "[+ 'labels', + 'observed' patch masks]")
    p.add_argument("--out", required=True, type=Path, help="run directory for checkpoints, metrics and samples")
    p.add_argument("--preset", default=FIELD_DEFAULTS["preset"], choices=sorted(REGISTRY),
                   help="model size and training recipe (biglearn.presets)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its resume file")
    p.add_argument("--init-from", type=Path,
                   help="start a new run from another run's weights, with this run's recipe and schedule: from a "
                        "resume file (e.g. RUN/resume.safetensors) G, its EMA, D and the optimiser moments; from a "
                        "carry file (python -m train.carry) the same without G's moments; from an "
                        "inference file (e.g. a bundled checkpoint) G and its EMA only, D starting fresh. The "
                        "architecture must match")
    p.add_argument("--steps", type=int, default=FIELD_DEFAULTS["steps"],
                   help="stop after this many steps (0 = no limit)")
    p.add_argument("--time-budget", default="0", help="stop after this much training time, e.g. 1h30m (0 = none)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", default=FIELD_DEFAULTS["precision"], choices=PRECISIONS,
                   help="compute precision: bf16 (autocast over fp32 weights, optimiser, EMA and losses) where the "
                        "device has it natively; auto = bf16 on CUDA and on CPUs where a bf16 matmul of the model's "
                        "shape measures >= 2.5x fp32, else fp32 (the first output line says which and why)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile G and D for the training step (static shapes; R1 and the classifier stay "
                        "eager). Off by default: it did not pay on the CPUs measured (docs/performance.md). "
                        "Where torch.compile cannot run, a warning and eager training")
    p.add_argument("--data-root", type=Path, default=Path("~/.cache/biglearn/data").expanduser(),
                   help="where torchvision datasets are downloaded")
    p.add_argument("--missing-rate", type=float, default=FIELD_DEFAULTS["missing_rate"],
                   help="simulate incomplete data: hide this fraction of each image's patches for the whole run")
    p.add_argument("--seed", type=int, default=FIELD_DEFAULTS["seed"], help="seed for weights, data order, masks and "
                                                                            "noise")
    p.add_argument("--holdout", type=int, default=FIELD_DEFAULTS["holdout"],
                   help="hold the last N training images out as the validation split (train.evaluate --split val "
                        "scores on them; 5000 for MNIST); 0 = train on everything")
    t = p.add_argument_group("optimisation (defaults: the preset's recipe, biglearn.presets)")
    t.add_argument("--batch-size", type=int, help="images per step per process")
    t.add_argument("--lr-g", type=float, help="generator learning rate")
    t.add_argument("--lr-d", type=float, help="discriminator learning rate")
    t.add_argument("--beta1", type=float, help="AdamW beta1 (paper: 0.1)")
    t.add_argument("--eps", type=float, help="AdamW epsilon")
    t.add_argument("--warmup-steps", type=int, help="linear learning-rate warm-up")
    t.add_argument("--grad-clip", type=float, help="max gradient norm (0 = off)")
    t.add_argument("--ema-decay", type=float, help="EMA decay of the inference generator")
    t.add_argument("--ema-rampup", type=float,
                   help="EMA warm-up: its half-life is at most this times the steps taken, an --init-from file's "
                        "included (0 = off; StyleGAN2: 0.05)")
    t.add_argument("--lr-decay", type=float,
                   help="decay the learning rates linearly to 0 over this last fraction of --steps / --time-budget "
                        "(0 = off)")
    t.add_argument("--augment-shift", type=int,
                   help="D sees real and fake images shifted alike by up to this many pixels (0 = off)")
    o = p.add_argument_group("objectives (recorded in the checkpoint)")
    o.add_argument("--objective", choices=OBJECTIVES, default=LossConfig.objective,
                   help="biglearn (eqs. 4+5), biglearn-no-comm (eq. 4 only), joint (S = empty only: a plain GAN), "
                        "mae (no noise, MSE on the targets, no discriminator), supervised (encoder + classifier "
                        "on whole images)")
    o.add_argument("--comm-weight", type=float, help="weight of the communication term, eq. (5); 0 = off")
    o.add_argument("--r1-gamma", type=float, help="R1 penalty strength λ_GP")
    o.add_argument("--r1-interval", type=int, help="lazy R1: evaluate every k steps")
    o.add_argument("--label-weight", type=float, help="weight of the label cross-entropy")
    o.add_argument("--diversity-weight", type=float,
                   help="weight of the mode-seeking term: G is rewarded for how far two samples of one task move "
                        "per unit of noise (0 = off; docs/design-notes.md)")
    o.add_argument("--diversity-cap", type=float,
                   help="the mode-seeking reward stops growing at this |dx|/|dz| (pixels in [-1, 1])")
    o.add_argument("--diversity-labelled", type=on_off, metavar="{on,off}",
                   help="off: the mode-seeking term skips samples whose label is given, so that it cannot push "
                        "a class-conditional sample out of its class (default: on)")
    o.add_argument("--label-full-source", type=float,
                   help="share of the classifier's training images it sees whole (MaskConfig.label_full_source)")
    m = p.add_argument_group("architecture overrides (recorded in the checkpoint; default: the preset's)")
    m.add_argument("--cls-pool", choices=CLS_POOLS,
                   help="what the classifier head reads: the encoder's global token or the mean of its tokens")
    m.add_argument("--d-dim", type=int, help="discriminator width")
    m.add_argument("--d-depth", type=int, help="discriminator depth (transformer blocks)")
    m.add_argument("--d-overlap", type=int, help="pixels of margin each discriminator token sees around its patch")
    b = p.add_argument_group("bookkeeping")
    b.add_argument("--checkpoint-every", type=int, default=FIELD_DEFAULTS["checkpoint_every"],
                   help="steps between checkpoints")
    b.add_argument("--log-every", type=int, default=FIELD_DEFAULTS["log_every"], help="steps between metrics lines")
    b.add_argument("--sample-every", type=int, default=FIELD_DEFAULTS["sample_every"],
                   help="steps between sample grids (PNG)")
    b.add_argument("--probe-every", type=int, default=FIELD_DEFAULTS["probe_every"],
                   help="steps between collapse probes (multiple of --log-every)")
    b.add_argument("--progress-every", type=float, default=FIELD_DEFAULTS["progress_every"],
                   help="seconds between plain progress lines on stderr when it is not a terminal (nohup, CI; "
                        "a terminal gets a progress bar); 0 = none")
    b.add_argument("--keep-every", type=int, default=FIELD_DEFAULTS["keep_every"],
                   help="also keep the inference file of every N-th step in RUN_DIR/snapshots (a multiple of "
                        "--checkpoint-every; 0 = none), for `python -m train.curve`")
    return p


def objective_overrides(objective: str, loss_over: dict) -> dict:
    """The loss overrides for `objective`: communication off where it has none; options it cannot use refused."""
    if objective == "biglearn":
        return loss_over
    if loss_over.get("comm_weight", 0) > 0:
        raise ValueError(f"--objective {objective} has no communication term: drop --comm-weight")
    if objective in ("mae", "supervised"):
        needs_d = sorted(k for k in ("r1_gamma", "r1_interval") if k in loss_over)
        if needs_d:
            flags = ", ".join("--" + k.replace("_", "-") for k in needs_d)
            raise ValueError(f"--objective {objective} trains no discriminator: {flags} do not apply")
    return {**loss_over, "comm_weight": 0.0}


def build_configs(args: argparse.Namespace, num_classes: int) -> tuple[BigLearnConfig, TrainConfig]:
    preset = get_preset(args.preset)
    model_over = {k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k, None) is not None}
    if num_classes != preset.model.num_classes:
        model_over["num_classes"] = num_classes
    mask_over = {k: getattr(args, k) for k in MASK_FLAGS if getattr(args, k, None) is not None}
    try:
        model = dataclasses.replace(preset.model, **model_over)
        masks = dataclasses.replace(preset.masks, **mask_over)
    except ValueError as exc:
        raise ValueError(in_flags(str(exc))) from None
    loss_over = {k: getattr(args, k) for k in LOSS_FLAGS if getattr(args, k) is not None}
    try:
        loss: LossConfig = dataclasses.replace(preset.loss, **objective_overrides(args.objective, loss_over),
                                               objective=args.objective)
    except ValueError as exc:
        raise ValueError(in_flags(str(exc))) from None
    config = BigLearnConfig(model=model, masks=masks, loss=loss)
    train_kw = dataclasses.asdict(REGISTRY[args.preset].recipe)
    train_kw.update({k: getattr(args, k) for k in RECIPE_FLAGS if getattr(args, k) is not None})
    try:
        train = TrainConfig(data=str(args.data), preset=args.preset, seed=args.seed, steps=args.steps,
                            time_budget_s=parse_duration(args.time_budget), missing_rate=args.missing_rate,
                            holdout=args.holdout, init_from=str(args.init_from or ""),
                            checkpoint_every=args.checkpoint_every, log_every=args.log_every,
                            sample_every=args.sample_every, probe_every=args.probe_every,
                            keep_every=args.keep_every, progress_every=args.progress_every,
                            precision=args.precision, compile=args.compile, **train_kw)
    except ValueError as exc:
        raise ValueError(in_flags(str(exc))) from None
    return config, train


def config_differences(saved: BigLearnConfig, asked: BigLearnConfig) -> list[str]:
    """'section.field: saved -> asked' for every field in which two configs differ."""
    a, b = dataclasses.asdict(saved), dataclasses.asdict(asked)
    return [f"{sec}.{k}: {a[sec][k]!r} in the file, {b[sec][k]!r} asked" for sec in a for k in a[sec]
            if a[sec][k] != b[sec][k]]


# TrainConfig fields a resumed run must share with the run it continues: the data and its split, the seed and
# the whole recipe (biglearn.presets.Recipe). The budget and the bookkeeping may change between sessions.
RESUME_FIXED = ("data", "seed", "holdout", "missing_rate", "init_from", *(f.name for f in dataclasses.fields(Recipe)))


def resume_differences(saved: dict, asked: TrainConfig) -> list[str]:
    """'--flag X (now Y)' for every RESUME_FIXED field in which a resume file's train config differs from the
    asked one. A field the file does not record (written before it existed) counts as its default."""
    out = []
    for name in RESUME_FIXED:
        old = saved.get(name, FIELD_DEFAULTS[name])
        if old != getattr(asked, name):
            out.append(f"{flag(name)} {old!r} (asked: {getattr(asked, name)!r})")
    return out


def warm_start(path: Path, config: BigLearnConfig, train: TrainConfig) -> tuple[dict[str, torch.Tensor], dict]:
    """What an --init-from file starts a new run from: weights named as in a resume file ("G.", "ema." from an
    inference file; from a resume file also "D." and the optimiser moments "opt_g.", "opt_d."; from a carry file
    the same without "opt_g.") and the record of the file's own training that the run keeps as `init`. The
    architecture must be the run's (the objectives and the recipe may differ). Warns when the file's training
    data may hold this run's hold-out."""
    if file_kind(path) == RESUME_KIND:
        saved, tensors, state = load_resume(path)
        kind = "carry" if state.get("carry") else "resume"
        weights = {k: v for k, v in tensors.items() if not k.startswith("rng.")}
        was = state.get("train_config", {})
        facts = {"steps": state.get("step"), "train_seconds": state.get("elapsed"), "data": was.get("data"),
                 "init": state.get("init")}
    else:
        kind = "inference"
        saved, generator, info = load_inference(path)
        weights = {f"{name}.{k}": v for name in ("G", "ema") for k, v in generator.items()}
        was = info.get("train_config", {})
        facts = {k: info.get(k) for k in ("steps", "train_seconds", "commit", "data", "dataset_size", "init")}
    diff = [d for d in config_differences(saved, config) if d.startswith("model.")]
    if diff:
        raise TrainingError(f"--init-from {path} holds another architecture ({'; '.join(diff)}): use the preset "
                            "and architecture options it was trained with")
    if train.holdout and (was.get("data") != train.data or was.get("holdout", 0) != train.holdout):
        print(f"warning: --init-from {path} was trained on {was.get('data', 'unknown data')!r} with hold-out "
              f"{was.get('holdout', 0)}: it may have seen this run's validation images, and validation scores "
              "of this run then flatter it", file=sys.stderr)
    record = {"file": train.init_from, "kind": kind, **{k: v for k, v in facts.items() if v is not None}}
    return weights, record


def run(argv: list[str] | None = None) -> dict:
    """Parse arguments, prepare data and run directory, train; errors raise (main() prints them)."""
    args = build_parser().parse_args(argv)
    try:
        result = run_training(args)
    except BaseException:
        shutdown_distributed(wait=False)  # the other ranks may never get here: do not wait for them
        raise
    shutdown_distributed(wait=True)
    return result


def run_training(args: argparse.Namespace) -> dict:
    """The run itself, in a process group when launched by torchrun."""
    from biglearn.inference import pick_device

    device = pick_device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but CUDA is not available")
    dist = init_distributed(device)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.rank % torch.cuda.device_count())
    preset = get_preset(args.preset).model
    batch = args.batch_size or REGISTRY[args.preset].recipe.batch_size
    precision = resolve(args.precision, device, shape=probe_shape(preset, batch))  # before any data is read
    if dist.is_main:
        print(f"precision: {precision.precision} ({precision.reason})", file=sys.stderr, flush=True)
    dataset = load_source(args.data, height=preset.height, width=preset.width, channels=preset.channels,
                          grid=preset.grid, data_root=args.data_root)
    num_classes = dataset.num_classes if preset.num_classes else 0
    if preset.num_classes and dataset.num_classes > preset.num_classes:
        raise DataError(f"the data has {dataset.num_classes} classes, more than preset {args.preset!r} "
                        f"supports ({preset.num_classes})")
    if preset.num_classes and dataset.labels is not None:
        num_classes = preset.num_classes
    config, train = build_configs(args, num_classes)
    if config.loss.objective in ("mae", "supervised") and args.lr_d is not None:
        raise ValueError(f"--objective {config.loss.objective} trains no discriminator: --lr-d does not apply")
    if config.loss.objective == "supervised" and (dataset.labels is None or not config.model.num_classes):
        raise DataError(f"--objective supervised needs labelled data; {dataset.name} has no labels")
    dataset = hold_out(dataset, train.holdout)
    dataset = simulate_missing(dataset, train.missing_rate, config.model.num_patches, train.seed)
    resume_path = args.out / RESUME_FILE
    if resume_path.exists() and not args.resume:
        raise TrainingError(f"{args.out} already holds a run ({RESUME_FILE}); pass --resume to continue it or "
                            "choose another --out")
    if args.resume and not resume_path.exists():
        raise TrainingError(f"--resume given but {resume_path} does not exist")
    if args.resume:
        saved, _, state = load_resume(resume_path)
        if state.get("carry"):
            raise TrainingError(f"{resume_path} is a carry file (python -m train.carry), which cannot be resumed: "
                                "start a new run from it with --init-from")
        if saved != config:
            diff = "; ".join(config_differences(saved, config))
            raise TrainingError(f"{resume_path} was written with another config ({diff}): resume with the same "
                                "--preset, --objective and objective options")
        changed = resume_differences(state.get("train_config", {}), train)
        if changed:
            raise TrainingError(f"{resume_path} was trained with {'; '.join(changed)}: resume with the same "
                                "options (a run's recipe cannot change half-way; start a new --out for another)")
    init = None if args.resume or not train.init_from else warm_start(Path(train.init_from), config, train)
    args.out.mkdir(parents=True, exist_ok=True)
    # every rank of a torchrun shares --out: the main one holds the lock for all
    with run_directory_lock(args.out) if dist.is_main else contextlib.nullcontext():
        trainer = Trainer(config, train, dataset, args.out, device, dist, precision)
        if args.resume:
            trainer.resume(resume_path)
        elif init is not None:
            trainer.start_from(*init)
        if dist.is_main:
            print(f"training {args.preset} on {dataset.name} ({len(dataset)} images"
                  f"{', labelled' if dataset.labels is not None else ''}) on {device}"
                  f"{f' x{dist.world_size} processes' if dist.enabled else ''}; run directory {args.out}",
                  file=sys.stderr)
        result = trainer.run()
    if dist.is_main:
        print(json.dumps(result), file=sys.stderr)
    return result


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: clear one-line errors and a non-zero exit instead of tracebacks."""
    return run_main(run, argv, errors=(DataError, TrainingError, CheckpointError, ValueError, RunBusy))
