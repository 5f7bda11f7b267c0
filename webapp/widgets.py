"""The app's two drawing widgets, built on `gr.HTML` (a canvas and a little JavaScript, no frontend build),
and its strict whole-number inputs.

- `PatchPainter`: an image under its patch grid; press and drag to paint patches as kept (start on a
  kept patch to erase instead). Its value in Python is the bool (gh, gw) mask.
- `DrawingPad`: a white canvas to draw a digit on with the mouse or a finger. Its value in Python is the
  drawing as a decoded PIL image.

Both keep their pictures in the page and send one small JSON value when the pointer is lifted. Gradio's
own ImageEditor and Sketchpad, once painted, re-export and upload every layer after every event of the
page, which cost the app more than the model on each click (docs/performance.md, "The app").

Wire format of the painter: {"image": a PNG data URL (or null), "grid": [gh, gw], "mask": [0 | 1, ...]},
the mask in raster order; of the pad: a PNG data URL, or null when it is blank.

`WholeSlider` and `WholeNumber` (sample counts, seeds): Gradio's own round 1.5 to 2 and take `true` as 1, and a
string or null reaches them as an internal error; these refuse all of that with a message naming the input.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import numpy as np
from PIL import Image

from . import inputs
from .images import MAX_FILE_BYTES, decode_image
from .pictures import EDITOR_PX
from .refusals import refused

HERE = Path(__file__).resolve().parent  # widgets.js and .css live beside this file
MAX_GRID_SIDE = 256  # patches per side a painter value may claim (more is not a mask of any model here)


# --- wire format ---------------------------------------------------------------------------------

def png_data_url(image: np.ndarray) -> str:
    """A uint8 (H, W[, 1 | 3 | 4]) image as a `data:image/png;base64,...` URL."""
    a = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def decode_data_url(url: Any) -> Image.Image:
    """An image sent as a base64 data URL, decoded with the limits of `app_support.decode_image`
    (ValueError for anything else)."""
    if not isinstance(url, str) or not url.startswith("data:image/") or ";base64," not in url:
        raise ValueError("expected the drawing as a data:image/...;base64 URL")
    if len(url) > MAX_FILE_BYTES * 4 // 3 + 100:  # base64 grows by 4/3: refuse before decoding
        raise ValueError(f"the drawing is over the limit of {MAX_FILE_BYTES / 2**20:.0f} MiB")
    try:
        data = base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the drawing's data URL is not valid base64") from exc
    return decode_image(data)


class Painting(NamedTuple):
    """What a `PatchPainter` shows: a uint8 (H, W, C) image and its bool (gh, gw) mask of painted patches."""

    image: np.ndarray
    mask: np.ndarray


def mask_value(mask: np.ndarray) -> dict[str, Any]:
    """A bool (gh, gw) mask in the painter's wire format, without an image (what an API client sends)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"expected a (gh, gw) mask, got shape {mask.shape}")
    return {"grid": list(mask.shape), "mask": mask.reshape(-1).astype(int).tolist()}


def painter_value(painting: Painting) -> dict[str, Any]:
    """A `Painting` in the painter's wire format."""
    return {"image": png_data_url(painting.image), **mask_value(painting.mask)}


def mask_from_value(value: Any) -> np.ndarray | None:
    """The bool (gh, gw) mask of a painter value ({"grid": [gh, gw], "mask": [0 | 1, ...]}; the image is
    not needed), None for no value; ValueError, saying what is wrong, for anything malformed."""
    if value is None:
        return None
    if not isinstance(value, dict) or "grid" not in value or "mask" not in value:
        raise ValueError('a painted mask is {"grid": [rows, columns], "mask": [0 or 1 per patch, row by row]}')
    grid, flat = value["grid"], value["mask"]
    if (not isinstance(grid, (list, tuple)) or len(grid) != 2
            or not all(isinstance(g, int) and not isinstance(g, bool) and 1 <= g <= MAX_GRID_SIDE for g in grid)):
        raise ValueError(f"the mask's grid must be two whole numbers from 1 to {MAX_GRID_SIDE}, got {grid!r}")
    if not isinstance(flat, (list, tuple)) or len(flat) != grid[0] * grid[1]:
        raise ValueError(f"a {grid[0]}x{grid[1]} grid needs a mask of {grid[0] * grid[1]} values, got "
                         f"{len(flat) if isinstance(flat, (list, tuple)) else type(flat).__name__}")
    if not all(v in (0, 1) for v in flat):  # True and False compare equal to 1 and 0
        raise ValueError("every value of the mask must be 0 (generate) or 1 (keep)")
    return np.array(flat, dtype=bool).reshape(grid[0], grid[1])


# --- the widgets ---------------------------------------------------------------------------------

def _frame(extra: str = "") -> str:
    """The widgets' HTML: a caption over a square canvas of `px` pixels, then `extra`."""
    return ("<div class='frame'><div class='caption'>{{caption}}</div>"
            f"<canvas width='${{px}}' height='${{px}}'></canvas>{extra}</div>")


_CANVAS_CSS = (HERE / "canvas.css").read_text()
def stroke_picker(default: int) -> str:
    """The drawing pad's clear button and stroke-width choice (thin, medium = `default` pixels, thick)."""
    options = "".join(f"<option value='{w}'>{name}</option>" for name, w in
                      (("thin", default // 2), ("medium", default), ("thick", default * 3 // 2)))
    return ("<div class='pad-tools'><button class='clear' type='button'>clear</button>"
            f"<label class='brush'>stroke <select class='stroke' aria-label='stroke width'>{options}</select></label>"
            "</div>")


# the patch painter's brush: 1x1, 2x2 or 3x3 patches per touch
BRUSH_PICKER = ("<label class='brush'>brush <select class='brush' aria-label='brush size in patches'>"
                "<option value='1'>1×1</option><option value='2'>2×2</option><option value='3'>3×3</option>"
                "</select></label>")

_PAINTER_JS = (HERE / "painter.js").read_text()

_PAD_JS = (HERE / "pad.js").read_text()


class PatchPainter(gr.HTML):
    """Paint which patches of an image are selected (kept, or generated for a marginal).

    Output value: a `Painting` (or None for an empty canvas). Input value: the bool (gh, gw) mask, or
    None when the painter holds nothing; a malformed value from an API client is a readable error.
    """

    def __init__(self, *, caption: str, color: str = "rgba(255, 64, 64, 0.5)", px: int = EDITOR_PX,
                 **kwargs: Any) -> None:
        super().__init__(value=None, html_template=_frame(BRUSH_PICKER), css_template=_CANVAS_CSS,
                         js_on_load=_PAINTER_JS,
                         apply_default_css=False,
                         caption=caption, color=color, px=px, **kwargs)

    def preprocess(self, payload: Any) -> np.ndarray | None:
        """The painted mask, bool (gh, gw)."""
        try:
            return mask_from_value(payload)
        except ValueError as exc:
            raise refused(exc, "painter", capitalise=False) from exc

    def postprocess(self, value: Painting | None) -> dict[str, Any] | None:
        """A `Painting` -> the wire format."""
        return None if value is None else painter_value(value)

    def api_info(self) -> dict[str, Any]:
        return {"type": "object", "description": "the painted patches: 1 = selected, row by row",
                "properties": {"grid": {"type": "array", "items": {"type": "integer"}},
                               "mask": {"type": "array", "items": {"type": "integer"}},
                               "image": {"type": "string", "description": "optional, shown only"}}}

    def example_payload(self) -> Any:
        return {"grid": [7, 7], "mask": [1] * 21 + [0] * 28}

    def example_value(self) -> Any:
        return Painting(np.zeros((28, 28, 1), dtype=np.uint8), np.zeros((7, 7), dtype=bool))


class DrawingPad(gr.HTML):
    """Draw with black ink on a white canvas. Input value: the drawing as a PIL image, None when blank."""

    def __init__(self, *, caption: str, px: int = 280, brush: int = 22, **kwargs: Any) -> None:
        super().__init__(value=None, html_template=_frame(stroke_picker(brush)),
                         css_template=_CANVAS_CSS, js_on_load=_PAD_JS, apply_default_css=False,
                         caption=caption, px=px, brush=brush, **kwargs)

    def preprocess(self, payload: Any) -> Image.Image | None:
        """The drawing, decoded safely; None for a blank pad (which sends nothing, or an empty string)."""
        if not payload:
            return None
        try:
            return decode_data_url(payload)
        except ValueError as exc:
            raise refused(exc, "drawing pad", capitalise=False) from exc

    def postprocess(self, value: np.ndarray | None) -> str | None:
        """A uint8 image -> the wire format (None clears the pad)."""
        return None if value is None else png_data_url(value)

    def api_info(self) -> dict[str, Any]:
        return {"type": "string", "description": "the drawing as a data:image/png;base64 URL (null when blank)"}

    def example_payload(self) -> Any:
        return png_data_url(np.full((28, 28), 255, dtype=np.uint8))

    def example_value(self) -> Any:
        return None


def whole(payload: Any, label: str | None, low: float, high: float) -> int:
    """`payload` as an int when it is a whole number in [low, high]; else a gr.Error naming the input."""
    try:
        return inputs.whole_number(payload, label or "the value", int(low), int(high))
    except ValueError as exc:
        raise refused(exc, label or "a number", capitalise=False) from None


class WholeSlider(gr.Slider):
    """A slider of whole numbers that refuses anything else (strings, None, 1.5, booleans) by name."""

    is_template = True  # the page draws it with Gradio's own slider

    def preprocess(self, payload: Any) -> int:
        return whole(payload, self.label, self.minimum, self.maximum)


class WholeNumber(gr.Number):
    """A number box of whole numbers that refuses anything else (strings, None, 1.5, booleans) by name."""

    is_template = True  # the page draws it with Gradio's own number box

    def preprocess(self, payload: Any) -> int:
        return whole(payload, self.label, self.minimum, self.maximum)
