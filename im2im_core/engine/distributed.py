"""torchrun support without DistributedDataParallel wrappers.

GAN steps alternate between nets and freeze some of them, which DDP's bucketed hooks handle
badly; instead every rank runs the same step on its own shard of the data and the engine
averages gradients inside `Im2ImModel.optimize` (via `model.grad_sync`), broadcasts the
initial weights and the buffers (BatchNorm statistics) from rank 0, so all ranks hold
identical weights after every iteration. Only rank 0 writes files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError


def env_ranks() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) without it."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0)))


def select_device(preference: str = "auto", local_rank: int = 0) -> torch.device:
    """"auto": this rank's GPU when CUDA is present, else CPU; "cuda" without a GPU is an error."""
    pref = str(preference)
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(pref)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("config[train]: device 'cuda' requested but no CUDA GPU is available; use cpu or auto")
        if dev.index is None:
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
    return dev


@dataclass
class DistContext:
    """This process's place in the job, plus the collective helpers the trainer needs."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def grad_sync(self, params) -> None:
        """Average the gradients of `params` over ranks with one flat all-reduce."""
        grads = [p.grad for p in params]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def broadcast_tensors(self, tensors) -> None:
        """Copy rank 0's values of `tensors` to every rank (flattened per dtype)."""
        by_dtype: dict = {}
        for t in tensors:
            by_dtype.setdefault(t.dtype, []).append(t)
        for group in by_dtype.values():
            flat = torch.cat([t.detach().reshape(-1) for t in group])
            dist.broadcast(flat, src=0)
            offset = 0
            for t in group:
                t.data.copy_(flat[offset:offset + t.numel()].view_as(t))
                offset += t.numel()

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Start every rank from rank 0's parameters and buffers."""
        if self.enabled:
            self.broadcast_tensors(list(module.parameters()) + list(module.buffers()))

    def sync_buffers(self, module: torch.nn.Module) -> None:
        """Rank 0's buffers (BatchNorm running stats) everywhere, as DDP does each forward."""
        buffers = list(module.buffers())
        if self.enabled and buffers:
            self.broadcast_tensors(buffers)

    def barrier(self) -> None:
        """Wait for every rank (no-op on one process)."""
        if self.enabled:
            dist.barrier()


def init_distributed(device: str = "auto") -> DistContext:
    """Join the torchrun job if WORLD_SIZE > 1 (nccl on CUDA, gloo on CPU); else a 1-rank context.

    The process group is left alive at exit: destroy_process_group() can abort there.
    """
    rank, world, local_rank = env_ranks()
    dev = select_device(device, local_rank)
    if world > 1:
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", init_method="env://",
                                    rank=rank, world_size=world)
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=dev)
