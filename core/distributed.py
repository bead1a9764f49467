"""torchrun support: which process this is, and the few collective calls the trainer makes.

``torchrun --nproc_per_node=N -m core.train …`` sets RANK / WORLD_SIZE / LOCAL_RANK; the CLI
calls :func:`init_from_env` (NCCL on GPUs, gloo on CPU). Rank 0 alone writes the run directory;
the others train their shard of every batch and wait at a barrier while rank 0 evaluates.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Dist", "init_from_env", "SINGLE"]


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: rank in [0, world), local_rank = its GPU on this node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def broadcast(self, obj):
        """rank 0's ``obj`` on every rank (a small picklable value, e.g. the run directory's path)."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """The mean of ``tensor`` over ranks (in place; one collective)."""
        if self.active:
            dist.all_reduce(tensor)
            tensor /= self.world
        return tensor


SINGLE = Dist()


def init_from_env(device: str = "auto") -> Dist:
    """Join the process group torchrun describes in the environment; a plain run gets ``SINGLE``.

    device "cpu" (or no GPU) → gloo; otherwise NCCL with this process on GPU ``LOCAL_RANK``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Dist(rank, world, local)


def shutdown(d: Dist) -> None:
    if d.active and dist.is_initialized():
        dist.destroy_process_group()
