"""Masks as files the user keeps: a PNG of the patch grid (white = kept, PATCH_PX pixels per patch) and the
API's JSON ({"grid": [rows, columns], "mask": [0 or 1 per patch, row by row]}); both read back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .widgets import mask_from_value

PATCH_PX = 16  # pixels per patch in a downloaded PNG (any whole multiple of the grid reads back)
MAX_MASK_FILE = 1_000_000  # bytes: a mask file is tiny; anything larger is not one


def write_mask_files(mask: np.ndarray, folder: Path) -> list[Path]:
    """mask.png and mask.json of a bool (gh, gw) mask, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    png, js = folder / "mask.png", folder / "mask.json"
    pixels = np.kron(mask.astype(np.uint8) * 255, np.ones((PATCH_PX, PATCH_PX), dtype=np.uint8))
    Image.fromarray(pixels, mode="L").save(png)
    js.write_text(json.dumps({"grid": list(mask.shape), "mask": mask.reshape(-1).astype(int).tolist()}) + "\n")
    return [png, js]


def read_mask_file(path: str | Path, grid: tuple[int, int]) -> np.ndarray:
    """The bool mask in a PNG (white = kept; its size a whole multiple of `grid`) or a JSON mask file, for a
    model with this patch grid; ValueError saying what is wrong otherwise."""
    path = Path(path)
    if path.stat().st_size > MAX_MASK_FILE:
        raise ValueError("that file is too large to be a mask (a mask file is a few kB)")
    if path.suffix.lower() == ".json":
        try:
            mask = mask_from_value(json.loads(path.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValueError('a JSON mask file holds {"grid": [rows, columns], "mask": [0 or 1 per patch]}') from None
        if mask is None or mask.shape != tuple(grid):
            raise ValueError(f"that mask is for a {'x'.join(map(str, mask.shape if mask is not None else ()))} "
                             f"grid; this model's grid is {grid[0]}x{grid[1]}")
        return mask
    try:
        with Image.open(path) as im:
            pixels = np.asarray(im.convert("L"))
    except (UnidentifiedImageError, OSError):
        raise ValueError("a mask file is a PNG (white = kept) or the API's JSON") from None
    h, w = pixels.shape
    if h % grid[0] or w % grid[1] or h // grid[0] != w // grid[1]:
        raise ValueError(f"a mask PNG for this model's {grid[0]}x{grid[1]} grid must be a whole multiple of it in "
                         f"size (e.g. {grid[1] * PATCH_PX}x{grid[0] * PATCH_PX} pixels), got {w}x{h}")
    k = h // grid[0]
    centres = pixels[k // 2::k, k // 2::k]  # one pixel at the centre of each patch
    return centres >= 128
