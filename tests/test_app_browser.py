"""End to end in headless Chromium (Debian's `chromium`, driven by Playwright for Python): paint a stroke on
the source editor, ask for 4 samples, see 4 images in the gallery, save docs/screenshot.png for the README.

The app runs on the bundled checkpoint when it is there (so the screenshot shows the real model), else on a
tiny random-weight one. Waits are conditions on the page, never fixed sleeps.
"""

import shutil
from pathlib import Path

import pytest
import torch

import app
import biglearn
from bench.app_latency import CHROMIUM_ARGS, free_port
from biglearn.config import BigLearnConfig, ModelConfig

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")

SCREENSHOT = Path(app.ROOT) / "docs" / "screenshot.png"
TIMEOUT_MS = 60_000
SMALL = dict(enc_dim=16, enc_depth=1, enc_heads=2, dec_dim=16, dec_depth=1, dec_heads=2, noise_dim=8,
             noise_depth=2, conv_head_channels=0, d_dim=16, d_depth=1, d_heads=2)


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    ckpt = Path(app.DEFAULT_CHECKPOINT)
    if not ckpt.is_file():
        ckpt = tmp_path_factory.mktemp("browser") / "tiny.safetensors"
        cfg = BigLearnConfig(model=ModelConfig(**SMALL))
        torch.manual_seed(0)
        biglearn.save(ckpt, biglearn.UniversalGenerator(cfg.model), cfg, info={"preset": "tiny"})
    demo = app.build_demo(lambda: biglearn.load(ckpt, "cpu"), ckpt.name)
    port = free_port()
    app.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def page(url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            yield page
        finally:
            browser.close()


def test_paint_four_samples_and_screenshot(page):
    from playwright.sync_api import expect

    summary = page.locator("#source-summary")
    # the editor has its image and grid, and reports changes to the server
    expect(summary).to_contain_text("Nothing painted", timeout=TIMEOUT_MS)
    canvas = page.locator("#editor canvas").first
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 110, y - 70)  # one horizontal stroke through the upper part of the digit
    page.mouse.down()
    page.mouse.move(x + 110, y - 70, steps=5)
    page.mouse.up()
    expect(summary).to_contain_text("patches kept", timeout=TIMEOUT_MS)  # the server has seen the stroke

    samples = page.locator("#samples input[type=number]")
    samples.fill("4")
    samples.press("Enter")
    page.click("#complete-button")
    images = page.locator("#completions .thumbnail-item img")
    expect(images).to_have_count(4, timeout=TIMEOUT_MS)
    page.wait_for_function("() => [...document.querySelectorAll('#completions .thumbnail-item img')]"
                           ".every(img => img.complete && img.naturalWidth > 0)")
    assert images.first.evaluate("img => img.naturalWidth") >= 224  # large, crisp tiles
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
