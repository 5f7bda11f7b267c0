"""The one way biglearn's command lines end: a one-line `error:` and exit status 2 for what the user can fix,
130 on Ctrl-C, never a traceback for either (real bugs still raise)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_main(run: Callable[[list[str] | None], Any], argv: list[str] | None = None, *,
             errors: tuple[type[BaseException], ...] = (ValueError, OSError),
             interrupted: str = "interrupted") -> int:
    """Call `run(argv)`; print `error: …` and return 2 for `errors`, print `interrupted` and return 130 on
    Ctrl-C, else return 0."""
    try:
        run(argv)
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    return 0


def writable_folder(folder: Path) -> None:
    """Create `folder` if needed and check that a file can be written in it; OSError with the reason if not."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / ".write-test"
    probe.write_text("")
    probe.unlink()
