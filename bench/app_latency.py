"""`python -m bench.app_latency`: how long the app takes from a click on Complete to the gallery.

One image x 8 seeds with the checkpoint the app would load, at three depths, each after warm-up:
- `handler`: the app's own `complete` handler called in process (model + rendering of the tiles);
- `server`: a `gradio_client` call of the `/complete` endpoint of a locally launched app (adds the
  queue, PNG encoding of the tiles, HTTP and the client's download of every tile);
- `server_during_load`: the same while another session keeps trying to load an unreachable Hub id;
- `page`, `page_during_load`: a click as the page itself sends it (a session of its own, the queue's join and
  event stream, the 8 tile downloads; `bench.reliability.BrowserLikeUser`), alone and during those loads:
  the server's part of a click without gradio_client's own work;
- `browser`: headless Chromium (Debian's `chromium`, driven by Playwright) clicks Complete with a new
  seed and waits until all 8 new tiles are loaded in the gallery: what a person waits for. Skipped,
  with the reason, where Chromium or Playwright is missing.
Prints a table of p50 / p95 / mean in ms and optionally writes JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from webapp.headless import CHROMIUM_ARGS, free_port

from .measure import summarise

SEEDS = 8


def repeat(call: Callable[[int], Any], warmup: int, reps: int) -> list[float]:
    """Seconds of `reps` calls of call(i) after `warmup` untimed ones; i is a fresh index per call."""
    for i in range(warmup):
        call(i)
    times = []
    for i in range(warmup, warmup + reps):
        t0 = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - t0)
    return times


def in_process(handlers: Any, image: np.ndarray, mask: np.ndarray, warmup: int, reps: int) -> list[float]:
    """The `complete` handler itself: conform, model call, tiles."""
    return repeat(lambda i: handlers.complete(image, mask, SEEDS, i), warmup, reps)


def through_server(url: str, mask: np.ndarray, warmup: int, reps: int) -> list[float]:
    """A `/complete` call through gradio_client: queue, PNG encoding, HTTP and the tiles' download included."""
    from gradio_client import Client

    from webapp.widgets import mask_value

    client = Client(url, verbose=False)
    value = mask_value(mask)
    return repeat(lambda i: client.predict(value, SEEDS, i, api_name="/complete"), warmup, reps)


def as_the_page(url: str, mask: np.ndarray, warmup: int, reps: int) -> list[float]:
    """A click on Complete as the page sends it, tiles downloaded: the server's part of a click."""
    from webapp.widgets import mask_value

    from .reliability import BrowserLikeUser

    user = BrowserLikeUser(url)
    value = mask_value(mask)
    try:
        return repeat(lambda i: user.complete(value, SEEDS, i), warmup, reps)
    finally:
        user.close()


UNREACHABLE_HUB_ID = "biglearn-bench/unreachable-checkpoint"  # offline, or a repo that does not exist


def during_a_load(url: str, mask: np.ndarray, warmup: int, reps: int,
                  calls: Callable[[str, np.ndarray, int, int], list[float]]) -> tuple[list[float], int]:
    """`calls` (through_server or as_the_page) while another session keeps loading a Hub id that cannot be
    fetched (each try waits for the Hub's timeout): the loads run in their own queue, so the Complete calls
    should not wait for them. Returns the times and how many loads the other session tried meanwhile."""
    import threading

    from gradio_client import Client

    other = Client(url, verbose=False)
    stop, tries = threading.Event(), [0]

    def keep_loading() -> None:
        while not stop.is_set():
            tries[0] += 1
            try:
                other.predict(UNREACHABLE_HUB_ID, api_name="/load_checkpoint")
            except Exception:  # noqa: BLE001 - the refusal is the point
                pass

    loader = threading.Thread(target=keep_loading, daemon=True)
    loader.start()
    time.sleep(0.5)
    try:
        times = calls(url, mask, warmup, reps)
    finally:
        stop.set()
    return times, tries[0]


def in_browser(url: str, warmup: int, reps: int) -> list[float]:
    """Click Complete (a new seed each time) and wait for 8 new, loaded tiles in the gallery; timed inside the
    page, from the click event to the moment every new tile has loaded (Playwright's own overhead excluded)."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url)
            summary = page.locator("#source-summary")
            expect(summary).to_contain_text("Nothing painted", timeout=60_000)
            page.get_by_role("button", name="top half", exact=True).click()
            expect(summary).to_contain_text("patches kept", timeout=60_000)
            page.evaluate("""() => document.querySelector('#complete-button').addEventListener(
                'click', () => { window.__clicked = performance.now(); }, {capture: true})""")
            seed = page.get_by_label("seed").first
            tiles = "#completions .thumbnail-item img"
            times = []

            def click(i: int) -> None:
                seed.fill(str(1000 + i))
                seed.press("Tab")
                before = page.eval_on_selector_all(tiles, "imgs => imgs.map(img => img.src)")
                page.click("#complete-button")
                done = page.wait_for_function(
                    """([sel, before, n]) => { const imgs = [...document.querySelectorAll(sel)];
                       const ready = imgs.length === n && imgs.every(img => img.complete && img.naturalWidth > 0)
                                     && imgs[0].src !== (before[0] || '');
                       return ready && performance.now() - window.__clicked; }""", arg=[tiles, before, SEEDS],
                    polling=5)
                if i >= warmup:
                    times.append(done.json_value() / 1e3)

            for i in range(warmup + reps):
                click(i)
            return times
        finally:
            browser.close()


def measure(checkpoint: str, warmup: int, reps: int, browser: bool) -> dict[str, Any]:
    """Launch the app on `checkpoint` and time `complete` of 1 image x 8 seeds at every depth."""
    import app
    import biglearn
    from webapp import handlers, images, inputs, layout, model_slot, settings

    model = biglearn.load(checkpoint)
    demo = layout.build_demo(lambda: model, Path(checkpoint).name)
    handlers = handlers.Handlers(model_slot.ModelSlot(lambda: model, Path(checkpoint).name))
    c = model.config
    image = images.conform(np.load(settings.DIGITS)["images"][0][..., None], c)
    mask = inputs.quick_mask("top half", c.grid)
    results: dict[str, Any] = {"checkpoint": checkpoint, "seeds": SEEDS, "device": str(model.device)}
    results["handler"] = asdict(summarise(in_process(handlers, image, mask, warmup, reps)))
    port = free_port()
    app.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        for name, calls in (("server", through_server), ("page", as_the_page)):
            results[name] = asdict(summarise(calls(url, mask, warmup, reps)))
            times, tries = during_a_load(url, mask, warmup, reps, calls)
            results[f"{name}_during_load"] = {**asdict(summarise(times)), "loads_tried": tries}
        if not browser:
            results["browser"] = {"skipped": "--no-browser"}
        elif shutil.which("chromium") is None:
            results["browser"] = {"skipped": "chromium is not installed (apt-get install chromium)"}
        else:
            results["browser"] = asdict(summarise(in_browser(url, warmup, reps)))
    finally:
        demo.close()
    return results


def render(results: dict[str, Any]) -> str:
    """The results as a Markdown table in milliseconds."""
    lines = [f"click to gallery, 1 image x {results['seeds']} seeds ({results['checkpoint']}, {results['device']})",
             "", "| depth | p50 ms | p95 ms | mean ms | n |", "| --- | ---: | ---: | ---: | ---: |"]
    for depth in ("handler", "server", "server_during_load", "page", "page_during_load", "browser"):
        r = results.get(depth, {"skipped": "not measured"})
        if "skipped" in r:
            lines.append(f"| {depth} | skipped: {r['skipped']} | | | |")
        else:
            ms = " | ".join(f"{r[k] * 1e3:.1f}" for k in ("p50", "p95", "mean"))
            lines.append(f"| {depth} | {ms} | {r['n']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from webapp import settings

    p = argparse.ArgumentParser(prog="python -m bench.app_latency", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=settings.DEFAULT_CHECKPOINT, help="checkpoint the app serves")
    p.add_argument("--reps", type=int, default=20, help="timed clicks per depth")
    p.add_argument("--warmup", type=int, default=3, help="untimed clicks per depth first")
    p.add_argument("--no-browser", action="store_true", help="skip the headless-Chromium depth")
    p.add_argument("--out", type=Path, help="write the results as JSON to this file")
    args = p.parse_args(argv)
    if args.reps < 1 or args.warmup < 0:
        p.error("--reps must be >= 1 and --warmup >= 0")
    results = measure(args.checkpoint, args.warmup, args.reps, not args.no_browser)
    print(render(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
