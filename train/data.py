"""Training data sources: torchvision datasets, a folder of images, or an .npz file.

Every source becomes a `Dataset` of uint8 images (N, C, H, W) at the preset's resolution and channel
count, optional labels (N,) (-1 = unknown) and optional observed patch masks (N, L) for incomplete data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from biglearn.config import BigLearnConfig

TORCHVISION_SOURCES = ("mnist", "fashion-mnist", "cifar10", "celeba")
VAL_HOLDOUT = 5000  # MNIST's validation split: the last 5,000 training digits (`--holdout 5000`)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class DataError(ValueError):
    """The data source is missing, empty or inconsistent."""


@dataclass
class Dataset:
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor | None  # (N,) long, -1 = unknown
    observed: torch.Tensor | None  # (N, L) bool, patches that exist in the data
    num_classes: int
    name: str

    def __len__(self) -> int:
        return self.images.shape[0]


def fit_images(images: np.ndarray | torch.Tensor, height: int, width: int, channels: int) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, C) -> uint8 (N, channels, height, width): channel conversion,
    centre crop to the target aspect ratio, then antialiased resize."""
    x = torch.as_tensor(np.asarray(images))
    if x.dtype != torch.uint8:
        raise DataError(f"images must be uint8, got {x.dtype}")
    if x.dim() == 3:
        x = x[..., None]
    if x.dim() != 4 or x.shape[-1] not in (1, 3, 4):
        raise DataError(f"images must have shape (N, H, W) or (N, H, W, C) with C in 1/3/4, got {tuple(x.shape)}")
    x = x[..., :3].permute(0, 3, 1, 2).float()
    if x.shape[1] == 3 and channels == 1:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    elif x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    h, w = x.shape[-2:]
    if (h, w) != (height, width):
        scale = max(height / h, width / w)
        ch, cw = round(height / scale), round(width / scale)
        top, left = (h - ch) // 2, (w - cw) // 2
        x = x[..., top:top + ch, left:left + cw]
        out = []
        for lo in range(0, x.shape[0], 1024):
            out.append(F.interpolate(x[lo:lo + 1024], size=(height, width), mode="bilinear", antialias=True,
                                     align_corners=False))
        x = torch.cat(out)
    return x.round().clamp(0, 255).to(torch.uint8).contiguous()


def load_npz(path: Path, height: int, width: int, channels: int, grid: tuple[int, int]) -> Dataset:
    """An .npz with `images` uint8, optional `labels` int and optional `observed` bool (N, gh, gw) or (N, L)."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path} as .npz: {exc}") from exc
    if "images" not in data:
        raise DataError(f"{path} has no 'images' array (keys: {', '.join(data.files)})")
    images = fit_images(data["images"], height, width, channels)
    n = images.shape[0]
    if n == 0:
        raise DataError(f"{path} holds no images")
    labels = None
    num_classes = 0
    if "labels" in data:
        lab = np.asarray(data["labels"])
        if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
            raise DataError(f"{path}: 'labels' must be {n} integers (one per image), got shape {lab.shape} "
                            f"dtype {lab.dtype}")
        if lab.min() < -1:
            raise DataError(f"{path}: labels must be >= 0 (or -1 for unknown)")
        labels = torch.from_numpy(lab.astype(np.int64))
        num_classes = int(lab.max()) + 1
    observed = None
    if "observed" in data:
        obs = torch.from_numpy(np.asarray(data["observed"]).astype(bool))
        n_patches = grid[0] * grid[1]
        if tuple(obs.shape) == (n, *grid):
            obs = obs.reshape(n, n_patches)
        if tuple(obs.shape) != (n, n_patches):
            raise DataError(f"{path}: 'observed' must have shape {(n, *grid)} or {(n, n_patches)}, "
                            f"got {tuple(obs.shape)}")
        if not bool(obs.any(1).all()):
            raise DataError(f"{path}: every image must observe at least one patch")
        observed = obs
    return Dataset(images, labels, observed, num_classes, path.name)


def load_folder(path: Path, height: int, width: int, channels: int) -> Dataset:
    """Every readable image under `path` (recursively); corrupt files are skipped with a warning."""
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) found in folder {path}")
    images, bad = [], []
    mode = "L" if channels == 1 else "RGB"
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert(mode)
                images.append(fit_images(np.asarray(im)[None], height, width, channels)[0])
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            bad.append(f)
            warnings.warn(f"skipping unreadable image {f}: {exc}", stacklevel=2)
    if not images:
        raise DataError(f"none of the {len(files)} image files in {path} could be read (first bad file: {bad[0]})")
    return Dataset(torch.stack(images), None, None, 0, path.name)


def load_torchvision(name: str, root: Path, height: int, width: int, channels: int) -> Dataset:
    """Download (first use) and load a torchvision dataset's training split."""
    from torchvision import datasets

    try:
        if name == "mnist":
            ds = datasets.MNIST(root, train=True, download=True)
            images, labels = ds.data.numpy(), ds.targets.numpy()
        elif name == "fashion-mnist":
            ds = datasets.FashionMNIST(root, train=True, download=True)
            images, labels = ds.data.numpy(), ds.targets.numpy()
        elif name == "cifar10":
            ds = datasets.CIFAR10(root, train=True, download=True)
            images, labels = ds.data, np.asarray(ds.targets)
        else:  # celeba: aligned faces, no labels; 178x218 centre-cropped to the preset's size
            ds = datasets.CelebA(root, split="train", download=True)
            images = np.stack([np.asarray(ds[i][0]) for i in range(len(ds))])
            labels = None
    except Exception as exc:  # network and archive errors come in many types
        raise DataError(f"could not download or read torchvision dataset {name!r} into {root} "
                        f"(offline? pass --data FILE.npz or a folder instead): {type(exc).__name__}: {exc}") from exc
    lab = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
    return Dataset(fit_images(images, height, width, channels), lab, None, 0 if lab is None else 10, name)


def load_source(source: str, *, height: int, width: int, channels: int, grid: tuple[int, int],
                data_root: Path) -> Dataset:
    """Dispatch on SOURCE: a torchvision name, a folder, or an .npz file."""
    if source in TORCHVISION_SOURCES:
        return load_torchvision(source, data_root, height, width, channels)
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"data source {source!r} is neither one of {', '.join(TORCHVISION_SOURCES)} nor an "
                        "existing folder or .npz file")
    if path.is_dir():
        return load_folder(path, height, width, channels)
    if path.suffix.lower() == ".npz":
        return load_npz(path, height, width, channels, grid)
    raise DataError(f"{path} is a file but not an .npz; pass a folder of images or an .npz with 'images'")


def simulate_missing(dataset: Dataset, rate: float, num_patches: int, seed: int) -> Dataset:
    """Hide a random fraction `rate` of each image's patches for the whole run (at least one stays)."""
    if not 0.0 <= rate < 1.0:
        raise DataError(f"--missing-rate must lie in [0, 1), got {rate}")
    if rate == 0.0:
        return dataset
    g = torch.Generator().manual_seed(seed)
    n = len(dataset)
    rank = torch.rand(n, num_patches, generator=g).argsort(1).argsort(1)
    keep = max(1, num_patches - round(rate * num_patches))
    observed = rank < keep
    if dataset.observed is not None:  # intersect; an image left with nothing keeps its own mask
        both = observed & dataset.observed
        observed = torch.where(both.any(1, keepdim=True), both, dataset.observed)
    dataset.observed = observed
    return dataset


def hold_out(dataset: Dataset, holdout: int) -> Dataset:
    """The training part of `dataset` when its last `holdout` images are the validation split (0 = all).

    `train.evaluate --split val` scores on exactly those last images (`validation_indices`)."""
    if holdout < 0 or holdout >= len(dataset):
        raise DataError(f"--holdout must lie in [0, {len(dataset) - 1}] for {dataset.name} ({len(dataset)} images), "
                        f"got {holdout}")
    if holdout == 0:
        return dataset
    keep = slice(0, len(dataset) - holdout)
    return Dataset(dataset.images[keep], None if dataset.labels is None else dataset.labels[keep],
                   None if dataset.observed is None else dataset.observed[keep], dataset.num_classes, dataset.name)


def validation_indices(n: int, holdout: int) -> range:
    """Indices of the validation split of an n-image training set whose last `holdout` images are held out."""
    if not 0 < holdout < n:
        raise DataError(f"a validation split of {holdout} images needs a training set of more than {holdout}, got {n}")
    return range(n - holdout, n)


def synthetic_dataset(config: BigLearnConfig, n: int = 256) -> Dataset:
    """Random uint8 images (and labels when the model has classes) of `config`'s shape: what the cost of a step is
    measured on (the bench, counted FLOPs), which ignores content."""
    m = config.model
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, m.channels, m.height, m.width), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, m.num_classes, (n,), generator=g) if m.num_classes else None
    return Dataset(images, labels, None, m.num_classes, "synthetic")
