"""`python -m train.carry RUN/resume.safetensors OUT`: a run's weights in a file small enough to keep.

A resume file holds everything to continue a run bit for bit, most of it the generator's Adam moments; a
*carry file* keeps what a new run needs to go on from it with `python -m train --init-from OUT`: the generator,
its EMA, the discriminator and the discriminator's Adam moments (about half the size: 15 MB for `mnist-cpu`
against 28 MB), written as files of at most 8 MiB of tensors each (OUT, then OUT's NAME.1.safetensors, ...) so
that it can be kept in a repository; `--init-from OUT` reads the set. The new run's generator optimiser starts
fresh (a `--warmup-steps` eases it in). A carry file cannot be resumed: `--resume` needs the RNG states and every
optimiser's state.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from biglearn.checkpoint import SHARD_BYTES, CheckpointError, load_resume, save_resume, shard_files
from biglearn.cli import run_main

KEPT = ("G", "ema", "D", "opt_d")  # the parts of a resume file a carry file keeps
STATE_KEPT = ("step", "elapsed", "train_config", "init")  # a warm start uses its own param groups


def write_carry(source: Path, out: Path) -> dict[str, int]:
    """Write the carry file of resume file `source` to `out` (a set of files); returns the resume file's size,
    the carry's size over its files and their number."""
    config, tensors, state = load_resume(source)
    if state.get("carry"):
        raise CheckpointError(f"{source} is a carry file already")
    kept = {k: v for k, v in tensors.items() if k.split(".", 1)[0] in KEPT}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_resume(out, kept, config, {**{k: state[k] for k in STATE_KEPT if k in state}, "carry": True}, SHARD_BYTES)
    files = shard_files(out)
    return {"source_bytes": source.stat().st_size, "carry_bytes": sum(f.stat().st_size for f in files),
            "files": len(files)}


def run(argv: list[str] | None = None) -> None:
    """Parse the arguments and write the carry file."""
    p = argparse.ArgumentParser(prog="python -m train.carry", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("resume_file", type=Path, help="a run's resume.safetensors")
    p.add_argument("out", type=Path, help="the carry file to write (.safetensors)")
    args = p.parse_args(argv)
    sizes = write_carry(args.resume_file, args.out)
    print(f"wrote {args.out} ({sizes['carry_bytes'] / 1e6:.1f} MB in {sizes['files']} file(s); the resume file: "
          f"{sizes['source_bytes'] / 1e6:.1f} MB); continue from it with python -m train --init-from {args.out}")


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: one-line errors, no tracebacks."""
    return run_main(run, argv, errors=(CheckpointError, OSError))


if __name__ == "__main__":
    sys.exit(main())
