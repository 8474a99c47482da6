"""One process per GPU under torchrun, as open_clip_train runs: the rank and device of this
process, and DDP around the model when there are several."""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int
    world_size: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Only the main process writes checkpoints, logs and progress."""
        return self.rank == 0


def setup(device: str | None = None) -> Dist:
    """Join torchrun's process group when WORLD_SIZE > 1 (nccl on GPUs, gloo on CPUs).

    ``device`` defaults to this process's GPU, or the CPU when there is none.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if world_size == 1:
        return Dist(0, 1, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), world_size, device)


def wrap(model: torch.nn.Module, where: Dist) -> torch.nn.Module:
    if where.world_size == 1:
        return model
    ids = [where.device] if where.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
