"""End to end in headless Chromium (Debian's `chromium`, driven by Playwright for Python): paint a stroke on
the source painter, ask for 4 samples, see 4 images in the gallery, take a screenshot (into a temporary folder:
the README's docs/screenshot.png is made by `python -m bench.screenshot`);
erase by painting after a quick mask; draw a digit and use it.

The app runs on the bundled checkpoint when it is there (so the screenshot shows the real model), else on a
tiny random-weight one. Waits are conditions on the page, never fixed sleeps.
"""

import re
import shutil
import time
from pathlib import Path

import pytest

import app
import biglearn
from tests.helpers import save_tiny
from webapp import layout, settings
from webapp.headless import CHROMIUM_ARGS, free_port

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The served checkpoint: the bundled one when it is there, else a tiny random-weight one."""
    ckpt = Path(settings.DEFAULT_CHECKPOINT)
    return ckpt if ckpt.is_file() else save_tiny(tmp_path_factory.mktemp("browser") / "tiny.safetensors")


@pytest.fixture(scope="module")
def url(checkpoint):
    ckpt = checkpoint
    demo = layout.build_demo(lambda: biglearn.load(ckpt, "cpu"), ckpt.name)
    port = free_port()
    app.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    # expect()'s own default is 5 s: with the CPUs busy, switching to a tab full of components took longer (CI flake)
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url, width):
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    return page


@pytest.fixture(scope="module")
def page(browser, url):
    page = open_page(browser, url, 1400)
    yield page
    page.close()


def wait_for_painter(page, canvas):
    """Wait until a patch painter has its value and its size, and draws its 7x7 grid (a stroke before the value is
    there is dropped: seen with the CPUs busy, on the first test's source painter and on the target painter);
    returns the canvas's element handle."""
    handle = canvas.element_handle()
    # the first vertical grid line (blue) crosses the first row's middle only once the value's grid is drawn
    page.wait_for_function("""c => { if (c.getAttribute('role') !== 'grid' || !c.clientWidth
            || c.width !== Math.round(c.clientWidth * (window.devicePixelRatio || 1))) return false;
        const p = c.getContext('2d').getImageData(Math.round(c.width / 7), Math.floor(c.height / 14), 1, 1).data;
        return p[2] - p[0] > 60; }""", arg=handle)
    return handle


def stroke(page, canvas, start, end, steps=6):
    """Press at `start`, drag to `end` (fractions of the canvas), release; returns the raster indices of
    the patches the stroke crosses on a 7x7 grid."""
    box = canvas.bounding_box()
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in (start, end)]
    page.mouse.move(*at[0])
    page.mouse.down()
    page.mouse.move(*at[1], steps=steps)
    page.mouse.up()
    points = [(start[0] + (end[0] - start[0]) * k / steps, start[1] + (end[1] - start[1]) * k / steps)
              for k in range(steps + 1)]
    return {int(fy * 7) * 7 + int(fx * 7) for fx, fy in points}


def test_paint_four_samples_and_screenshot(page, tmp_path):
    from playwright.sync_api import expect

    summary = page.locator("#source-summary")
    # the painter has its image and grid, and reports each stroke to the server
    expect(summary).to_contain_text("patches")  # loaded; nothing painted
    canvas = page.locator("#painter canvas")
    wait_for_painter(page, canvas)
    cells = stroke(page, canvas, (0.15, 0.3), (0.85, 0.3))  # across the upper part of the digit
    assert len(cells) == 5
    expect(summary).to_contain_text("5 of 49 patches kept")  # the server has the stroke

    samples = page.locator("#samples input[type=number]")
    samples.fill("4")
    samples.press("Enter")
    page.click("#complete-button")
    images = page.locator("#completions .thumbnail-item img")
    expect(images).to_have_count(4)
    page.wait_for_function("() => [...document.querySelectorAll('#completions .thumbnail-item img')]"
                           ".every(img => img.complete && img.naturalWidth > 0)")
    assert images.first.evaluate("img => img.naturalWidth") >= 224  # large, crisp tiles
    shot = tmp_path / "screenshot.png"
    page.screenshot(path=str(shot), full_page=True)
    from PIL import Image

    assert Image.open(shot).size[0] == 1400  # the whole page at the viewport's width


def test_quick_mask_then_erase_by_painting(page):
    from playwright.sync_api import expect

    summary = page.locator("#source-summary")
    page.get_by_role("button", name="top half", exact=True).click()
    expect(summary).to_contain_text("21 of 49 patches kept")
    # a stroke that starts on a kept patch erases: the painter still works after the server redrew it
    erased = stroke(page, page.locator("#painter canvas"), (0.05, 0.05), (0.5, 0.05))
    assert len(erased) == 4
    expect(summary).to_contain_text("17 of 49 patches kept")


def drawing_pad(page, shown: bool) -> None:
    """Open or close the "Draw a digit" accordion (whatever state an earlier test left it in); an opened pad is
    blank."""
    pad = page.locator("#drawing canvas")
    if pad.is_visible() != shown:
        page.get_by_text("Draw a digit").click()
    if shown:
        pad.wait_for(state="visible")
        page.locator("#drawing button.clear").click()
    else:
        pad.wait_for(state="hidden")


def test_drawing_becomes_the_image(page):
    from playwright.sync_api import expect

    summary = page.locator("#source-summary")
    page.get_by_role("button", name="centre", exact=True).click()
    expect(summary).to_contain_text("patches kept")
    drawing_pad(page, shown=True)
    pad = page.locator("#drawing canvas")
    ink = "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; " \
          "for (let i = 0; i < d.length; i += 4) n += d[i] < 128; return n; }"
    page.locator("#drawing select.stroke").select_option(label="thin")
    stroke(page, pad, (0.2, 0.15), (0.2, 0.85))
    thin = pad.evaluate(ink)
    page.locator("#drawing select.stroke").select_option(label="thick")
    stroke(page, pad, (0.8, 0.15), (0.8, 0.85))
    assert pad.evaluate(ink) - thin > 2 * thin  # the thick stroke (3x as wide) inked far more than the thin one
    page.locator("#drawing button.clear").click()
    assert pad.evaluate(ink) == 0
    page.locator("#drawing select.stroke").select_option(label="medium")
    stroke(page, pad, (0.5, 0.15), (0.55, 0.85))
    page.get_by_role("button", name="Use drawing").click()
    # the drawing replaced the image, and the painter starts over with nothing painted
    expect(summary).to_contain_text("Nothing painted")
    drawing_pad(page, shown=False)


def test_marginal_generation_of_a_painted_region(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Generate").click()
    canvas = page.locator("#target-painter canvas")
    drawn = wait_for_painter(page, canvas)
    painted = stroke(page, canvas, (0.05, 0.05), (0.95, 0.05))
    assert len(painted) == 7  # the top row of patches
    # and the painter shows it before Generate reads it: the top row's middle no longer looks like the bottom row's
    page.wait_for_function("""c => { const g = c.getContext('2d'), x = c.width >> 1;
        const top = g.getImageData(x, c.height / 14, 1, 1).data;
        const bottom = g.getImageData(x, c.height * 13 / 14, 1, 1).data;
        return top.some((v, i) => v !== bottom[i]); }""", arg=drawn)
    page.get_by_role("button", name="Generate", exact=True).click()
    tiles = page.locator("#generated .thumbnail-item img")
    expect(tiles).to_have_count(8)
    page.wait_for_function("() => [...document.querySelectorAll('#generated .thumbnail-item img')]"
                           ".every(img => img.complete && img.naturalWidth > 0)")
    # only the painted row was generated: the rest of every tile is the neutral grey of "not generated"
    grey = tiles.first.evaluate("""img => { const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight; const g = c.getContext('2d');
        g.drawImage(img, 0, 0); return Array.from(g.getImageData(0, c.height * 0.8, 1, 1).data).slice(0, 3); }""")
    assert grey == [128, 128, 128]
    page.get_by_role("tab", name="Complete").click()


def test_the_2d_principle_tab_runs_a_live_race(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="2-D principle").click()
    iters = page.locator("#race-iters input[type=number]")
    iters.fill("20")
    iters.press("Enter")
    # every picture the race shows, and the status line beside each, as they arrive
    page.evaluate("""() => { window.raceFrames = []; new MutationObserver(() => {
        const img = document.querySelector('#race-picture img'), status = document.querySelector('#race-status');
        const last = window.raceFrames[window.raceFrames.length - 1];
        if (img && img.src && (!last || last[0] !== img.src)) window.raceFrames.push([img.src, status.innerText]);
      }).observe(document.querySelector('#principle-tab'), {subtree: true, childList: true, attributes: true}); }""")
    page.locator("#race-button").click()
    expect(page.locator("#race-status")).to_contain_text("Done at iteration 20 of 20")
    expect(page.locator("#race-picture img")).to_be_visible()
    frames = page.evaluate("() => window.raceFrames")
    before_end = [status for _, status in frames if "Done at" not in status]
    assert len(before_end) >= 3, frames  # the picture changed at least 3 times while the race ran
    assert any("%" in status for status in before_end)  # with its progress bar
    assert "modes" in page.locator("#race-status").inner_text()
    page.get_by_role("tab", name="Images").click()
    expect(page.locator("#painter")).to_be_visible()


def open_tab(page, name):
    """Click a tab, through Gradio's "More tabs" menu where the window is too narrow to show it."""
    page.get_by_role("tablist").first.wait_for()
    tab = page.get_by_role("tab", name=name, exact=True)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    page.locator("button[aria-label='More tabs']:visible").first.click()
    page.locator(".overflow-dropdown button:visible", has_text=name).first.click()


# every tile inside its gallery (no inner scrolling), inside the window, and not under the gallery's label
FITS = """sel => { const wraps = [...document.querySelectorAll(sel + ' .grid-wrap')];
  const clipped = wraps.some(w => w.scrollHeight > w.clientHeight + 1 || w.scrollWidth > w.clientWidth + 1);
  const bad = [...document.querySelectorAll(sel + ' .thumbnail-item img')].filter(img => {
    img.scrollIntoView({block: 'center', inline: 'nearest'});
    const r = img.getBoundingClientRect();
    const corner = document.elementFromPoint(r.left + 3, r.top + 3);
    const inside = r.left >= 0 && r.right <= document.documentElement.clientWidth && r.width > 20;
    return !inside || !corner || corner.closest('.thumbnail-item') !== img.closest('.thumbnail-item'); });
  return [clipped, bad.length]; }"""


@pytest.mark.parametrize("width", [1400, 400])
def test_galleries_show_every_tile_at_both_widths(browser, url, width):
    from playwright.sync_api import expect

    page = open_page(browser, url, width)
    try:
        expect(page.locator("#source-summary")).to_contain_text("patches")
        for tab, box in (("Generate", "#gen-samples"), ("Complete", "#samples")):
            open_tab(page, tab)
            field = page.locator(f"{box} input[type=number]")
            field.fill("16")
            field.press("Enter")
        page.locator("#complete-button").click()
        expect(page.locator("#completions .thumbnail-item img")).to_have_count(16)
        assert page.evaluate(FITS, "#completions") == [False, 0]
        open_tab(page, "Generate")
        page.get_by_role("button", name="Generate", exact=True).click()
        expect(page.locator("#generated .thumbnail-item img")).to_have_count(16)
        assert page.evaluate(FITS, "#generated") == [False, 0]
    finally:
        page.close()


def clear_painter(page):
    """Clear the source painter and wait until the clear has landed: first a quick mask that changes the summary,
    so that the wait sees a change (a clear of an empty painter answered late wipes what is painted next)."""
    from playwright.sync_api import expect

    summary = page.locator("#source-summary")
    expect(summary).to_contain_text("patches")  # loaded
    page.get_by_role("button", name="top half", exact=True).click()
    expect(summary).to_contain_text("21 of 49 patches kept")
    page.get_by_role("button", name="clear", exact=True).click()
    expect(summary).to_contain_text("Nothing painted")


def test_brush_sizes_and_keyboard_painting(page):
    from playwright.sync_api import expect

    open_tab(page, "Images")
    open_tab(page, "Complete")
    summary = page.locator("#source-summary")
    clear_painter(page)
    page.locator("#painter select.brush").select_option("3")
    canvas = page.locator("#painter canvas")
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(summary).to_contain_text("9 of 49 patches kept")  # a 3x3 block around the centre
    page.locator("#painter select.brush").select_option("1")
    page.mouse.move(1, 1)  # the pointer leaves the canvas
    canvas.focus()  # the keyboard's focus patch starts at the top-left
    canvas.press("ArrowRight")
    canvas.press("ArrowDown")
    canvas.press("Space")
    expect(summary).to_contain_text("10 of 49 patches kept")
    assert "row 2, column 2, selected" in canvas.get_attribute("aria-label")
    page.get_by_role("button", name="clear", exact=True).click()


def test_a_refused_input_keeps_the_last_results(page):
    from playwright.sync_api import expect

    open_tab(page, "Images")
    open_tab(page, "Complete")
    page.locator("#complete-button").click()
    tiles = page.locator("#completions .thumbnail-item img")
    expect(tiles).not_to_have_count(0)
    shown = tiles.count()
    clear_painter(page)
    page.get_by_role("button", name="invert", exact=True).click()  # every patch kept: nothing to generate
    expect(page.locator("#source-summary")).to_contain_text("All 49 patches kept")
    page.locator("#complete-button").click()
    expect(page.get_by_text("nothing left to generate").first).to_be_visible()
    expect(tiles).to_have_count(shown)  # the error is a message; the gallery keeps what it showed
    # ... in sight: nothing (Gradio's "Error" overlay hid them) lies over the middle of any tile
    on_top = tiles.evaluate_all("""imgs => imgs.map(img => { img.scrollIntoView({block: 'center'});
        const r = img.getBoundingClientRect();
        return document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === img; })""")
    assert on_top == [True] * shown
    page.get_by_role("button", name="clear", exact=True).click()


def test_every_model_tab_is_shown_at_1400_px(browser, url):
    """No model tab hides behind Gradio's "More tabs" menu on a desktop-wide window (Classify and Model info
    did before their labels were shortened)."""
    from playwright.sync_api import expect

    page = open_page(browser, url, 1400)
    try:
        page.locator("#painter").wait_for()
        for name in ("Complete", "Sweep", "Out-of-domain", "Generate", "Classify", "Model"):
            expect(page.get_by_role("tab", name=name, exact=True)).to_be_visible()
        assert page.locator("button[aria-label='More tabs']:visible").count() == 0
    finally:
        page.close()


def test_tiles_are_wide_on_a_phone_and_their_captions_sit_below_them(browser, url):
    """At 400 px the completion tiles are at least 120 px wide (two columns) and no "seed N" caption box
    intersects its picture's box."""
    page = open_page(browser, url, 400)
    try:
        page.locator("#painter").wait_for()
        page.get_by_role("button", name="Complete", exact=True).click()
        page.locator(".tiles .thumbnail-item img").first.wait_for()
        boxes = page.evaluate("""() => [...document.querySelectorAll('.tiles .thumbnail-item')].map(t => {
            const i = t.querySelector('img').getBoundingClientRect();
            const c = t.querySelector('.caption-label');
            const r = c ? c.getBoundingClientRect() : null;
            return {width: i.width, overlap: r !== null && r.top < i.bottom - 0.5 && r.bottom > i.top + 0.5
                    && r.left < i.right && r.right > i.left}; })""")
        assert boxes and all(b["width"] >= 120 for b in boxes), boxes
        assert not any(b["overlap"] for b in boxes), boxes
    finally:
        page.close()


def grid_lines(png: bytes) -> tuple[int, int]:
    """Blue grid lines crossing the middle column and the middle row of a screenshot of a painter, as shown."""
    import io

    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    blue = (rgb[..., 2] > 150) & (rgb[..., 2] > rgb[..., 0] + 40)
    h, w = blue.shape

    def runs(line: np.ndarray) -> int:
        return int(line[0]) + int((line[1:] & ~line[:-1]).sum())

    return runs(blue[:, w // 2 + 3]), runs(blue[h // 2 + 3, :])


def shown_grid_lines(canvas, expected: tuple[int, int], seconds: float = 20.0) -> tuple[int, int]:
    """grid_lines of a painter's canvas as shown, read again until they are `expected` or `seconds` have passed: for
    a moment under load the lines can be hidden on screen (the translucent overlay of a pending event, which
    elementFromPoint does not hit, or a redraw after a layout change); a painter that never draws them still fails."""
    deadline = time.monotonic() + seconds
    while (found := grid_lines(canvas.screenshot())) != expected and time.monotonic() < deadline:
        canvas.page.wait_for_timeout(250)
    return found


def test_the_painter_draws_every_grid_line_on_a_phone(browser, url):
    """At 400 px the source painter shows gh x gw cells: gh + 1 horizontal and gw + 1 vertical lines in the
    pixels on screen (drawn at 336 px and scaled down by the page, it lost one of each)."""
    ckpt = Path(settings.DEFAULT_CHECKPOINT)
    if not ckpt.is_file():
        pytest.skip("the bundled checkpoint is not there: the tiny model's grid is not drawn over a digit")
    gh, gw = biglearn.load(ckpt, "cpu").config.grid
    page = open_page(browser, url, 400)
    try:
        canvas = page.locator("#painter canvas")
        canvas.wait_for()
        page.wait_for_function("() => { const c = document.querySelector('#painter canvas'); "
                               "return c && c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1)"
                               ".data[0] !== 128; }")  # the digit is drawn (not the grey of an empty painter)
        assert shown_grid_lines(canvas, (gh + 1, gw + 1)) == (gh + 1, gw + 1)
    finally:
        page.close()


# every label, button or caption box on the page that meets a shown picture's box (an image or a canvas), except
# its own: [picture, what covers it, overlap width, overlap height]; toasts float over everything and go away
COVERED = """() => {
  const shown = e => { const r = e.getBoundingClientRect();
    return r.width > 2 && r.height > 2 && e.checkVisibility({visibilityProperty: true, opacityProperty: true}); };
  const pictures = [...document.querySelectorAll('img, canvas')].filter(shown);
  const covers = [...document.querySelectorAll('label, button, [data-testid="block-label"], .icon-button-wrapper, '
                  + '.caption-label')].filter(e => shown(e) && !e.closest('.toast-wrap'));
  const name = e => e.tagName + ' ' + (e.getAttribute('aria-label') || e.alt || e.textContent || '').trim();
  const hits = [];
  for (const p of pictures) { const a = p.getBoundingClientRect();
    for (const c of covers) { if (c.contains(p) || p.contains(c)) continue; const b = c.getBoundingClientRect();
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && h > 1) hits.push([name(p), name(c), Math.round(w), Math.round(h)]); } }
  return hits; }"""


def all_drawn(page, selector):
    """Wait until every image under `selector` has loaded."""
    page.wait_for_function("sel => { const imgs = [...document.querySelectorAll(sel)]; return imgs.length > 0 "
                           "&& imgs.every(img => img.complete && img.naturalWidth > 0); }", arg=selector)


@pytest.mark.parametrize("width", [1400, 400])
def test_no_label_or_button_covers_a_picture(browser, url, width):
    """With every tab's results on screen (completions, sweep, out-of-domain views, generated samples, the 2-D
    tab's figures), no label, corner button or caption box meets a picture's box (Gradio floats them over the
    image's top rows: the sweep's first columns and the out-of-domain markers were hidden under them)."""
    from playwright.sync_api import expect

    page = open_page(browser, url, width)
    try:
        expect(page.locator("#source-summary")).to_contain_text("patches")
        page.locator("#complete-button").click()
        all_drawn(page, "#completions .thumbnail-item img")
        assert page.evaluate(COVERED) == []
        open_tab(page, "Sweep")
        page.get_by_role("button", name="Sweep", exact=True).click()
        all_drawn(page, "#sweep-out img")
        assert page.evaluate(COVERED) == []
        open_tab(page, "Out-of-domain")
        page.get_by_role("button", name="duplicate centre").click()
        all_drawn(page, "#ood-donor img")
        expect(page.locator("#ood-gallery")).to_be_visible()
        assert page.evaluate(COVERED) == []
        open_tab(page, "Generate")
        page.get_by_role("button", name="Generate", exact=True).click()
        all_drawn(page, "#generated .thumbnail-item img")
        assert page.evaluate(COVERED) == []
        page.get_by_role("tab", name="2-D principle").click()
        all_drawn(page, "#principle-tab img")
        assert page.evaluate(COVERED) == []
    finally:
        page.close()


def ink_height(png: bytes) -> int:
    """Rows of dark text in the white band at the top of a screenshot of the sweep (its column headers)."""
    import io

    import numpy as np
    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(int)
    band = int(np.argmax((grey < 60).mean(axis=1) > 0.5))  # the first row of the (mostly black) tiles
    rows = np.flatnonzero((grey[:band] < 128).any(axis=1))
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def test_the_sweep_headers_read_on_a_phone(browser, url):
    """At 400 px the sweep's column headers are drawn at least as tall as the digits of 12 px text (8.4 px:
    0.7 of the font size), above the tiles and not under the picture's label."""
    page = open_page(browser, url, 400)
    try:
        page.locator("#painter").wait_for()
        open_tab(page, "Sweep")
        page.get_by_role("button", name="Sweep", exact=True).click()
        all_drawn(page, "#sweep-out img")
        assert ink_height(page.locator("#sweep-out img").screenshot()) >= 8.4
    finally:
        page.close()


def test_one_message_at_a_time(page):
    """Three refusals in a row: one message on screen, the newest (Gradio stacked them as "Error (3)")."""
    from playwright.sync_api import expect

    open_tab(page, "Images")
    open_tab(page, "Complete")
    messages = page.locator(".toast-message-item:visible")
    clear_painter(page)
    page.get_by_role("button", name="invert", exact=True).click()  # every patch kept: nothing to generate
    expect(page.locator("#source-summary")).to_contain_text("All 49 patches kept")
    page.locator("#complete-button").click()
    expect(messages.filter(has_text="nothing left to generate")).to_have_count(1)
    drawing_pad(page, shown=True)
    page.get_by_role("button", name="Use drawing").click()  # a blank pad
    expect(messages.filter(has_text="draw something on the pad first")).to_have_count(1)
    expect(messages).to_have_count(1)
    page.locator("#complete-button").click()
    expect(messages.filter(has_text="nothing left to generate")).to_have_count(1)
    expect(messages).to_have_count(1)
    drawing_pad(page, shown=False)
    page.get_by_role("button", name="clear", exact=True).click()


STALE = re.compile(r"\bstale\b")


def test_results_of_the_previous_image_are_marked_and_the_highlight_follows(page):
    """Completions stay but are marked (dimmed, relabelled) once another example is picked, and are fresh again
    after Complete; the examples strip highlights the picked digit, and none after an upload or a drawing."""
    from playwright.sync_api import expect

    open_tab(page, "Images")
    open_tab(page, "Complete")
    completions = page.locator("#completions")
    page.locator("#complete-button").click()
    expect(completions).not_to_have_class(STALE)
    all_drawn(page, "#completions .thumbnail-item img")
    shown = page.locator("#completions .thumbnail-item img").count()
    page.locator("#examples .thumbnail-item").nth(3).click()
    expect(completions).to_have_class(STALE)
    expect(completions).to_contain_text("completions of the previous image")
    expect(page.locator("#completions .thumbnail-item img")).to_have_count(shown)  # kept, not emptied
    expect(page.locator("#examples .thumbnail-item.selected")).to_have_count(1)
    assert page.locator("#examples .thumbnail-item").nth(3).get_attribute("class").split().count("selected") == 1
    page.locator("#complete-button").click()
    expect(completions).not_to_have_class(STALE)
    drawing_pad(page, shown=True)
    stroke(page, page.locator("#drawing canvas"), (0.5, 0.15), (0.55, 0.85))
    page.get_by_role("button", name="Use drawing").click()
    expect(completions).to_have_class(STALE)
    expect(page.locator("#examples .thumbnail-item.selected")).to_have_count(0)
    page.locator("#drawing button.clear").click()
    drawing_pad(page, shown=False)


def test_the_model_tabs_come_before_the_input_panel_on_a_phone(browser, url):
    """At 400 px the model's tabs sit above the painter (they were about 1,400 px down, below the whole input
    panel); picking one still shows its controls."""
    from playwright.sync_api import expect

    page = open_page(browser, url, 400)
    try:
        painter = page.locator("#painter canvas")
        painter.wait_for()
        tab = page.get_by_role("tab", name="Complete", exact=True)
        assert tab.bounding_box()["y"] + tab.bounding_box()["height"] <= painter.bounding_box()["y"]
        assert tab.bounding_box()["y"] < 1000  # on the first screen
        open_tab(page, "Generate")
        expect(page.get_by_role("button", name="Generate", exact=True)).to_be_visible()
    finally:
        page.close()


def test_the_target_painter_draws_every_grid_line_on_a_phone(browser, url, checkpoint):
    """At 400 px the Generate tab's target painter shows gh x gw cells: gh + 1 horizontal and gw + 1 vertical
    grid lines in the pixels on screen (it drew 6 of 7 before)."""
    gh, gw = biglearn.load(checkpoint, "cpu").config.grid
    page = open_page(browser, url, 400)
    try:
        page.locator("#painter canvas").wait_for()
        open_tab(page, "Generate")
        canvas = page.locator("#target-painter canvas")
        canvas.wait_for()
        page.wait_for_function("""() => { const c = document.querySelector('#target-painter canvas');
            const row = c.getContext('2d').getImageData(0, Math.floor(c.height / 2), c.width, 1).data;
            for (let i = 0; i < row.length; i += 4) if (row[i + 2] > 150 && row[i + 2] > row[i] + 40) return true;
            return false; }""")  # its grid is drawn
        canvas.scroll_into_view_if_needed()
        on_top = canvas.evaluate("""c => { const r = c.getBoundingClientRect();
            const e = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return e === c ? 'canvas' : e && e.outerHTML.slice(0, 200); }""")
        assert on_top == "canvas"  # nothing (a menu, a toast) lies over it
        assert shown_grid_lines(canvas, (gh + 1, gw + 1)) == (gh + 1, gw + 1)
    finally:
        page.close()


def test_a_sliders_box_shows_the_value_used(page):
    """The samples box: 40 typed (the slider's maximum is 16) reads 16, as many tiles as come out; an emptied box
    gets its value back instead of silently becoming 1."""
    from playwright.sync_api import expect

    open_tab(page, "Images")
    open_tab(page, "Complete")
    box = page.locator("#samples input[type=number]")
    top = int(page.locator("#samples input[type=range]").get_attribute("max"))
    box.fill(str(top + 24))
    box.press("Enter")
    expect(box).to_have_value(str(top))
    page.locator("#complete-button").click()
    expect(page.locator("#completions .thumbnail-item img")).to_have_count(top)
    for leave in ("Enter", "Tab"):
        box.fill("")
        box.press(leave)
        expect(box).to_have_value(str(top))
    box.fill("8")
    box.press("Enter")


def test_a_failed_load_leaves_no_error_badge_and_the_button_comes_back(page):
    """An unreachable Hub id: the Load button says "Loading…" meanwhile, the message comes, no "Error" badge sits
    on the model card (or any output) of the checkpoint still in use, and the button is usable again."""
    from playwright.sync_api import expect

    open_tab(page, "Images")
    open_tab(page, "Model")
    page.get_by_text("Load another checkpoint").click()
    page.get_by_label("Hugging Face Hub id").fill("nobody/does-not-exist")
    page.get_by_role("button", name="Load", exact=True).click()
    expect(page.locator(".toast-message-item:visible")).to_contain_text("Could not load")
    expect(page.get_by_role("button", name="Load", exact=True)).to_be_enabled()
    errors = page.locator("[data-testid=status-tracker]:visible", has_text="Error")
    expect(errors).to_have_count(0)
    page.get_by_text("Load another checkpoint").click()
    open_tab(page, "Complete")


# cells of the page's Markdown tables whose longest word is wider than the cell (broken inside: "mod/el"); a
# break after a hyphen ("high-/quality") is ordinary typography, so words are also split there
BROKEN_CELLS = """() => { const g = document.createElement('canvas').getContext('2d'); const bad = [];
  for (const cell of document.querySelectorAll('.prose td, .prose th')) {
    if (!cell.checkVisibility()) continue;
    const style = getComputedStyle(cell); g.font = style.font;
    const room = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const width = w => g.measureText(w).width;
    const word = cell.innerText.split(/\\s+|(?<=-)/).reduce((a, b) => (width(b) > width(a) ? b : a), "");
    if (g.measureText(word).width > room + 1) bad.push([word, Math.round(g.measureText(word).width), room]); }
  return bad; }"""


def test_tables_break_lines_only_between_words_on_a_phone(browser, url):
    """At 400 px the 2-D tab's tables and the model card's wrap at spaces (or scroll sideways): every cell is at
    least as wide as its longest word."""
    from playwright.sync_api import expect

    page = open_page(browser, url, 400)
    try:
        page.locator("#painter canvas").wait_for()
        open_tab(page, "Model")
        expect(page.get_by_text("training facts")).to_be_visible()
        assert page.evaluate(BROKEN_CELLS) == []
        page.get_by_role("tab", name="2-D principle").click()
        expect(page.locator("#principle-tab .prose td").first).to_be_visible()
        assert page.evaluate(BROKEN_CELLS) == []
    finally:
        page.close()
