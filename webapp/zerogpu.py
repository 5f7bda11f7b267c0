"""Hugging Face ZeroGPU: a model call borrows a GPU for at most a few seconds, the rest of the app runs without one.

On a ZeroGPU Space (the platform sets SPACES_ZERO_GPU) every handler that runs the model is wrapped in
`spaces.GPU(duration=...)`, with a short duration per kind of call (a shorter one queues sooner), and app.py puts
the model on CUDA at import, as ZeroGPU asks. Elsewhere (a CPU Space, a laptop, a GPU box) nothing is wrapped.
"""

from __future__ import annotations

import os
from collections.abc import Callable

# seconds of GPU a call may hold: a complete of 16 samples takes ~0.1 s on a GPU; the margins cover a cold start
DURATIONS = {"complete": 15, "complete_raw": 15, "generate": 15, "generate_raw": 15, "classify": 10,
             "sweep": 30, "ood_complete": 15, "ood_preset": 15}


def on_zero_gpu() -> bool:
    """Whether this process runs on a ZeroGPU Space."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true", "yes")


def gpu(fn: Callable, kind: str) -> Callable:
    """`fn` wrapped in `spaces.GPU(duration=DURATIONS[kind])` on ZeroGPU; `fn` itself elsewhere."""
    duration = DURATIONS[kind]  # a KeyError here is a wiring bug: every model handler has its duration
    if not on_zero_gpu():
        return fn
    import spaces  # preinstalled on ZeroGPU Spaces

    return spaces.GPU(duration=duration)(fn)
