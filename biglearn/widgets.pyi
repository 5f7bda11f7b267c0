"""The app's two drawing widgets, built on `gr.HTML` (a canvas and a little JavaScript, no frontend build).

- `PatchPainter`: an image under its patch grid; press and drag to paint patches as kept (start on a
  kept patch to erase instead). Its value in Python is the bool (gh, gw) mask.
- `DrawingPad`: a white canvas to draw a digit on with the mouse or a finger. Its value in Python is the
  drawing as a decoded PIL image.

Both keep their pictures in the page and send one small JSON value when the pointer is lifted. Gradio's
own ImageEditor and Sketchpad, once painted, re-export and upload every layer after every event of the
page, which cost the app more than the model on each click (docs/performance.md, "The app").

Wire format of the painter: {"image": a PNG data URL (or null), "grid": [gh, gw], "mask": [0 | 1, ...]},
the mask in raster order; of the pad: a PNG data URL, or null when it is blank.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any, NamedTuple

import gradio as gr
import numpy as np
from PIL import Image

from . import app_support as S

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
    if len(url) > S.MAX_FILE_BYTES * 4 // 3 + 100:  # base64 grows by 4/3: refuse before decoding
        raise ValueError(f"the drawing is over the limit of {S.MAX_FILE_BYTES / 2**20:.0f} MiB")
    try:
        data = base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the drawing's data URL is not valid base64") from exc
    return S.decode_image(data)


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


_CANVAS_CSS = """
.frame { display: flex; flex-direction: column; gap: 6px; }
.caption { font-size: var(--block-label-text-size, 0.85rem); color: var(--block-label-text-color, inherit); }
canvas { width: 100%; max-width: ${px}px; height: auto; touch-action: none; cursor: crosshair;
         image-rendering: pixelated; border: 1px solid var(--border-color-primary, #ccc);
         border-radius: 4px; }
button.clear { align-self: flex-start; padding: 2px 10px; border-radius: 4px; cursor: pointer;
               border: 1px solid var(--border-color-primary, #ccc);
               background: var(--button-secondary-background-fill, #eee); }
"""

_PAINTER_JS = r"""
const canvas = element.querySelector('canvas');
const ctx = canvas.getContext('2d');
const img = new Image();
let grid = [1, 1], mask = [], hover = -1, mode = null, dirty = false;
function fit() {  // the canvas takes the picture's aspect ratio once it is decoded
  if (img.complete && img.naturalWidth) canvas.height = Math.round(props.px * img.naturalHeight / img.naturalWidth);
}
img.onload = () => { fit(); draw(); };
function draw() {
  const W = canvas.width, H = canvas.height, cw = W / grid[1], ch = H / grid[0];
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = '#808080';
  ctx.fillRect(0, 0, W, H);
  if (img.complete && img.naturalWidth) ctx.drawImage(img, 0, 0, W, H);
  ctx.fillStyle = props.color;
  mask.forEach((m, i) => { if (m) ctx.fillRect((i % grid[1]) * cw, Math.floor(i / grid[1]) * ch, cw, ch); });
  ctx.strokeStyle = 'rgba(70, 130, 255, 0.8)';
  ctx.lineWidth = 1;
  ctx.beginPath();
  const at = (k, step, end) => Math.min(end - 0.5, Math.round(k * step) + 0.5);  // crisp 1-pixel lines
  for (let c = 0; c <= grid[1]; c++) { const x = at(c, cw, W); ctx.moveTo(x, 0); ctx.lineTo(x, H); }
  for (let r = 0; r <= grid[0]; r++) { const y = at(r, ch, H); ctx.moveTo(0, y); ctx.lineTo(W, y); }
  ctx.stroke();
  if (hover >= 0) {  // the patch a stroke here selects
    ctx.strokeStyle = '#ffd23f';
    ctx.lineWidth = 3;
    ctx.strokeRect((hover % grid[1]) * cw + 1.5, Math.floor(hover / grid[1]) * ch + 1.5, cw - 3, ch - 3);
  }
}
function load() {
  const v = props.value;
  if (!v) return;
  grid = v.grid;
  mask = v.mask.slice();
  canvas.width = props.px;
  canvas.height = Math.round(props.px * grid[0] / grid[1]);
  if (!v.image) img.removeAttribute('src');
  else if (img.src !== v.image) img.src = v.image;  // a stroke's own value keeps the picture: no reload
  fit();
  draw();
}
function cell(e) {
  const b = canvas.getBoundingClientRect();
  const c = Math.min(grid[1] - 1, Math.max(0, Math.floor((e.clientX - b.left) / b.width * grid[1])));
  const r = Math.min(grid[0] - 1, Math.max(0, Math.floor((e.clientY - b.top) / b.height * grid[0])));
  return r * grid[1] + c;
}
function paint(i) {
  if (mask[i] !== mode) { mask[i] = mode; dirty = true; }
}
canvas.addEventListener('pointerdown', e => {
  if (!props.value || e.button > 0) return;
  canvas.setPointerCapture(e.pointerId);
  hover = cell(e);
  mode = mask[hover] ? 0 : 1;
  paint(hover);
  draw();
});
canvas.addEventListener('pointermove', e => {
  if (!props.value) return;
  hover = cell(e);
  if (mode !== null) paint(hover);
  draw();
});
canvas.addEventListener('pointerleave', () => { if (mode === null) { hover = -1; draw(); } });
const end = () => {
  if (mode === null) return;
  mode = null;
  if (dirty) {  // a new value makes Gradio send the change event
    dirty = false;
    props.value = {...props.value, mask: mask.slice()};
  }
};
canvas.addEventListener('pointerup', end);
canvas.addEventListener('pointercancel', end);
watch('value', load);
load();
"""

_PAD_JS = r"""
const canvas = element.querySelector('canvas');
const ctx = canvas.getContext('2d');
let last = null, sent = null;
function blank() { ctx.fillStyle = '#ffffff'; ctx.fillRect(0, 0, canvas.width, canvas.height); }
function load() {
  if (props.value === sent) return;  // our own stroke coming back
  blank();
  if (props.value) { const img = new Image(); img.onload = () => ctx.drawImage(img, 0, 0); img.src = props.value; }
}
function at(e) {
  const b = canvas.getBoundingClientRect();
  return [(e.clientX - b.left) / b.width * canvas.width, (e.clientY - b.top) / b.height * canvas.height];
}
function line(a, b) {
  ctx.strokeStyle = '#000000';
  ctx.lineWidth = props.brush;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
}
canvas.addEventListener('pointerdown', e => {
  if (e.button > 0) return;
  canvas.setPointerCapture(e.pointerId);
  last = at(e);
  line(last, last);
});
canvas.addEventListener('pointermove', e => { if (last) { const p = at(e); line(last, p); last = p; } });
const end = () => {
  if (!last) return;
  last = null;
  sent = canvas.toDataURL('image/png');
  props.value = sent;
};
canvas.addEventListener('pointerup', end);
canvas.addEventListener('pointercancel', end);
element.querySelector('button.clear').addEventListener('click', () => { blank(); sent = null; props.value = null; });
watch('value', load);
blank();
load();
"""

from gradio.events import Dependency

class PatchPainter(gr.HTML):
    """Paint which patches of an image are selected (kept, or generated for a marginal).

    Output value: a `Painting` (or None for an empty canvas). Input value: the bool (gh, gw) mask, or
    None when the painter holds nothing; a malformed value from an API client is a readable error.
    """

    def __init__(self, *, caption: str, color: str = "rgba(255, 64, 64, 0.5)", px: int = S.EDITOR_PX,
                 **kwargs: Any) -> None:
        super().__init__(value=None, html_template=_frame(), css_template=_CANVAS_CSS, js_on_load=_PAINTER_JS,
                         apply_default_css=False,
                         caption=caption, color=color, px=px, **kwargs)

    def preprocess(self, payload: Any) -> np.ndarray | None:
        """The painted mask, bool (gh, gw)."""
        try:
            return mask_from_value(payload)
        except ValueError as exc:
            raise gr.Error(str(exc)) from exc

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
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class DrawingPad(gr.HTML):
    """Draw with black ink on a white canvas. Input value: the drawing as a PIL image, None when blank."""

    def __init__(self, *, caption: str, px: int = 280, brush: int = 22, **kwargs: Any) -> None:
        super().__init__(value=None, html_template=_frame("<button class='clear' type='button'>clear</button>"),
                         css_template=_CANVAS_CSS, js_on_load=_PAD_JS, apply_default_css=False,
                         caption=caption, px=px, brush=brush, **kwargs)

    def preprocess(self, payload: Any) -> Image.Image | None:
        """The drawing, decoded safely."""
        if payload is None:
            return None
        try:
            return decode_data_url(payload)
        except ValueError as exc:
            raise gr.Error(str(exc)) from exc

    def postprocess(self, value: np.ndarray | None) -> str | None:
        """A uint8 image -> the wire format (None clears the pad)."""
        return None if value is None else png_data_url(value)

    def api_info(self) -> dict[str, Any]:
        return {"type": "string", "description": "the drawing as a data:image/png;base64 URL (null when blank)"}

    def example_payload(self) -> Any:
        return png_data_url(np.full((28, 28), 255, dtype=np.uint8))

    def example_value(self) -> Any:
        return None
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component