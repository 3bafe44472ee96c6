"""Training / evaluation of CIFAR ResNets on CIFAR-100: one process, or DDP under ``torchrun``.

Recipe (the defaults; weiaicunzai/pytorch-cifar100, whose ResNet-18 top-1 of 75.61 % is the
paper's baseline): SGD lr 0.1, momentum 0.9, weight decay 5e-4, batch 128, 200 epochs, one linear
warm-up epoch, lr x 0.2 at 30 / 60 / 80 % of the epochs (epochs 60, 120, 160 of 200), random crop
32 (padding 4) + horizontal flip + rotation 15 degrees, CIFAR-100 mean/std normalisation.

Outputs in ``out``: ``last.pt`` (model + optimizer + epoch, for ``resume``; ``torch.load`` with
``weights_only=True``), ``best.safetensors`` and ``final.safetensors`` (weights, with the model
settings as metadata; :func:`load_weights`), ``log.csv`` (one row per epoch).

DDP: when ``WORLD_SIZE`` is set (``torchrun``), every process joins the group (NCCL on GPUs,
gloo on CPU), takes ``batch_size / WORLD_SIZE`` images per step (so the global batch and the
recipe do not change with the number of processes) from a ``DistributedSampler``, and evaluates
its own share of the test set; counts are summed over processes, so metrics are exact.
"""
from __future__ import annotations

import csv
import math
import os
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm import tqdm

from integrations.distributed import join_process_group

from .data import cifar100, eval_transform, train_transform
from .models import ARCHS, SITES, build_model

__all__ = ["TrainConfig", "run", "evaluate", "lr_at", "load_weights", "topk_correct", "config_from_dict", "MODEL_KEYS"]

MODEL_KEYS = ("arch", "wavelet", "width", "levels", "channel_levels", "sites", "num_classes")
NUM_CLASSES = 100


@dataclass
class TrainConfig:
    """Everything a run depends on (see ``examples/cifar100_resnet.py --help``)."""

    data: str = "data"
    out: str = "runs/cifar100"
    arch: str = "resnet18"
    wavelet: str = "none"
    width: int = 64
    levels: int = 2
    channel_levels: int = 1
    sites: str = "main"
    num_classes: int = NUM_CLASSES
    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "multistep"
    milestones: tuple[float, ...] = (0.3, 0.6, 0.8)
    gamma: float = 0.2
    warmup_epochs: float = 1.0
    rotation: float = 15.0
    limit_train: int | None = None
    limit_test: int | None = None
    workers: int = 2
    device: str = "auto"
    seed: int = 0
    amp: bool = False
    sync_bn: bool = False
    download: bool = False
    verify: bool = True
    resume: str | None = None
    progress: bool = True

    def validate(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {tuple(ARCHS)}, got {self.arch!r}")
        if self.sites not in SITES:
            raise ValueError(f"sites must be one of {SITES}, got {self.sites!r}")
        if self.schedule not in ("multistep", "cosine"):
            raise ValueError(f"schedule must be 'multistep' or 'cosine', got {self.schedule!r}")
        for name in ("epochs", "batch_size", "width", "levels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.channel_levels < 0 or self.workers < 0:
            raise ValueError(f"channel_levels and workers must be >= 0, got {self.channel_levels}, {self.workers}")
        if not all(0 < m <= 1 for m in self.milestones):
            raise ValueError(f"milestones are fractions of the epochs in (0, 1], got {self.milestones}")
        if self.lr <= 0 or self.warmup_epochs < 0:
            raise ValueError(f"lr must be > 0 and warmup_epochs >= 0, got {self.lr}, {self.warmup_epochs}")

    def model_settings(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in MODEL_KEYS}


# --------------------------------------------------------------------------------------- schedule


def lr_at(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Learning rate of optimisation step ``step`` (0-based, over the whole run)."""
    warm_steps = round(config.warmup_epochs * steps_per_epoch)
    if step < warm_steps:
        return config.lr * (step + 1) / warm_steps
    epoch = step // steps_per_epoch  # 0-based
    if config.schedule == "multistep":
        milestones = [round(m * config.epochs) for m in config.milestones]
        return config.lr * config.gamma ** sum(epoch + 1 >= m for m in milestones)
    t = (step - warm_steps) / max(1, config.epochs * steps_per_epoch - warm_steps)
    return 0.5 * config.lr * (1.0 + math.cos(math.pi * min(1.0, t)))


# ------------------------------------------------------------------------------------ distributed


@dataclass(frozen=True)
class _Dist:
    rank: int
    world_size: int
    device: torch.device
    distributed: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup(device: str) -> _Dist:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` set)."""
    rank, size, dev = join_process_group(device)
    return _Dist(rank, size, dev, distributed=size > 1)


def _sum(values: list[float], ctx: _Dist) -> list[float]:
    if not ctx.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return t.tolist()


# ------------------------------------------------------------------------------ train / evaluate


def topk_correct(logits: Tensor, target: Tensor, ks: tuple[int, ...] = (1, 5)) -> list[int]:
    """Number of samples whose target is among the top-k logits, for each k."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top == target[:, None]
    return [int(hits[:, :k].any(dim=1).sum()) for k in ks]


def _autocast(ctx: _Dist, enabled: bool):
    return torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, ctx: _Dist | None = None, amp: bool = False,
             progress: bool = False) -> dict[str, float]:
    """Loss, top-1 and top-5 accuracy (%) of ``model`` on ``loader`` (summed over DDP processes)."""
    ctx = ctx or _Dist(0, 1, next(model.parameters()).device)
    was_training = model.training
    model.eval()
    loss_sum = top1 = top5 = count = 0.0
    for images, target in tqdm(loader, desc="eval", leave=False, disable=not (progress and ctx.main)):
        images, target = images.to(ctx.device, non_blocking=True), target.to(ctx.device, non_blocking=True)
        with _autocast(ctx, amp):
            logits = model(images)
        loss_sum += float(nn.functional.cross_entropy(logits.float(), target, reduction="sum"))
        c1, c5 = topk_correct(logits, target)
        top1, top5, count = top1 + c1, top5 + c5, count + len(target)
    model.train(was_training)
    loss_sum, top1, top5, count = _sum([loss_sum, top1, top5, count], ctx)
    count = max(count, 1.0)
    return {"loss": loss_sum / count, "top1": 100.0 * top1 / count, "top5": 100.0 * top5 / count}


def _train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, config: TrainConfig,
                 epoch: int, ctx: _Dist) -> dict[str, float]:
    model.train()
    steps = len(loader)
    loss_sum = top1 = count = 0.0
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
               disable=not (config.progress and ctx.main))
    for i, (images, target) in enumerate(bar):
        lr = lr_at(config, epoch * steps + i, steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        images, target = images.to(ctx.device, non_blocking=True), target.to(ctx.device, non_blocking=True)
        with _autocast(ctx, config.amp):
            logits = model(images)
        loss = nn.functional.cross_entropy(logits.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += float(loss.detach()) * len(target)
        top1 += topk_correct(logits.detach(), target, (1,))[0]
        count += len(target)
        bar.set_postfix(loss=f"{loss_sum / count:.3f}", top1=f"{100 * top1 / count:.1f}", lr=f"{lr:.4f}")
    loss_sum, top1, count = _sum([loss_sum, top1, count], ctx)
    return {"loss": loss_sum / max(count, 1), "top1": 100.0 * top1 / max(count, 1), "lr": lr}


# ------------------------------------------------------------------------------------- checkpoints


def _save_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _save_weights(model: nn.Module, config: TrainConfig, path: Path, metrics: dict[str, float]) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {k: str(v) for k, v in config.model_settings().items()}
    meta.update({f"metric_{k}": f"{v:.4f}" for k, v in metrics.items()})
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def load_weights(path: str | Path, device: str = "cpu") -> nn.Module:
    """Rebuild the model saved as ``best.safetensors`` / ``final.safetensors`` and load its weights."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    missing = [k for k in MODEL_KEYS if k not in meta]
    if missing:
        raise ValueError(f"{path}: not a classification weights file (metadata lacks {missing})")
    ints = ("width", "levels", "channel_levels", "num_classes")
    settings = {k: int(meta[k]) if k in ints else meta[k] for k in MODEL_KEYS}
    model, _ = build_model(**settings)
    model.load_state_dict(load_file(str(path), device=device))
    return model.to(device)


def _load_checkpoint(path: Path, config: TrainConfig) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint to resume from at {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    saved = ckpt.get("model_settings", {})
    diff = {k: (saved.get(k), v) for k, v in config.model_settings().items() if saved.get(k) != v}
    if diff:
        raise ValueError(f"{path} was trained with other model settings (saved, requested): {diff}")
    return ckpt


# ------------------------------------------------------------------------------------------- data


def _loaders(config: TrainConfig, ctx: _Dist) -> tuple[DataLoader, DataLoader, DistributedSampler]:
    train_set = cifar100(config.data, True, train_transform(config.rotation), config.download and ctx.main,
                         config.verify, config.limit_train)
    if ctx.distributed:
        dist.barrier()  # rank 0 may have downloaded
    test_set: Dataset = cifar100(config.data, False, eval_transform(), False, config.verify, config.limit_test)
    if config.batch_size % ctx.world_size:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by WORLD_SIZE {ctx.world_size}")
    per_process = config.batch_size // ctx.world_size
    sampler = DistributedSampler(train_set, ctx.world_size, ctx.rank, shuffle=True, seed=config.seed)
    pin = ctx.device.type == "cuda"
    train = DataLoader(train_set, per_process, sampler=sampler, num_workers=config.workers, pin_memory=pin,
                       drop_last=False, persistent_workers=config.workers > 0)
    shard = Subset(test_set, range(ctx.rank, len(test_set), ctx.world_size))  # no padding: exact metrics
    test = DataLoader(shard, per_process, shuffle=False, num_workers=config.workers, pin_memory=pin)
    return train, test, sampler


# -------------------------------------------------------------------------------------------- run


_LOG_FIELDS = ("epoch", "lr", "train_loss", "train_top1", "test_loss", "test_top1", "test_top5", "epoch_s")


def run(config: TrainConfig) -> dict[str, Any]:
    """Train (or resume) and evaluate every epoch; return the last epoch's metrics and the paths."""
    config.validate()
    ctx = _setup(config.device)
    try:
        result = _run(config, ctx)
        if ctx.distributed:
            dist.barrier()
        return result
    finally:
        if ctx.distributed and dist.is_initialized():
            dist.destroy_process_group()


def _run(config: TrainConfig, ctx: _Dist) -> dict[str, Any]:
    out = Path(config.out)
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model, report = build_model(**config.model_settings())
    if report is not None and ctx.main:
        print(report)
    if config.sync_bn and ctx.distributed and ctx.device.type == "cuda":  # SyncBatchNorm is CUDA-only
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(ctx.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    start, best = 0, -1.0
    if config.resume:
        path = out / "last.pt" if config.resume == "auto" else Path(config.resume)
        ckpt = _load_checkpoint(path, config)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start, best = int(ckpt["epoch"]), float(ckpt["best_top1"])
        if ctx.main:
            print(f"resumed from {path}: {start} epoch(s) done, best top-1 {best:.2f} %")
    net: nn.Module = model
    if ctx.distributed:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)

    train_loader, test_loader, sampler = _loaders(config, ctx)
    log_path = out / "log.csv"
    metrics: dict[str, Any] = {}
    for epoch in range(start, config.epochs):
        t0 = time.perf_counter()
        torch.manual_seed(config.seed + 1_000_003 * (epoch + 1))  # augmentation RNG: same on resume
        sampler.set_epoch(epoch)
        train = _train_epoch(net, train_loader, optimizer, config, epoch, ctx)
        if ctx.distributed:  # every process evaluates rank 0's BatchNorm statistics (those saved)
            for buffer in model.buffers():
                dist.broadcast(buffer, 0)
        test = evaluate(model, test_loader, ctx, config.amp, config.progress)
        metrics = {"epoch": epoch + 1, "lr": train["lr"], "train_loss": train["loss"], "train_top1": train["top1"],
                   "test_loss": test["loss"], "test_top1": test["top1"], "test_top5": test["top5"],
                   "epoch_s": time.perf_counter() - t0}
        if ctx.main:
            if test["top1"] > best:
                best = test["top1"]
                _save_weights(model, config, out / "best.safetensors", test)
            _save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                          "best_top1": best, "model_settings": config.model_settings()}, out / "last.pt")
            _append_log(log_path, metrics)
            print(f"epoch {epoch + 1}/{config.epochs}: lr {train['lr']:.5f}  train loss {train['loss']:.4f} "
                  f"top-1 {train['top1']:.2f} %  test loss {test['loss']:.4f} top-1 {test['top1']:.2f} % "
                  f"top-5 {test['top5']:.2f} %  ({metrics['epoch_s']:.1f} s)", flush=True)
    if start >= config.epochs and ctx.main:
        print(f"nothing to train: the checkpoint has {start} of {config.epochs} epochs")
    if ctx.main and metrics:
        _save_weights(model, config, out / "final.safetensors", {k: metrics[k] for k in ("test_top1", "test_top5")})
    return {**metrics, "best_top1": best, "out": str(out)}


def _append_log(path: Path, metrics: dict[str, Any]) -> None:
    new_file = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=_LOG_FIELDS)
        if new_file:
            writer.writeheader()
        writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in metrics.items()})


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from a dict holding (a subset of) its fields."""
    names = {f.name for f in fields(TrainConfig)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; expected some of {sorted(names)}")
    return TrainConfig(**values)
