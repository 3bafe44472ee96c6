"""Training helpers: optimizers (main + auxiliary), one step, random crops, a small loop.

The main optimizer updates every parameter except the EntropyBottleneck ``quantiles``; the
auxiliary optimizer fits those to the hyperprior's distribution (CompressAI's ``aux_loss``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from .loss import RateDistortionLoss

__all__ = ["make_optimizers", "train_step", "random_crops", "train"]


def make_optimizers(
    model: nn.Module, lr: float = 1e-4, aux_lr: float = 1e-3
) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam over the network (``lr``) and Adam over the EntropyBottleneck quantiles (``aux_lr``)."""
    named = dict(model.named_parameters())
    aux = [p for n, p in named.items() if n.endswith(".quantiles")]
    main = [p for n, p in named.items() if not n.endswith(".quantiles")]
    return torch.optim.Adam(main, lr=lr), torch.optim.Adam(aux, lr=aux_lr)


def train_step(
    model: nn.Module,
    batch: Tensor,
    criterion: RateDistortionLoss,
    optimizer: torch.optim.Optimizer,
    aux_optimizer: torch.optim.Optimizer,
    clip_max_norm: float = 1.0,
) -> dict[str, float]:
    """One optimisation step on ``batch`` (N, 3, H, W) in [0, 1]; returns the loss terms as floats."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    aux_optimizer.zero_grad(set_to_none=True)
    out = criterion(model(batch), batch)
    out["loss"].backward()
    if clip_max_norm > 0:
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], clip_max_norm)
    optimizer.step()
    aux_loss = model.aux_loss()
    aux_loss.backward()
    aux_optimizer.step()
    stats = {k: float(v.detach()) for k, v in out.items() if k != "bands"}
    stats["aux_loss"] = float(aux_loss.detach())
    return stats


def random_crops(images: Sequence[Tensor], size: int, batch: int, generator: torch.Generator) -> Tensor:
    """``batch`` random ``size`` x ``size`` crops (random image, position and horizontal flip) from
    ``images`` (each (1, 3, H, W) with H, W >= size) -> (batch, 3, size, size)."""
    usable = [im for im in images if im.shape[-2] >= size and im.shape[-1] >= size]
    if not usable:
        raise ValueError(f"no image is at least {size}x{size} pixels")
    crops = []
    for _ in range(batch):
        im = usable[int(torch.randint(len(usable), (1,), generator=generator))]
        top = int(torch.randint(im.shape[-2] - size + 1, (1,), generator=generator))
        left = int(torch.randint(im.shape[-1] - size + 1, (1,), generator=generator))
        crop = im[0, :, top : top + size, left : left + size]
        if bool(torch.randint(2, (1,), generator=generator)):
            crop = crop.flip(-1)
        crops.append(crop)
    return torch.stack(crops)


def train(
    model: nn.Module,
    images: Sequence[Tensor],
    criterion: RateDistortionLoss,
    steps: int,
    batch: int = 8,
    crop: int = 256,
    lr: float = 1e-4,
    seed: int = 0,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """``steps`` steps of :func:`train_step` on random crops; returns the per-step statistics."""
    optimizer, aux_optimizer = make_optimizers(model, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = []
    for step in range(steps):
        stats = train_step(model, random_crops(images, crop, batch, generator), criterion, optimizer, aux_optimizer)
        history.append(stats)
        if on_step is not None:
            on_step(step, stats)
    model.eval()
    return history


def run_training(
    model: nn.Module,
    data: str,
    out: str,
    *,
    steps: int,
    batch: int,
    crop: int,
    lr: float,
    w1: float = 1.0,
    w2: float = 1.0,
    seed: int = 0,
    command: str = "",
    force: bool = False,
) -> list[dict[str, float]]:
    """Train ``model`` on random crops of the images in ``data`` and write the checkpoint ``out``."""
    from pathlib import Path

    from tqdm import tqdm

    from integrations.compression.datasets import list_images
    from integrations.compression.imageio import load_rgb

    from .checkpoint import save_checkpoint
    from .model import LAMBDAS

    if not force and Path(out).exists():
        raise FileExistsError(f"{out} exists; pass --force to overwrite it")
    images = [load_rgb(p) for p in list_images(data)]
    lmbda = LAMBDAS[model.quality]
    criterion = RateDistortionLoss.for_model(model, lmbda, w1=w1, w2=w2)
    bar = tqdm(total=steps, desc=f"train {model.name} q{model.quality}", unit="step")

    def on_step(step: int, stats: dict[str, float]) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{stats['loss']:.3f}", bpp=f"{stats['bpp']:.3f}", mse=f"{stats['mse']:.5f}")

    history = train(model, images, criterion, steps, batch=batch, crop=crop, lr=lr, seed=seed, on_step=on_step)
    bar.close()
    extra = {"steps": steps, "batch": batch, "crop": crop, "lr": lr, "w1": w1, "w2": w2, "seed": seed,
             "images": len(images), "data": str(data), "final": history[-1] if history else {}}
    save_checkpoint(model, out, lmbda=lmbda, command=command, extra=extra, force=force)
    return history
