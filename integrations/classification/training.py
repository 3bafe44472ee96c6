"""Training / evaluation of CIFAR ResNets on CIFAR-100: one process, or DDP under ``torchrun``.

Recipe (the defaults; weiaicunzai/pytorch-cifar100, whose ResNet-18 top-1 of 75.61 % is the
paper's baseline): SGD lr 0.1, momentum 0.9, weight decay 5e-4, batch 128, 200 epochs, one linear
warm-up epoch, lr x 0.2 at 30 / 60 / 80 % of the epochs (epochs 60, 120, 160 of 200), random crop
32 (padding 4) + horizontal flip + rotation 15 degrees, CIFAR-100 mean/std normalisation.

Outputs in ``out``: ``last.pt`` (model + optimizer + epoch, for ``resume``; ``torch.load`` with
``weights_only=True``), ``best.safetensors`` and ``final.safetensors`` (the shared checkpoint format,
``wavelayers-classification/1``: weights, model name and settings, test metrics; :func:`load_weights`),
``log.csv`` (one row per epoch).

DDP: when ``WORLD_SIZE`` is set (``torchrun``), every process joins the group (NCCL on GPUs,
gloo on CPU), takes ``batch_size / WORLD_SIZE`` images per step (so the global batch and the
recipe do not change with the number of processes) from a ``DistributedSampler``, and evaluates
its own share of the test set; counts are summed over processes, so metrics are exact.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm import tqdm

from ..toolkit import checkpoint as ckpt
from ..toolkit.distributed import ProcessGroup
from ..toolkit.files import append_csv, load_torch, save_torch
from .data import cifar100, eval_transform, train_transform
from .models import ARCHS, SITES, build_model, model_name

__all__ = ["TrainConfig", "run", "evaluate", "lr_at", "save_weights", "load_weights", "topk_correct",
           "config_from_dict", "MODEL_KEYS", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "wavelayers-classification/1"

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


# ------------------------------------------------------------------------------ train / evaluate


def topk_correct(logits: Tensor, target: Tensor, ks: tuple[int, ...] = (1, 5)) -> list[int]:
    """Number of samples whose target is among the top-k logits, for each k."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top == target[:, None]
    return [int(hits[:, :k].any(dim=1).sum()) for k in ks]


def _autocast(ctx: ProcessGroup, enabled: bool):
    return torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, ctx: ProcessGroup | None = None, amp: bool = False,
             progress: bool = False) -> dict[str, float]:
    """Loss, top-1 and top-5 accuracy (%) of ``model`` on ``loader`` (summed over DDP processes)."""
    ctx = ctx or ProcessGroup(0, 1, next(model.parameters()).device)
    was_training = model.training
    model.eval()
    loss_sum = top1 = top5 = count = 0.0
    for images, target in tqdm(loader, desc="eval", leave=False, disable=not (progress and ctx.is_main)):
        images, target = images.to(ctx.device, non_blocking=True), target.to(ctx.device, non_blocking=True)
        with _autocast(ctx, amp):
            logits = model(images)
        loss_sum += float(nn.functional.cross_entropy(logits.float(), target, reduction="sum"))
        c1, c5 = topk_correct(logits, target)
        top1, top5, count = top1 + c1, top5 + c5, count + len(target)
    model.train(was_training)
    loss_sum, top1, top5, count = ctx.sum([loss_sum, top1, top5, count])
    count = max(count, 1.0)
    return {"loss": loss_sum / count, "top1": 100.0 * top1 / count, "top5": 100.0 * top5 / count}


def _train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, config: TrainConfig,
                 epoch: int, ctx: ProcessGroup) -> dict[str, float]:
    model.train()
    steps = len(loader)
    loss_sum = top1 = count = 0.0
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
               disable=not (config.progress and ctx.is_main))
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
    loss_sum, top1, count = ctx.sum([loss_sum, top1, count])
    return {"loss": loss_sum / max(count, 1), "top1": 100.0 * top1 / max(count, 1), "lr": lr}


# ------------------------------------------------------------------------------------- checkpoints


def save_weights(model: nn.Module, config: TrainConfig, path: str | os.PathLike, metrics: dict[str, float],
                 command: str = "") -> None:
    """The weights in the shared checkpoint format, model settings as ``config``, metrics as ``extra``."""
    settings = config.model_settings()
    ckpt.save_checkpoint(path, model.state_dict(), format=CHECKPOINT_FORMAT, model=model_name(settings.pop("arch")),
                         config=settings, command=command, extra={"metrics": metrics}, force=True)


def load_weights(path: str | os.PathLike, device: str = "cpu") -> nn.Module:
    """Rebuild the model saved as ``best.safetensors`` / ``final.safetensors`` and load its weights."""
    meta, tensors = ckpt.read_checkpoint(path, CHECKPOINT_FORMAT, device)
    settings = ckpt.json_field(meta, "config", path)
    try:
        model = build_model(meta["model"], **settings)
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: invalid checkpoint metadata ({e})") from None
    ckpt.load_weights(model, tensors, path)
    return model.to(device)


def _load_checkpoint(path: Path, config: TrainConfig) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint to resume from at {path}")
    state = load_torch(path)
    saved = state.get("model_settings", {})
    diff = {k: (saved.get(k), v) for k, v in config.model_settings().items() if saved.get(k) != v}
    if diff:
        raise ValueError(f"{path} was trained with other model settings (saved, requested): {diff}")
    return state


# ------------------------------------------------------------------------------------------- data


def _loaders(config: TrainConfig, ctx: ProcessGroup) -> tuple[DataLoader, DataLoader, DistributedSampler]:
    train_set = cifar100(config.data, True, train_transform(config.rotation), config.download and ctx.is_main,
                         config.verify, config.limit_train)
    if ctx.distributed:
        ctx.barrier()  # rank 0 may have downloaded
    test_set: Dataset = cifar100(config.data, False, eval_transform(), False, config.verify, config.limit_test)
    if config.batch_size % ctx.size:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by WORLD_SIZE {ctx.size}")
    per_process = config.batch_size // ctx.size
    sampler = DistributedSampler(train_set, ctx.size, ctx.rank, shuffle=True, seed=config.seed)
    pin = ctx.device.type == "cuda"
    train = DataLoader(train_set, per_process, sampler=sampler, num_workers=config.workers, pin_memory=pin,
                       drop_last=False, persistent_workers=config.workers > 0)
    shard = Subset(test_set, range(ctx.rank, len(test_set), ctx.size))  # no padding: exact metrics
    test = DataLoader(shard, per_process, shuffle=False, num_workers=config.workers, pin_memory=pin)
    return train, test, sampler


# -------------------------------------------------------------------------------------------- run


def run(config: TrainConfig) -> dict[str, Any]:
    """Train (or resume) and evaluate every epoch; return the last epoch's metrics and the paths."""
    config.validate()
    ctx = ProcessGroup.join(config.device)
    result = _run(config, ctx)
    ctx.leave()
    return result


def _run(config: TrainConfig, ctx: ProcessGroup) -> dict[str, Any]:
    out = Path(config.out)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    settings = config.model_settings()
    model = build_model(model_name(settings.pop("arch")), **settings)
    if model.rewrite_report is not None and ctx.is_main:
        print(model.rewrite_report)
    if config.sync_bn and ctx.distributed and ctx.device.type == "cuda":  # SyncBatchNorm is CUDA-only
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(ctx.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    start, best = 0, -1.0
    if config.resume:
        path = out / "last.pt" if config.resume == "auto" else Path(config.resume)
        state = _load_checkpoint(path, config)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, best = int(state["epoch"]), float(state["best_top1"])
        if ctx.is_main:
            print(f"resumed from {path}: {start} epoch(s) done, best top-1 {best:.2f} %")
    net = ctx.wrap(model)

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
        if ctx.is_main:
            if test["top1"] > best:
                best = test["top1"]
                save_weights(model, config, out / "best.safetensors", test)
            save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                        "best_top1": best, "model_settings": config.model_settings()}, out / "last.pt")
            append_csv(log_path, {k: f"{v:.6g}" if isinstance(v, float) else v for k, v in metrics.items()})
            print(f"epoch {epoch + 1}/{config.epochs}: lr {train['lr']:.5f}  train loss {train['loss']:.4f} "
                  f"top-1 {train['top1']:.2f} %  test loss {test['loss']:.4f} top-1 {test['top1']:.2f} % "
                  f"top-5 {test['top5']:.2f} %  ({metrics['epoch_s']:.1f} s)", flush=True)
    if start >= config.epochs and ctx.is_main:
        print(f"nothing to train: the checkpoint has {start} of {config.epochs} epochs")
    if ctx.is_main and metrics:
        save_weights(model, config, out / "final.safetensors", {k: metrics[k] for k in ("test_top1", "test_top5")})
    return {**metrics, "best_top1": best, "out": str(out)}


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from a dict holding (a subset of) its fields."""
    names = {f.name for f in fields(TrainConfig)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; expected some of {sorted(names)}")
    return TrainConfig(**values)
