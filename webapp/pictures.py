"""Pictures the app shows: the patch grid over an image, gallery tiles (nearest-neighbour upscaling, source
patches outlined), numbered patch picks and labelled figure columns.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from biglearn.config import ModelConfig
from biglearn.inference import NEUTRAL
from biglearn.render import to_uint8, upscale

EDITOR_PX = 336  # the painters and click-grid pictures are about this many pixels wide (12x for 28x28)
TILE_PX = 224  # gallery tiles are about this many pixels wide (8x for 28x28)
GRID_COLOR = (70, 130, 255)
SOURCE_OUTLINE = (255, 64, 64)  # kept (source) patches
TARGET_OUTLINE = (64, 200, 120)  # generated region of a marginal
PICK_COLOR = (255, 190, 40)  # out-of-domain: picked patches of the second image
DEST_COLOR = (80, 160, 255)  # ... where they go in the digit
KEEP_COLOR = (64, 200, 120)  # ... the digit's own kept patches
PHONE_FIGURE_PX = 340  # a figure shown across a 400 px wide screen is about this wide
MIN_TEXT_PX = 12  # the smallest text size a figure shows, at that width


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


def add_column_labels(picture: np.ndarray, labels: list[str], cell_width: int, pad: int,
                      shown_width: int = PHONE_FIGURE_PX, text_px: int = MIN_TEXT_PX) -> np.ndarray:
    """Put a white band with one centred label per column above a figure made by `render.grid_image`. The
    labels' font is sized so that the picture scaled down to `shown_width` pixels (a phone) still shows them at
    `text_px` or more; a label too wide for its column at that size is a ValueError (use shorter labels)."""
    size = max(12, -(-text_px * picture.shape[1] // shown_width))
    font = _font(size)
    widest = max(font.getlength(text) for text in labels)
    if widest > cell_width - 2:
        raise ValueError(f"column labels of up to {widest:.0f} px do not fit columns of {cell_width} px")
    band = size + size // 2
    img = Image.new("RGB", (picture.shape[1], picture.shape[0] + band), "white")
    img.paste(Image.fromarray(picture), (0, band))
    draw = ImageDraw.Draw(img)
    for k, text in enumerate(labels):
        x = pad + k * (cell_width + pad) + cell_width // 2
        draw.text((x, band // 2), text, fill=(0, 0, 0), font=font, anchor="mm")
    return np.asarray(img)
