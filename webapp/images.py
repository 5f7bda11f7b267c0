"""Untrusted uploads to model inputs: safe decoding (size caps, no decompression bombs, a clear ValueError for
anything that is not an image) and conversion to the model's channels and size, following the MNIST
conventions for single-channel models (see `prepare_image`). Images are uint8 numpy arrays (H, W, C).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from biglearn.config import ModelConfig

MAX_FILE_BYTES = 20 * 2**20  # uploads larger than 20 MiB are refused before decoding
MAX_PIXELS = 4096 * 4096  # uploads with more pixels are refused from their header (no decompression bombs)
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "PPM")
DIGIT_BOX = 20 / 28  # MNIST digits are size-normalised into a 20x20 box of the 28x28 image
INK_THRESHOLD = 0.25  # fraction of the brightest stroke that counts as ink when framing a digit
LIGHT_BACKGROUND = 0.5  # border brightness above which a single-channel image is inverted


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
