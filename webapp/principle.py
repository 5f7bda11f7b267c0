"""The "2-D principle" tab: the 2-D simulations' pictures and tables as `python -m biglearn.sims` made them
(bundled in assets/sims), and a live 25-GMM race that any visitor can run (biglearn.sims.live)."""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path

import gradio as gr
import numpy as np

from biglearn.sims import live

from .refusals import refused
from .session_memory import OpenStreams, departure
from .settings import ASSETS, RACE_COMPILE

SIM_ASSETS = ASSETS / "sims"
# bundled file -> what it shows; made by the commands in assets/sims/README.md
PICTURES = (("landscapes.png", "Loss landscapes (paper §3.3): joint, transformed marginals, transformed conditionals; "
                               "reverse KL above, forward KL below"),
            ("race.gif", "The 25-GMM race (paper §4.1), seed 0: joint matching against big learning"),
            ("modes_covered.png", "Modes covered against iterations, mean and band over seeds"),
            ("gan2d_samples.png", "A 2-D GAN on the 25 Gaussians after 60,000 steps: a plain GAN, big learning and "
                                  "PacGAN2 (the known remedy), three seeds each"),
            ("gan2d_curves.png", "The 2-D GAN: modes captured and high-quality share against steps, mean and band "
                                 "over 10 seeds"))
TABLES = (("gmm25_table.md", "The 25-GMM race"), ("gan2d_table.md", "The 2-D BigLearn-GAN"),
          ("gan2d_frontier.md", "The 2-D GAN compared at equal sharpness (modes kept at each level of the "
                                "high-quality share, and the step it was reached): big learning keeps as many modes as "
                                "the plain GAN, not more, also run on to 100,000 steps; PacGAN2 keeps about 3 more"))
# the live run has its own queue: it never waits for, or holds up, the image model's calls
LIVE_EVENT = {"concurrency_id": "sims", "concurrency_limit": 1}


def bundled_text(name: str, folder: Path = SIM_ASSETS) -> str:
    """A bundled table's Markdown, or a line saying it is missing (the tab still works)."""
    path = folder / name
    return path.read_text() if path.exists() else f"*({name} is not bundled in this copy of the app)*"


class RaceCache:
    """The last few finished races, by their settings: a race is deterministic (its arms, objective, iterations
    and seed fix every frame), so a repeat is served from here instead of holding the race queue again."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._runs: OrderedDict[tuple, list[tuple[np.ndarray, str]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> list[tuple[np.ndarray, str]] | None:
        with self._lock:
            frames = self._runs.get(key)
            if frames is not None:
                self._runs.move_to_end(key)
            return frames

    def put(self, key: tuple, frames: list[tuple[np.ndarray, str]]) -> None:
        with self._lock:
            self._runs[key] = frames
            self._runs.move_to_end(key)
            while len(self._runs) > self.size:
                self._runs.popitem(last=False)


RACES = RaceCache()


def progress_bar(done: float, width: int = 20) -> str:
    """A text progress bar with its percentage, "██████░░░░ 60 %" (in the status line, off the picture)."""
    filled = round(max(0.0, min(1.0, done)) * width)
    return "█" * filled + "░" * (width - filled) + f" {100 * done:.0f} %"


def live_run(arms: list[str] | None, direction: str, iters: float | None, seed: float | None,
             cache: RaceCache | None = None,
             departed: Callable[[], bool] | None = None) -> Iterator[tuple[np.ndarray | None, str]]:
    """Yield the contours (an image) and a status line as the race goes; a bad value is a readable error. A race
    run before with the same settings is replayed from `cache` (only races that reached their last iteration
    are kept: one the time bound cut short depends on the machine's load). `departed` (asked every outer
    iteration) ends the race once its visitor has left."""
    cache = RACES if cache is None else cache
    try:
        if seed is None or isinstance(seed, bool) or not float(seed).is_integer() or not 0 <= seed <= 10_000:
            raise ValueError(f"the seed must be a whole number from 0 to 10,000, got {seed!r}")
        key = (tuple(live.arm_names(list(arms or []), direction)), live.check_iterations(iters or 0), int(seed))
        replay = cache.get(key)
        frames = None if replay is not None else live.live_race(list(arms or []), direction, key[1], int(seed),
                                                                 compile=RACE_COMPILE, stop=departed)
        first = None if frames is None else next(frames)
    except ValueError as exc:
        raise refused(exc, "race") from exc
    if replay is not None:
        yield from replay
        return
    shown = []
    for frame in itertools.chain([first], frames):  # not (first, *frames): that runs the whole race first
        modes = ", ".join(f"{arm}: {n} of 25 modes" for arm, n in frame.modes.items())
        if frame.final:
            note = f" (stopped after {live.MAX_SECONDS:.0f} s, the live run's bound)" if frame.stopped_early else ""
            status = f"**Done at iteration {frame.iteration} of {frame.total}**{note}. Covered: {modes}."
        else:
            status = (f"`{progress_bar(frame.iteration / frame.total)}` Iteration {frame.iteration} of "
                      f"{frame.total}… covered so far: {modes}.")
        shown.append((np.asarray(frame.picture), status))
        yield shown[-1]
        if frame.final and not frame.stopped_early:
            cache.put(key, shown)


def warm_in_background() -> threading.Thread | None:
    """Compile the live race's step in a daemon thread at start-up (when RACE_COMPILE), so that the first visitor's
    race runs at full speed; a race that starts meanwhile waits for the compile of its size."""
    if not RACE_COMPILE:
        return None
    thread = threading.Thread(target=live.warm, name="race-compile", daemon=True)
    thread.start()
    return thread


def arm_choices(direction: str, picked: list[str] | None) -> dict:
    """The arms a KL direction offers: forward KL has no biglearn+cond, so it is not offered (and unticked)."""
    offered = [a for a in live.LIVE_ARMS if direction != "forward" or a != "biglearn+cond"]
    return gr.update(choices=offered, value=[a for a in (picked or []) if a in offered])


def build_tab(listeners: OpenStreams) -> None:
    """The tab's components and events, inside the caller's `gr.Tab`; `listeners` are the app's open result
    streams (a race stops within about a second once its visitor's stream is gone)."""
    gr.Markdown("The principle in two dimensions, where every distribution is known exactly (Big Cooperative "
                "Learning, §3.3 and §4.1). Learning many transformed marginals and conditionals of the data, "
                "not just the joint, pulls a model out of the bad local optima where joint matching gets stuck. "
                "Red crosses: the 25 modes of the target; blue: the model's density.")
    with gr.Accordion("Run a race yourself (one seed, about 20 seconds)", open=True):
        with gr.Row():
            arms = gr.CheckboxGroup(list(live.LIVE_ARMS), value=["joint", "biglearn"], label="arms")
            direction = gr.Radio(list(live.DIRECTIONS), value="reverse", label="KL (reverse: adversarial view; "
                                                                               "forward: maximum likelihood)")
        with gr.Row():
            iters = gr.Slider(10, live.MAX_ITERS, value=200, step=10, label="outer iterations (20 SGD steps each)",
                              elem_id="race-iters")
            seed = gr.Number(0, precision=None, minimum=0, maximum=10_000, label="seed")
        go = gr.Button("Race", variant="primary", elem_id="race-button")
        status = gr.Markdown("Pick arms and press Race: every model starts with all 25 components in one corner.",
                             elem_id="race-status")
        picture = gr.Image(label="model densities", format="png", interactive=False, elem_id="race-picture")
    gr.Markdown("**Made by the full experiments** (`python -m biglearn.sims`, docs/simulations.md):")
    for name, caption in PICTURES:
        path = SIM_ASSETS / name
        if path.exists():
            gr.Image(str(path), type="filepath", label=caption, interactive=False, buttons=[], alt_text=caption)
    for name, title in TABLES:
        gr.Markdown(f"**{title}**\n\n" + bundled_text(name))
    def race(arms: list[str] | None, direction: str, iters: float | None, seed: float | None,
             request: gr.Request = None) -> Iterator[tuple[np.ndarray | None, str]]:
        session = getattr(request, "session_hash", None)
        yield from live_run(arms, direction, iters, seed,
                            departed=None if session is None else departure(listeners, session))

    # the progress is the status line's bar: Gradio's own overlay would cover the picture between frames
    go.click(race, [arms, direction, iters, seed], [picture, status], api_name="race", show_progress="hidden",
             **LIVE_EVENT)
    direction.change(arm_choices, [direction, arms], arms, api_name=False, queue=False)
