"""`python -m bench.screenshot [--out docs/screenshot.png]`: the README's picture of the app.

Serves the app on the bundled checkpoint, opens it in headless Chromium (Debian's `chromium`), paints the top
three patch rows of the first digit, asks for 4 samples and saves the whole page. The test
suite never writes into the tree; this command is how docs/screenshot.png is updated.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from webapp.headless import CHROMIUM_ARGS, free_port


def main(argv: list[str] | None = None) -> int:
    """Take the screenshot; one-line errors."""
    p = argparse.ArgumentParser(prog="python -m bench.screenshot", description=__doc__.split("\n\n")[1])
    p.add_argument("--out", type=Path, default=Path("docs/screenshot.png"), help="where to write the PNG")
    args = p.parse_args(argv)
    chromium = shutil.which("chromium")
    if chromium is None:
        print("error: Chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import expect, sync_playwright

    import biglearn
    from webapp import layout, settings

    port = free_port()
    demo = layout.build_demo(lambda: biglearn.load(settings.BUNDLED, "cpu"), settings.BUNDLED.name)
    layout.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"http://127.0.0.1:{port}/")
            summary = page.locator("#source-summary")
            expect(summary).to_contain_text("Nothing painted", timeout=120_000)  # the model is loaded
            box = page.locator("#painter canvas").bounding_box()
            for fy in (0.08, 0.22, 0.36):  # three strokes over the upper half of the digit
                page.mouse.move(box["x"] + 0.05 * box["width"], box["y"] + fy * box["height"])
                page.mouse.down()
                page.mouse.move(box["x"] + 0.95 * box["width"], box["y"] + fy * box["height"], steps=8)
                page.mouse.up()
            expect(summary).to_contain_text("21 of 49 patches kept", timeout=60_000)
            page.locator("#samples input[type=number]").fill("4")
            page.locator("#samples input[type=number]").press("Enter")
            page.click("#complete-button")
            expect(page.locator("#completions .thumbnail-item img")).to_have_count(4, timeout=60_000)
            page.wait_for_function("() => [...document.querySelectorAll('#completions .thumbnail-item img')]"
                                   ".every(img => img.complete && img.naturalWidth > 0)")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
    finally:
        demo.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
