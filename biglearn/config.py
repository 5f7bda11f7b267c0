"""Configuration dataclasses for the BigLearn-GAN, serialised into every checkpoint.

`ModelConfig` fixes the architecture of the universal generator and discriminator, `MaskConfig` the
laws of the (S, T) sampling (DESIGN.md §5), `LossConfig` the weights of the objectives (§4).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

FORMAT_VERSION = 5  # 2: every key written and required, `objective` added; 3: `cls_pool`; 4: the mode-seeking
# term's `diversity_weight` and `diversity_cap` (docs/design-notes.md); 5: its `diversity_labelled`
# Version-1 readers filled a missing key with its default. These are those defaults, frozen, so a version-1
# file keeps meaning what it meant when written whatever the defaults become (see `migrate`).
V1_DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {"height": 28, "width": 28, "channels": 1, "patch_size": 4, "num_classes": 10, "enc_dim": 96,
              "enc_depth": 2, "enc_heads": 4, "dec_dim": 128, "dec_depth": 4, "dec_heads": 4, "mlp_ratio": 2.0,
              "noise_dim": 64, "noise_depth": 4, "noise_norm": False, "conv_head_channels": 32, "d_dim": 96,
              "d_depth": 3, "d_heads": 4, "d_overlap": 1},
    "masks": {"source_beta": [0.5, 3.0], "target_beta": [3.0, 0.5], "comm_source_beta": [0.5, 3.0],
              "label_roles": [0.4, 0.3, 0.3], "label_full_source": 0.5},
    "loss": {"comm_weight": 1.0, "r1_gamma": 0.2, "r1_interval": 4, "label_weight": 1.0, "objective": "biglearn"},
}
# Keys each later format version added, with the value that keeps an older file meaning what it meant.
ADDED_IN: dict[int, dict[str, dict[str, Any]]] = {
    3: {"model": {"cls_pool": "global"}},
    4: {"loss": {"diversity_weight": 0.0, "diversity_cap": 0.25}},
    5: {"loss": {"diversity_labelled": True}},
}
# What the classifier head p(y | x_S) reads: the encoder's global token, or the mean of the global token and
# every source token the encoder returns.
CLS_POOLS = ("global", "mean")

# The training objectives (docs/claims.md): big learning, its ablation without communication (eq. 4 only),
# and its special cases: joint matching alone (a plain GAN), MAE (no noise, MSE on the targets, no
# discriminator) and supervised learning (S = L, T = {y}: the encoder and classifier head alone).
OBJECTIVES = ("biglearn", "biglearn-no-comm", "joint", "mae", "supervised")
DETERMINISTIC_OBJECTIVES = ("mae", "supervised")  # their generator ignores the noise z
ADVERSARIAL_OBJECTIVES = ("biglearn", "biglearn-no-comm", "joint")  # the ones with a discriminator

T = TypeVar("T")


# Every integer field of ModelConfig with its allowed range: far above any preset, low enough that a hostile
# file cannot ask for a network that does not fit in memory before its size is even estimated.
MODEL_INT_RANGES: dict[str, tuple[int, int]] = {
    "height": (1, 1024), "width": (1, 1024), "channels": (1, 4), "patch_size": (1, 64), "num_classes": (0, 10_000),
    "enc_dim": (1, 4096), "enc_depth": (1, 64), "enc_heads": (1, 64), "dec_dim": (1, 4096), "dec_depth": (1, 64),
    "dec_heads": (1, 64), "noise_dim": (1, 4096), "noise_depth": (1, 32), "conv_head_channels": (0, 1024),
    "d_dim": (1, 4096), "d_depth": (1, 64), "d_heads": (1, 64), "d_overlap": (0, 64),
}
MAX_PATCHES = 4096


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the universal generator G and discriminator D."""

    height: int = 28
    width: int = 28
    channels: int = 1
    patch_size: int = 4
    num_classes: int = 10  # 0 = unlabelled data: no label token, no classification head
    # G-Encoder (source patches + global token + label token)
    enc_dim: int = 96
    enc_depth: int = 2
    enc_heads: int = 4
    # G-Decoder (all L positions)
    dec_dim: int = 128
    dec_depth: int = 4
    dec_heads: int = 4
    mlp_ratio: float = 2.0
    # noise z -> MLP -> L patch-wise noise embeddings, fed at every decoder layer
    noise_dim: int = 64
    noise_depth: int = 4
    # LayerNorm on the noise embeddings: unit scale like the position embeddings. Without it they start
    # ~10x smaller than the rest of a decoder token, and a GAN generator learns to ignore z (collapse).
    noise_norm: bool = False
    # optional residual conv head refining the assembled image (0 channels = off)
    conv_head_channels: int = 32
    # discriminator
    d_dim: int = 96
    d_depth: int = 3
    d_heads: int = 4
    d_overlap: int = 1  # pixels of margin each D token sees around its patch
    cls_pool: str = "global"  # one of CLS_POOLS: what the classifier head reads

    def __post_init__(self) -> None:
        for name, (lo, hi) in MODEL_INT_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"ModelConfig.{name} must be an int in [{lo}, {hi}], got {value!r}")
        if isinstance(self.mlp_ratio, bool) or not isinstance(self.mlp_ratio, int | float) \
                or not math.isfinite(self.mlp_ratio) or not 0.25 <= self.mlp_ratio <= 16:
            raise ValueError(f"ModelConfig.mlp_ratio must be a number in [0.25, 16], got {self.mlp_ratio!r}")
        if not isinstance(self.noise_norm, bool):
            raise ValueError(f"ModelConfig.noise_norm must be true or false, got {self.noise_norm!r}")
        if self.cls_pool not in CLS_POOLS:
            raise ValueError(f"ModelConfig.cls_pool must be one of {', '.join(CLS_POOLS)}, got {self.cls_pool!r}")
        if self.height % self.patch_size or self.width % self.patch_size:
            raise ValueError(
                f"patch_size {self.patch_size} must divide the image size {self.height}x{self.width}"
            )
        if self.num_patches > MAX_PATCHES:
            raise ValueError(f"the {self.grid[0]}x{self.grid[1]} patch grid has {self.num_patches} patches; at most "
                             f"{MAX_PATCHES} are supported")
        for dim, heads in ((self.enc_dim, self.enc_heads), (self.dec_dim, self.dec_heads),
                           (self.d_dim, self.d_heads)):
            if dim % heads:
                raise ValueError(f"width {dim} is not divisible by its number of heads {heads}")

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def grid(self) -> tuple[int, int]:
        """Patch grid (gh, gw)."""
        return (self.height // self.patch_size, self.width // self.patch_size)

    @property
    def num_patches(self) -> int:
        gh, gw = self.grid
        return gh * gw

    @property
    def patch_dim(self) -> int:
        return self.patch_size * self.patch_size * self.channels


@dataclass(frozen=True)
class MaskConfig:
    """Laws of the (S, T) sampling and of the label's role (DESIGN.md §5)."""

    source_beta: tuple[float, float] = (0.5, 3.0)  # |S| / |O|
    target_beta: tuple[float, float] = (3.0, 0.5)  # |T| / |O \ S|
    comm_source_beta: tuple[float, float] = (0.5, 3.0)  # |S2| / |S1 ∪ T1|
    # probabilities that a labelled sample's label is a source / a target / absent
    label_roles: tuple[float, float, float] = (0.4, 0.3, 0.3)
    # for the label cross-entropy: probability that the classifier sees the whole observed image
    label_full_source: float = 0.5

    def __post_init__(self) -> None:
        for name in ("source_beta", "target_beta", "comm_source_beta"):
            a, b = getattr(self, name)
            if a <= 0 or b <= 0:
                raise ValueError(f"MaskConfig.{name} must hold two positive numbers, got {(a, b)}")
        if len(self.label_roles) != 3 or min(self.label_roles) < 0 or sum(self.label_roles) <= 0:
            raise ValueError(f"MaskConfig.label_roles must be 3 non-negative weights: {self.label_roles}")
        if not 0.0 <= self.label_full_source <= 1.0:
            raise ValueError("MaskConfig.label_full_source must lie in [0, 1]")


@dataclass(frozen=True)
class LossConfig:
    """Weights of the big-learning objectives (DESIGN.md §4)."""

    comm_weight: float = 1.0  # λ_comm of eq. (5); 0 switches the communication term off
    r1_gamma: float = 0.2  # λ_GP: (λ/2)·E‖∇_x f(real)‖²; the paper's 10 collapses 28x28 digits (DESIGN §11)
    r1_interval: int = 4  # lazy R1: evaluate every k D-steps, scaled by k
    label_weight: float = 1.0  # cross-entropy of p(y | x_S)
    objective: str = "biglearn"  # one of OBJECTIVES
    # Mode seeking (objectives.mode_seeking): G maximises λ_div · E[min(|Δx| / |Δz|, cap)] over pairs of its
    # samples of one task; 0 = off (no second sample drawn)
    diversity_weight: float = 0.0
    diversity_cap: float = 0.25
    # whether the term also covers samples whose label is given (a source): on, it can push G's samples of an
    # asked class out of the class (docs/results.md, the mode-seeking run)
    diversity_labelled: bool = True

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; known: {', '.join(OBJECTIVES)}")
        if self.objective != "biglearn" and self.comm_weight > 0:
            raise ValueError(f"objective {self.objective!r} has no communication term: comm_weight must be 0")
        for name in ("comm_weight", "r1_gamma", "label_weight", "diversity_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"LossConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not self.diversity_cap > 0:
            raise ValueError(f"LossConfig.diversity_cap must be > 0, got {self.diversity_cap}")
        if self.diversity_weight > 0 and self.objective not in ADVERSARIAL_OBJECTIVES:
            raise ValueError(f"objective {self.objective!r} ignores its noise: LossConfig.diversity_weight must be 0")
        if self.r1_interval < 1:
            raise ValueError("LossConfig.r1_interval must be >= 1")
        if not isinstance(self.diversity_labelled, bool):
            raise ValueError(f"LossConfig.diversity_labelled must be true or false, got {self.diversity_labelled!r}")

    @property
    def deterministic(self) -> bool:
        """Whether a generator trained with this objective ignores its noise (one sample per source)."""
        return self.objective in DETERMINISTIC_OBJECTIVES

    @property
    def adversarial(self) -> bool:
        """Whether this objective trains a discriminator."""
        return self.objective in ADVERSARIAL_OBJECTIVES


@dataclass(frozen=True)
class BigLearnConfig:
    """Everything that defines a BigLearn-GAN: architecture, task sampling and objectives."""

    model: ModelConfig = field(default_factory=ModelConfig)
    masks: MaskConfig = field(default_factory=MaskConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, version: int = FORMAT_VERSION) -> BigLearnConfig:
        """Parse and validate a config written at format `version` (older ones are migrated first);
        unknown or missing keys raise ValueError naming them."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"config is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError("config JSON must be an object")
        data = migrate(data, version)
        missing = sorted({"model", "masks", "loss"} - set(data))
        if missing:
            raise ValueError(f"config section(s) missing: {', '.join(missing)}")
        return cls(
            model=dataclass_from_dict(ModelConfig, data["model"], "model"),
            masks=dataclass_from_dict(MaskConfig, data["masks"], "masks"),
            loss=dataclass_from_dict(LossConfig, data["loss"], "loss"),
        )


def migrate(data: dict[str, Any], version: int) -> dict[str, Any]:
    """A config object written at format `version`, brought to FORMAT_VERSION (a new dict).

    1 -> 2: version-1 readers filled missing keys with their defaults; fill them from V1_DEFAULTS.
    Then each later version's new keys (ADDED_IN) with the value that keeps the file's meaning."""
    if not 1 <= version <= FORMAT_VERSION:
        raise ValueError(f"config format version {version} is unknown; this biglearn reads versions 1 to "
                         f"{FORMAT_VERSION}")
    out = copy.deepcopy(data)
    steps = [V1_DEFAULTS] if version == 1 else []
    steps += [ADDED_IN[v] for v in sorted(ADDED_IN) if v > max(version, 2)]
    for added in steps:
        for section, defaults in added.items():
            part = out.setdefault(section, {})
            if isinstance(part, dict):
                for key, value in defaults.items():
                    part.setdefault(key, copy.deepcopy(value))
    return out


def dataclass_from_dict(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass `cls` from a JSON dict, rejecting unknown and missing keys; lists become tuples."""
    if not isinstance(data, dict):
        raise ValueError(f"config section {where!r} must be an object")
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown config key(s) in {where!r}: {', '.join(unknown)}")
    missing = sorted(set(known) - set(data))
    if missing:
        raise ValueError(f"missing config key(s) in {where!r}: {', '.join(missing)}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad config section {where!r}: {exc}") from exc
