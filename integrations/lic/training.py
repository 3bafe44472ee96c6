"""Training: optimizers (main + auxiliary), one step, random crops, validation, the training run.

The main optimizer updates every parameter except the EntropyBottleneck ``quantiles``; the
auxiliary optimizer fits those to the hyperprior's distribution (CompressAI's ``aux_loss``).
A variable-rate model (:mod:`.gains`) draws one quality index per step (uniformly from the points
being trained) and is trained with that point's λ; its gain vectors may have their own learning rate.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..compression.datasets import list_images
from ..compression.imageio import load_rgb
from ..toolkit.distributed import ProcessGroup
from ..toolkit.files import load_torch, save_torch, write_atomic
from .checkpoint import save_checkpoint
from .loss import RateDistortionLoss
from .model import LAMBDAS, WeConveneLIC

__all__ = ["make_optimizers", "train_step", "random_crops", "round_to_half", "validate", "validate_qualities",
           "run_training", "export_state"]


def make_optimizers(
    model: nn.Module, lr: float = 1e-4, aux_lr: float = 1e-3, gain_lr: float | None = None
) -> tuple[torch.optim.Adam, torch.optim.Adam | None]:
    """Adam over the network (``lr``; the gain vectors of a variable-rate model in a second group
    at ``gain_lr``, default ``lr``) and Adam over the EntropyBottleneck quantiles (``aux_lr``; None
    when they are frozen). Parameters with ``requires_grad=False`` (see :func:`freeze_decoder`) are left out."""
    named = {n: p for n, p in model.named_parameters() if p.requires_grad}
    aux = [p for n, p in named.items() if n.endswith(".quantiles")]
    gains = [p for n, p in named.items() if n.startswith("gains.")]
    main = [p for n, p in named.items() if not n.endswith(".quantiles") and not n.startswith("gains.")]
    groups = [{"params": main, "lr": lr}] + ([{"params": gains, "lr": lr if gain_lr is None else gain_lr}]
                                             if gains else [])
    return torch.optim.Adam(groups, lr=lr), (torch.optim.Adam(aux, lr=aux_lr) if aux else None)


# What a training run updates: every parameter, or only the encoder side (g_a, h_a and the forward
# gains), which leaves the decoder, and so the meaning of every bitstream, exactly as it was.
TRAINABLE = ("all", "encoder")


def freeze_decoder(model: WeConveneLIC) -> None:
    """Stop the gradients of every decoder-side parameter of ``model`` (``h_s``, the entropy models,
    ``g_s`` and the inverse gains): only :meth:`WeConveneLIC.encoder_parameter` ones stay trainable."""
    for name, p in model.named_parameters():
        p.requires_grad_(model.encoder_parameter(name))


def train_step(
    model: nn.Module,
    batch: Tensor,
    criterion: RateDistortionLoss,
    optimizer: torch.optim.Optimizer,
    aux_optimizer: torch.optim.Optimizer | None,
    clip_max_norm: float = 1.0,
    sync: Callable[[Sequence[Tensor]], None] | None = None,
) -> dict[str, float]:
    """One optimisation step on ``batch`` (N, 3, H, W) in [0, 1]; returns the loss terms as floats.
    ``sync`` (e.g. an all-reduce over processes) is applied to the gradients before each update;
    ``aux_optimizer`` None: the EntropyBottleneck quantiles are frozen (no auxiliary step)."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    out = criterion(model(batch), batch)
    out["loss"].backward()
    main = [p for g in optimizer.param_groups for p in g["params"]]
    if sync is not None:
        sync(main)
    if clip_max_norm > 0:
        torch.nn.utils.clip_grad_norm_(main, clip_max_norm)
    optimizer.step()
    stats = {k: float(v.detach()) for k, v in out.items() if k != "bands"}
    if aux_optimizer is not None:
        aux_optimizer.zero_grad(set_to_none=True)
        aux_loss = model.aux_loss()
        aux_loss.backward()
        if sync is not None:
            sync([p for g in aux_optimizer.param_groups for p in g["params"]])
        aux_optimizer.step()
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


def round_to_half(model: nn.Module) -> None:
    """Round every floating-point parameter to float16 precision (kept in float32), so that a
    checkpoint storing them in float16 holds exactly the weights the model codes with."""
    with torch.no_grad():
        for t in model.parameters():
            if t.is_floating_point():
                t.copy_(t.half().float())


@torch.no_grad()
def validate(model: nn.Module, images: Sequence[Tensor], criterion: RateDistortionLoss) -> dict[str, float]:
    """Means over whole ``images`` (each (1, 3, H, W)) of the estimated rate (from the likelihoods)
    ``bpp``, its hyperprior part ``bpp_z`` and the rest ``bpp_y``, ``psnr`` (of the output clamped
    to [0, 1]) and ``loss``."""
    model.eval()
    totals = {"bpp": 0.0, "bpp_z": 0.0, "psnr": 0.0, "loss": 0.0}
    for im in images:
        output = model(im)
        out = criterion(output, im)
        mse = torch.mean((output["x_hat"].clamp(0, 1) - im) ** 2)
        totals["bpp"] += float(out["bpp"])
        totals["bpp_z"] += float(out["bpp_z"])
        totals["loss"] += float(out["loss"])
        totals["psnr"] += float(-10 * torch.log10(mse.clamp_min(1e-12)))
    means = {k: v / max(len(images), 1) for k, v in totals.items()}
    means["bpp_y"] = means["bpp"] - means["bpp_z"]
    return means


def validate_qualities(
    model: WeConveneLIC, images: Sequence[Tensor], criteria: dict[int, RateDistortionLoss]
) -> dict[str, dict[str, float]]:
    """:func:`validate` of a variable-rate model at each quality of ``criteria`` -> ``{"q<i>": metrics}``
    (the model's own quality is restored)."""
    before, results = model.quality, {}
    try:
        for q, criterion in criteria.items():
            model.quality = q
            results[f"q{q}"] = validate(model, images, criterion)
    finally:
        model.quality = before
    return results


def run_training(
    model: nn.Module,
    data: str,
    out: str,
    steps: int,
    batch: int = 8,
    crop: int = 256,
    lr: float = 1e-4,
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
    metric: str = "mse",
    save_every: int = 0,
    resume: bool = False,
    init: dict | None = None,
    qualities: Sequence[int] | None = None,
    gain_lr: float | None = None,
    train: str = "all",
) -> list[dict[str, float]]:
    """Train ``model`` on random crops of the images in ``data`` and write the checkpoint ``out``.

    Adam (``lr``, divided by 10 after ``lr_drop * steps`` steps or ``lr_drop * time_limit``
    seconds), gradient clipping and the auxiliary loss, on ``device``. Writes ``out`` (safetensors),
    its per-step log ``out + '.log.jsonl'`` and the training state ``out + '.state.pt'`` (weights,
    both optimizers, step, random-number state; every ``save_every`` steps and at the end).
    ``resume`` continues from that state file exactly where it stopped. ``val`` (a folder of
    held-out images) adds validation metrics to the checkpoint. ``time_limit`` (seconds, counted
    over all resumed runs) stops early; the steps reached are recorded. ``half`` stores the weights
    in float16 (rounded before the CDF tables are built, so the file codes exactly as the model it
    holds). ``init`` (how the starting weights were made) is stored in the checkpoint's
    metadata. A variable-rate ``model`` is trained at a quality index drawn per step from
    ``qualities`` (default: all of :data:`LAMBDAS`), its gain vectors at ``gain_lr`` (default
    ``lr``); the validation is then per quality. ``train="encoder"`` updates only the encoder side
    (:func:`freeze_decoder`): the decoder of the written checkpoint is bit-identical to the start.
    Under ``torchrun`` every process trains on its own crops (``batch`` each) and the gradients are
    averaged; process 0 writes the files.
    """
    state_path = Path(str(out) + ".state.pt")
    if train not in TRAINABLE:
        raise ValueError(f"train must be one of {TRAINABLE}, got {train!r}")
    if not 0 < lr_drop <= 1:
        raise ValueError(f"lr_drop must be in (0, 1], got {lr_drop!r}")
    if metric == "ms-ssim" and crop < 161:
        raise ValueError(f"MS-SSIM (5 scales, 11x11 window) needs crops of at least 161 pixels, got crop={crop}")
    if resume and not state_path.exists():
        raise FileNotFoundError(f"cannot resume: {state_path} does not exist")
    if not (resume or force) and Path(out).exists():
        raise FileExistsError(f"{out} exists; pass --force to overwrite it or --resume to continue it")
    world = ProcessGroup.join(device)
    dev = world.device
    images = [load_rgb(p).to(dev) for p in list_images(data)]
    val_images = [load_rgb(p).to(dev) for p in list_images(val)] if val and world.rank == 0 else []
    home_quality = model.quality
    if model.variable_rate:
        qualities = sorted(LAMBDAS) if qualities is None else list(qualities)
        bad = [q for q in qualities if isinstance(q, bool) or q not in LAMBDAS]
        if bad or not qualities:
            raise ValueError(f"qualities must be a non-empty list of {sorted(LAMBDAS)}, got {qualities!r}")
    elif qualities is not None or gain_lr is not None:
        raise ValueError(f"qualities / gain_lr are options of a variable-rate model; {model.name} is fixed-rate")
    else:
        qualities = [model.quality]
    if train == "encoder":
        freeze_decoder(model)
    criteria = {q: RateDistortionLoss.for_model(model, LAMBDAS[q], w1=w1, w2=w2, metric=metric) for q in qualities}
    model.to(dev)
    optimizer, aux_optimizer = make_optimizers(model, lr=lr, gain_lr=gain_lr)
    process_seed = seed + 1_000_003 * world.rank
    generator = torch.Generator(device=dev).manual_seed(process_seed)  # the crops
    torch.manual_seed(process_seed)  # the quantisation noise
    history: list[dict[str, float]] = []
    first, elapsed, lr_dropped_at = 0, 0.0, None
    if resume:
        state = load_torch(state_path, dev)
        if state["world_size"] != world.size:
            raise ValueError(f"{state_path} was written by {state['world_size']} process(es), "
                             f"this run has {world.size}")
        if (aux_optimizer is None) != (state["aux_optimizer"] is None):
            raise ValueError(f"{state_path} was written by a run that trained "
                             f"{'only the encoder' if state['aux_optimizer'] is None else 'every parameter'}; "
                             f"resume it with the same --train")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if aux_optimizer is not None:
            aux_optimizer.load_state_dict(state["aux_optimizer"])
        generator.set_state(state["generators"][world.rank].to(generator.get_state().device))
        _set_global_rng_state(state["global_rng"][world.rank], dev)
        first, elapsed, lr_dropped_at = state["step"], state["seconds"], state["lr_dropped_at"]
        history = state["history"]
    world.broadcast(model)

    def save_state(step: int, seconds: float) -> None:
        generators = world.gather(generator.get_state())
        global_rng = world.gather(_global_rng_state(dev))
        if world.is_main:
            save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "aux_optimizer": None if aux_optimizer is None else aux_optimizer.state_dict(),
                        "generators": generators, "global_rng": global_rng,
                        "step": step, "seconds": seconds, "lr_dropped_at": lr_dropped_at, "history": history,
                        "world_size": world.size}, state_path)

    rates = f"q{'/'.join(map(str, qualities))}"
    bar = tqdm(total=steps, initial=first, desc=f"train {model.name} {rates}", unit="step",
               disable=not progress or world.rank != 0)
    started = time.monotonic() - elapsed
    step = first
    while step < steps and not (time_limit is not None and time.monotonic() - started > time_limit):
        late = step >= int(lr_drop * steps) or (
            time_limit is not None and time.monotonic() - started > lr_drop * time_limit)
        if late and lr_dropped_at is None:
            for g in optimizer.param_groups:
                g["lr"] = g["lr"] / 10
            lr_dropped_at = step
        if model.variable_rate:
            model.quality = qualities[int(torch.randint(len(qualities), (1,), generator=generator,
                                                        device=generator.device))]
        stats = train_step(model, _random_crops_on(images, crop, batch, generator), criteria[model.quality],
                           optimizer, aux_optimizer, sync=world.average_gradients)
        stats["step"] = step
        if model.variable_rate:
            stats["quality"] = model.quality
        history.append(stats)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{stats['loss']:.3f}", bpp=f"{stats['bpp']:.3f}")
        if save_every and step % save_every == 0 and step < steps:
            save_state(step, time.monotonic() - started)
    bar.close()
    model.quality = home_quality
    seconds = time.monotonic() - started
    save_state(step, seconds)
    world.check_in_sync(model)
    if world.rank == 0:
        model.eval()
        if not val_images:
            validation = {}
        elif model.variable_rate:
            validation = validate_qualities(model, val_images, criteria)
        else:
            validation = validate(model, val_images, criteria[model.quality])
        model.cpu()
        if half:
            round_to_half(model)
        device_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
        extra = {"steps": steps, "steps_done": step, "seconds": round(seconds, 1), "device": str(dev),
                 "device_name": device_name,
                 "processes": world.size, "batch": batch, "crop": crop, "lr": lr, "lr_drop": lr_drop,
                 "lr_dropped_at": lr_dropped_at, "w1": w1, "w2": w2, "metric": metric, "seed": seed,
                 "images": len(images), "data": str(data), "val": validation, "half": half, "train": train,
                 "final": history[-1] if history else {}}
        if model.variable_rate:
            extra |= {"qualities": qualities, "gain_lr": lr if gain_lr is None else gain_lr}
        if init is not None:
            extra["init"] = init
        save_checkpoint(model, out, command=command, extra=extra, force=True, half=half)
        log = "".join(json.dumps(h) + "\n" for h in history)
        write_atomic(str(out) + ".log.jsonl", log.encode(), force=True)
    world.leave()
    return history


def export_state(model: WeConveneLIC, state: str | Path, out: str | Path, half: bool = True) -> dict:
    """Write the weights of a training state file (``OUT.state.pt`` of a run, possibly still going)
    into ``model`` (of the run's architecture) and save them as the checkpoint ``out`` (float16 with
    ``half``), for a look at a run before it ends; returns ``{"step", "seconds"}`` of the state."""
    saved = load_torch(Path(state), torch.device("cpu"))
    model.load_state_dict(saved["model"])
    if half:
        round_to_half(model)
    progress = {"step": saved["step"], "seconds": round(saved["seconds"], 1)}
    save_checkpoint(model, out, command=f"export_state({state})", extra={"steps_done": saved["step"],
                    "seconds": progress["seconds"], "half": half}, force=True, half=half)
    return progress


def _global_rng_state(device: torch.device) -> Tensor:
    """torch's global random state on the CPU and, for a CUDA ``device``, on that device."""
    state = torch.get_rng_state()
    if device.type == "cuda":
        state = torch.cat([state, torch.cuda.get_rng_state(device)])
    return state


def _set_global_rng_state(state: Tensor, device: torch.device) -> None:
    cpu = torch.get_rng_state().numel()
    torch.set_rng_state(state[:cpu].cpu())
    if device.type == "cuda":
        torch.cuda.set_rng_state(state[cpu:].cpu(), device)


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
