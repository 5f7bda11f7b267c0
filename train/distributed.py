"""Data parallelism over torchrun processes: gradient averaging by all-reduce, rank-0-only files.

We average gradients by hand instead of wrapping G and D in DDP: the G step back-propagates through a
frozen D, which DDP's reducer does not expect, and a plain all-reduce keeps every rank bit-identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistInfo:
    """Join the torchrun process group if WORLD_SIZE > 1 (gloo on CPU, NCCL on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if device.type == "cuda" and world > torch.cuda.device_count():
        # NCCL needs a GPU per rank: two ranks on one GPU fail deep inside NCCL ("invalid usage")
        raise ValueError(f"torchrun started {world} processes but this machine has {torch.cuda.device_count()} "
                         f"GPU(s): NCCL needs one GPU per process; start at most {torch.cuda.device_count()} "
                         "(--nproc_per_node) or train on --device cpu (gloo)")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size())


def shutdown_distributed(wait: bool) -> None:
    """Leave the process group (with `wait`, once every rank has finished), so no rank exits with gloo's
    threads alive: that aborts the process ("terminate called without an active exception")."""
    if dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def average_gradients(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    """Average .grad over ranks (one flat all-reduce)."""
    if not info.enabled:
        return
    for p in params:  # a parameter unused on one rank (e.g. no label-target sample) must still line up
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_parameters(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if info.enabled:
        for t in module.state_dict().values():
            dist.broadcast(t, 0)


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank if `flag` is true on any rank (stop decisions must agree)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def all_equal(tensor: torch.Tensor, info: DistInfo) -> bool:
    """Whether `tensor` is identical on every rank (for sync checks)."""
    if not info.enabled:
        return True
    ref = tensor.clone()
    dist.broadcast(ref, 0)
    same = torch.tensor([float(torch.equal(ref, tensor))], device=tensor.device)
    dist.all_reduce(same, op=dist.ReduceOp.MIN)
    return bool(same.item() > 0)
