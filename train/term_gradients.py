"""`python -m train.term_gradients FILE --data DATA`: how hard each of G's loss terms pulls on G, at a checkpoint.

A loss weight means little by itself: what moves G is each term's gradient on G's parameters. For a resume or carry
file (which hold D as well as G), this draws a few training batches with the file's own task laws, and prints for
each term of G's loss (the adversarial `g_total`, the mode-seeking `g_div`, the label cross-entropy `label_ce`)
its value and the length of its unweighted gradient, the ratio of the adversarial gradient's length to it (the
weight at which the term would pull as hard) and the cosine between the two. The mode-seeking term is measured
whether or not the file's recipe used it; that is how `--diversity-weight` was chosen (docs/results.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from biglearn import objectives
from biglearn.checkpoint import CheckpointError, load_resume, prefixed
from biglearn.cli import run_main
from biglearn.config import BigLearnConfig
from biglearn.discriminator import UniversalDiscriminator
from biglearn.generator import UniversalGenerator
from biglearn.masks import sample_tasks
from biglearn.patches import to_model_range
from train.data import DataError, hold_out, load_source
from train.report import table

TERMS = ("g_total", "g_div", "label_ce")


def _gradient(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> torch.Tensor:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for p, g in zip(params, grads, strict=True)])


def term_gradients(G: UniversalGenerator, D: UniversalDiscriminator, images: torch.Tensor,
                   labels: torch.Tensor | None, config: BigLearnConfig) -> dict[str, tuple[float, torch.Tensor]]:
    """Each term of G's loss on one batch (images in the model's range): its value and its unweighted gradient on G's
    parameters, flattened. D is left untouched (no gradient is taken on it)."""
    has_label = None if labels is None else labels >= 0
    tasks = sample_tasks(images.shape[0], config.model.num_patches, config.masks, has_label=has_label,
                         device=images.device)
    params = [p for p in G.parameters() if p.requires_grad]
    D.requires_grad_(False)
    try:
        fakes = objectives.draw_fakes(G, images, tasks, labels, config.loss)
        losses = {"g_total": objectives.generator_losses(D, fakes, tasks, labels, config.loss)["g_total"],
                  "g_div": objectives.mode_seeking(G, images, fakes, tasks, labels, config.loss)}
        if labels is not None and bool(has_label.any()):
            losses["label_ce"] = objectives.label_loss(G, images, labels, tasks, config.masks)
        return {name: (float(loss.detach()), _gradient(loss, params)) for name, loss in losses.items()}
    finally:
        D.requires_grad_(True)


def summarise(batches: list[dict[str, tuple[float, torch.Tensor]]]) -> list[dict[str, float | str]]:
    """Per term, over the batches: mean value, median gradient length, median ratio of the adversarial gradient's
    length to it, and the median cosine with the adversarial gradient."""
    rows = []
    for name in TERMS:
        got = [b for b in batches if name in b]
        if not got:
            continue
        norms = torch.tensor([b[name][1].norm().item() for b in got])
        adv = torch.tensor([b["g_total"][1].norm().item() for b in got])
        cos = torch.tensor([torch.nn.functional.cosine_similarity(b[name][1], b["g_total"][1], 0).item() for b in got])
        rows.append({"term": name, "value": sum(b[name][0] for b in got) / len(got),
                     "grad_norm": norms.median().item(),
                     "adv_over_term": (adv / norms.clamp_min(1e-12)).median().item(), "cos_adv": cos.median().item()})
    return rows


def load_models(path: Path) -> tuple[BigLearnConfig, UniversalGenerator, UniversalDiscriminator, dict]:
    """G and D (and the config and state) of a resume or carry file; refuses a file without D."""
    config, tensors, state = load_resume(path)
    if not any(k.startswith("D.") for k in tensors):
        raise CheckpointError(f"{path} holds no discriminator: pass a resume or carry file")
    G, D = UniversalGenerator(config.model), UniversalDiscriminator(config.model)
    G.load_state_dict(prefixed(tensors, "G"))
    D.load_state_dict(prefixed(tensors, "D"))
    return config, G.eval(), D.eval(), state


def run(argv: list[str] | None = None) -> None:
    """Parse the arguments, measure and print the table."""
    p = argparse.ArgumentParser(prog="python -m train.term_gradients", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", type=Path, help="a resume or carry file (it must hold D)")
    p.add_argument("--data", required=True, help="training data, as for python -m train")
    p.add_argument("--holdout", type=int, default=None,
                   help="validation images held out of --data (default: the file's own)")
    p.add_argument("--batches", type=int, default=4, help="batches to measure on (default: 4)")
    p.add_argument("--batch-size", type=int, default=32, help="images per batch (default: 32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the batches and tasks (default: 0)")
    args = p.parse_args(argv)
    if args.batches < 1 or args.batch_size < 2:
        raise ValueError("--batches must be >= 1 and --batch-size >= 2 (the mode-seeking term pairs samples)")
    config, G, D, state = load_models(args.file)
    m = config.model
    data = load_source(args.data, height=m.image_size[0], width=m.image_size[1], channels=m.channels,
                       grid=m.grid, data_root=Path("data"))
    holdout = args.holdout if args.holdout is not None else int(state.get("train_config", {}).get("holdout", 0))
    data = hold_out(data, holdout)
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    batches = []
    for _ in range(args.batches):
        idx = torch.randint(len(data), (args.batch_size,), generator=gen)
        labels = None if data.labels is None else data.labels[idx]
        batches.append(term_gradients(G, D, to_model_range(data.images[idx].float() / 255), labels, config))
    rows = summarise(batches)
    print(f"{args.file}: {args.batches} batches of {args.batch_size} from {data.name}")
    print("\n".join(table(["term", "value", "gradient length", "adversarial / term", "cosine with adversarial"],
                          [(r["term"], f"{r['value']:.4f}", f"{r['grad_norm']:.4g}", f"{r['adv_over_term']:.1f}",
                            f"{r['cos_adv']:+.3f}") for r in rows])))


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: one-line errors, no tracebacks."""
    return run_main(run, argv, errors=(CheckpointError, DataError, OSError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
