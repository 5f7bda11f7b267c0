"""BigLearn-GAN in the browser: one universal generator p(x_T | x_S) over image patches.

    python app.py [--checkpoint PATH_OR_HUB_ID] [--port N] [--share]     (or env BIGLEARN_CHECKPOINT)

The Space entry point: it builds the page of `webapp` around a lazily loaded model (importing this file needs
no checkpoint) and launches it. The handlers live in `webapp.handlers`, the page in `webapp.layout`.
"""

import argparse
import sys
from pathlib import Path

import biglearn
from webapp.handlers import checkpoint_provider
from webapp.layout import build_demo, launch
from webapp.settings import DEFAULT_CHECKPOINT
from webapp.zerogpu import on_zero_gpu

demo = build_demo(checkpoint_provider(DEFAULT_CHECKPOINT))


def main(argv: list[str] | None = None) -> None:
    """Command line: serve the app."""
    parser = argparse.ArgumentParser(description="BigLearn-GAN Gradio app")
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT,
                        help="inference checkpoint: a .safetensors path or a Hugging Face Hub id "
                             "(default: env BIGLEARN_CHECKPOINT or assets/mnist-cpu.safetensors)")
    parser.add_argument("--port", type=int, default=None, help="port to serve on (default: Gradio's, 7860)")
    parser.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    parser.add_argument("--allow-path", action="append", default=[], metavar="DIR", type=Path,
                        help="a folder whose checkpoints visitors may load by typing their path (repeatable); "
                             "without it they can only upload files or give Hub ids (assets/ is always allowed)")
    args = parser.parse_args(argv)
    missing = [str(d) for d in args.allow_path if not d.is_dir()]
    if missing:
        print(f"error: --allow-path {', '.join(missing)}: not a directory", file=sys.stderr)
        raise SystemExit(2)
    try:  # load now: a bad checkpoint stops here with its reason, and the first visitor does not wait
        # (on ZeroGPU onto CUDA, before the app serves, as ZeroGPU asks; each model call then borrows a GPU)
        model = biglearn.load(args.checkpoint, device="cuda" if on_zero_gpu() else None)
    except ValueError as exc:  # CheckpointError included: one line, exit status 2
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    launch(build_demo(lambda: model, args.checkpoint, allow_paths=tuple(args.allow_path)), server_port=args.port,
           share=args.share)


if __name__ == "__main__":
    main()
