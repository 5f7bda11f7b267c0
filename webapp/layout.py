"""The app's page: the components of every tab and how their events are wired to the handlers."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

import biglearn

from . import cache_files, inputs, model_slot, principle, queue_guard, restarts, session_memory, staleness
from .handlers import Handlers, OodViews, Started, Swapped, as_hwc, thumbnails, visible
from .limits import BodyLimit
from .settings import (
    CSS,
    DEFAULT_CHECKPOINT,
    DELETE_CACHE,
    DESCRIPTION,
    MAX_FILE_SIZE,
    MAX_SAMPLES,
    MODEL_CONCURRENCY,
    OOD_DIGIT_CLICKS,
    PAGE_JS,
    UPKEEP,
)
from .widgets import DrawingPad, PatchPainter, WholeNumber, WholeSlider
from .zerogpu import gpu


def result_tiles(label: str, elem_id: str) -> gr.Gallery:
    """A gallery of result tiles (completions, samples): four to a row, whole, as PNG."""
    return gr.Gallery(label=label, columns=4, height="auto", format="png", object_fit="contain", elem_id=elem_id,
                      elem_classes="tiles")


def example_strip(value: list) -> gr.Gallery:
    """A one-row strip of example thumbnails to pick from (no preview, no buttons, no label)."""
    return gr.Gallery(value, columns=10, height="auto", allow_preview=False, format="png", show_label=False,
                      buttons=[], elem_classes="strip")


def seed_box() -> gr.Number:
    """The first seed of a call: a whole number from 0 to the largest the page takes, starting at 0."""
    return WholeNumber(0, precision=None, minimum=0, maximum=inputs.MAX_UI_SEED, label="seed")


def build_demo(
    model_provider: Callable[[], biglearn.BigLearnModel],
    name: str = DEFAULT_CHECKPOINT,
    delete_cache: tuple[int, int] = DELETE_CACHE,
    allow_paths: tuple[Path, ...] = (),
) -> gr.Blocks:
    """The app around a lazily provided default model (tests pass a tiny one; nothing is loaded here). Every
    `delete_cache[0]` seconds the files it served (tiles, uploads) older than `delete_cache[1]` are deleted.
    A visitor may load other checkpoints for their own session: uploads, Hub ids, and local files only inside
    `allow_paths` (and assets/)."""
    h = Handlers(model_slot.ModelSlot(model_provider, name), allow_paths)
    model_event = {"concurrency_id": "model", "concurrency_limit": MODEL_CONCURRENCY}
    # loading runs beside the model calls, never in front of them: another visitor's Complete does not wait
    load_event = {"concurrency_id": "load", "concurrency_limit": 1}
    # an upload never waits behind a typed Hub id's download (its own queue of one)
    upload_event = {"concurrency_id": "upload", "concurrency_limit": 1}
    streams = session_memory.Streams()  # filled by launch's middleware: open pages, result streams
    with gr.Blocks(title="BigLearn-GAN", delete_cache=delete_cache) as demo:
        gr.Markdown(DESCRIPTION)
        image = gr.State(as_hwc(h.digits[0]))
        ood = gr.State(h.initial_ood())
        with gr.Tabs():
            with gr.Tab("Images", elem_id="images-tab"):
                with gr.Row(equal_height=False, elem_id="image-row"):
                    with gr.Column(scale=5, min_width=360, elem_id="input-panel") as panel:
                        gr.Markdown("**Choose an MNIST test digit**, upload an image or draw one:")
                        examples = gr.Gallery(
                            thumbnails(h.digits, h.digit_captions),
                            show_label=False,
                            buttons=[],
                            columns=10,
                            height="auto",
                            allow_preview=False,
                            selected_index=0,  # the image the page starts with
                            format="png",
                            elem_id="examples",
                            elem_classes="strip",
                        )
                        with gr.Row():
                            upload = gr.UploadButton("Upload an image", file_types=["image"], size="sm")
                        with gr.Accordion("Draw a digit", open=False):
                            sketch = DrawingPad(caption="Draw dark on white", label="drawing", elem_id="drawing")
                            use_sketch = gr.Button("Use drawing", size="sm")
                        painter = PatchPainter(
                            caption="Paint the patches to keep (the source S): press and drag over the "
                            "grid; start on a kept patch to erase",
                            label="source",
                            elem_id="painter",
                        )
                        summary = gr.Markdown("Loading the model…", elem_id="source-summary")
                        ratio = gr.Slider(0.05, 0.95, value=0.3, step=0.05, label="r for random-r")
                        with gr.Row():
                            quick = {
                                name: gr.Button("random-r" if name == "random" else name, size="sm", min_width=60)
                                for name in inputs.QUICK_MASKS
                            }
                        with gr.Accordion("Save or load this mask (white = kept)", open=False):
                            with gr.Row():
                                mask_save = gr.Button("Download the mask", size="sm")
                                mask_load = gr.UploadButton(
                                    "Upload a mask (PNG or JSON)", file_types=[".png", ".json"], size="sm"
                                )
                            mask_files = gr.File(
                                label="mask.png and mask.json",
                                file_count="multiple",
                                interactive=False,
                                elem_id="mask-files",
                            )
                    with gr.Column(scale=6, min_width=360, elem_id="model-column"):
                        with gr.Tabs(elem_id="model-tabs"):
                            with gr.Tab("Complete") as tab_complete:
                                with gr.Row():
                                    n = WholeSlider(1, MAX_SAMPLES, value=8, step=1, label="samples", elem_id="samples")
                                    seed = seed_box()
                                with gr.Row():
                                    run = gr.Button("Complete", variant="primary", elem_id="complete-button")
                                    reseed = gr.Button("New seeds")
                                gallery = result_tiles(staleness.COMPLETIONS, "completions")
                            with gr.Tab("Sweep") as tab_sweep:
                                gr.Markdown(
                                    "Paper Fig. 3: rows are seeds; the columns give the model a growing share r "
                                    "of the image (the number above each), the last is the real image; "
                                    "diversity shrinks as the source grows."
                                )
                                with gr.Row():
                                    sweep_mode = gr.Radio(["random", "raster-first"], value="random", label="source")
                                    sweep_rows = WholeSlider(1, 8, value=4, step=1, label="rows (seeds)")
                                    sweep_seed = seed_box()
                                sweep_run = gr.Button("Sweep", variant="primary")
                                sweep_out = gr.Image(
                                    label=staleness.SWEEP,
                                    format="png",
                                    elem_id="sweep-out",
                                    interactive=False,
                                    elem_classes="pixelated",
                                )
                            with gr.Tab("Out-of-domain") as tab_ood:
                                gr.Markdown(
                                    "Paper Fig. 5, in three steps: **1.** click the digit's patches that stay, **2.** "
                                    "click patches of the second image to pick them, **3.** (optional) click where "
                                    "they go in the digit (the k-th pick goes to the k-th place; by default, to "
                                    "where they were)."
                                )
                                with gr.Row():
                                    with gr.Column():
                                        gr.Markdown("**The digit** (click one):")
                                        ood_digits = example_strip(thumbnails(h.digits, h.digit_captions))
                                        ood_what = gr.Radio(
                                            list(OOD_DIGIT_CLICKS),
                                            value=OOD_DIGIT_CLICKS[0],
                                            label="clicks on the digit choose",
                                        )
                                        ood_digit = gr.Image(
                                            label="digit", format="png", interactive=False, elem_classes="pixelated"
                                        )
                                    with gr.Column():
                                        gr.Markdown("**A second image** (Fashion-MNIST, or upload one):")
                                        ood_fashion = example_strip(thumbnails(h.fashion, h.fashion_captions))
                                        ood_upload = gr.UploadButton(
                                            "Upload a second image", file_types=["image"], size="sm"
                                        )
                                        ood_donor = gr.Image(
                                            label="second image: click patches to pick them",
                                            format="png",
                                            interactive=False,
                                            elem_id="ood-donor",
                                            elem_classes="pixelated",
                                        )
                                with gr.Row():
                                    presets = {
                                        name: gr.Button(label, size="sm")
                                        for name, label in (
                                            ("relocate", "relocate centre to upper-left"),
                                            ("duplicate", "duplicate centre"),
                                            ("mix", "mix two digits"),
                                        )
                                    }
                                    ood_reset = gr.Button("clear picks", size="sm")
                                with gr.Row():
                                    ood_preview = gr.Image(
                                        label="source given to the model",
                                        format="png",
                                        interactive=False,
                                        elem_classes="pixelated",
                                    )
                                    with gr.Column():
                                        ood_n = WholeSlider(1, MAX_SAMPLES, value=8, step=1, label="samples")
                                        ood_seed = seed_box()
                                        ood_run = gr.Button("Complete", variant="primary")
                                ood_gallery = result_tiles("completions", "ood-gallery")
                            with gr.Tab("Generate") as tab_gen:
                                gr.Markdown(
                                    "Joint p(x) from nothing; pick a class for p(x | y); paint a region to generate "
                                    "it alone, the marginal p(x_T) (outlined; the rest stays grey)."
                                )
                                with gr.Row():
                                    klass = gr.Dropdown(["any"], value="any", label="class", allow_custom_value=True)
                                    gen_n = WholeSlider(
                                        1, MAX_SAMPLES, value=8, step=1, label="samples", elem_id="gen-samples"
                                    )
                                    gen_seed = seed_box()
                                target_painter = PatchPainter(
                                    caption="Paint the region to generate (empty = the whole image)",
                                    color="rgba(64, 200, 120, 0.5)",
                                    label="target",
                                    elem_id="target-painter",
                                )
                                gen_run = gr.Button("Generate", variant="primary")
                                gen_gallery = result_tiles("samples", "generated")
                            with gr.Tab("Classify") as tab_cls:
                                gr.Markdown(
                                    "The model's own p(y | x_S) for the patches painted on the left (the whole "
                                    "image when nothing is painted), updated as you paint."
                                )
                                probs = gr.Label(num_top_classes=10, label="p(y | x_S)")
                            with gr.Tab("Model") as tab_info:
                                with gr.Accordion(
                                    "Load another checkpoint (for this browser session only)", open=False
                                ):
                                    with gr.Row():
                                        ckpt_text = gr.Textbox(
                                            label="Hugging Face Hub id (user/repo), or a path inside the "
                                            "app's allowed folders",
                                            scale=4,
                                        )
                                        ckpt_load = gr.Button("Load", scale=1)
                                    ckpt_file = gr.File(
                                        label="or upload a .safetensors checkpoint",
                                        file_types=[".safetensors"],
                                        type="filepath",
                                        height=120,
                                    )
                                card = gr.Markdown()

            with gr.Tab("2-D principle", elem_id="principle-tab"):
                principle.build_tab(streams.listeners)

        # wiring: inputs and masks (UI only)
        ui = {
            "painter": painter,
            "probs": probs,
            "summary": summary,
            "target_painter": target_painter,
            "ood": ood,
            "ood_digit": ood_digit,
            "ood_donor": ood_donor,
            "ood_preview": ood_preview,
            "card": card,
            "klass": klass,
        }

        def outputs(result: type) -> list:
            """The components a handler's NamedTuple result fills, in its field order."""
            return [ui[name] for name in result._fields]

        ood_views = outputs(OodViews)
        demo.load(h.start, [image, ood], outputs(Started), api_name=False)
        for tab, show_panel in (
            (tab_complete, True),
            (tab_sweep, True),
            (tab_ood, False),
            (tab_gen, False),
            (tab_cls, True),
            (tab_info, False),
        ):
            tab.select(functools.partial(visible, show_panel), None, panel, api_name=False, queue=False)
        tab_ood.select(h.ood_take_image, [image, ood], ood_views, api_name=False)
        mask_save.click(h.download_mask, painter, mask_files, api_name="download_mask")
        mask_load.upload(h.upload_mask, [mask_load, image], painter, api_name="upload_mask", show_progress="hidden")
        # (a failed input shows its message without covering the user's painter: show_progress="hidden")
        # results made for the previous image stay, dimmed and relabelled, until they are made again
        examples.select(h.pick_example, None, [image, painter], api_name=False).success(
            staleness.image_changed, None, [gallery, sweep_out], api_name=False, queue=False, show_progress="hidden")
        upload.upload(h.upload_image, upload, [image, painter], api_name="upload_image", show_progress="hidden"
                      ).success(staleness.image_replaced, None, [gallery, sweep_out, examples], api_name=False,
                                queue=False, show_progress="hidden")
        use_sketch.click(h.use_drawing, sketch, [image, painter], api_name="use_drawing", show_progress="hidden"
                         ).success(staleness.image_replaced, None, [gallery, sweep_out, examples], api_name=False,
                                   queue=False, show_progress="hidden")
        for name, button in quick.items():
            button.click(
                functools.partial(h.quick_mask, name),
                [image, painter, ratio],
                painter,
                api_name=False,
                show_progress="hidden",
            )
        painter.change(
            gpu(h.classify, "classify"),
            [image, painter],
            [probs, summary],
            api_name="classify",
            trigger_mode="always_last",
            show_progress="hidden",
            **model_event,
        )

        # wiring: model calls
        # (UI-only updates chained after a call show no progress: their overlay would cover the fresh results)
        fresh = {"api_name": False, "queue": False, "show_progress": "hidden"}
        run.click(gpu(h.complete, "complete"), [image, painter, n, seed], gallery, api_name="complete",
                  **model_event).success(staleness.completions, None, gallery, **fresh)
        reseed.click(h.new_seed, None, seed, api_name=False, queue=False).then(
            gpu(h.complete, "complete"), [image, painter, n, seed], gallery, api_name=False, **model_event
        ).success(staleness.completions, None, gallery, **fresh)
        sweep_run.click(
            gpu(h.sweep, "sweep"), [image, sweep_mode, sweep_rows, sweep_seed], sweep_out, api_name="sweep",
            **model_event
        ).success(staleness.sweep, None, sweep_out, **fresh)
        gen_run.click(
            gpu(h.generate, "generate"), [klass, target_painter, gen_n, gen_seed], gen_gallery,
            api_name="generate", **model_event
        )

        # API only: the samples themselves, at model resolution (README, "The app")
        raw = gr.JSON(visible=False)
        raw_complete, raw_generate = gr.Button(visible=False), gr.Button(visible=False)
        raw_complete.click(gpu(h.complete_raw, "complete_raw"), [image, painter, n, seed], raw,
                           api_name="complete_raw", **model_event)
        raw_generate.click(
            gpu(h.generate_raw, "generate_raw"), [klass, target_painter, gen_n, gen_seed], raw,
            api_name="generate_raw", **model_event
        )

        # wiring: out-of-domain
        ood_digits.select(h.ood_choose_digit, ood, ood_views, api_name=False)
        ood_fashion.select(h.ood_choose_donor, ood, ood_views, api_name=False)
        ood_upload.upload(
            h.ood_upload_donor, [ood, ood_upload], ood_views, api_name="ood_upload", show_progress="hidden"
        )
        ood_donor.select(h.ood_click_donor, ood, ood_views, api_name=False)
        ood_digit.select(h.ood_click_digit, [ood, ood_what], ood_views, api_name=False)
        for name, button in presets.items():
            button.click(gpu(functools.partial(h.ood_preset, name), "ood_preset"), ood, ood_views,
                         api_name=f"ood_{name}", **model_event)
        ood_reset.click(h.ood_clear, ood, ood_views, api_name=False)
        ood_run.click(gpu(h.ood_complete, "ood_complete"), [ood, ood_n, ood_seed], ood_gallery,
                      api_name="ood_complete", **model_event)

        # wiring: checkpoints
        swapped = outputs(Swapped)
        # the Load button says a load is under way; the outputs show no progress, so that a refused load leaves
        # no "Error" badge on the model that is still in use (the message says what happened)
        busy = functools.partial(gr.Button, "Loading…", interactive=False)
        idle = functools.partial(gr.Button, "Load", interactive=True)
        for trigger, load, given, api_name, queue in (
            (ckpt_load.click, h.load_checkpoint, ckpt_text, "load_checkpoint", load_event),
            (ckpt_file.upload, h.upload_checkpoint, ckpt_file, "upload_checkpoint", upload_event),
        ):
            loading = trigger(busy, None, ckpt_load, api_name=False, queue=False, show_progress="hidden").then(
                load, [given, image, ood], swapped, api_name=api_name, show_progress="hidden", **queue)
            # (Gradio 6.31's page runs no .then after a failed event: .success and .failure both)
            loading.success(idle, None, ckpt_load, api_name=False, queue=False, show_progress="hidden")
            loading.failure(idle, None, ckpt_load, api_name=False, queue=False, show_progress="hidden")
        demo.unload(h.forget_session)
    demo.queue(default_concurrency_limit=8, max_size=64)
    demo.streams = streams
    demo.restarts = h.restarts  # its run id goes into each page's cookie (launch's RunCookie)
    # no visitor can fill the queues (per-queue, per-session and per-address bounds), and jobs nobody listens for
    # are dropped before they run
    queue_guard.install(demo, listeners=demo.streams.listeners)
    return demo


def upload_types(demo: gr.Blocks) -> set[str]:
    """What the page's file inputs take (their `file_types`, plus "image" for an editable image): the only
    uploads the server accepts."""
    types = {t for block in demo.blocks.values() if getattr(block, "interactive", None) is not False
             for t in getattr(block, "file_types", None) or ()}
    if any(isinstance(b, gr.Image) and b.interactive for b in demo.blocks.values()):
        types.add("image")
    return types


def launch(demo: gr.Blocks, **kwargs: Any) -> tuple:
    """Launch with the app's CSS, upload limit and request-body limits (webapp/limits.py: uploads only of what
    the page's inputs take), and without a run history (which would keep every user's images in their
    browser); used by `main` and the tests."""
    from starlette.middleware import Middleware

    # Gradio's cache bounded: a killed run's files removed now, empty folders and leftovers on a schedule
    every, age = demo.delete_cache or DELETE_CACHE
    cache_files.keep_bounded(cache_files.cache_root(), every, grace_s=UPKEEP.folder_grace_s,
                             page_of=weakref.ref(demo), age_s=age)
    # each visitor's state released soon after the visitor is gone (open pages are told by their heartbeat)
    session_memory.keep_bounded(demo, demo.streams.pages, every_s=UPKEEP.sweep_every_s,
                                api_idle_s=UPKEEP.session_idle_s, closed_grace_s=UPKEEP.closed_grace_s)
    principle.warm_in_background()

    # system fonts: the default theme's web fonts are fetched from the internet, and offline (or half loaded) the
    # title came out in two fonts
    theme = gr.themes.Default(font=["system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
                              font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])
    return demo.launch(
        css=CSS,
        js=PAGE_JS,
        max_file_size=MAX_FILE_SIZE,
        run_history=False,
        theme=theme,
        app_kwargs={"middleware": [Middleware(BodyLimit, upload_types=upload_types(demo)),
                                   Middleware(session_memory.StreamWatch, streams=demo.streams),
                                   Middleware(restarts.RunCookie, run_id=demo.restarts.run_id)]},
        state_session_capacity=session_memory.CAPACITY,
        **kwargs,
    )
