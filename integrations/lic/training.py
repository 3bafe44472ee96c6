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


def round_to_half(model: nn.Module) -> None:
    """Round every floating-point parameter to float16 precision (kept in float32), so that a
    checkpoint storing them in float16 holds exactly the weights the model codes with."""
    with torch.no_grad():
        for t in model.parameters():
            if t.is_floating_point():
                t.copy_(t.half().float())


@torch.no_grad()
def validate(model: nn.Module, images: Sequence[Tensor], criterion: RateDistortionLoss) -> dict[str, float]:
    """Mean estimated ``bpp`` (from the likelihoods), ``psnr`` and ``loss`` over whole ``images``."""
    model.eval()
    totals = {"bpp": 0.0, "psnr": 0.0, "loss": 0.0}
    for im in images:
        out = criterion(model(im), im)
        totals["bpp"] += float(out["bpp"])
        totals["loss"] += float(out["loss"])
        totals["psnr"] += float(-10 * torch.log10(out["mse"].clamp_min(1e-12)))
    return {k: v / max(len(images), 1) for k, v in totals.items()}


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
    device: str = "cpu",
    lr_drop: float = 0.8,
    time_limit: float | None = None,
    val: str | None = None,
    half: bool = False,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``model`` on random crops of the images in ``data`` (Adam, ``lr`` divided by 10 after
    ``lr_drop * steps`` steps or ``lr_drop * time_limit`` seconds, gradient clipping, auxiliary loss) on ``device`` and write the
    checkpoint ``out``, its per-step log ``out + '.log.jsonl'`` and, with ``val`` (a folder of
    held-out images), the validation metrics. ``time_limit`` (seconds) stops early; the steps
    reached are recorded. ``half`` stores the weights in float16 (rounded before the CDF tables
    are built, so the file codes exactly as the model it holds)."""
    import json
    import time
    from pathlib import Path

    from tqdm import tqdm

    from integrations.compression.container import write_atomic
    from integrations.compression.datasets import list_images
    from integrations.compression.imageio import load_rgb

    from .checkpoint import save_checkpoint
    from .model import LAMBDAS

    if not force and Path(out).exists():
        raise FileExistsError(f"{out} exists; pass --force to overwrite it")
    if not 0 < lr_drop <= 1:
        raise ValueError(f"lr_drop must be in (0, 1], got {lr_drop!r}")
    dev = torch.device(device)
    images = [load_rgb(p).to(dev) for p in list_images(data)]
    val_images = [load_rgb(p).to(dev) for p in list_images(val)] if val else []
    lmbda = LAMBDAS[model.quality]
    criterion = RateDistortionLoss.for_model(model, lmbda, w1=w1, w2=w2)
    model.to(dev)
    optimizer, aux_optimizer = make_optimizers(model, lr=lr)
    generator = torch.Generator(device=dev).manual_seed(seed)
    bar = tqdm(total=steps, desc=f"train {model.name} q{model.quality}", unit="step", disable=not progress)
    history: list[dict[str, float]] = []
    started = time.monotonic()
    lr_dropped_at = None
    for step in range(steps):
        late = step >= int(lr_drop * steps) or (
            time_limit is not None and time.monotonic() - started > lr_drop * time_limit)
        if late and optimizer.param_groups[0]["lr"] == lr:
            for g in optimizer.param_groups:
                g["lr"] = lr / 10
            lr_dropped_at = step
        stats = train_step(model, _random_crops_on(images, crop, batch, generator), criterion, optimizer,
                           aux_optimizer)
        stats["step"] = step
        history.append(stats)
        bar.update(1)
        bar.set_postfix(loss=f"{stats['loss']:.3f}", bpp=f"{stats['bpp']:.3f}", mse=f"{stats['mse']:.5f}")
        if time_limit is not None and time.monotonic() - started > time_limit:
            break
    bar.close()
    seconds = time.monotonic() - started
    model.eval()
    validation = validate(model, val_images, criterion) if val_images else {}
    model.cpu()
    if half:
        round_to_half(model)
    extra = {"steps": steps, "steps_done": len(history), "seconds": round(seconds, 1), "device": str(dev),
             "batch": batch, "crop": crop, "lr": lr, "lr_drop": lr_drop, "lr_dropped_at": lr_dropped_at, "w1": w1, "w2": w2, "seed": seed,
             "images": len(images), "data": str(data), "val": validation, "half": half,
             "final": history[-1] if history else {}}
    save_checkpoint(model, out, lmbda=lmbda, command=command, extra=extra, force=force, half=half)
    log = "".join(json.dumps(h) + "\n" for h in history)
    write_atomic(str(out) + ".log.jsonl", log.encode(), force=True)
    return history


def _random_crops_on(images: Sequence[Tensor], size: int, batch: int, generator: torch.Generator) -> Tensor:
    """:func:`random_crops` whose random numbers come from ``generator`` on the images' device."""
    if generator.device.type == "cpu":
        return random_crops(images, size, batch, generator)
    usable = [im for im in images if im.shape[-2] >= size and im.shape[-1] >= size]
    if not usable:
        raise ValueError(f"no image is at least {size}x{size} pixels")
    dev = generator.device
    picks = torch.randint(len(usable), (batch,), generator=generator, device=dev).tolist()
    u = torch.rand((batch, 3), generator=generator, device=dev).tolist()
    crops = []
    for k, (a, b, c) in zip(picks, u):
        im = usable[k]
        top, left = int(a * (im.shape[-2] - size + 1)), int(b * (im.shape[-1] - size + 1))
        crop = im[0, :, top: top + size, left: left + size]
        crops.append(crop.flip(-1) if c < 0.5 else crop)
    return torch.stack(crops)
