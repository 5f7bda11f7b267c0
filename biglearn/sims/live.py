"""A short 25-GMM race for the app's "2-D principle" tab: a few arms, one seed, bounded in iterations and time.

The same code as `python -m biglearn.sims gmm25` (`gmm25.race_states`), run for one seed; every few iterations
it yields a picture of the model densities so the caller can show the contours moving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from PIL import Image

from . import gmm25
from .plots import contours_image

LOG = logging.getLogger("biglearn.app")
LIVE_ARMS = ("joint", "biglearn", "biglearn+cond")  # as the user picks them; forward KL maps to the *-forward arms
DIRECTIONS = ("reverse", "forward")
MAX_ITERS = 300  # about 17 s for three arms on one busy CPU thread (docs/simulations.md, "Speed")
MAX_SECONDS = 20.0  # a live run stops here whatever its iterations: it must not hold a worker longer
FRAMES = 10
FRAME_DPI = 100  # 320 px a panel: readable titles in the app (60 made 192 px panels)


@dataclass(frozen=True)
class LiveFrame:
    """One picture of a live race: the densities after `iteration` of `total`, and the modes each arm covers."""

    iteration: int
    total: int
    picture: Image.Image
    modes: dict[str, int]
    final: bool
    stopped_early: bool  # the time bound ended the run before `total`


def mode_count(n: int) -> str:
    """"1 mode", "3 modes"."""
    return f"{n} mode" if n == 1 else f"{n} modes"


def arm_names(arms: list[str], direction: str) -> list[str]:
    """The gmm25 arms of the user's picks in KL `direction`; ValueError with a readable reason otherwise."""
    if direction not in DIRECTIONS:
        raise ValueError(f"the objective must be reverse or forward KL, not {direction!r}")
    if not arms:
        raise ValueError("pick at least one arm")
    unknown = [a for a in arms if a not in LIVE_ARMS]
    if unknown:
        raise ValueError(f"unknown arm(s) {', '.join(unknown)}; pick from {', '.join(LIVE_ARMS)}")
    if direction == "reverse":
        return list(dict.fromkeys(arms))
    if "biglearn+cond" in arms:
        raise ValueError("biglearn+cond has no forward-KL version here: pick joint and/or biglearn for forward KL")
    return [f"{a}-forward" for a in dict.fromkeys(arms)]


def warm() -> None:
    """Compile the race's step for every size a live race has (1 to 3 arms of one seed): tens of seconds on a
    cold compiler cache, which a server spends at start-up rather than in a visitor's race."""
    start = time.monotonic()
    for rows in range(1, len(LIVE_ARMS) + 1):
        gmm25.COMPILED_STEP.warm(rows)
    step = gmm25.COMPILED_STEP
    LOG.info("live race: %s in %.0f s", f"runs eagerly ({step.failed})" if step.failed else
             f"step compiled for {', '.join(map(str, sorted(step.ready)))} arms", time.monotonic() - start)


def check_iterations(iters: float) -> int:
    """A whole number of outer iterations in [1, MAX_ITERS]; ValueError otherwise."""
    if isinstance(iters, bool) or not float(iters).is_integer() or not 1 <= iters <= MAX_ITERS:
        raise ValueError(f"iterations must be a whole number from 1 to {MAX_ITERS}, got {iters!r}")
    return int(iters)


def live_race(arms: list[str], direction: str, iters: float, seed: int,
              max_seconds: float = MAX_SECONDS, compile: bool = True,
              stop: Callable[[], bool] | None = None) -> Iterator[LiveFrame]:
    """Race the picked arms (one seed) for `iters` outer iterations, yielding about FRAMES pictures; the last
    frame is `final`. Once `max_seconds` have passed the race stops after the iteration under way (about 10 ms)
    and its last frame follows: the run ends within a second of its bound. `compile`: the inner step through
    torch.compile (`warm` first, or the first race of a size spends its bound compiling). `stop`, asked after
    every outer iteration, ends the race at once without a last frame (its viewer has left)."""
    names = arm_names(arms, direction)
    total = check_iterations(iters)
    cfg = gmm25.RaceConfig(iters=total, eval_every=max(1, total // FRAMES), eval_samples=2000, compile=compile)
    deadline = time.monotonic() + max_seconds
    for state in gmm25.race_states(names, 1, cfg, seed, deadline=deadline, stop=stop):
        modes = {n: int(state.metrics["modes"][i]) for i, n in enumerate(names)}
        over = time.monotonic() >= deadline
        final = state.iteration == total or over
        titles = [f"{n}: it {state.iteration}, {mode_count(modes[n])}" for n in names]
        yield LiveFrame(state.iteration, total, contours_image(state.means, state.chol, titles, dpi=FRAME_DPI), modes,
                        final,
                        over and state.iteration < total)
        if final:
            return
