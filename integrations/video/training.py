"""Rate-distortion training of DVC: stages, Adam, checkpoints (safetensors) + resume, torchrun / DDP.

Loss (``x`` current frame, ``bpp`` = -log2 likelihood of the coded latents per pixel):

* stage ``motion`` (warm-up): ``lambda * MSE(warp(ref, flow_hat), x) + bpp_mv`` -- the flow net and
  the motion coder only (DVC trains the motion part first);
* stage ``full``: ``lambda * (MSE(x_hat, x) + w * (MSE(warped, x) + MSE(prediction, x))) + bpp_mv +
  bpp_res`` with the auxiliary weight ``w`` (0.1 in the PyTorch reimplementation's first 500k steps,
  then 0).

The entropy bottlenecks' quantiles are trained by their own Adam on CompressAI's auxiliary loss.
Gradient values are clamped to +-``grad_clip`` (as in the PyTorch reimplementation).

Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in DDP (``nccl`` on CUDA, ``gloo`` on
CPU), the data are split by a DistributedSampler, the quantiles' gradients are all-reduced by hand
(their auxiliary loss is computed outside the DDP forward), and rank 0 writes logs and checkpoints.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from ..toolkit import checkpoint as ckpt
from ..toolkit.distributed import ProcessGroup
from ..toolkit.files import append_jsonl
from .model import DVC, DVCConfig, PFrameOutput

__all__ = ["TrainConfig", "rd_loss", "make_optimizers", "train_step", "train", "save_checkpoint",
           "load_checkpoint", "load_model", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "wavelayers-dvc/1"


@dataclass
class TrainConfig:
    """Training schedule. ``steps`` counts optimiser steps over both stages."""

    lmbda: float = 2048.0
    steps: int = 2_000_000
    motion_steps: int = 0
    aux_weight: float = 0.1
    lr: float = 1e-4
    aux_lr: float = 1e-3
    lr_decay_step: int | None = None
    batch_size: int = 4
    grad_clip: float = 0.5
    checkpoint_every: int = 5000
    num_workers: int = 2
    seed: int = 0

    def stage(self, step: int) -> str:
        return "motion" if step < self.motion_steps else "full"


def _bpp(likelihoods: list[Tensor], num_pixels: int) -> Tensor:
    if not likelihoods:
        return torch.zeros(())
    return sum(torch.log(lik).sum() for lik in likelihoods) / (-math.log(2) * num_pixels)


def rd_loss(out: PFrameOutput, cur: Tensor, lmbda: float, stage: str, aux_weight: float = 0.0) -> dict[str, Tensor]:
    """``{'loss', 'mse', 'bpp', 'bpp_mv', 'bpp_res', 'psnr'}`` of one pass (see module doc)."""
    n, _, h, w = cur.shape
    bpp_mv = _bpp(out.motion_likelihoods, n * h * w)
    bpp_res = _bpp(out.residual_likelihoods, n * h * w).to(bpp_mv)
    warp_mse = F.mse_loss(out.warped, cur)
    if stage == "motion":
        mse, loss = warp_mse, lmbda * warp_mse + bpp_mv
    else:
        mse = F.mse_loss(out.x_hat, cur)
        distortion = mse + aux_weight * (warp_mse + F.mse_loss(out.prediction, cur)) if aux_weight else mse
        loss = lmbda * distortion + bpp_mv + bpp_res
    psnr = -10.0 * torch.log10(mse.detach().clamp_min(1e-10))
    return {"loss": loss, "mse": mse, "bpp": bpp_mv + bpp_res, "bpp_mv": bpp_mv, "bpp_res": bpp_res, "psnr": psnr}


def _unwrap(model: nn.Module) -> DVC:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _entropy_bottlenecks(model: DVC) -> list[nn.Module]:
    return [model.motion.entropy, model.residual.z_entropy]


def make_optimizers(model: DVC, lr: float = 1e-4, aux_lr: float = 1e-3) -> dict[str, torch.optim.Optimizer]:
    """``{'main': Adam(all but quantiles), 'aux': Adam(quantiles)}``."""
    main = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    aux = [p for n, p in model.named_parameters() if n.endswith("quantiles")]
    return {"main": torch.optim.Adam(main, lr=lr), "aux": torch.optim.Adam(aux, lr=aux_lr)}


def train_step(model: nn.Module, optimizers: dict[str, torch.optim.Optimizer], ref: Tensor, cur: Tensor,
               lmbda: float, stage: str = "full", aux_weight: float = 0.0, grad_clip: float | None = 0.5,
               sync: Callable[[Sequence[Tensor]], None] | None = None) -> dict[str, float]:
    """One optimiser step on a batch; returns the loss terms as floats (before the step). ``sync``
    (e.g. :meth:`ProcessGroup.average_gradients`) is applied to the quantiles' gradients, which DDP
    does not see (their auxiliary loss is computed outside its forward)."""
    model.train()
    for opt in optimizers.values():
        opt.zero_grad(set_to_none=True)
    terms = rd_loss(model(cur, ref, stage=stage), cur, lmbda, stage, aux_weight)
    terms["loss"].backward()
    if grad_clip:
        nn.utils.clip_grad_value_(optimizers["main"].param_groups[0]["params"], grad_clip)
    optimizers["main"].step()
    aux_loss = sum(eb.loss() for eb in _entropy_bottlenecks(_unwrap(model)))
    aux_loss.backward()
    if sync is not None:
        sync(optimizers["aux"].param_groups[0]["params"])
    optimizers["aux"].step()
    out = {k: float(v.detach()) for k, v in terms.items()}
    out["aux"] = float(aux_loss.detach())
    return out


# -- checkpoints ----------------------------------------------------------------------------------
def save_checkpoint(path: str | os.PathLike, model: DVC, optimizers: dict[str, torch.optim.Optimizer] | None = None,
                    step: int = 0, train_config: TrainConfig | None = None, command: str = "", force: bool = True) -> None:
    """Weights (CDF tables excluded), optimiser moments and metadata in one safetensors file (atomic)."""
    tensors = {f"model.{k}": v for k, v in model.weight_state().items()}
    for name, opt in (optimizers or {}).items():
        for idx, state in opt.state_dict()["state"].items():
            for key, value in state.items():
                tensors[f"optim.{name}.{idx}.{key}"] = torch.as_tensor(value)
    fields = {"step": str(step), "train_config": json.dumps(asdict(train_config) if train_config else {}),
              "fingerprint": model.fingerprint()}
    ckpt.save_checkpoint(path, tensors, format=CHECKPOINT_FORMAT, model=model.name, config=model.config_dict(),
                         command=command, fields=fields, force=force)


def _read(path: str | os.PathLike) -> tuple[dict[str, str], dict[str, Tensor]]:
    return ckpt.read_checkpoint(path, CHECKPOINT_FORMAT)


def load_model(path: str | os.PathLike) -> DVC:
    """The checkpoint's model (eval mode, CDF tables built from its weights)."""
    meta, tensors = _read(path)
    try:
        # files written before the shared format name the preset under "name"
        model = DVC(DVCConfig(**json.loads(meta["config"])), name=meta.get("model", meta.get("name")))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: invalid checkpoint metadata ({e})") from None
    _load_weights(model, tensors, path)
    model.update(force=True)
    return model.eval()


def _load_weights(model: DVC, tensors: dict[str, Tensor], path: str | os.PathLike) -> None:
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    expected = set(model.weight_state())
    if set(weights) != expected:
        missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
        raise ValueError(f"{path}: weights do not match the model (missing {missing[:3]}, unexpected {extra[:3]})")
    model.load_state_dict(weights, strict=False)


def load_checkpoint(path: str | os.PathLike, model: DVC, optimizers: dict[str, torch.optim.Optimizer]) -> int:
    """Resume: load weights and optimiser moments into ``model`` / ``optimizers``; returns the step."""
    meta, tensors = _read(path)
    if json.loads(meta["config"]) != json.loads(json.dumps(model.config_dict())):
        raise ValueError(f"{path}: written for config {meta['config']}, the model is {model.config_dict()}")
    _load_weights(model, tensors, path)
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        state: dict[int, dict[str, Tensor]] = {}
        prefix = f"optim.{name}."
        for k, v in tensors.items():
            if k.startswith(prefix):
                idx, key = k[len(prefix):].split(".", 1)
                state.setdefault(int(idx), {})[key] = v
        sd["state"] = state
        opt.load_state_dict(sd)
    return int(meta["step"])


# -- the loop -----------------------------------------------------------------------------------
def train(model: DVC, dataset: Dataset, config: TrainConfig, out_dir: str | os.PathLike, device: str = "cpu",
          resume: str | os.PathLike | None = None, command: str = "") -> list[dict]:
    """Train ``model`` to ``config.steps``; writes ``out_dir/last.safetensors`` (every ``checkpoint_every``
    steps and at the end) and ``out_dir/log.jsonl``; returns the per-step loss records of this run."""
    group = ProcessGroup.join(device)
    dev, rank, world = group.device, group.rank, group.size
    out = Path(out_dir)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    model.to(dev)
    optimizers = make_optimizers(model, config.lr, config.aux_lr)
    step = load_checkpoint(resume, model, optimizers) if resume else 0
    net: nn.Module = model
    if world > 1:
        # The quantiles live outside the DDP forward (aux loss); train_step all-reduces their gradients.
        quantiles = [n for n, _ in model.named_parameters() if n.endswith("quantiles")]
        nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, quantiles)
        net = group.wrap(model, find_unused_parameters=True)
    sampler = DistributedSampler(dataset, seed=config.seed) if world > 1 else None
    generator = torch.Generator().manual_seed(config.seed + step)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                        num_workers=config.num_workers, drop_last=True, generator=generator)
    if len(loader) == 0:
        raise ValueError(f"{len(dataset)} training pairs do not fill one batch of {config.batch_size} per process")
    records: list[dict] = []
    bar = tqdm(total=config.steps, initial=step, disable=rank != 0, desc="train", dynamic_ncols=True)
    epoch = 0
    while step < config.steps:
        if sampler is not None:
            sampler.set_epoch(epoch)
        for ref, cur in loader:
            if step >= config.steps:
                break
            if config.lr_decay_step is not None and step == config.lr_decay_step:
                for group in optimizers["main"].param_groups:
                    group["lr"] = config.lr * 0.1
            stage = config.stage(step)
            terms = train_step(net, optimizers, ref.to(dev), cur.to(dev), config.lmbda, stage,
                               config.aux_weight, config.grad_clip, sync=group.average_gradients)
            step += 1
            record = {"step": step, "stage": stage, **terms}
            records.append(record)
            if rank == 0:
                bar.update(1)
                bar.set_postfix(stage=stage, loss=f"{terms['loss']:.4g}", bpp=f"{terms['bpp']:.3f}",
                                psnr=f"{terms['psnr']:.2f}")
                append_jsonl(out / "log.jsonl", record)
                if step % config.checkpoint_every == 0 or step == config.steps:
                    save_checkpoint(out / "last.safetensors", model, optimizers, step, config, command)
        epoch += 1
    bar.close()
    group.barrier()
    return records
