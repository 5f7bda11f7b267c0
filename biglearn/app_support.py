"""The work behind the Gradio app (app.py), kept out of it so it is plain, Gradio-free and unit-tested.

- Inputs: `decode_image` opens untrusted uploads safely (size caps, no decompression bombs, a clear
  ValueError for anything that is not an image); `prepare_image` brings any image to the model's
  channels and size, following the MNIST conventions for single-channel models (see its docstring).
- Masks: quick masks, clicks -> patches, a one-line summary of a source.
- Pictures: the patch grid over an image for the click grids, gallery tiles (nearest-neighbour upscaling,
  source patches outlined), numbered patch picks, labelled figure columns.
- Out-of-domain transplants (paper §4.2, Fig. 5) on top of `biglearn.masks.paste_patches`, and presets.
- `model_card` and `ModelSlot`, the one shared, swappable model of the app.

Images move through the app as uint8 numpy arrays (H, W, C) at the model's size; masks as bool (gh, gw).
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps

from . import masks
from .config import ModelConfig
from .inference import NEUTRAL, BigLearnModel
from .inference import load as load_model
from .render import to_uint8, upscale

MAX_FILE_BYTES = 20 * 2**20  # uploads larger than 20 MiB are refused before decoding
MAX_PIXELS = 4096 * 4096  # uploads with more pixels are refused from their header (no decompression bombs)
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "PPM")
DIGIT_BOX = 20 / 28  # MNIST digits are size-normalised into a 20x20 box of the 28x28 image
INK_THRESHOLD = 0.25  # fraction of the brightest stroke that counts as ink when framing a digit
LIGHT_BACKGROUND = 0.5  # border brightness above which a single-channel image is inverted
MAX_UI_SEED = 2**31 - 1  # seeds typed in the app (safe as JavaScript numbers)
EDITOR_PX = 336  # the painters and click-grid pictures are about this many pixels wide (12x for 28x28)
TILE_PX = 224  # gallery tiles are about this many pixels wide (8x for 28x28)
GRID_COLOR = (70, 130, 255)
SOURCE_OUTLINE = (255, 64, 64)  # kept (source) patches
TARGET_OUTLINE = (64, 200, 120)  # generated region of a marginal
PICK_COLOR = (255, 190, 40)  # out-of-domain: picked patches of the second image
DEST_COLOR = (80, 160, 255)  # ... where they go in the digit
KEEP_COLOR = (64, 200, 120)  # ... the digit's own kept patches
QUICK_MASKS = ("random", "top half", "left half", "centre", "invert", "clear")


# --- decoding and converting uploads -------------------------------------------------------------

def decode_image(data: bytes | str | Path, *, max_bytes: int = MAX_FILE_BYTES,
                 max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an untrusted image file (path or bytes) safely and return it fully loaded.

    Refuses files over `max_bytes`, images whose header announces more than `max_pixels` pixels
    (before any pixel is decoded, so decompression bombs never expand), formats outside
    `ALLOWED_FORMATS`, and corrupt or truncated data, each with a ValueError saying which.
    Animated images give their first frame; EXIF orientation is applied.
    """
    if isinstance(data, (str, Path)):
        try:
            size = os.path.getsize(data)
        except OSError as exc:
            raise ValueError(f"cannot read the uploaded file: {exc}") from exc
        if size > max_bytes:
            raise ValueError(f"the file is {size / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB")
        data = Path(data).read_bytes()
    if len(data) > max_bytes:
        raise ValueError(f"the file is {len(data) / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB")
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ValueError(f"the image is too large to open safely ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError("this is not an image the app can read (expected PNG, JPEG, GIF, BMP, WebP, TIFF or "
                         "PPM; the file may be corrupt)") from exc
    w, h = image.size
    if w * h > max_pixels or w <= 0 or h <= 0:
        raise ValueError(f"the image is {w}x{h} = {w * h:,} pixels; the limit is {max_pixels:,} pixels")
    try:
        image.load()
        image = ImageOps.exif_transpose(image) or image
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"the image data is corrupt or truncated ({exc})") from exc
    return image


def _to_8bit(image: Image.Image, channels: int) -> Image.Image:
    """Any PIL mode -> "L" (channels 1) or "RGB" (channels 3); transparency is flattened on white."""
    if channels not in (1, 3):
        raise ValueError(f"the app handles 1- or 3-channel models, this one has {channels} channels")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # high bit depth: stretch to 0..255
        a = np.asarray(image, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        image = Image.fromarray((a * 255).round().astype(np.uint8), "L")
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return image.convert("L" if channels == 1 else "RGB")


def border_mean(gray: np.ndarray) -> float:
    """Mean of the outer ring of a float (h, w) image (ring width ~1/14 of the short side, at least 1)."""
    h, w = gray.shape
    k = max(1, min(h, w) // 14)
    ring = np.concatenate([gray[:k].ravel(), gray[-k:].ravel(), gray[:, :k].ravel(), gray[:, -k:].ravel()])
    return float(ring.mean())


def is_light_background(gray: np.ndarray) -> bool:
    """The inversion heuristic: a float [0, 1] image has a light background when its border is brighter
    than `LIGHT_BACKGROUND` (dark ink on paper, a drawing on a white canvas); MNIST is light on dark."""
    return border_mean(gray) > LIGHT_BACKGROUND


def frame_digit(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """MNIST framing of a light-on-dark float [0, 1] image: subtract the background level, crop to the
    ink, scale its longer side to `DIGIT_BOX` of the output and centre it by mass. Returns float (H, W).

    An image without ink is just resized.
    """
    h_out, w_out = size
    bg = float(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])))
    gray = np.clip((gray - bg) / max(1e-6, 1.0 - bg), 0.0, 1.0)
    ink = gray > INK_THRESHOLD * max(float(gray.max()), 1e-6)
    if not ink.any() or gray.max() <= 0:
        return _resize(gray, size)
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    crop = gray[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    box = max(1, round(DIGIT_BOX * min(h_out, w_out)))
    scale = box / max(crop.shape)
    ch, cw = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    crop = _resize(crop, (ch, cw))
    mass = crop.sum()
    cy = (crop.sum(1) * np.arange(ch)).sum() / mass if mass > 0 else (ch - 1) / 2
    cx = (crop.sum(0) * np.arange(cw)).sum() / mass if mass > 0 else (cw - 1) / 2
    top = int(np.clip(round((h_out - 1) / 2 - cy), 0, h_out - ch))
    left = int(np.clip(round((w_out - 1) / 2 - cx), 0, w_out - cw))
    out = np.zeros(size, dtype=np.float64)
    out[top:top + ch, left:left + cw] = crop
    return out


def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Antialiased resize of a float [0, 1] (h, w[, 3]) array to (H, W)."""
    if a.shape[:2] == tuple(size):
        return a
    img = Image.fromarray((np.clip(a, 0, 1) * 255).round().astype(np.uint8))
    img = img.resize((size[1], size[0]), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(img, dtype=np.float64) / 255.0


def _centre_crop(a: np.ndarray, aspect: float) -> np.ndarray:
    """Largest centred crop of (h, w[, c]) with width / height = aspect."""
    h, w = a.shape[:2]
    if w / h > aspect:
        cw = max(1, round(h * aspect))
        return a[:, (w - cw) // 2:(w - cw) // 2 + cw]
    ch = max(1, round(w / aspect))
    return a[(h - ch) // 2:(h - ch) // 2 + ch]


def _pad_square(a: np.ndarray, value: float) -> np.ndarray:
    """Pad a float (h, w) image to a square with `value`, content centred."""
    h, w = a.shape
    s = max(h, w)
    out = np.full((s, s), value)
    out[(s - h) // 2:(s - h) // 2 + h, (s - w) // 2:(s - w) // 2 + w] = a
    return out


def prepare_image(image: Image.Image | np.ndarray, config: ModelConfig, *, invert: bool | None = None,
                  frame: bool | None = None) -> np.ndarray:
    """Bring any image to the model's input: uint8 (H, W, C) at the model's size and channels.

    Colour images (C = 3) are centre-cropped to the model's aspect ratio and resized.
    Single-channel models follow MNIST, whose digits are light strokes on a dark background,
    size-normalised into a 20x20 box and centred by mass:
    - `invert` (default: automatic) inverts images with a light background, i.e. when the mean of
      their border ring is above `LIGHT_BACKGROUND` (see `is_light_background`); pen on paper or a
      drawing on a white canvas becomes light-on-dark.
    - `frame` (default: automatic = when the image is not already the model's size) crops to the ink
      and re-frames it as MNIST does (`frame_digit`); an image already at the model's size is kept as
      it is (an MNIST or Fashion-MNIST file goes in unchanged). Without framing, the image is padded to
      a square with its background and resized.
    """
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise ValueError(f"expected a uint8 (h, w[, 1|3|4]) image array, got {image.dtype} {image.shape}")
        image = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    c = config
    size = (c.height, c.width)
    img = _to_8bit(image, c.channels)
    a = np.asarray(img, dtype=np.float64) / 255.0
    if c.channels == 3:
        a = _resize(_centre_crop(a, c.width / c.height), size)
        return (a * 255).round().astype(np.uint8)
    if is_light_background(a) if invert is None else invert:
        a = 1.0 - a
    if a.shape != size if frame is None else frame:
        a = frame_digit(a, size)
    elif a.shape != size:
        a = _resize(_pad_square(a, border_mean(a)), size) if c.height == c.width else _resize(a, size)
    return (a * 255).round().astype(np.uint8)[..., None]


def load_image(data: bytes | str | Path, config: ModelConfig) -> np.ndarray:
    """An uploaded file -> the model's uint8 (H, W, C) input (`decode_image` then `prepare_image`)."""
    return prepare_image(decode_image(data), config)


def conform(image: np.ndarray, config: ModelConfig) -> np.ndarray:
    """A stored input -> this model's size and channels (identity when it already fits; used after a
    checkpoint swap). No inversion or framing: the image was already prepared once."""
    if image.shape == (config.height, config.width, config.channels):
        return image
    return prepare_image(image, config, invert=False, frame=False)


def load_examples(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Example images shipped with the app (npz with `images` uint8 (N, H, W[, C]) and `labels`, and
    optionally `names`): returns (images, captions)."""
    with np.load(path) as data:
        images = data["images"]
        names = data["names"] if "names" in data.files else data["labels"]
        captions = [str(n) for n in names]
    return images, captions


# --- masks ---------------------------------------------------------------------------------------

def quick_mask(name: str, grid: tuple[int, int], *, current: np.ndarray | None = None, ratio: float = 0.5,
               seed: int = 0) -> np.ndarray:
    """A ready-made source, bool (gh, gw): "random" (round(ratio·L) patches, seeded), "top half",
    "left half", "centre" (the middle third in each direction, at least one patch), "invert" (of
    `current`), "clear"."""
    gh, gw = grid
    if name == "random":
        gen = torch.Generator().manual_seed(seed)
        return masks.random_source(1, gh * gw, ratio, generator=gen).view(gh, gw).numpy()
    if name == "top half":
        return masks.region_source(1, grid, slice(0, gh // 2), slice(None)).view(gh, gw).numpy()
    if name == "left half":
        return masks.region_source(1, grid, slice(None), slice(0, gw // 2)).view(gh, gw).numpy()
    if name == "centre":
        rows, cols = _centre_slice(gh), _centre_slice(gw)
        return masks.region_source(1, grid, rows, cols).view(gh, gw).numpy()
    if name == "invert":
        return ~(np.zeros(grid, dtype=bool) if current is None else current.astype(bool))
    if name == "clear":
        return np.zeros(grid, dtype=bool)
    raise ValueError(f"unknown quick mask {name!r}; choose one of {', '.join(QUICK_MASKS)}")


def _centre_slice(n: int) -> slice:
    k = max(1, n // 3)
    start = (n - k) // 2
    return slice(start, start + k)


def cell_at(xy: tuple[float, float], shown_size: tuple[int, int], grid: tuple[int, int]) -> int:
    """Raster patch index under a click at pixel (x, y) of a picture of `shown_size` (h, w)."""
    (x, y), (h, w), (gh, gw) = xy, shown_size, grid
    row = int(np.clip(y * gh // h, 0, gh - 1))
    col = int(np.clip(x * gw // w, 0, gw - 1))
    return row * gw + col


def toggle(indices: list[int], index: int) -> list[int]:
    """`indices` with `index` removed if present, else appended (click order is kept)."""
    return [i for i in indices if i != index] if index in indices else [*indices, index]


def check_seeds(seed: Any, n: int) -> list[int]:
    """The seeds seed, seed+1, ..., seed+n-1 for n samples; ValueError unless they lie in [0, MAX_UI_SEED]
    and n in [1, 16]."""
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 16:
        raise ValueError(f"the number of samples must be a whole number from 1 to 16, got {n!r}")
    if isinstance(seed, float) and seed.is_integer():
        seed = int(seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_UI_SEED - n + 1:
        raise ValueError(f"the seed must be a whole number from 0 to {MAX_UI_SEED - n + 1:,}, got {seed!r}")
    return [seed + i for i in range(n)]


def source_summary(source: np.ndarray) -> str:
    """One line of Markdown on a (gh, gw) source: how many patches are kept, or what an empty or full
    source means."""
    gh, gw = source.shape
    k, n = int(source.sum()), source.size
    if k == 0:
        return f"Nothing painted: joint generation of all {n} patches ({gh}x{gw} grid)."
    if k == n:
        return f"All {n} patches kept: nothing is left to generate, erase some."
    return f"**{k} of {n} patches kept** (r = {k / n:.2f}); the model generates the other {n - k}."


def parse_class(value: Any, num_classes: int) -> int | None:
    """The class picker's value: None for "any" (or empty), else a class number checked against the model."""
    if value is None or str(value).strip() in ("", "any"):
        return None
    text = str(value).strip()
    if not num_classes:
        raise ValueError("this checkpoint was trained without labels: choose 'any'")
    if not text.isdigit() or int(text) >= num_classes:
        raise ValueError(f"the class must be 'any' or a number from 0 to {num_classes - 1}, got {value!r}")
    return int(text)


# --- pictures ------------------------------------------------------------------------------------

def scale_for(config: ModelConfig, pixels: int) -> int:
    """Integer nearest-neighbour factor that makes the model's image about `pixels` wide."""
    return max(1, pixels // max(config.height, config.width))


def to_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 1 | 3) or (H, W) -> (H, W, 3)."""
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def draw_grid(image: np.ndarray, cell: int, color: tuple[int, int, int] = GRID_COLOR,
              alpha: float = 0.6) -> np.ndarray:
    """Blend 1-pixel patch-grid lines every `cell` pixels (and on the outer border) into (h, w, 3) uint8."""
    out = image.astype(np.float32)
    h, w = out.shape[:2]
    line = np.zeros((h, w), dtype=bool)
    line[::cell] = line[cell - 1::cell] = True
    line[:, ::cell] = line[:, cell - 1::cell] = True
    out[line] = (1 - alpha) * out[line] + alpha * np.asarray(color, dtype=np.float32)
    return out.round().astype(np.uint8)


def grid_picture(image: np.ndarray, config: ModelConfig, pixels: int = EDITOR_PX) -> np.ndarray:
    """The model-sized uint8 image upscaled (nearest neighbour) to about `pixels` wide, grid drawn."""
    f = scale_for(config, pixels)
    return draw_grid(upscale(to_rgb(image), f), config.patch_size * f)


def blank_image(config: ModelConfig) -> np.ndarray:
    """A neutral grey uint8 (H, W, C) image (the canvas of marginal generation)."""
    return np.full((config.height, config.width, config.channels), round(NEUTRAL * 255), dtype=np.uint8)


def source_view(image: np.ndarray, source: np.ndarray, config: ModelConfig) -> np.ndarray:
    """What the model is given: the source patches of a uint8 (H, W, C) image, neutral grey elsewhere."""
    p = config.patch_size
    pix = np.kron(source.astype(np.uint8), np.ones((p, p), dtype=np.uint8)).astype(bool)[..., None]
    return np.where(pix, image, blank_image(config))


def region_border(mask: np.ndarray, shape: tuple[int, int], width: int) -> np.ndarray:
    """Bool (h, w) pixels of the border of the region `mask` (gh, gw) on an (h, w) picture of its grid,
    `width` pixels thick and inside the region."""
    gh, gw = mask.shape
    region = np.kron(mask.astype(np.uint8), np.ones((shape[0] // gh, shape[1] // gw), dtype=np.uint8)).astype(bool)
    h, w = region.shape
    inner = np.pad(region, width)  # erosion by a (2·width+1)² square, separably: rows, then columns
    inner = np.logical_and.reduce([inner[width + d:width + d + h] for d in range(-width, width + 1)])
    inner = np.logical_and.reduce([inner[:, width + d:width + d + w] for d in range(-width, width + 1)])
    return region & ~inner


def outline_region(picture: np.ndarray, mask: np.ndarray, color: tuple[int, int, int], width: int) -> np.ndarray:
    """Draw the border of the region `mask` (gh, gw) on an upscaled (h, w, 3) picture, `width` pixels thick and
    inside the region (so it stays visible when the browser shrinks the picture)."""
    out = picture.copy()
    out[region_border(mask, picture.shape[:2], width)] = color
    return out


def render_tiles(samples: torch.Tensor, config: ModelConfig, outline: np.ndarray | None = None,
                 color: tuple[int, int, int] = SOURCE_OUTLINE, pixels: int = TILE_PX) -> list[np.ndarray]:
    """(n, C, H, W) samples in [0, 1] -> n crisp uint8 (h, w, 3) tiles, nearest-neighbour upscaled to about
    `pixels` wide, with the region `outline` (gh, gw) outlined (the kept patches of a completion)."""
    f = scale_for(config, pixels)
    tiles = to_uint8(samples).repeat(f, axis=1).repeat(f, axis=2)  # (n, H·f, W·f, 3)
    if outline is not None and outline.any():
        tiles[:, region_border(outline, tiles.shape[1:3], max(1, f // 3))] = color
    return list(tiles)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def mark_patches(picture: np.ndarray, indices: list[int], grid: tuple[int, int], *,
                 color: tuple[int, int, int] = PICK_COLOR, numbered: bool = True) -> np.ndarray:
    """Outline the patches `indices` (raster order) on an upscaled (h, w, 3) picture, numbered 1, 2, ...
    in list order when `numbered` (the k-th picked patch goes to the k-th destination)."""
    img = Image.fromarray(picture)
    draw = ImageDraw.Draw(img)
    gh, gw = grid
    ch, cw = picture.shape[0] // gh, picture.shape[1] // gw
    font = _font(max(8, ch // 3))
    for k, idx in enumerate(indices):
        r, c = divmod(int(idx), gw)
        x0, y0 = c * cw, r * ch
        draw.rectangle([x0 + 1, y0 + 1, x0 + cw - 2, y0 + ch - 2], outline=color, width=max(1, cw // 16))
        if numbered:
            draw.text((x0 + 4, y0 + 2), str(k + 1), fill=color, font=font, stroke_width=1, stroke_fill=(0, 0, 0))
    return np.asarray(img)


def add_column_labels(picture: np.ndarray, labels: list[str], cell_width: int, pad: int) -> np.ndarray:
    """Put a white band with one centred label per column above a figure made by `render.grid_image`."""
    band = max(14, cell_width // 5)
    img = Image.new("RGB", (picture.shape[1], picture.shape[0] + band), "white")
    img.paste(Image.fromarray(picture), (0, band))
    draw = ImageDraw.Draw(img)
    font = _font(band - 4)
    for k, text in enumerate(labels):
        x = pad + k * (cell_width + pad) + cell_width // 2
        draw.text((x, band // 2), text, fill=(0, 0, 0), font=font, anchor="mm")
    return np.asarray(img)


# --- out-of-domain transplants (paper §4.2, Fig. 5) ----------------------------------------------

def transplant(image: np.ndarray, donor: np.ndarray, patch_size: int, picks: list[int], dests: list[int],
               keep: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Paste the donor's patches `picks` into `image` and build the source (paper Fig. 5).

    The k-th pick goes to `dests[k]`, or to its own place when fewer destinations are given; the
    source is the pasted patches plus the image's own patches `keep`. Both images uint8 (H, W, C) of
    the same shape; returns (composite uint8 (H, W, C), source bool (gh, gw)).
    """
    if image.shape != donor.shape:
        raise ValueError(f"the two images differ in shape: {image.shape} and {donor.shape}")
    h, w, _ = image.shape
    grid = (h // patch_size, w // patch_size)
    dst = [dests[k] if k < len(dests) else p for k, p in enumerate(picks)]
    pasted, source = masks.paste_patches(_as_batch(image), _as_batch(donor), patch_size, list(picks), dst,
                                         list(keep))
    composite = (pasted[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    return composite, source.view(grid).numpy()


def _as_batch(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, C) -> float (1, C, H, W) in [0, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0


def centre_block(grid: tuple[int, int]) -> list[int]:
    """Raster indices of the centre block (a third of each side, at least one patch)."""
    gh, gw = grid
    rows, cols = _centre_slice(gh), _centre_slice(gw)
    return [r * gw + c for r in range(rows.start, rows.stop) for c in range(cols.start, cols.stop)]


def upper_left_block(grid: tuple[int, int]) -> list[int]:
    """Raster indices of the upper-left block of the same size as `centre_block`."""
    gh, gw = grid
    kh, kw = max(1, gh // 3), max(1, gw // 3)
    return [r * gw + c for r in range(kh) for c in range(kw)]


def preset(name: str, grid: tuple[int, int]) -> tuple[list[int], list[int], list[int]]:
    """(picks, dests, keep) of a paper-§4.2 preset, for `transplant`:
    "relocate": the centre patches moved to the upper left (only they are given; donor = the image);
    "duplicate": the centre patches copied to the upper left (originals and copies given; donor = the image);
    "mix": the top half of the image and the bottom third of the donor (a second digit) given."""
    gh, gw = grid
    centre, corner = centre_block(grid), upper_left_block(grid)
    if name == "relocate":
        return centre, corner, []
    if name == "duplicate":
        return centre, corner, centre
    if name == "mix":
        top = list(range((gh // 2) * gw))
        bottom = list(range((gh - max(1, gh // 3)) * gw, gh * gw))
        return bottom, bottom, top
    raise ValueError(f"unknown preset {name!r}; choose relocate, duplicate or mix")


# --- the model card and the shared model ---------------------------------------------------------

def _table(title: str, rows: list[tuple[str, Any]]) -> list[str]:
    return [f"| {title} | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)]


def _details(title: str, lines: list[str]) -> list[str]:
    return ["", f"<details><summary>{title}</summary>", "", *lines, "", "</details>"]


def model_card(model: BigLearnModel, source: str, readme: str | None = None) -> str:
    """Markdown model card: where the checkpoint came from, the facts the trainer stored in it (preset, data,
    budget, metrics), its architecture and an optional README."""
    c = model.config
    n_params = sum(p.numel() for p in model.generator.parameters())
    lines = [f"### Checkpoint `{source}`", "",
             f"{c.height}x{c.width}, {c.channels} channel(s), patch {c.patch_size} -> {c.grid[0]}x{c.grid[1]} "
             f"patch grid ({c.num_patches} patches), {c.num_classes or 'no'} classes; generator "
             f"{n_params / 1e6:.2f} M parameters, on `{model.device}`.", ""]
    facts = [(k, v) for k, v in model.info.items() if not isinstance(v, dict)]
    if facts:
        lines += _table("training facts", facts)
    for key, value in model.info.items():
        if isinstance(value, dict):
            lines += _details(key, _table(key, list(value.items())))
    lines += _details("architecture", _table("ModelConfig", list(vars(c).items())))
    if readme:
        lines += ["", readme.strip()]
    return "\n".join(lines)


class ModelSlot:
    """The app's one shared model: loaded lazily on first use, swappable by `load`. A failed load keeps
    the current model. Requests that already hold the old model finish with it."""

    def __init__(self, provider: Callable[[], BigLearnModel], name: str = "default checkpoint") -> None:
        self._provider = provider
        self._model: BigLearnModel | None = None
        self._lock = threading.Lock()
        self.name = name

    def get(self) -> BigLearnModel:
        """The current model (loading it on first use)."""
        model = self._model
        if model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._provider()
                model = self._model
        return model

    def load(self, path_or_hub_id: str | Path, device: str | torch.device | None = None) -> BigLearnModel:
        """Load another checkpoint (path or Hub id) and make it current; raises (keeping the old model) on
        failure with a ValueError naming the problem."""
        text = str(path_or_hub_id).strip()
        if not text:
            raise ValueError("give a checkpoint path or a Hugging Face Hub id")
        model = load_model(text, device)
        with self._lock:
            self._model = model
            self.name = text
        return model
