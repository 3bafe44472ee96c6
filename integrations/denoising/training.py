"""Training and evaluation of MIRNet-v2 denoisers: loss, AdamW + cosine, progressive patches,
PSNR/SSIM validation, checkpoints, resume, CSV logs and ``torchrun`` (DDP) support.

Files written in ``out_dir``:

* ``model_last.safetensors`` / ``model_best.safetensors``: the shared checkpoint format
  (``wavelayers-denoising/1``; ``config`` = JSON of :class:`MIRNetConfig`) with the fields ``step``
  and ``psnr``;
* ``state_last.pt``: optimizer, scheduler, step, best PSNR and RNG states (plain tensors and
  containers, loaded with ``torch.load(weights_only=True)``);
* ``train_log.csv`` (step, stage, patch_size, batch_size, loss, lr, seconds) and
  ``val_log.csv`` (step, psnr, ssim, images).
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler
from tqdm.auto import tqdm

from ..toolkit import checkpoint as ckpt
from ..toolkit.distributed import ProcessGroup
from ..toolkit.files import append_csv, load_torch, save_torch
from .data import PairedPatchDataset, augment_8way
from .metrics import psnr, quantize, ssim
from .model import MIRNetConfig, MIRNetV2

__all__ = [
    "Stage", "TrainConfig", "parse_stages", "charbonnier_loss", "make_loss", "train", "evaluate",
    "denoise", "save_model", "load_model", "stages_from_epochs", "describe", "CHECKPOINT_FORMAT",
]

CHECKPOINT_FORMAT = "wavelayers-denoising/1"


@dataclass(frozen=True)
class Stage:
    """``iters`` optimisation steps on ``patch_size`` crops in batches of ``batch_size`` (per process)."""

    iters: int
    patch_size: int
    batch_size: int


@dataclass
class TrainConfig:
    """Optimisation settings. ``grad_clip`` is the max gradient norm (0 disables; the reference
    recipe uses 0.01). ``val_every`` / ``ckpt_every`` count steps (0: only at the end)."""

    stages: list[Stage]
    lr: float = 2e-4
    min_lr: float = 1e-6
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    loss: str = "l1"
    grad_clip: float = 0.01
    mixup: bool = False
    val_every: int = 0
    ckpt_every: int = 0
    log_every: int = 10
    num_workers: int = 0
    seed: int = 0
    self_ensemble: bool = False
    progress: bool = True
    command: str = ""

    @property
    def total_iters(self) -> int:
        return sum(s.iters for s in self.stages)


def parse_stages(spec: str) -> list[Stage]:
    """``"128:8:92000,160:5:64000"`` (patch:batch:iters per stage) -> list of :class:`Stage`."""
    stages = []
    for part in spec.split(","):
        fields_ = part.strip().split(":")
        if len(fields_) != 3 or not all(f.strip().isdigit() and int(f) > 0 for f in fields_):
            raise ValueError(f"each stage must be 'patch:batch:iters' with positive integers, got {part!r}")
        patch, batch, iters = (int(f) for f in fields_)
        stages.append(Stage(iters=iters, patch_size=patch, batch_size=batch))
    return stages


def charbonnier_loss(pred: Tensor, target: Tensor, eps: float = 1e-3) -> Tensor:
    """Mean of ``sqrt((pred - target)^2 + eps^2)``."""
    return torch.sqrt((pred - target).pow(2) + eps * eps).mean()


def make_loss(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """``'l1'`` or ``'charbonnier'``."""
    if name == "l1":
        return nn.functional.l1_loss
    if name == "charbonnier":
        return charbonnier_loss
    raise ValueError(f"loss must be 'l1' or 'charbonnier', got {name!r}")


# ----------------------------------------------------------------------------------- checkpoints


def save_model(model: MIRNetV2, path: str | os.PathLike, command: str = "", **fields: str) -> None:
    """The weights in the shared checkpoint format (config JSON of :class:`MIRNetConfig`), with
    ``fields`` (e.g. ``step``, ``psnr``) as string metadata; replaces an existing file."""
    ckpt.save_checkpoint(path, model.state_dict(), format=CHECKPOINT_FORMAT, model="mirnet-v2",
                         config=model.config.to_dict(), command=command,
                         fields={k: str(v) for k, v in fields.items()}, force=True)


def load_model(path: str | os.PathLike, map_location: str = "cpu") -> tuple[MIRNetV2, dict[str, str]]:
    """Rebuild the model a ``save_model`` file describes and load its weights; returns (model, metadata)."""
    meta, tensors = ckpt.read_checkpoint(path, CHECKPOINT_FORMAT, map_location)
    try:
        model = MIRNetV2(MIRNetConfig(**ckpt.json_field(meta, "config", path)))
    except TypeError as e:
        raise ValueError(f"{path}: invalid checkpoint metadata ({e})") from None
    ckpt.load_weights(model, tensors, path)
    return model, meta


def _save_state(path: Path, optimizer, scheduler, step: int, best: float) -> None:
    save_torch({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step,
                "best_psnr": best, "torch_rng": torch.get_rng_state()}, path)


# ----------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def denoise(model: nn.Module, noisy: Tensor, self_ensemble: bool = False) -> Tensor:
    """Model output for (N, 3, H, W), optionally averaged over the 8 flips/rotations."""
    if not self_ensemble:
        return model(noisy)
    outs = []
    for k in range(8):
        y = model(augment_8way(noisy, k))
        y = y.flip(-1) if k >= 4 else y  # undo: flip first, then rotate back
        outs.append(torch.rot90(y, -(k % 4), dims=(-2, -1)))
    return torch.stack(outs).mean(dim=0)


@torch.no_grad()
def evaluate(
    model: nn.Module, dataset: Dataset, device: str | torch.device = "cpu", self_ensemble: bool = False,
    progress: bool = True,
) -> dict[str, float]:
    """Mean PSNR / SSIM (skimage's defaults, data range 1) of 8-bit quantised outputs against the
    ground truth over ``dataset`` items ``(noisy, clean, name)``."""
    was_training = model.training
    model.eval()
    psnrs, ssims = [], []
    for i in tqdm(range(len(dataset)), desc="validate", disable=not progress, leave=False):
        noisy, clean, _ = dataset[i]
        if clean is None:
            raise ValueError("evaluate() needs ground truth; use denoise() for noisy-only inputs")
        out = quantize(denoise(model, noisy.unsqueeze(0).to(device), self_ensemble)).cpu()
        psnrs.append(psnr(out, clean.unsqueeze(0)).item())
        ssims.append(ssim(out, clean.unsqueeze(0)).item())
    model.train(was_training)
    n = len(psnrs)
    return {"psnr": sum(psnrs) / n if n else math.nan, "ssim": sum(ssims) / n if n else math.nan, "images": n}


# ----------------------------------------------------------------------------------- training


def _batches(loader: DataLoader, sampler, epoch: int):
    """Endless iterator over ``loader`` (re-seeding a DistributedSampler each pass)."""
    while True:
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def _mixup(noisy: Tensor, clean: Tensor) -> tuple[Tensor, Tensor]:
    lam = torch.distributions.Beta(1.2, 1.2).sample().item()
    perm = torch.randperm(noisy.shape[0], device=noisy.device)
    return lam * noisy + (1 - lam) * noisy[perm], lam * clean + (1 - lam) * clean[perm]


def train(
    model: MIRNetV2,
    train_set: PairedPatchDataset,
    cfg: TrainConfig,
    out_dir: str | os.PathLike,
    val_set: Dataset | None = None,
    device: str = "cpu",
    resume: bool = False,
    group: ProcessGroup | None = None,
) -> dict[str, float]:
    """Train ``model`` through ``cfg.stages``; returns the last losses and validation scores.

    With ``resume`` the weights, optimizer, scheduler and step come from ``out_dir`` and training
    continues at the next step (the stage is found from the step count). ``group``: the processes
    of a ``torchrun`` launch (:meth:`ProcessGroup.join`); one process when None."""
    info = group or ProcessGroup(device=torch.device(device))
    out = Path(out_dir)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed + info.rank)
    model.to(device)
    loss_fn = make_loss(cfg.loss)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.total_iters, 1), eta_min=cfg.min_lr)
    step, best = 0, -math.inf
    if resume:
        step, best = _resume(model, optimizer, scheduler, out, device)
    net = info.wrap(model)

    result: dict[str, float] = {"step": step}
    start = time.perf_counter()
    bar = tqdm(total=cfg.total_iters, initial=step, desc="train", disable=not (info.is_main and cfg.progress))
    stage_end = 0
    for stage_index, stage in enumerate(cfg.stages):
        stage_start, stage_end = stage_end, stage_end + stage.iters
        if step >= stage_end:
            continue
        train_set.patch_size = stage.patch_size
        sampler = (
            DistributedSampler(train_set, info.size, info.rank, shuffle=True, seed=cfg.seed)
            if info.size > 1 else RandomSampler(train_set, replacement=True, num_samples=stage.batch_size * 64)
        )
        loader = DataLoader(train_set, batch_size=stage.batch_size, sampler=sampler, num_workers=cfg.num_workers,
                            drop_last=len(train_set) >= stage.batch_size * info.size, pin_memory=device.startswith("cuda"))
        batches = _batches(loader, sampler, epoch=step - stage_start)
        net.train()
        while step < stage_end:
            noisy, clean = (t.to(device, non_blocking=True) for t in next(batches))
            if cfg.mixup:
                noisy, clean = _mixup(noisy, clean)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(noisy), clean)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            bar.update(1)
            result.update(step=step, loss=loss.item())
            if info.is_main and (step % cfg.log_every == 0 or step == cfg.total_iters):
                bar.set_postfix(loss=f"{loss.item():.4f}", patch=stage.patch_size)
                append_csv(out / "train_log.csv", {
                    "step": step, "stage": stage_index, "patch_size": stage.patch_size, "batch_size": stage.batch_size,
                    "loss": f"{loss.item():.6f}", "lr": f"{scheduler.get_last_lr()[0]:.3e}",
                    "seconds": f"{time.perf_counter() - start:.1f}",
                })
            last = step == cfg.total_iters
            if val_set is not None and (last or (cfg.val_every and step % cfg.val_every == 0)):
                if info.is_main:
                    scores = evaluate(model, val_set, device, cfg.self_ensemble, cfg.progress)
                    result.update(val_psnr=scores["psnr"], val_ssim=scores["ssim"])
                    append_csv(out / "val_log.csv", {"step": step, "psnr": f"{scores['psnr']:.4f}",
                                                      "ssim": f"{scores['ssim']:.5f}", "images": scores["images"]})
                    if scores["psnr"] > best:
                        best = scores["psnr"]
                        save_model(model, out / "model_best.safetensors", cfg.command, step=step, psnr=f"{best:.4f}")
                info.barrier()
            if info.is_main and (last or (cfg.ckpt_every and step % cfg.ckpt_every == 0)):
                save_model(model, out / "model_last.safetensors", cfg.command, step=step)
                _save_state(out / "state_last.pt", optimizer, scheduler, step, best)
    bar.close()
    info.barrier()
    return result


def _resume(model: MIRNetV2, optimizer, scheduler, out: Path, device: str) -> tuple[int, float]:
    weights, state_path = out / "model_last.safetensors", out / "state_last.pt"
    if not (weights.is_file() and state_path.is_file()):
        raise FileNotFoundError(f"cannot resume: {weights} and {state_path} are both needed")
    loaded, meta = load_model(weights, map_location=device)
    if loaded.config != model.config:
        raise ValueError(f"{weights}: saved config {loaded.config} differs from the requested {model.config}")
    model.load_state_dict(loaded.state_dict())
    state = load_torch(state_path, device)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"].cpu())
    return int(state["step"]), float(state["best_psnr"])


def stages_from_epochs(epochs: int, n_items: int, patch_size: int, batch_size: int, world_size: int = 1) -> list[Stage]:
    """One stage of ``epochs`` passes over ``n_items`` training items."""
    per_epoch = max(1, math.ceil(n_items / (batch_size * world_size)))
    return [Stage(iters=epochs * per_epoch, patch_size=patch_size, batch_size=batch_size)]


def describe(stages: Sequence[Stage]) -> str:
    """One line summarising a stage list."""
    return ", ".join(f"{s.iters} it @ {s.patch_size}px x{s.batch_size}" for s in stages)
