"""Joining the process group under ``torchrun``, shared by the training loops of the integrations."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["join_process_group"]


def join_process_group(device: str) -> tuple[int, int, torch.device]:
    """``(rank, world size, device)``. Under ``torchrun`` (``WORLD_SIZE`` set) join the process
    group (NCCL on CUDA, Gloo on the CPU) and, on CUDA, take the GPU ``LOCAL_RANK``; otherwise
    ``(0, 1, device)``. ``device='auto'`` means CUDA where available, else the CPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if int(os.environ.get("WORLD_SIZE", "1")) == 1 and not dist.is_initialized():
        return 0, 1, dev
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), dev
