"""The app's handlers: each turns UI values into one call of the inference API and the result back into
pictures. Values the user typed are checked in `webapp.inputs`; errors become messages (`user_errors`)."""

from __future__ import annotations

import functools
import html
import logging
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import numpy as np
import torch
from PIL import Image

import biglearn
from biglearn.config import ModelConfig
from biglearn.figures import SWEEP_RATIOS, ratio_sweep
from biglearn.render import grid_image, upscale

from . import images, inputs, mask_files, model_slot, pictures, transplant
from .refusals import refused
from .restarts import Restarts
from .sessions import SessionModels, checked_source
from .settings import (
    ASSETS,
    BUNDLED,
    DIGITS,
    FASHION,
    MAX_SAMPLES,
    OOD_DEST,
    OOD_DIGIT_CLICKS,
    README,
    THUMB_SCALE,
)
from .widgets import Painting


@dataclass(frozen=True)
class OodState:
    """One session's out-of-domain tab: the digit that receives patches (and its index in the examples), the
    donor image that gives them, the donor patches picked, where they go in the digit, the digit's own kept
    patches (raster indices)."""

    digit: np.ndarray
    donor: np.ndarray
    digit_index: int = 0
    picks: list[int] = field(default_factory=list)
    dests: list[int] = field(default_factory=list)
    keep: list[int] = field(default_factory=list)


class OodViews(NamedTuple):
    """What every out-of-domain event returns: the new state and its three pictures."""

    ood: OodState
    ood_digit: np.ndarray
    ood_donor: np.ndarray
    ood_preview: np.ndarray


class Started(NamedTuple):
    """What the page load returns, one field per output component (the layout wires them by these names)."""

    painter: Any
    probs: Any
    summary: str
    target_painter: Any
    ood: OodState
    ood_digit: np.ndarray
    ood_donor: np.ndarray
    ood_preview: np.ndarray
    card: str
    klass: Any


class Swapped(NamedTuple):
    """What loading a checkpoint returns, one field per output component."""

    card: Any
    klass: Any
    painter: Any
    target_painter: Any
    ood: Any
    ood_digit: Any
    ood_donor: Any
    ood_preview: Any


LOG = logging.getLogger("biglearn.app")


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
        except ValueError as exc:  # the user's mistake: one line in the server log, no traceback
            raise refused(exc, fn.__name__) from exc

    return wrapper


def thumbnails(examples: np.ndarray, captions: list[str]) -> list[tuple[np.ndarray, str]]:
    """Example images (N, H, W[, C]) as crisp gallery thumbnails with captions."""
    return [(upscale(pictures.to_rgb(img), THUMB_SCALE), cap) for img, cap in zip(examples, captions, strict=True)]


def captioned(tiles: list[np.ndarray], seeds: list[int]) -> list[tuple[np.ndarray, str]]:
    """Gallery items: one tile per seed, captioned with its seed."""
    return [(tile, f"seed {s}") for tile, s in zip(tiles, seeds, strict=True)]


def raw_result(samples: torch.Tensor, seeds: list[int], **masks: np.ndarray) -> dict[str, Any]:
    """Samples (n, C, H, W) in [0, 1] as JSON: their shape, the seeds, the masks as 0/1 lists, the values."""
    return {"shape": list(samples.shape), "seeds": seeds,
            **{name: mask.reshape(-1).astype(int).tolist() for name, mask in masks.items()},
            "samples": samples.detach().cpu().float().tolist()}


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

    def __init__(self, slot: model_slot.ModelSlot, allow_paths: tuple[Path, ...] = ()) -> None:
        self.slot = slot  # the default model of every session
        self.sessions = SessionModels(slot)
        self.restarts = Restarts()  # this run's id, for pages loaded before a restart
        self.allowed = (ASSETS, *allow_paths)  # the only folders a typed-in local path may point into
        self.digits, self.digit_captions = images.load_examples(DIGITS)
        self.fashion, self.fashion_captions = images.load_examples(FASHION)

    def model_of(self, request: gr.Request | None) -> biglearn.BigLearnModel:
        """The model of the request's browser session (the default one without a session: tests, scripts). A page
        loaded before a server restart is told, once, that it is back on the default model and image."""
        session = getattr(request, "session_hash", None)
        headers = getattr(request, "headers", None)
        message = self.restarts.notice(session, headers.get("cookie") if headers is not None else None)
        if message:
            gr.Warning(message)
        return self.sessions.get(session)[0]

    @property
    def model(self) -> biglearn.BigLearnModel:
        """The default model."""
        return self.slot.get()

    # session start and inputs ------------------------------------------------------------------

    def initial_ood(self) -> OodState:
        """A fresh out-of-domain state: the first digit, the first Fashion-MNIST item, nothing picked."""
        return OodState(as_hwc(self.digits[0]), as_hwc(self.fashion[0]))

    @user_errors
    def start(self, image: np.ndarray, ood: OodState, request: gr.Request = None) -> Started:
        """Page load: the painters drawn for this model's patch grid, p(y | x) of the image, the out-of-domain
        pictures, the model card and the class picker."""
        self.sessions.forget(getattr(request, "session_hash", None))  # a new page starts on the default model
        self.restarts.seen(getattr(request, "session_hash", None))
        m = self.model_of(request)
        probs, _ = self.classify(image, None, request)
        return Started(self.show(image, m.config), probs, "Paint the patches to keep.", self.canvas(m.config),
                       *self.ood_views(ood, m.config), self.card(request), self.class_choices(m.config))

    @staticmethod
    def show(image: np.ndarray, c: ModelConfig, mask: np.ndarray | None = None) -> Painting:
        """The source painter for an image (and optionally a painted mask), for a model of config `c`."""
        return Painting(images.conform(image, c), np.zeros(c.grid, dtype=bool) if mask is None else mask)

    @staticmethod
    def canvas(c: ModelConfig) -> Painting:
        """The empty target painter of marginal generation."""
        return Painting(pictures.blank_image(c), np.zeros(c.grid, dtype=bool))

    def pick_example(self, evt: gr.SelectData, request: gr.Request = None) -> tuple[np.ndarray, Painting]:
        """A click on the examples strip: that MNIST digit becomes the image."""
        c = self.model_of(request).config
        image = images.conform(as_hwc(self.digits[evt.index]), c)
        return image, self.show(image, c)

    @user_errors
    def upload_image(self, path: str | None, request: gr.Request = None) -> tuple[np.ndarray, Painting]:
        """An uploaded file of any format, size or colour mode becomes the image (converted to the model's)."""
        if not path:
            raise ValueError("no file was uploaded")
        c = self.model_of(request).config
        image = images.load_image(path, c)
        return image, self.show(image, c)

    @user_errors
    def use_drawing(self, drawing: Image.Image | None, request: gr.Request = None) -> tuple[np.ndarray, Painting]:
        """The drawing on the pad becomes the image (framed and inverted like an MNIST digit)."""
        if drawing is None or np.ptp(np.asarray(drawing.convert("L"))) == 0:
            raise ValueError("draw something on the pad first (dark strokes on the white canvas)")
        c = self.model_of(request).config
        image = images.prepare_image(drawing, c)
        return image, self.show(image, c)

    @user_errors
    def quick_mask(self, name: str, image: np.ndarray, painted: np.ndarray | None, ratio: float,
                   request: gr.Request = None) -> Painting:
        """A quick-mask button: random-r, top half, left half, centre, invert or clear."""
        c = self.model_of(request).config
        current = checked_mask(painted, c.grid) if name == "invert" else None
        mask = inputs.quick_mask(name, c.grid, current=current, ratio=float(ratio), seed=random.randrange(2**31))
        return self.show(image, c, mask)

    @user_errors
    def download_mask(self, painted: np.ndarray | None, request: gr.Request = None) -> list[str]:
        """The painted source as mask.png (white = kept) and mask.json (the API's format), to save."""
        c = self.model_of(request).config
        mask = checked_mask(painted, c.grid)
        return [str(p) for p in mask_files.write_mask_files(mask, Path(tempfile.mkdtemp(prefix="biglearn-mask-")))]

    @user_errors
    def upload_mask(self, path: str | None, image: np.ndarray, request: gr.Request = None) -> Painting:
        """A mask file (PNG, white = kept, or the API's JSON) becomes the painted source."""
        if not path:
            raise ValueError("no file was uploaded")
        c = self.model_of(request).config
        return self.show(image, c, mask_files.read_mask_file(path, c.grid))

    @staticmethod
    def new_seed() -> int:
        """A fresh random seed."""
        return random.randrange(inputs.MAX_UI_SEED - MAX_SAMPLES)

    # model calls ---------------------------------------------------------------------------------

    def _completions(self, image: np.ndarray, painted: np.ndarray | None, n: float, seed: float,
                     request: gr.Request | None) -> tuple[torch.Tensor, list[int], np.ndarray, ModelConfig]:
        """One `complete` call of the session's model: (samples (n, C, H, W), seeds, source, config)."""
        m = self.model_of(request)
        c = m.config
        seeds = inputs.check_seeds(seed, n)
        source = checked_mask(painted, c.grid)
        if source.all():
            raise ValueError("every patch is painted as kept, so there is nothing left to generate: erase some "
                             "patches (or press invert or clear)")
        return m.complete(images.conform(image, c)[None], source[None], seeds=seeds)[0], seeds, source, c

    def _generated(self, klass: str, target: np.ndarray | None, n: float, seed: float,
                   request: gr.Request | None) -> tuple[torch.Tensor, list[int], np.ndarray, ModelConfig]:
        """One `generate` call of the session's model: (samples, seeds, target region, config)."""
        m = self.model_of(request)
        c = m.config
        seeds = inputs.check_seeds(seed, n)
        target = checked_mask(target, c.grid)
        label = inputs.parse_class(klass, c.num_classes)
        labels = None if label is None else torch.full((len(seeds),), label)
        out = m.generate(len(seeds), seeds=seeds, labels=labels,
                         target=np.repeat(target.reshape(1, -1), len(seeds), 0) if target.any() else None)
        return out, seeds, target, c

    @user_errors
    def complete(self, image: np.ndarray, painted: np.ndarray | None, n: float,
                 seed: float, request: gr.Request = None) -> list[tuple[np.ndarray, str]]:
        """p(x_T | x_S): n completions of the image from its painted patches, sources outlined."""
        samples, seeds, source, c = self._completions(image, painted, n, seed, request)
        if not source.any():
            gr.Info("Nothing is painted, so this is joint generation p(x): a new image per seed. "
                    "Paint patches to keep them.")
        return captioned(pictures.render_tiles(samples, c, source), seeds)

    @user_errors
    def complete_raw(self, image: np.ndarray, painted: np.ndarray | None, n: float, seed: float,
                     request: gr.Request = None) -> dict[str, Any]:
        """The API's raw completions: the samples at model resolution, exactly as the library returns them
        (values in [0, 1], shape (n, C, H, W) as nested lists), with their seeds and the source mask."""
        samples, seeds, source, _ = self._completions(image, painted, n, seed, request)
        return raw_result(samples, seeds, source=source)

    @user_errors
    def generate_raw(self, klass: str, target: np.ndarray | None, n: float, seed: float,
                     request: gr.Request = None) -> dict[str, Any]:
        """The API's raw generation (joint, by class, or the painted region), like `complete_raw`."""
        out, seeds, target, _ = self._generated(klass, target, n, seed, request)
        return raw_result(out, seeds, target=target)

    @user_errors
    def sweep(self, image: np.ndarray, mode: str, rows: float, seed: float, request: gr.Request = None) -> np.ndarray:
        """Paper Fig. 3: rows = seeds, columns = source ratio 0 ... 0.9 and the real image."""
        m = self.model_of(request)
        c = m.config
        seeds = inputs.check_seeds(seed, rows)
        x = torch.from_numpy(images.conform(image, c)).permute(2, 0, 1)[None].float() / 255.0
        grid, outlines = ratio_sweep(m, x, seeds=seeds, mode="first" if mode == "raster-first" else "random")
        f = pictures.scale_for(c, 112)
        picture = grid_image(grid, factor=f, pad=4, outlines=outlines, patch_size=c.patch_size)
        labels = [f"{r:g}" for r in SWEEP_RATIOS] + ["real"]  # short: readable on a phone
        return pictures.add_column_labels(picture, labels, c.width * f, 4)

    @user_errors
    def classify(self, image: np.ndarray, painted: np.ndarray | None,
                 request: gr.Request = None) -> tuple[dict[str, float] | str, str]:
        """As the user paints: the model's own p(y | x_S) for the painted source (the whole image when
        nothing is painted) and a summary of the source."""
        m = self.model_of(request)
        c = m.config
        source = checked_mask(painted, c.grid)
        summary = inputs.source_summary(source)
        if not c.num_classes:
            return "This checkpoint was trained without labels: it has no classifier.", summary
        probs = m.classify(images.conform(image, c)[None], (source if source.any() else ~source)[None])[0]
        return {str(k): float(p) for k, p in enumerate(probs)}, summary

    @user_errors
    def generate(self, klass: str, target: np.ndarray | None, n: float, seed: float,
                 request: gr.Request = None) -> list[tuple[np.ndarray, str]]:
        """Joint p(x), class-conditional p(x | y) or marginal p(x_T) (the painted region) generation."""
        out, seeds, target, c = self._generated(klass, target, n, seed, request)
        return captioned(pictures.render_tiles(out, c, target, pictures.TARGET_OUTLINE), seeds)

    # out-of-domain -------------------------------------------------------------------------------

    @staticmethod
    def ood_compose(ood: OodState, c: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
        """The digit with the picked donor patches pasted in, and its source mask, for a model of config `c`."""
        picks, dests, keep = (below(k, c.num_patches) for k in (ood.picks, ood.dests, ood.keep))
        digit, donor = images.conform(ood.digit, c), images.conform(ood.donor, c)
        return transplant.transplant(digit, donor, c.patch_size, picks, dests, keep)

    def ood_views(self, ood: OodState, c: ModelConfig) -> OodViews:
        """(state, digit picture with destinations and kept patches, donor picture with numbered picks,
        the composed source as the model will see it), for a model of config `c`."""
        digit = pictures.mark_patches(pictures.grid_picture(images.conform(ood.digit, c), c), ood.dests, c.grid,
                                color=pictures.DEST_COLOR)
        digit = pictures.mark_patches(digit, ood.keep, c.grid, color=pictures.KEEP_COLOR, numbered=False)
        donor = pictures.mark_patches(pictures.grid_picture(images.conform(ood.donor, c), c), ood.picks, c.grid)
        composite, source = self.ood_compose(ood, c)
        preview = pictures.outline_region(pictures.grid_picture(pictures.source_view(composite, source, c), c), source,
                                   pictures.SOURCE_OUTLINE, 3)
        return OodViews(ood, digit, donor, preview)

    @user_errors
    def ood_take_image(self, image: np.ndarray, ood: OodState, request: gr.Request = None) -> OodViews:
        """Opening the tab: the digit that receives the patches is the image chosen on the left (upload, drawing
        or example); the picks are kept."""
        c = self.model_of(request).config
        return self.ood_views(replace(ood, digit=images.conform(image, c)), c)

    @user_errors
    def ood_choose_digit(self, ood: OodState, evt: gr.SelectData, request: gr.Request = None) -> OodViews:
        """A click on the digit strip: that digit receives the patches."""
        return self.ood_views(replace(ood, digit=as_hwc(self.digits[evt.index]), digit_index=evt.index),
                              self.model_of(request).config)

    @user_errors
    def ood_choose_donor(self, ood: OodState, evt: gr.SelectData, request: gr.Request = None) -> OodViews:
        """A click on the Fashion-MNIST strip: that item gives the patches (picks are kept)."""
        return self.ood_views(replace(ood, donor=as_hwc(self.fashion[evt.index])), self.model_of(request).config)

    @user_errors
    def ood_upload_donor(self, ood: OodState, path: str | None, request: gr.Request = None) -> OodViews:
        """An uploaded image gives the patches."""
        if not path:
            raise ValueError("no file was uploaded")
        c = self.model_of(request).config
        return self.ood_views(replace(ood, donor=images.load_image(path, c)), c)

    @user_errors
    def ood_click_donor(self, ood: OodState, evt: gr.SelectData, request: gr.Request = None) -> OodViews:
        """A click on the donor's grid picks (or unpicks) that patch."""
        c = self.model_of(request).config
        side = pictures.scale_for(c, pictures.EDITOR_PX)
        idx = inputs.cell_at(evt.index, (c.height * side, c.width * side), c.grid)
        return self.ood_views(replace(ood, picks=inputs.toggle(ood.picks, idx)), c)

    @user_errors
    def ood_click_digit(self, ood: OodState, what: str, evt: gr.SelectData, request: gr.Request = None) -> OodViews:
        """A click on the digit's grid toggles a destination or a kept patch, as chosen."""
        c = self.model_of(request).config
        side = pictures.scale_for(c, pictures.EDITOR_PX)
        idx = inputs.cell_at(evt.index, (c.height * side, c.width * side), c.grid)
        if what not in OOD_DIGIT_CLICKS:
            raise ValueError(f"a click on the digit chooses one of: {', '.join(OOD_DIGIT_CLICKS)}")
        key = "dests" if what == OOD_DEST else "keep"
        return self.ood_views(replace(ood, **{key: inputs.toggle(getattr(ood, key), idx)}), c)

    @user_errors
    def ood_preset(self, name: str, ood: OodState, request: gr.Request = None) -> OodViews:
        """Paper Fig. 5 presets: relocate or duplicate the centre patches, or mix with the next digit."""
        c = self.model_of(request).config
        picks, dests, keep = transplant.preset(name, c.grid)
        if name == "mix":
            donor = as_hwc(self.digits[(ood.digit_index + 1) % len(self.digits)])
        else:
            donor = ood.digit
        return self.ood_views(replace(ood, donor=donor, picks=picks, dests=dests, keep=keep), c)

    @user_errors
    def ood_clear(self, ood: OodState, request: gr.Request = None) -> OodViews:
        """Forget the picks, destinations and kept patches."""
        return self.ood_views(replace(ood, picks=[], dests=[], keep=[]), self.model_of(request).config)

    @user_errors
    def ood_complete(self, ood: OodState, n: float, seed: float,
                     request: gr.Request = None) -> list[tuple[np.ndarray, str]]:
        """Complete the composed, partly out-of-domain source (paper Fig. 5)."""
        m = self.model_of(request)
        c = m.config
        seeds = inputs.check_seeds(seed, n)
        composite, source = self.ood_compose(ood, c)
        if source.all():
            raise ValueError("the source covers every patch: nothing is left to generate")
        if not source.any():
            gr.Info("Nothing is picked or kept, so this is joint generation p(x). Click patches of the second "
                    "image, or use a preset.")
        samples = m.complete(composite[None], source[None], seeds=seeds)[0]
        return captioned(pictures.render_tiles(samples, c, source), seeds)

    # the checkpoint ------------------------------------------------------------------------------

    def card(self, request: gr.Request = None) -> str:
        """The model card of the session's checkpoint."""
        model, name = self.sessions.get(getattr(request, "session_hash", None))
        bundled = Path(name).resolve() == BUNDLED.resolve()  # README.md describes that file only
        readme = README.read_text(encoding="utf-8") if bundled and README.is_file() else None
        return model_slot.model_card(model, name, readme)

    @staticmethod
    def class_choices(c: ModelConfig) -> dict[str, Any]:
        """The class picker for a model of config `c` ("any" only when it has no labels)."""
        return gr.update(choices=["any"] + [str(i) for i in range(c.num_classes)], value="any")

    def forget_session(self, request: gr.Request = None) -> None:
        """The page was closed: its session's choice of checkpoint is dropped."""
        self.sessions.forget(getattr(request, "session_hash", None))

    def load_checkpoint(self, path_or_hub_id: str | None, image: np.ndarray, ood: OodState,
                        request: gr.Request = None) -> Swapped:
        """Load a checkpoint named by a Hub id, or a path under the allowed folders, for this session only."""
        text = (path_or_hub_id or "").strip()
        return self._load(lambda: checked_source(text, self.allowed), text, image, ood, request)

    def upload_checkpoint(self, path: str | None, image: np.ndarray, ood: OodState,
                          request: gr.Request = None) -> Swapped:
        """Load an uploaded checkpoint file for this session only (named by its file name, not its server path)."""
        name = f"uploaded {Path(path).name}" if path else ""
        return self._load(lambda: path or "", name, image, ood, request)

    def _load(self, source: Callable[[], str], name: str, image: np.ndarray, ood: OodState,
              request: gr.Request | None) -> Swapped:
        """Redraw this user's pictures for the new checkpoint; a failed load raises gr.Error (the page keeps its
        pictures and the session its model)."""
        session = getattr(request, "session_hash", None)
        current, where = self.sessions.default.name, ""
        try:
            _, current = self.sessions.get(session)
            if not name:
                raise ValueError("give a checkpoint path or a Hugging Face Hub id, or upload a .safetensors file")
            where = source()
            model, name = self.sessions.load(session, where, name)
        except Exception as exc:  # any failure to load leaves this session on its model, and is an error (API too)
            # the visitor reads the names it knows: what it typed or uploaded, never a path on this server
            reason = str(exc).replace(where, name) if where else str(exc)
            kept = html.escape(model_slot.public_name(current), quote=False)
            raise refused(reason, "load_checkpoint", f"Could not load that checkpoint, keeping {kept}: ") from None
        gr.Info(f"Loaded {html.escape(name, quote=False)} for this browser session (other visitors keep their model).")
        c = model.config
        return Swapped(self.card(request), self.class_choices(c), self.show(image, c), self.canvas(c),
                       *self.ood_views(ood, c))
