"""Multi-process training with DistributedDataParallel, when launched by ``torchrun``.

``torchrun --nproc_per_node=N $(which hgn) train ...`` starts N processes of the same entry point; each reads
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` from its environment. The global batch of the recipe (64 in the
paper) is split evenly between the processes (each takes every N-th sample of every batch), the gradients are
averaged by DDP, so the update equals the single-process one up to batch-norm statistics, which each process
computes on its own share (as the released code would under DDP). Rank 0 alone writes checkpoints and results
and evaluates; the others wait for it. Backend: NCCL on CUDA, Gloo on the CPU. Without ``torchrun`` (no
``WORLD_SIZE``), nothing here does anything.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size`` processes, and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, index: torch.Tensor) -> torch.Tensor:
        """This process's share of a batch's sample indices."""
        return index[self.rank::self.world_size] if self.enabled else index

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model wrapped in DistributedDataParallel (unchanged in a single process)."""
        if not self.enabled:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def setup(device: str | torch.device | None = None) -> DistContext:
    """Join the process group that ``torchrun`` describes in the environment (a no-op without it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if world <= 1:
        return DistContext(device=device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank=rank, world_size=world, device=device)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
