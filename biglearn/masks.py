"""Source/target masks: the (S, T) sampling of training and the masks of evaluation and the app.

Masks are bool tensors over the patch grid, shape (B, L), True = member (DESIGN.md §1). Everything is
vectorised over the batch: members are chosen by ranking random scores, as MAE's `random_masking`.
The "abused" sources of paper §4.2 (relocated, duplicated, mixed and out-of-domain patches) are at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .config import MaskConfig
from .patches import patchify, unpatchify

# label roles (DESIGN.md §5)
LABEL_SOURCE, LABEL_TARGET, LABEL_ABSENT = 0, 1, 2


@dataclass
class Tasks:
    """One batch of sampled tasks: (S1, T1) for eq. (4), (S2, T2) for eq. (5), and label roles."""

    source: torch.Tensor  # (B, L) bool, S1
    target: torch.Tensor  # (B, L) bool, T1
    comm_source: torch.Tensor  # (B, L) bool, S2 ⊂ S1 ∪ T1
    comm_target: torch.Tensor  # (B, L) bool, T2 = (S1 ∪ T1) \ S2
    label_role: torch.Tensor  # (B,) long, LABEL_SOURCE / LABEL_TARGET / LABEL_ABSENT


def _rank(scores: torch.Tensor) -> torch.Tensor:
    """Rank of each entry within its row (0 = smallest)."""
    return scores.argsort(dim=1).argsort(dim=1)


def _beta(shape: tuple[float, float], n: int, device: torch.device) -> torch.Tensor:
    a, b = shape
    return torch.distributions.Beta(torch.tensor(float(a)), torch.tensor(float(b))).sample((n,)).to(device)


def split_random(pool: torch.Tensor, first_ratio: torch.Tensor, second_ratio: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Split each row's pool (B, L) into a random first part of ratio `first_ratio` of the pool,
    kept strictly smaller than the pool, and a non-empty second part drawn from the rest
    (`second_ratio` of the rest, default all of it). Rows with an empty pool get two empty parts.
    """
    n_pool = pool.sum(1)
    n_first = (first_ratio * n_pool).floor().long().clamp(min=0)
    n_first = torch.minimum(n_first, (n_pool - 1).clamp(min=0))
    n_rest = n_pool - n_first
    if second_ratio is None:
        n_second = n_rest
    else:
        n_second = (second_ratio * n_rest).round().long().clamp(min=1)
        n_second = torch.minimum(n_second, n_rest)
    scores = torch.rand(pool.shape, generator=generator, device=pool.device)
    scores = scores.masked_fill(~pool, 2.0)  # outside the pool ranks last
    rank = _rank(scores)
    first = rank < n_first[:, None]
    second = (rank >= n_first[:, None]) & (rank < (n_first + n_second)[:, None])
    return first & pool, second & pool


def sample_tasks(batch_size: int, num_patches: int, config: MaskConfig, *, observed: torch.Tensor | None = None,
                 has_label: torch.Tensor | None = None, device: torch.device | str = "cpu") -> Tasks:
    """Sample (S1, T1, S2, T2) and label roles by the laws of DESIGN.md §5.

    `observed` (B, L) restricts S and T to the observed patches of incomplete data; every sample
    must observe at least one patch. `has_label` (B,) bool marks samples whose label is known;
    the others always get LABEL_ABSENT. Uses the global torch RNG (seeded by the trainer).
    """
    device = torch.device(device)
    if observed is None:
        observed = torch.ones(batch_size, num_patches, dtype=torch.bool, device=device)
    if observed.shape != (batch_size, num_patches):
        raise ValueError(f"observed mask must have shape {(batch_size, num_patches)}, got {tuple(observed.shape)}")
    if not bool(observed.any(1).all()):
        raise ValueError("every sample must observe at least one patch")
    source, target = split_random(observed, _beta(config.source_beta, batch_size, device),
                                  _beta(config.target_beta, batch_size, device))
    union = source | target
    comm_source, comm_target = split_random(union, _beta(config.comm_source_beta, batch_size, device))
    probs = torch.tensor(config.label_roles, dtype=torch.float)
    role = torch.multinomial(probs / probs.sum(), batch_size, replacement=True).to(device)
    if has_label is not None:
        role = torch.where(has_label.to(device), role, torch.full_like(role, LABEL_ABSENT))
    return Tasks(source, target, comm_source, comm_target, role)


def joint_only(tasks: Tasks, observed: torch.Tensor | None = None) -> Tasks:
    """The same tasks reduced to joint matching: S = ∅ and T = every observed patch (a plain GAN's task).

    Label roles are kept, so a joint-only model can still be class-conditional."""
    target = torch.ones_like(tasks.target) if observed is None else observed.to(tasks.target.device).clone()
    empty = torch.zeros_like(tasks.source)
    return Tasks(empty, target, empty, target, tasks.label_role)


def flatten_mask(mask: Any, name: str, batch_size: int, grid: tuple[int, int]) -> torch.Tensor:
    """Validate a user mask (bool or 0/1 ints, shape (B, gh, gw) or (B, L)) -> flat (B, L) bool."""
    num_patches = grid[0] * grid[1]
    mask = torch.as_tensor(mask)
    if mask.dtype != torch.bool:
        if mask.is_floating_point() or not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(f"{name} mask must be boolean (or 0/1 integers), got dtype {mask.dtype}")
        mask = mask.bool()
    if tuple(mask.shape) == (batch_size, *grid):
        return mask.reshape(batch_size, num_patches)
    if tuple(mask.shape) == (batch_size, num_patches):
        return mask
    raise ValueError(f"{name} mask must have shape {(batch_size, *grid)} or {(batch_size, num_patches)} "
                     f"for this model's {grid[0]}x{grid[1]} patch grid, got {tuple(mask.shape)}")


def check_masks(source: Any, target: Any, batch_size: int, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a task: T ⊆ L \\ S and T non-empty for every sample; `target=None` means L \\ S.

    Returns flat (B, L) bool masks; raises ValueError naming the problem.
    """
    source = flatten_mask(source, "source", batch_size, grid)
    if target is None:
        target = ~source
    else:
        target = flatten_mask(target, "target", batch_size, grid).to(source.device)
        if bool((target & source).any()):
            raise ValueError("target and source masks overlap: T must be a subset of L \\ S")
    empty = (~target.any(1)).nonzero().flatten()
    if len(empty):
        raise ValueError(f"the target is empty for sample(s) {empty.tolist()}: the source covers every "
                         "patch, so there is nothing to generate")
    return source, target


# --- masks for evaluation and the app ------------------------------------------------------------

def random_source(batch_size: int, num_patches: int, ratio: float, *,
                  generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """Random source of round(ratio·L) patches per sample, (B, L) bool."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"source ratio must lie in [0, 1], got {ratio}")
    k = round(ratio * num_patches)
    scores = torch.rand(batch_size, num_patches, generator=generator).to(device)
    return _rank(scores) < k


def first_portion_source(batch_size: int, num_patches: int, ratio: float,
                         device: torch.device | str = "cpu") -> torch.Tensor:
    """The first round(ratio·L) patches in raster order (top rows first), (B, L) bool."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"source ratio must lie in [0, 1], got {ratio}")
    k = round(ratio * num_patches)
    return (torch.arange(num_patches, device=device) < k).expand(batch_size, num_patches).clone()


def region_source(batch_size: int, grid: tuple[int, int], rows: slice, cols: slice,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """A rectangular block of the patch grid (e.g. top half, left half, centre), (B, L) bool."""
    m = torch.zeros(grid, dtype=torch.bool, device=device)
    m[rows, cols] = True
    return m.flatten().expand(batch_size, -1).clone()


# --- the "abused" sources of paper §4.2 ----------------------------------------------------------

def move_patches(dest: torch.Tensor, donor: torch.Tensor, patch_size: int, src_index: list[int] | torch.Tensor,
                 dst_index: list[int] | torch.Tensor) -> torch.Tensor:
    """Copy donor patches at `src_index` into `dest` at `dst_index` (raster indices, same for the batch).

    Both images (B, C, H, W); returns a new tensor. The primitive behind relocation, duplication,
    mix-up and out-of-domain pasting.
    """
    src = torch.as_tensor(src_index, dtype=torch.long, device=dest.device).flatten()
    dst = torch.as_tensor(dst_index, dtype=torch.long, device=dest.device).flatten()
    if src.shape != dst.shape:
        raise ValueError(f"src_index and dst_index must have the same length, got {len(src)} and {len(dst)}")
    if dest.shape[0] != donor.shape[0] and donor.shape[0] != 1:
        raise ValueError("donor batch must match the destination batch (or be 1)")
    b, c, h, w = dest.shape
    if donor.shape[1:] != dest.shape[1:]:
        raise ValueError(f"donor images {tuple(donor.shape[1:])} differ from destination {tuple(dest.shape[1:])}")
    tokens = patchify(dest, patch_size).clone()
    donor_tokens = patchify(donor, patch_size).expand(b, -1, -1)
    n = tokens.shape[1]
    if len(src) and (int(src.min()) < 0 or int(src.max()) >= n or int(dst.min()) < 0 or int(dst.max()) >= n):
        raise ValueError(f"patch indices must lie in [0, {n})")
    tokens[:, dst] = donor_tokens[:, src]
    return unpatchify(tokens, patch_size, c, h, w)


def index_mask(batch_size: int, num_patches: int, index: list[int] | torch.Tensor,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, L) bool mask that selects the given raster indices in every sample."""
    m = torch.zeros(num_patches, dtype=torch.bool, device=device)
    m[torch.as_tensor(index, dtype=torch.long, device=device)] = True
    return m.expand(batch_size, -1).clone()


def relocate_patches(images: torch.Tensor, patch_size: int, src_index, dst_index) -> tuple[torch.Tensor, torch.Tensor]:
    """Move patches to new places; the source is the moved patches at their new places only."""
    moved = move_patches(images, images, patch_size, src_index, dst_index)
    return moved, index_mask(images.shape[0], _num_patches(images, patch_size), dst_index, images.device)


def duplicate_patches(images: torch.Tensor, patch_size: int, src_index, dst_index) -> tuple[torch.Tensor, torch.Tensor]:
    """Copy patches to new places; the source is the originals and their copies."""
    copied = move_patches(images, images, patch_size, src_index, dst_index)
    n = _num_patches(images, patch_size)
    both = torch.cat([torch.as_tensor(src_index).flatten(), torch.as_tensor(dst_index).flatten()])
    return copied, index_mask(images.shape[0], n, both, images.device)


def mix_patches(images_a: torch.Tensor, images_b: torch.Tensor, patch_size: int,
                index_a, index_b) -> tuple[torch.Tensor, torch.Tensor]:
    """Source made of patches `index_a` of image a and patches `index_b` of image b (at their own places)."""
    mixed = move_patches(images_a, images_b, patch_size, index_b, index_b)
    n = _num_patches(images_a, patch_size)
    both = torch.cat([torch.as_tensor(index_a).flatten(), torch.as_tensor(index_b).flatten()])
    return mixed, index_mask(images_a.shape[0], n, both, images_a.device)


def paste_patches(images: torch.Tensor, foreign: torch.Tensor, patch_size: int, src_index, dst_index,
                  keep_index=()) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste patches of a (possibly out-of-domain) image into `images`; the source is the pasted
    patches plus any of the image's own patches listed in `keep_index`."""
    pasted = move_patches(images, foreign, patch_size, src_index, dst_index)
    n = _num_patches(images, patch_size)
    both = torch.cat([torch.as_tensor(dst_index, dtype=torch.long).flatten(),
                      torch.as_tensor(keep_index, dtype=torch.long).flatten()])
    return pasted, index_mask(images.shape[0], n, both, images.device)


ABUSED = ("relocated", "duplicated", "mixed", "out_of_domain")


@dataclass(frozen=True)
class AbusedLayout:
    """Where the patches of one §4.2 test go: the donor's patches `picks` are pasted at `dests`, and the
    source is the pasted patches plus the image's own patches `keep`. `donor` names what is pasted."""

    picks: list[int]
    dests: list[int]
    keep: list[int]
    donor: str  # "itself" | "another digit" | "an out-of-domain image"


def abused_layout(name: str, grid: tuple[int, int]) -> AbusedLayout:
    """The one table of the paper's §4.2 abused sources, for a (gh, gw) patch grid (raster indices):
    relocated: the centre block moved to the upper-left corner, the source the moved block only;
    duplicated: the centre block copied there, the source the original and the copy;
    mixed: the upper half of the image and the lower half of another digit (the border rows and a joining
    row left to generate); out_of_domain: the same with an out-of-domain image's lower half."""
    gh, gw = grid
    k = max(1, min(gh, gw) // 3)  # side of the moved block: 2 patches on MNIST's 7x7 grid

    def block(top: int, left: int) -> list[int]:
        return [(top + i) * gw + left + j for i in range(k) for j in range(k)]

    def rows(lo: int, hi: int) -> list[int]:
        return list(range(lo * gw, hi * gw))

    centre, corner = block((gh - k) // 2, (gw - k) // 2), block(0, 0)
    upper, lower = rows(1, gh // 2), rows(gh // 2 + 1, gh - 1)
    table = {"relocated": AbusedLayout(centre, corner, [], "itself"),
             "duplicated": AbusedLayout(centre, corner, centre, "itself"),
             "mixed": AbusedLayout(lower, lower, upper, "another digit"),
             "out_of_domain": AbusedLayout(lower, lower, upper, "an out-of-domain image")}
    if name not in table:
        raise ValueError(f"unknown abused source {name!r}; choose one of {', '.join(ABUSED)}")
    return table[name]


def abuse(images: torch.Tensor, donors: torch.Tensor, patch_size: int, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply the §4.2 test `name` to images (B, C, H, W) with `donors` of the same shape (ignored where the
    donor is the image itself): (images with the pasted patches, source (B, L))."""
    grid = (images.shape[-2] // patch_size, images.shape[-1] // patch_size)
    lay = abused_layout(name, grid)
    donor = images if lay.donor == "itself" else donors
    return paste_patches(images, donor, patch_size, lay.picks, lay.dests, lay.keep)


def _num_patches(images: torch.Tensor, patch_size: int) -> int:
    return (images.shape[-2] // patch_size) * (images.shape[-1] // patch_size)
