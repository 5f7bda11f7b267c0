"""`python -m train.publish RUN_DIR_OR_FILE REPO_ID`: share a checkpoint as a Hugging Face model repository.

    python -m train.publish runs/digits you/biglearn-digits --dry-run --metrics runs/digits-eval/metrics.json
    python -m train.publish runs/digits you/biglearn-digits     # then: biglearn.load("you/biglearn-digits")

Uploads the run's inference file (model.safetensors: EMA weights and config; the resume file only with
--with-resume) and a model card made from the file itself (architecture, objective, recipe, training time and
steps) and, with --metrics, from a `python -m train.evaluate` metrics.json, in one commit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import biglearn
from biglearn.checkpoint import RESUME_KIND, CheckpointError, file_kind
from biglearn.cli import run_main
from biglearn.hub import HubError, check_repo_id, hub_token, upload_once

from .loop import INFERENCE_FILE, RESUME_FILE
from .report import table

CARD_TAGS = ["biglearn", "gan", "image-completion", "generative", "pytorch"]
# what the card reports of a metrics.json: (path of keys, label)
CARD_METRICS = ((("complete", "random", "acc@0.5"), "completion accuracy, half the patches given (acc@0.5)"),
                (("complete", "random", "fd@0.5"), "completion FD at r = 0.5"),
                (("joint", "fd"), "joint FD (generation from nothing)"),
                (("conditional", "accuracy"), "class-conditional accuracy"),
                (("classify", "acc@1.0"), "own classifier, whole digits"),
                (("classify", "acc@0.5"), "own classifier, half the patches"))


def find_files(source: Path, with_resume: bool) -> tuple[Path, Path | None]:
    """The inference file of a run folder or the file given, and the run's resume file when asked for."""
    if source.is_dir():
        inference, resume = source / INFERENCE_FILE, source / RESUME_FILE
    elif source.is_file():
        if file_kind(source) == RESUME_KIND:
            raise CheckpointError(f"{source} is a resume file (optimiser state included): give the run folder or "
                                  "its model.safetensors; add --with-resume to also share the resume file")
        inference, resume = source, source.parent / RESUME_FILE
    else:
        raise CheckpointError(f"{source} is neither a run folder nor a checkpoint file")
    if not inference.is_file():
        raise CheckpointError(f"{inference} does not exist: is {source} a training run (python -m train --out)?")
    if with_resume and not resume.is_file():
        raise CheckpointError(f"--with-resume: {resume} does not exist")
    return inference, resume if with_resume else None


def dataset_tags(data: str) -> list[str]:
    """The Hub dataset ids a run's --data names, where it is a known one."""
    lowered = data.lower()
    for name, repo in (("fashion", "zalando-datasets/fashion_mnist"), ("mnist", "ylecun/mnist"),
                       ("cifar", "uoft-cs/cifar10"), ("celeba", "nielsr/CelebA-faces")):
        if name in lowered:
            return [repo]
    return []


def metric_rows(metrics: dict[str, Any]) -> list[list[str]]:
    """The card's evaluation rows: CARD_METRICS found in a train.evaluate metrics.json."""
    rows = []
    for path, label in CARD_METRICS:
        value: Any = metrics
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            rows.append([label, f"{value:.4g}"])
    return rows


def model_card(model: biglearn.BigLearnModel, repo_id: str, metrics: dict[str, Any] | None) -> str:
    """The README.md of the model repository: Hub metadata, what the model is, how it was trained and scored,
    how to load it."""
    info, c = model.info, model.full_config
    train = info.get("train_config", {})
    steps = info.get("total_steps", info.get("steps", "?"))
    seconds = info.get("total_train_seconds", info.get("train_seconds"))
    datasets = dataset_tags(str(info.get("data", "")))
    meta = ["---", "library_name: biglearn", "license: mit", "tags:", *[f"  - {t}" for t in CARD_TAGS]]
    if datasets:
        meta += ["datasets:", *[f"  - {d}" for d in datasets]]
    meta += ["---", ""]
    m = c.model
    recipe = {k: train[k] for k in ("batch_size", "lr_g", "lr_d", "beta1", "ema_decay", "lr_decay", "warmup_steps")
              if k in train}
    lines = [f"# {repo_id}", "",
             f"A BigLearn-GAN checkpoint (objective `{c.loss.objective}`): one universal generator p(x_T | x_S, y) "
             f"over {m.height}x{m.width}x{m.channels} images cut into a {m.grid[0]}x{m.grid[1]} grid of "
             f"{m.patch_size}-pixel patches. It completes an image from any subset of its patches, generates from "
             "nothing or from a class, and classifies what it is shown. Trained with biglearn's `python -m train`.",
             "",
             "## Use", "", "```python", "import biglearn", f'm = biglearn.load("{repo_id}")',
             "samples = m.complete(images, source, seeds=[0, 1, 2])   # (B, 3, C, H, W) in [0, 1], sources exact",
             "```", "", f"In the app: `python app.py --checkpoint {repo_id}`.", "",
             "## Training", "",
             f"- data: `{Path(str(info.get('data', '?'))).name}` ({info.get('dataset_size', '?')} images), preset "
             f"`{info.get('preset', '?')}`, precision {info.get('precision', 'fp32')}",
             f"- {steps} steps" + (f", {float(seconds) / 60:.0f} training minutes" if seconds is not None else "")
             + (" (over a chain of warm starts)" if "init" in info else ""),
             f"- recipe: {json.dumps(recipe)}",
             f"- architecture: G encoder {m.enc_depth}x{m.enc_dim}, decoder {m.dec_depth}x{m.dec_dim}, D "
             f"{m.d_depth}x{m.d_dim}; {m.num_classes} classes", f"- code: commit {info.get('commit', 'unknown')}", ""]
    if metrics is not None:
        rows = metric_rows(metrics)
        lines += ["## Evaluation", "", f"`python -m train.evaluate` on the {metrics.get('split', '?')} split "
                  f"({Path(str(metrics.get('data', '?'))).name}):", "", *table(("measure", "value"), rows), ""]
    return "\n".join(meta + lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train.publish", description=__doc__.splitlines()[0])
    p.add_argument("source", type=Path, metavar="RUN_DIR_OR_FILE", help="a run folder or its model.safetensors")
    p.add_argument("repo_id", metavar="REPO_ID", help="the model repository, as owner/name")
    p.add_argument("--dry-run", action="store_true", help="write the card and list the files; upload nothing")
    p.add_argument("--metrics", type=Path, help="a train.evaluate metrics.json whose numbers go into the card")
    p.add_argument("--with-resume", action="store_true", help="also share the run's resume file (optimiser state)")
    p.add_argument("--stage", type=Path, help="prepare the files in this new or empty folder (default: temporary)")
    p.add_argument("--private", action="store_true", help="create the repository private")
    return p


def run(argv: list[str] | None = None) -> Path:
    """Check, stage the files and the card; unless --dry-run, upload them in one commit. Returns the folder."""
    args = build_parser().parse_args(argv)
    check_repo_id(args.repo_id)
    inference, resume = find_files(args.source, args.with_resume)
    model = biglearn.load(inference, device="cpu")  # a file that does not load is refused here
    metrics = None
    if args.metrics is not None:
        try:
            metrics = json.loads(args.metrics.read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"--metrics {args.metrics}: not a readable metrics.json ({exc})") from None
    token = None if args.dry_run else hub_token()
    folder = args.stage or Path(tempfile.mkdtemp(prefix="biglearn-model-"))
    if folder.exists() and any(folder.iterdir()):
        raise HubError(f"stage folder {folder} is not empty: give a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(inference, folder / INFERENCE_FILE)
    if resume is not None:
        shutil.copyfile(resume, folder / RESUME_FILE)
    (folder / "README.md").write_text(model_card(model, args.repo_id, metrics), encoding="utf-8")
    for path in sorted(folder.iterdir()):
        print(f"{path.stat().st_size / 1024:10.1f} KiB  {path.name}")
    if args.dry_run:
        print(f"dry run: the card and files are in {folder}; nothing was uploaded")
        return folder
    url = upload_once(args.repo_id, folder, repo_type="model", token=token, private=args.private,
                      message=f"Publish {inference.name} with python -m train.publish")
    print(f"uploaded to https://huggingface.co/{args.repo_id} in one commit: {url}")
    print(f'load it with biglearn.load("{args.repo_id}") or python app.py --checkpoint {args.repo_id}')
    return folder


def main(argv: list[str] | None = None) -> int:
    """Entry point: one `error:` line and exit 2 for what the user can fix."""
    return run_main(run, argv, errors=(HubError, CheckpointError, ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
