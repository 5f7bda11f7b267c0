"""`python -m webapp.deploy SPACE_ID`: stage the app as a Hugging Face Space and upload it in one commit.

    python -m webapp.deploy you/biglearn --dry-run --stage /tmp/space     # stage, check and list only
    python -m webapp.deploy you/biglearn --hardware zero-gpu              # stage, create the Space, upload

The Space gets files, not this repository's history (whose commits hold files the Hub refuses outside LFS):
`webapp.space_files` stages exactly what the app needs; `HfApi.upload_folder` sends them as one commit and
deletes what the Space held that the app no longer needs. The token comes from HF_TOKEN or `hf auth login`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from biglearn.cli import run_main
from biglearn.hub import HubError, check_repo_id, hub_token, upload_once

from .space_files import BUNDLED, HARDWARE, SpaceError, listing, stage


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m webapp.deploy", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("space_id", metavar="SPACE_ID", help="the Space, as owner/name")
    p.add_argument("--dry-run", action="store_true", help="stage, check and list the files; upload nothing")
    p.add_argument("--stage", type=Path, help="stage into this new or empty folder (default: a temporary one, "
                                              "kept with --dry-run)")
    p.add_argument("--hardware", choices=HARDWARE, default="cpu-basic",
                   help="cpu-basic (runs as on a laptop) or zero-gpu (ZeroGPU: each model call borrows a GPU)")
    p.add_argument("--private", action="store_true", help="create the Space private")
    p.add_argument("--checkpoint", default=BUNDLED,
                   help="what the Space serves: a local .safetensors (copied in) or a Hub id (downloaded by the "
                        "Space at start-up; python -m train.publish makes one)")
    return p


def run(argv: list[str] | None = None) -> str:
    """Parse, stage, list; unless --dry-run, upload. Returns the stage folder (dry run) or the commit URL."""
    args = build_parser().parse_args(argv)
    check_repo_id(args.space_id, "SPACE_ID")
    token = None if args.dry_run else hub_token()  # before staging: no token, nothing to do
    folder = args.stage or Path(tempfile.mkdtemp(prefix="biglearn-space-"))
    files = stage(folder, hardware=args.hardware, checkpoint=args.checkpoint)
    print(listing(files))
    if args.dry_run:
        print(f"dry run: staged in {folder}; `cd {folder} && python app.py` serves it; nothing was uploaded")
        return str(folder)
    url = upload_once(args.space_id, folder, repo_type="space", space_sdk="gradio", token=token, private=args.private,
                      message=f"Deploy biglearn ({args.hardware}) with python -m webapp.deploy")
    print(f"uploaded {len(files)} files to https://huggingface.co/spaces/{args.space_id} in one commit: {url}")
    if args.hardware == "zero-gpu":
        print("choose ZeroGPU in the Space's settings (Settings -> Space hardware) if it is not already chosen")
    return url


def main(argv: list[str] | None = None) -> int:
    """Entry point: one `error:` line and exit 2 for what the user can fix."""
    return run_main(run, argv, errors=(SpaceError, HubError, OSError))


if __name__ == "__main__":
    sys.exit(main())
