"""One process, or every process of a ``torchrun`` launch: the process group of all training loops."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["ProcessGroup"]


@dataclass(frozen=True)
class ProcessGroup:
    """This process's ``rank`` among ``size`` processes and its ``device``. Every collective below
    is a no-op for a single process."""

    rank: int = 0
    size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @classmethod
    def join(cls, device: str | torch.device = "auto") -> "ProcessGroup":
        """Under ``torchrun`` (``WORLD_SIZE`` > 1) join the process group (NCCL on CUDA, Gloo on the
        CPU) and, on CUDA, take the GPU ``LOCAL_RANK``; otherwise one process on ``device``.
        ``device='auto'`` means CUDA where available, else the CPU."""
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(device)
        if int(os.environ.get("WORLD_SIZE", "1")) == 1 and not dist.is_initialized():
            return cls(0, 1, dev)
        if dev.type == "cuda":
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(dev)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), dev)

    @property
    def is_main(self) -> bool:
        """Process 0, the one that writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def leave(self) -> None:
        """Wait for every process, then leave the process group."""
        if self.distributed and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def wrap(self, module: nn.Module, **ddp_kwargs) -> nn.Module:
        """``module`` in ``DistributedDataParallel`` when distributed, else ``module`` itself."""
        if not self.distributed:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids, **ddp_kwargs)

    def broadcast(self, module: nn.Module) -> None:
        """Give every process process 0's parameters and buffers."""
        if self.distributed:
            for t in [*module.parameters(), *module.buffers()]:
                dist.broadcast(t.data, 0)

    def average_gradients(self, params: Sequence[Tensor]) -> None:
        """Average the gradients of ``params`` over the processes (a missing gradient counts as 0)."""
        if self.distributed:
            for p in params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                dist.all_reduce(p.grad)
                p.grad /= self.size

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum of ``values`` over the processes (float64)."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def gather(self, state: Tensor) -> list[Tensor]:
        """``state`` of every process, by rank (on the CPU)."""
        if not self.distributed:
            return [state]
        states: list = [None] * self.size
        dist.all_gather_object(states, state.cpu())
        return states

    def check_in_sync(self, module: nn.Module) -> None:
        """RuntimeError if the processes' parameters have drifted apart (they must stay identical)."""
        if self.distributed:
            total = torch.stack([p.detach().double().sum() for p in module.parameters()]).sum().reshape(1)
            sums = [torch.zeros_like(total) for _ in range(self.size)]
            dist.all_gather(sums, total)
            if any(not torch.equal(s, sums[0]) for s in sums):
                raise RuntimeError(f"processes out of sync: parameter sums {[float(s) for s in sums]}")
