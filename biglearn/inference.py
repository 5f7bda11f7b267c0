"""The inference API (DESIGN.md §7): load a checkpoint, then complete, generate and classify.

A sample is a pure function of (weights, x_S, S, T, y, seed): the noise z of seed s is drawn on the CPU
from `torch.Generator().manual_seed(s)`, so it is the same on every device. Source patches are copied
from the input exactly; patches outside S ∪ T are filled with `NEUTRAL` (mid grey).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import (
    DEFAULT_MAX_PARAMETERS,
    check_state_dict,
    format_version,
    load_inference,
    resolve_path,
    save_inference,
)
from .config import FORMAT_VERSION, BigLearnConfig, ModelConfig
from .generator import UniversalGenerator
from .masks import check_masks, flatten_mask
from .patches import from_model_range, patch_to_pixel_mask, to_model_range
from .precision import autocast, bf16_support, resolve, set_static_shapes

NEUTRAL = 0.5
MAX_SEED = 2**63 - 1


def pick_device(device: str | torch.device | None) -> torch.device:
    """`None`/"auto" -> CUDA when available, else CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def inference_precision(requested: str, device: torch.device) -> str:
    """The precision a model samples in: "auto" is bf16 on CUDA devices that have it and fp32 on CPUs (small
    batches of new sizes, where bf16 kernels cost more to build than they save); "bf16" where the device has it
    natively (ValueError elsewhere)."""
    if requested == "auto":
        return "bf16" if device.type == "cuda" and bf16_support(device)[0] else "fp32"
    return resolve(requested, device).precision


def seed_noise(seeds: Sequence[int], noise_dim: int) -> torch.Tensor:
    """One noise vector z (n, noise_dim) per seed, device-independent (drawn on the CPU)."""
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= int(s) <= MAX_SEED:
            raise ValueError(f"seeds must be integers in [0, 2**63 - 1], got {s!r}")
        out.append(torch.randn(noise_dim, generator=torch.Generator().manual_seed(int(s))))
    return torch.stack(out) if out else torch.zeros(0, noise_dim)


def as_seed_list(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return [int(seeds)]
    if isinstance(seeds, (bool, str, bytes)) or not isinstance(seeds, Iterable):
        raise ValueError(f"seeds must be integers in [0, 2**63 - 1] (an int or a list of ints), got {seeds!r}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    return seeds


class BigLearnModel:
    """A trained universal generator ready for inference (EMA weights + config)."""

    def __init__(self, generator: UniversalGenerator, config: BigLearnConfig, info: dict[str, Any] | None = None,
                 device: str | torch.device | None = None, batch_limit: int = 256, precision: str = "auto") -> None:
        self.device = pick_device(device)
        self.precision = inference_precision(precision, self.device)
        self.generator = generator.to(self.device).eval()
        set_static_shapes(self.generator, self.precision == "bf16")
        self.full_config = config
        self.info = info or {}
        self.batch_limit = batch_limit
        self.format_version = FORMAT_VERSION  # of the file it was loaded from (set by `load`)

    @property
    def config(self) -> ModelConfig:
        return self.full_config.model

    @property
    def objective(self) -> str:
        """The objective the checkpoint was trained with (`biglearn.config.OBJECTIVES`)."""
        return self.full_config.loss.objective

    @property
    def deterministic(self) -> bool:
        """True when every seed gives the same sample (an MAE-style model): one sample per source suffices."""
        return self.full_config.loss.deterministic

    @property
    def can_generate(self) -> bool:
        """False for a classifier-only (`supervised`) checkpoint, whose decoder was never trained."""
        return self.objective != "supervised"

    def _require_generator(self) -> None:
        if not self.can_generate:
            raise ValueError("this checkpoint was trained with objective 'supervised' (the encoder and classifier "
                             "alone): it classifies but cannot complete or generate")

    # --- input handling -----------------------------------------------------------------------

    def prepare_images(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """float [0, 1] (B, C, H, W) tensor or uint8 numpy (B, H, W[, C]) -> float (B, C, H, W) on the CPU."""
        c = self.config
        if isinstance(images, np.ndarray):
            if images.dtype != np.uint8:
                raise ValueError(f"numpy images must be uint8 (B, H, W[, C]), got dtype {images.dtype}")
            if images.ndim == 3:
                images = images[..., None]
            if images.ndim != 4:
                raise ValueError(f"numpy images must have shape (B, H, W[, C]), got {images.shape}")
            images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
        if not isinstance(images, torch.Tensor) or not images.is_floating_point():
            raise ValueError("images must be a float tensor in [0, 1] or a uint8 numpy array")
        if images.dim() != 4 or tuple(images.shape[1:]) != (c.channels, c.height, c.width):
            raise ValueError(f"images must have shape (B, {c.channels}, {c.height}, {c.width}) for this model, "
                             f"got {tuple(images.shape)}")
        if not bool(torch.isfinite(images).all()) or float(images.min()) < 0 or float(images.max()) > 1:
            raise ValueError("image values must be finite and lie in [0, 1]")
        return images.detach().float().cpu()

    def prepare_labels(self, labels: Any, batch: int) -> torch.Tensor | None:
        if labels is None:
            return None
        labels = torch.as_tensor(labels)
        if labels.dim() == 0:
            labels = labels.expand(batch)
        if labels.is_floating_point() or tuple(labels.shape) != (batch,):
            raise ValueError(f"labels must be integers of shape ({batch},), got {tuple(labels.shape)}")
        k = self.config.num_classes
        if bool(((labels < -1) | (labels >= k)).any()):
            raise ValueError(f"labels must lie in [-1, {k - 1}] (-1 = unknown) for this {k}-class model")
        return labels.long()

    def _autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.precision, self.device)

    # --- the API ------------------------------------------------------------------------------

    @torch.inference_mode()
    def _sample(self, images: torch.Tensor, source: torch.Tensor, target: torch.Tensor, noise: torch.Tensor,
                labels: torch.Tensor | None) -> torch.Tensor:
        """One sample per row: G in chunks of `batch_limit`, then exact sources and neutral non-targets."""
        c = self.config
        if self.deterministic:  # trained without noise: z = 0 is the model
            noise = torch.zeros_like(noise)
        out = torch.empty_like(images)
        for lo in range(0, images.shape[0], self.batch_limit):
            sl = slice(lo, lo + self.batch_limit)
            with self._autocast():
                x = self.generator(to_model_range(images[sl]).to(self.device), source[sl].to(self.device),
                                   noise[sl].to(self.device), None if labels is None else labels[sl].to(self.device))
            out[sl] = from_model_range(x.float()).cpu()
        pix_source = patch_to_pixel_mask(source, c.patch_size, c.grid)
        pix_target = patch_to_pixel_mask(target, c.patch_size, c.grid)
        return torch.where(pix_source, images, torch.where(pix_target, out, torch.full_like(out, NEUTRAL)))

    def complete(self, images: torch.Tensor | np.ndarray, source: Any, *, seeds: int | Sequence[int],
                 labels: Any = None, target: Any = None) -> torch.Tensor:
        """Sample x_T ~ p(x_T | x_S, y) for every image and seed: (B, n_seeds, C, H, W) float in [0, 1].

        `source`/`target`: bool (B, gh, gw) or (B, L); `target=None` means every non-source patch.
        Source pixels are returned exactly as given; pixels outside S ∪ T are mid grey.
        `labels` (B,) ints, -1 = unknown: known labels condition the generation (label as source).
        """
        self._require_generator()
        images = self.prepare_images(images)
        b, c = images.shape[0], self.config
        source, target = (m.cpu() for m in check_masks(source, target, b, c.grid))
        labels = self.prepare_labels(labels, b)
        seed_list = as_seed_list(seeds)
        n = len(seed_list)
        noise = seed_noise(seed_list, c.noise_dim).repeat(b, 1)  # (image, seed) pairs, image-major
        out = self._sample(images.repeat_interleave(n, 0), source.repeat_interleave(n, 0),
                           target.repeat_interleave(n, 0), noise,
                           None if labels is None else labels.repeat_interleave(n, 0))
        return out.view(b, n, c.channels, c.height, c.width)

    def generate(self, n: int, *, seeds: int | Sequence[int], labels: Any = None, target: Any = None) -> torch.Tensor:
        """Joint (S = ∅), class-conditional (`labels`) or marginal (`target`) generation: (n, C, H, W).

        `seeds`: an int s (sample i uses seed s + i) or n ints, one per sample. Sample i equals
        `complete` of any image with an empty source and seed i.
        """
        self._require_generator()
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"n must be a positive int, got {n!r}")
        seed_list = as_seed_list(seeds)
        if len(seed_list) == 1:
            seed_list = [seed_list[0] + i for i in range(n)]
        if len(seed_list) != n:
            raise ValueError(f"give one seed or n = {n} seeds, got {len(seed_list)}")
        c = self.config
        source, target = check_masks(torch.zeros(n, c.num_patches, dtype=torch.bool), target, n, c.grid)
        blank = torch.full((n, c.channels, c.height, c.width), NEUTRAL)
        return self._sample(blank, source, target.cpu(), seed_noise(seed_list, c.noise_dim),
                            self.prepare_labels(labels, n))

    @torch.inference_mode()
    def classify(self, images: torch.Tensor | np.ndarray, source: Any = None) -> torch.Tensor:
        """p_θ(y | x_S): (B, K) probabilities; `source=None` means the whole image."""
        images = self.prepare_images(images)
        b, c = images.shape[0], self.config
        if source is None:
            source = torch.ones(b, c.num_patches, dtype=torch.bool)
        source = flatten_mask(source, "source", b, c.grid).cpu()
        probs = []
        for lo in range(0, b, self.batch_limit):
            sl = slice(lo, lo + self.batch_limit)
            with self._autocast():
                logits = self.generator.classify_logits(to_model_range(images[sl]).to(self.device),
                                                        source[sl].to(self.device))
            probs.append(logits.float().softmax(-1).cpu())
        return torch.cat(probs)


def save(path: str | Path, generator: UniversalGenerator, config: BigLearnConfig,
         info: dict[str, Any] | None = None) -> None:
    """Write an inference checkpoint (safetensors; config and `info` as JSON metadata), atomically."""
    if generator.config != config.model:
        raise ValueError("the generator's ModelConfig differs from config.model")
    save_inference(path, generator, config, info)


def load(path_or_hub_id: str | Path, device: str | torch.device | None = None,
         max_parameters: int = DEFAULT_MAX_PARAMETERS, precision: str = "auto") -> BigLearnModel:
    """Load an inference checkpoint into a ready `BigLearnModel`.

    `path_or_hub_id`: a local .safetensors file, or a Hugging Face Hub id `user/repo` (file
    `model.safetensors`) or `user/repo/file.safetensors`. `device`: None/"auto" (CUDA if available),
    "cpu", "cuda", ... `precision`: "auto" (bf16 on CUDA, fp32 on a CPU), "fp32", or "bf16" where the device has
    it natively (sources stay exact copies in every precision). Raises `CheckpointError` (a ValueError) naming
    the problem for a missing, truncated or non-biglearn file, an unknown format version, a config out of range,
    a generator of more than `max_parameters` parameters, tensors that don't match the config, or non-finite
    weights; all of it is checked from the file's header before the network is built. `m.format_version` says
    which format the file was written in (older ones are migrated on load).

    The returned object offers:
      m.config                       the ModelConfig (image size, channels, patch size, grid, classes, widths)
      m.complete(images, source, *, seeds, labels=None, target=None) -> (B, n_seeds, C, H, W) in [0, 1]
      m.generate(n, *, seeds, labels=None, target=None)              -> (n, C, H, W) in [0, 1]
      m.classify(images, source=None)                                -> (B, K) probabilities
    `images` are float (B, C, H, W) in [0, 1] or uint8 numpy (B, H, W[, C]); masks are bool (B, gh, gw)
    or (B, L), True = member; the same seed gives the same sample on CPU and GPU.
    """
    path = resolve_path(path_or_hub_id)
    config, state, info = load_inference(path, max_parameters=max_parameters)
    generator = UniversalGenerator(config.model)
    check_state_dict(generator, state, str(path))
    generator.load_state_dict(state)
    model = BigLearnModel(generator, config, info, device, precision=precision)
    model.format_version = format_version(path)
    return model
