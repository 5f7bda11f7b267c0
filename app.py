"""BigLearn-GAN in the browser: one universal generator p(x_T | x_S) over image patches.

    python app.py [--checkpoint PATH_OR_HUB_ID] [--port N] [--share]     (or env BIGLEARN_CHECKPOINT)

A thin shell over biglearn: every handler turns UI values into one call of the inference API
(`complete`, `generate`, `classify`) and the result back into pictures; the image work lives in
`biglearn.app_support`, the canvases to paint patches and draw on in `biglearn.widgets`. The model is
loaded lazily (importing this file needs no checkpoint) and is shared by all users; per-user state lives
in `gr.State`.
"""

import argparse
import functools
import html
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from PIL import Image

import biglearn
from biglearn import app_support as S
from biglearn.figures import SWEEP_RATIOS, ratio_sweep
from biglearn.render import grid_image, upscale
from biglearn.widgets import DrawingPad, Painting, PatchPainter

try:  # Hugging Face ZeroGPU Spaces: borrow a GPU for each model call
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(fn: Callable) -> Callable:
        """No `spaces` package: run handlers as they are."""
        return fn


# --- constants -----------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "assets"
BUNDLED = ASSETS / "mnist-cpu.safetensors"
DEFAULT_CHECKPOINT = os.environ.get("BIGLEARN_CHECKPOINT", str(BUNDLED))
DIGITS = ASSETS / "examples" / "mnist_examples.npz"
FASHION = ASSETS / "examples" / "fashion_examples.npz"
README = ASSETS / "README.md"  # the bundled checkpoint's model card
# model calls at once: on a CPU one call already uses every core, more would only fight over them
MODEL_CONCURRENCY = 2 if torch.cuda.is_available() else 1
MAX_FILE_SIZE = "20mb"
THUMB_SCALE = 3
MAX_SAMPLES = 16

DESCRIPTION = """\
# BigLearn-GAN: one model for every joint, conditional and marginal of image patches
Images are cut into a grid of patches. **Paint the patches to keep** (the source *S*) and the model samples
the rest *T* from p(x_T | x_S); the same network generates from nothing, from a class, any region alone, and
classifies what it is shown (Cong & Zhao, *Big Learning*). Each seed gives one sample.
"""

CSS = """
.pixelated img, .tiles img, .strip img { image-rendering: pixelated; }
.tiles .grid-container, .strip .grid-container { grid-auto-rows: auto !important; }
.tiles .gallery-item, .tiles .thumbnail-item, .strip .gallery-item, .strip .thumbnail-item {
    height: auto !important; aspect-ratio: 1 / 1;
}
.strip .grid-wrap { height: auto !important; min-height: 0 !important; }
.tiles .grid-wrap { padding-top: 36px !important; }  /* below the floating label, not under it */
.strip .grid-container { grid-template-columns: repeat(10, minmax(0, 1fr)) !important; gap: 4px !important; }
.strip .caption-label { display: none; }
"""

OOD_DIGIT_CLICKS = ("where picked patches go", "digit patches to keep")


# --- model ---------------------------------------------------------------------------------------

def checkpoint_provider(path_or_hub_id: str) -> Callable[[], biglearn.BigLearnModel]:
    """A lazy loader of one checkpoint, on the GPU when present, else the CPU."""
    return lambda: biglearn.load(path_or_hub_id)


# --- small helpers -------------------------------------------------------------------------------

def user_errors(fn: Callable) -> Callable:
    """Show a ValueError (bad input, explained by the library) as a Gradio error message, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ValueError as exc:
            raise gr.Error(message(exc)) from exc

    return wrapper


def message(exc: BaseException) -> str:
    """An exception as a one-line, HTML-safe sentence."""
    text = str(exc) or type(exc).__name__
    return html.escape(text[:1].upper() + text[1:])


def thumbnails(images: np.ndarray, captions: list[str]) -> list[tuple[np.ndarray, str]]:
    """Example images (N, H, W[, C]) as crisp gallery thumbnails with captions."""
    return [(upscale(S.to_rgb(img), THUMB_SCALE), cap) for img, cap in zip(images, captions, strict=True)]


def captioned(tiles: list[np.ndarray], seeds: list[int]) -> list[tuple[np.ndarray, str]]:
    """Gallery items: one tile per seed, captioned with its seed."""
    return [(tile, f"seed {s}") for tile, s in zip(tiles, seeds, strict=True)]


def below(indices: list[int], n: int) -> list[int]:
    """Patch indices that exist in a grid of n patches (picks made under another model are dropped)."""
    return [i for i in indices if i < n]


def visible(flag: bool) -> dict[str, Any]:
    """Show or hide a component."""
    return gr.update(visible=flag)


def checked_mask(mask: np.ndarray | None, grid: tuple[int, int]) -> np.ndarray:
    """A painter's mask for this model's patch grid (nothing painted: all False); ValueError for a mask of
    another grid (painted before the checkpoint was swapped, or sent so by an API client)."""
    if mask is None:
        return np.zeros(grid, dtype=bool)
    if mask.shape != tuple(grid):
        raise ValueError(f"the painted mask is for a {mask.shape[0]}x{mask.shape[1]} patch grid, but this model's "
                         f"grid is {grid[0]}x{grid[1]} (was the checkpoint changed? choose the image again)")
    return mask


def as_hwc(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) uint8 -> (H, W, C)."""
    return image[..., None] if image.ndim == 2 else image


# --- handlers ------------------------------------------------------------------------------------

class Handlers:
    """Every event of the app, over one shared and swappable model (`ModelSlot`).

    Inputs and outputs are plain values (numpy images, bool patch masks, lists), so tests call them directly.
    """

    def __init__(self, slot: S.ModelSlot) -> None:
        self.slot = slot
        self.digits, self.digit_captions = S.load_examples(DIGITS)
        self.fashion, self.fashion_captions = S.load_examples(FASHION)

    @property
    def model(self) -> biglearn.BigLearnModel:
        return self.slot.get()

    # session start and inputs ------------------------------------------------------------------

    def initial_ood(self) -> dict[str, Any]:
        """A fresh out-of-domain state: the first digit, the first Fashion-MNIST item, nothing picked."""
        return {"digit": as_hwc(self.digits[0]), "donor": as_hwc(self.fashion[0]), "digit_index": 0,
                "picks": [], "dests": [], "keep": []}

    @user_errors
    def start(self, image: np.ndarray, ood: dict[str, Any]) -> tuple:
        """Page load: the painters drawn for this model's patch grid, p(y | x) of the image, the out-of-domain
        pictures, the model card and the class picker."""
        probs, _ = self.classify(image, None)
        return (self.show(image), probs, "Paint the patches to keep.", self.canvas(),
                *self.ood_views(ood), self.card(), self.class_choices())

    def show(self, image: np.ndarray, mask: np.ndarray | None = None) -> Painting:
        """The source painter for an image (and optionally a painted mask)."""
        c = self.model.config
        return Painting(S.conform(image, c), np.zeros(c.grid, dtype=bool) if mask is None else mask)

    def canvas(self) -> Painting:
        """The empty target painter of marginal generation."""
        c = self.model.config
        return Painting(S.blank_image(c), np.zeros(c.grid, dtype=bool))

    def pick_example(self, evt: gr.SelectData) -> tuple[np.ndarray, Painting]:
        """A click on the examples strip: that MNIST digit becomes the image."""
        image = S.conform(as_hwc(self.digits[evt.index]), self.model.config)
        return image, self.show(image)

    @user_errors
    def upload_image(self, path: str | None) -> tuple[np.ndarray, Painting]:
        """An uploaded file of any format, size or colour mode becomes the image (converted to the model's)."""
        if not path:
            raise ValueError("no file was uploaded")
        image = S.load_image(path, self.model.config)
        return image, self.show(image)

    @user_errors
    def use_drawing(self, drawing: Image.Image | None) -> tuple[np.ndarray, Painting]:
        """The drawing on the pad becomes the image (framed and inverted like an MNIST digit)."""
        if drawing is None or np.ptp(np.asarray(drawing.convert("L"))) == 0:
            raise ValueError("draw something on the pad first (dark strokes on the white canvas)")
        image = S.prepare_image(drawing, self.model.config)
        return image, self.show(image)

    @user_errors
    def quick_mask(self, name: str, image: np.ndarray, painted: np.ndarray | None, ratio: float) -> Painting:
        """A quick-mask button: random-r, top half, left half, centre, invert or clear."""
        c = self.model.config
        current = checked_mask(painted, c.grid) if name == "invert" else None
        mask = S.quick_mask(name, c.grid, current=current, ratio=float(ratio), seed=random.randrange(2**31))
        return self.show(image, mask)

    @staticmethod
    def new_seed() -> int:
        """A fresh random seed."""
        return random.randrange(S.MAX_UI_SEED - MAX_SAMPLES)

    # model calls ---------------------------------------------------------------------------------

    @user_errors
    def complete(self, image: np.ndarray, painted: np.ndarray | None, n: float,
                 seed: float) -> list[tuple[np.ndarray, str]]:
        """p(x_T | x_S): n completions of the image from its painted patches, sources outlined."""
        m = self.model
        c = m.config
        seeds = S.check_seeds(seed, n)
        source = checked_mask(painted, c.grid)
        if source.all():
            raise ValueError("every patch is painted as kept, so there is nothing left to generate: erase some "
                             "patches (or press invert or clear)")
        if not source.any():
            gr.Info("Nothing is painted, so this is joint generation p(x): a new image per seed. "
                    "Paint patches to keep them.")
        samples = m.complete(S.conform(image, c)[None], source[None], seeds=seeds)[0]  # (n, C, H, W)
        return captioned(S.render_tiles(samples, c, source), seeds)

    @user_errors
    def sweep(self, image: np.ndarray, mode: str, rows: float, seed: float) -> np.ndarray:
        """Paper Fig. 3: rows = seeds, columns = source ratio 0 ... 0.9 and the real image."""
        m = self.model
        c = m.config
        seeds = S.check_seeds(seed, rows)
        x = torch.from_numpy(S.conform(image, c)).permute(2, 0, 1)[None].float() / 255.0
        grid, outlines = ratio_sweep(m, x, seeds=seeds, mode="first" if mode == "raster-first" else "random")
        f = S.scale_for(c, 112)
        picture = grid_image(grid, factor=f, pad=4, outlines=outlines, patch_size=c.patch_size)
        labels = [f"r={r:.1f}" for r in SWEEP_RATIOS] + ["real"]
        return S.add_column_labels(picture, labels, c.width * f, 4)

    @user_errors
    def classify(self, image: np.ndarray, painted: np.ndarray | None) -> tuple[dict[str, float] | str, str]:
        """As the user paints: the model's own p(y | x_S) for the painted source (the whole image when
        nothing is painted) and a summary of the source."""
        m = self.model
        c = m.config
        source = checked_mask(painted, c.grid)
        summary = S.source_summary(source)
        if not c.num_classes:
            return "This checkpoint was trained without labels: it has no classifier.", summary
        probs = m.classify(S.conform(image, c)[None], (source if source.any() else ~source)[None])[0]
        return {str(k): float(p) for k, p in enumerate(probs)}, summary

    @user_errors
    def generate(self, klass: str, target: np.ndarray | None, n: float, seed: float) -> list[tuple[np.ndarray, str]]:
        """Joint p(x), class-conditional p(x | y) or marginal p(x_T) (the painted region) generation."""
        m = self.model
        c = m.config
        seeds = S.check_seeds(seed, n)
        target = checked_mask(target, c.grid)
        label = S.parse_class(klass, c.num_classes)
        labels = None if label is None else torch.full((len(seeds),), label)
        out = m.generate(len(seeds), seeds=seeds, labels=labels,
                         target=np.repeat(target.reshape(1, -1), len(seeds), 0) if target.any() else None)
        return captioned(S.render_tiles(out, c, target, S.TARGET_OUTLINE), seeds)

    # out-of-domain -------------------------------------------------------------------------------

    def ood_compose(self, ood: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """The digit with the picked donor patches pasted in, and its source mask."""
        c = self.model.config
        picks, dests, keep = (below(ood[k], c.num_patches) for k in ("picks", "dests", "keep"))
        return S.transplant(S.conform(ood["digit"], c), S.conform(ood["donor"], c), c.patch_size, picks, dests, keep)

    def ood_views(self, ood: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
        """(state, digit picture with destinations and kept patches, donor picture with numbered picks,
        the composed source as the model will see it)."""
        c = self.model.config
        digit = S.mark_patches(S.grid_picture(S.conform(ood["digit"], c), c), ood["dests"], c.grid,
                               color=S.DEST_COLOR)
        digit = S.mark_patches(digit, ood["keep"], c.grid, color=S.KEEP_COLOR, numbered=False)
        donor = S.mark_patches(S.grid_picture(S.conform(ood["donor"], c), c), ood["picks"], c.grid)
        composite, source = self.ood_compose(ood)
        preview = S.outline_region(S.grid_picture(S.source_view(composite, source, c), c), source,
                                   S.SOURCE_OUTLINE, 3)
        return ood, digit, donor, preview

    def ood_choose_digit(self, ood: dict[str, Any], evt: gr.SelectData) -> tuple:
        """A click on the digit strip: that digit receives the patches."""
        return self.ood_views({**ood, "digit": as_hwc(self.digits[evt.index]), "digit_index": evt.index})

    def ood_choose_donor(self, ood: dict[str, Any], evt: gr.SelectData) -> tuple:
        """A click on the Fashion-MNIST strip: that item gives the patches (picks are kept)."""
        return self.ood_views({**ood, "donor": as_hwc(self.fashion[evt.index])})

    @user_errors
    def ood_upload_donor(self, ood: dict[str, Any], path: str | None) -> tuple:
        """An uploaded image gives the patches."""
        if not path:
            raise ValueError("no file was uploaded")
        return self.ood_views({**ood, "donor": S.load_image(path, self.model.config)})

    def ood_click_donor(self, ood: dict[str, Any], evt: gr.SelectData) -> tuple:
        """A click on the donor's grid picks (or unpicks) that patch."""
        c = self.model.config
        side = S.scale_for(c, S.EDITOR_PX)
        idx = S.cell_at(evt.index, (c.height * side, c.width * side), c.grid)
        return self.ood_views({**ood, "picks": S.toggle(ood["picks"], idx)})

    def ood_click_digit(self, ood: dict[str, Any], what: str, evt: gr.SelectData) -> tuple:
        """A click on the digit's grid toggles a destination or a kept patch, as chosen."""
        c = self.model.config
        side = S.scale_for(c, S.EDITOR_PX)
        idx = S.cell_at(evt.index, (c.height * side, c.width * side), c.grid)
        key = "dests" if what == OOD_DIGIT_CLICKS[0] else "keep"
        return self.ood_views({**ood, key: S.toggle(ood[key], idx)})

    def ood_preset(self, name: str, ood: dict[str, Any]) -> tuple:
        """Paper Fig. 5 presets: relocate or duplicate the centre patches, or mix with the next digit."""
        picks, dests, keep = S.preset(name, self.model.config.grid)
        if name == "mix":
            donor = as_hwc(self.digits[(ood["digit_index"] + 1) % len(self.digits)])
        else:
            donor = ood["digit"]
        return self.ood_views({**ood, "donor": donor, "picks": picks, "dests": dests, "keep": keep})

    def ood_clear(self, ood: dict[str, Any]) -> tuple:
        """Forget the picks, destinations and kept patches."""
        return self.ood_views({**ood, "picks": [], "dests": [], "keep": []})

    @user_errors
    def ood_complete(self, ood: dict[str, Any], n: float, seed: float) -> list[tuple[np.ndarray, str]]:
        """Complete the composed, partly out-of-domain source (paper Fig. 5)."""
        m = self.model
        c = m.config
        seeds = S.check_seeds(seed, n)
        composite, source = self.ood_compose(ood)
        if source.all():
            raise ValueError("the source covers every patch: nothing is left to generate")
        if not source.any():
            gr.Info("Nothing is picked or kept, so this is joint generation p(x). Click patches of the second "
                    "image, or use a preset.")
        samples = m.complete(composite[None], source[None], seeds=seeds)[0]
        return captioned(S.render_tiles(samples, c, source), seeds)

    # the checkpoint ------------------------------------------------------------------------------

    def card(self) -> str:
        """The current checkpoint's model card."""
        bundled = Path(self.slot.name).resolve() == BUNDLED.resolve()  # README.md describes that file only
        readme = README.read_text(encoding="utf-8") if bundled and README.is_file() else None
        return S.model_card(self.model, self.slot.name, readme)

    def class_choices(self) -> dict[str, Any]:
        """The class picker for this model ("any" only when it has no labels)."""
        k = self.model.config.num_classes
        return gr.update(choices=["any"] + [str(i) for i in range(k)], value="any")

    def load_checkpoint(self, path_or_hub_id: str | None, image: np.ndarray, ood: dict[str, Any]) -> tuple:
        """Swap in another checkpoint (path, upload or Hub id) and redraw this user's pictures for it; a failed
        load keeps the current one."""
        try:
            self.slot.load((path_or_hub_id or "").strip())
        except Exception as exc:  # any failure to load must leave the app running on the old model
            gr.Warning(f"Could not load that checkpoint, keeping {html.escape(self.slot.name)}: {message(exc)}")
            return (gr.skip(),) * 8
        gr.Info(f"Loaded {html.escape(self.slot.name)}.")
        return self.card(), self.class_choices(), self.show(image), self.canvas(), *self.ood_views(ood)


# --- layout and wiring ---------------------------------------------------------------------------

def build_demo(model_provider: Callable[[], biglearn.BigLearnModel], name: str = DEFAULT_CHECKPOINT) -> gr.Blocks:
    """The app around a lazily provided model (tests pass a tiny one; nothing is loaded here)."""
    h = Handlers(S.ModelSlot(model_provider, name))
    model_event = {"concurrency_id": "model", "concurrency_limit": MODEL_CONCURRENCY}
    with gr.Blocks(title="BigLearn-GAN") as demo:
        gr.Markdown(DESCRIPTION)
        image = gr.State(as_hwc(h.digits[0]))
        ood = gr.State(h.initial_ood())
        with gr.Row(equal_height=False):
            with gr.Column(scale=5, min_width=360) as panel:
                gr.Markdown("**Choose an MNIST test digit**, upload an image or draw one:")
                examples = gr.Gallery(thumbnails(h.digits, h.digit_captions), show_label=False, buttons=[],
                                      columns=10, height="auto", allow_preview=False, format="png",
                                      elem_id="examples", elem_classes="strip")
                with gr.Row():
                    upload = gr.UploadButton("Upload an image", file_types=["image"], size="sm")
                with gr.Accordion("Draw a digit", open=False):
                    sketch = DrawingPad(caption="Draw dark on white", label="drawing", elem_id="drawing")
                    use_sketch = gr.Button("Use drawing", size="sm")
                painter = PatchPainter(caption="Paint the patches to keep (the source S): press and drag over the "
                                              "grid; start on a kept patch to erase", label="source", elem_id="painter")
                summary = gr.Markdown("Loading the model…", elem_id="source-summary")
                ratio = gr.Slider(0.05, 0.95, value=0.3, step=0.05, label="r for random-r")
                with gr.Row():
                    quick = {name: gr.Button("random-r" if name == "random" else name, size="sm", min_width=60)
                             for name in S.QUICK_MASKS}
            with gr.Column(scale=6, min_width=360):
                with gr.Tabs():
                    with gr.Tab("Complete") as tab_complete:
                        with gr.Row():
                            n = gr.Slider(1, MAX_SAMPLES, value=8, step=1, label="samples", elem_id="samples")
                            seed = gr.Number(0, precision=0, minimum=0, maximum=S.MAX_UI_SEED, label="seed")
                        with gr.Row():
                            run = gr.Button("Complete", variant="primary", elem_id="complete-button")
                            reseed = gr.Button("New seeds")
                        gallery = gr.Gallery(label="completions (kept patches outlined)", columns=4, height="auto",
                                             format="png", object_fit="contain", elem_id="completions",
                                             elem_classes="tiles")
                    with gr.Tab("Source-ratio sweep") as tab_sweep:
                        gr.Markdown("Paper Fig. 3: rows are seeds, columns give the model a growing share r of "
                                    "the image; diversity shrinks as the source grows.")
                        with gr.Row():
                            sweep_mode = gr.Radio(["random", "raster-first"], value="random", label="source")
                            sweep_rows = gr.Slider(1, 8, value=4, step=1, label="rows (seeds)")
                            sweep_seed = gr.Number(0, precision=0, minimum=0, maximum=S.MAX_UI_SEED, label="seed")
                        sweep_run = gr.Button("Sweep", variant="primary")
                        sweep_out = gr.Image(label="source-ratio sweep", format="png", interactive=False,
                                             elem_classes="pixelated")
                    with gr.Tab("Out-of-domain") as tab_ood:
                        gr.Markdown("Paper Fig. 5: click patches of the second image to pick them, then (optional)"
                                    " click where they go in the digit; the k-th pick goes to the k-th place.")
                        with gr.Row():
                            with gr.Column():
                                gr.Markdown("**The digit** (click one):")
                                ood_digits = gr.Gallery(thumbnails(h.digits, h.digit_captions), columns=10,
                                                        height="auto", allow_preview=False, format="png",
                                                        show_label=False, buttons=[], elem_classes="strip")
                                ood_what = gr.Radio(list(OOD_DIGIT_CLICKS), value=OOD_DIGIT_CLICKS[0],
                                                    label="clicks on the digit choose")
                                ood_digit = gr.Image(label="digit", format="png", interactive=False,
                                                     elem_classes="pixelated")
                            with gr.Column():
                                gr.Markdown("**A second image** (Fashion-MNIST, or upload one):")
                                ood_fashion = gr.Gallery(thumbnails(h.fashion, h.fashion_captions), columns=10,
                                                         height="auto", allow_preview=False, format="png",
                                                         show_label=False, buttons=[], elem_classes="strip")
                                ood_upload = gr.UploadButton("Upload a second image", file_types=["image"],
                                                             size="sm")
                                ood_donor = gr.Image(label="second image: click patches to pick them",
                                                     format="png", interactive=False, elem_id="ood-donor",
                                                     elem_classes="pixelated")
                        with gr.Row():
                            presets = {name: gr.Button(label, size="sm") for name, label in (
                                ("relocate", "relocate centre to upper-left"), ("duplicate", "duplicate centre"),
                                ("mix", "mix two digits"))}
                            ood_reset = gr.Button("clear picks", size="sm")
                        with gr.Row():
                            ood_preview = gr.Image(label="source given to the model", format="png",
                                                   interactive=False, elem_classes="pixelated")
                            with gr.Column():
                                ood_n = gr.Slider(1, MAX_SAMPLES, value=8, step=1, label="samples")
                                ood_seed = gr.Number(0, precision=0, minimum=0, maximum=S.MAX_UI_SEED, label="seed")
                                ood_run = gr.Button("Complete", variant="primary")
                        ood_gallery = gr.Gallery(label="completions", columns=4, height="auto", format="png",
                                                 object_fit="contain", elem_id="ood-gallery", elem_classes="tiles")
                    with gr.Tab("Generate") as tab_gen:
                        gr.Markdown("Joint p(x) from nothing; pick a class for p(x | y); paint a region to generate "
                                    "it alone, the marginal p(x_T) (outlined; the rest stays grey).")
                        with gr.Row():
                            klass = gr.Dropdown(["any"], value="any", label="class", allow_custom_value=True)
                            gen_n = gr.Slider(1, MAX_SAMPLES, value=8, step=1, label="samples")
                            gen_seed = gr.Number(0, precision=0, minimum=0, maximum=S.MAX_UI_SEED, label="seed")
                        target_painter = PatchPainter(caption="Paint the region to generate (empty = the whole "
                                                             "image)", color="rgba(64, 200, 120, 0.5)",
                                                     label="target", elem_id="target-painter")
                        gen_run = gr.Button("Generate", variant="primary")
                        gen_gallery = gr.Gallery(label="samples", columns=4, height="auto", format="png",
                                                 object_fit="contain", elem_id="generated", elem_classes="tiles")
                    with gr.Tab("Classify") as tab_cls:
                        gr.Markdown("The model's own p(y | x_S) for the patches painted on the left (the whole "
                                    "image when nothing is painted), updated as you paint.")
                        probs = gr.Label(num_top_classes=10, label="p(y | x_S)")
                    with gr.Tab("Model info") as tab_info:
                        with gr.Accordion("Load another checkpoint (for every user of this app)", open=False):
                            with gr.Row():
                                ckpt_text = gr.Textbox(label="checkpoint path or Hugging Face Hub id (user/repo)",
                                                       scale=4)
                                ckpt_load = gr.Button("Load", scale=1)
                            ckpt_file = gr.File(label="or upload a .safetensors checkpoint",
                                                file_types=[".safetensors"], type="filepath", height=120)
                        card = gr.Markdown()

        # wiring: inputs and masks (UI only)
        ood_views = [ood, ood_digit, ood_donor, ood_preview]
        demo.load(h.start, [image, ood], [painter, probs, summary, target_painter, *ood_views, card, klass],
                  api_name=False)
        for tab, show_panel in ((tab_complete, True), (tab_sweep, True), (tab_ood, False), (tab_gen, False),
                                (tab_cls, True), (tab_info, False)):
            tab.select(functools.partial(visible, show_panel), None, panel, api_name=False, queue=False)
        # (a failed input shows its message without covering the user's painter: show_progress="hidden")
        examples.select(h.pick_example, None, [image, painter], api_name=False)
        upload.upload(h.upload_image, upload, [image, painter], api_name="upload_image", show_progress="hidden")
        use_sketch.click(h.use_drawing, sketch, [image, painter], api_name="use_drawing", show_progress="hidden")
        for name, button in quick.items():
            button.click(functools.partial(h.quick_mask, name), [image, painter, ratio], painter, api_name=False,
                         show_progress="hidden")
        painter.change(gpu(h.classify), [image, painter], [probs, summary], api_name="classify",
                      trigger_mode="always_last", show_progress="hidden", **model_event)

        # wiring: model calls
        run.click(gpu(h.complete), [image, painter, n, seed], gallery, api_name="complete", **model_event)
        reseed.click(h.new_seed, None, seed, api_name=False, queue=False).then(
            gpu(h.complete), [image, painter, n, seed], gallery, api_name=False, **model_event)
        sweep_run.click(gpu(h.sweep), [image, sweep_mode, sweep_rows, sweep_seed], sweep_out, api_name="sweep",
                        **model_event)
        gen_run.click(gpu(h.generate), [klass, target_painter, gen_n, gen_seed], gen_gallery, api_name="generate",
                      **model_event)

        # wiring: out-of-domain
        ood_digits.select(h.ood_choose_digit, ood, ood_views, api_name=False)
        ood_fashion.select(h.ood_choose_donor, ood, ood_views, api_name=False)
        ood_upload.upload(h.ood_upload_donor, [ood, ood_upload], ood_views, api_name="ood_upload",
                          show_progress="hidden")
        ood_donor.select(h.ood_click_donor, ood, ood_views, api_name=False)
        ood_digit.select(h.ood_click_digit, [ood, ood_what], ood_views, api_name=False)
        for name, button in presets.items():
            button.click(functools.partial(h.ood_preset, name), ood, ood_views, api_name=f"ood_{name}")
        ood_reset.click(h.ood_clear, ood, ood_views, api_name=False)
        ood_run.click(gpu(h.ood_complete), [ood, ood_n, ood_seed], ood_gallery, api_name="ood_complete",
                      **model_event)

        # wiring: checkpoints
        swapped = [card, klass, painter, target_painter, *ood_views]
        ckpt_load.click(h.load_checkpoint, [ckpt_text, image, ood], swapped, api_name="load_checkpoint",
                        **model_event)
        ckpt_file.upload(h.load_checkpoint, [ckpt_file, image, ood], swapped, api_name="upload_checkpoint",
                         **model_event)
    demo.queue(default_concurrency_limit=8, max_size=64)
    return demo


def launch(demo: gr.Blocks, **kwargs: Any) -> tuple:
    """Launch with the app's CSS and upload limit, and without a run history (which would keep every user's
    images in their browser); used by `main` and the tests."""
    return demo.launch(css=CSS, max_file_size=MAX_FILE_SIZE, run_history=False, **kwargs)


demo = build_demo(checkpoint_provider(DEFAULT_CHECKPOINT))


def main(argv: list[str] | None = None) -> None:
    """Command line: serve the app."""
    parser = argparse.ArgumentParser(description="BigLearn-GAN Gradio app")
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT,
                        help="inference checkpoint: a .safetensors path or a Hugging Face Hub id "
                             "(default: env BIGLEARN_CHECKPOINT or assets/mnist-cpu.safetensors)")
    parser.add_argument("--port", type=int, default=None, help="port to serve on (default: Gradio's, 7860)")
    parser.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    args = parser.parse_args(argv)
    try:  # load now: a bad checkpoint stops here with its reason, and the first visitor does not wait
        model = biglearn.load(args.checkpoint)
    except ValueError as exc:  # CheckpointError included: one line, exit status 2
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    launch(build_demo(lambda: model, args.checkpoint), server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
