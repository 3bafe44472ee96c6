"""Encoder-side latent refinement: optimise one image's ``y`` and ``z`` on its own R-D loss.

The amortised encoder (``g_a``, ``h_a``) gives latents that are good on average; for one image they
can be improved by gradient descent on that image's rate-distortion loss with the decoder (``h_s``,
the entropy model, ``g_s``) held fixed (Yang, Bamler, Mandt, "Improving inference for neural image
compression", NeurIPS 2020). Rounding has no useful gradient, so the loss is optimised through
stochastic Gumbel annealing (SGA): every latent ``v`` (offset by its mean) is rounded down or up at
random, with the probabilities ``softmax(-atanh(v - floor v) / tau, -atanh(ceil v - v) / tau)``
relaxed by a Gumbel-softmax at temperature ``tau``, which is annealed from ``tau_start`` to
``tau_end``. Every ``check_every`` steps the latents are scored with hard rounding (the loss the
real coder pays, rates from the likelihoods), and the best latents seen are returned: refinement
never returns a worse estimated R-D loss than the encoder's own latents.

The refined latents go through the normal coding path (:func:`encode_latents`: the same operations
as :meth:`WeConveneLIC.encode` after ``g_a`` / ``h_a``), so files decode with the unchanged decoder.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..compression.container import pack
from .model import WeConveneLIC, file_header

__all__ = [
    "RefineResult", "refine_latents", "encode_latents", "compress_refined", "sga_round", "check_schedule",
    "DEFAULT_LR",
]

# Adam step size of the latents (constant unless an end value is given; see docs/lic.md,
# "Encoder-side refinement", for a decayed schedule measured to do better over 300 steps).
DEFAULT_LR = 2e-2


@dataclass
class RefineResult:
    """Refined latents ``y`` (1, M, h, w) and ``z`` (1, Z, h/4, w/4) (detached), the hard-rounded
    estimated loss of the encoder's latents and of the returned ones, the step the returned latents
    come from (0: the encoder's), the hard-rounded checks ``[(step, loss, bpp, mse)]`` and the seconds."""

    y: Tensor
    z: Tensor
    initial_loss: float
    final_loss: float
    best_step: int
    checks: list[tuple[int, float, float, float]] = field(default_factory=list)
    seconds: float = 0.0


def sga_round(v: Tensor, tau: float, generator: torch.Generator | None = None) -> Tensor:
    """Stochastic Gumbel annealing of ``round(v)``: ``floor(v) + w``, ``w`` in (0, 1) the relaxed
    (Gumbel-softmax, temperature ``tau``) sample of rounding up; differentiable in ``v``."""
    floor = torch.floor(v).detach()
    up = v - floor  # in [0, 1)
    bound = 1.0 - 1e-6
    logits = torch.stack((-torch.atanh(up.clamp(0.0, bound)), -torch.atanh((1.0 - up).clamp(0.0, bound))), -1) / tau
    uniform = torch.rand(logits.shape, generator=generator, dtype=v.dtype, device=v.device)
    gumbel = -torch.log(-torch.log(uniform.clamp(1e-10, 1.0 - 1e-7)))
    weights = torch.softmax((logits + gumbel) / tau, dim=-1)
    return floor + weights[..., 1]


def check_schedule(steps: object, lr: object = DEFAULT_LR, lr_end: object = None) -> None:
    """Raise ``ValueError`` unless ``steps`` is an integer >= 0 and ``0 < lr_end <= lr < inf``
    (``lr_end`` None: constant ``lr``): the arguments :func:`refine_latents` takes, checked before
    any work is done."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"refinement steps must be an integer >= 0, got {steps!r}")
    lr_end = lr if lr_end is None else lr_end
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lr, lr_end))
    if not (numbers and math.isfinite(lr) and 0 < lr_end <= lr):
        raise ValueError(f"need 0 < lr_end <= lr < inf, got lr={lr!r}, lr_end={lr_end!r}")


def _rate_distortion(
    model: WeConveneLIC, x: Tensor, y: Tensor, z: Tensor, lmbda: float, quantise, gains: dict[str, Tensor] | None
) -> tuple[Tensor, Tensor, Tensor]:
    """``(loss, bpp, mse)`` of the latents ``y``, ``z`` for the image ``x`` (1, 3, H, W), each latent
    offset by its mean (z: the bottleneck medians; y: the entropy model's means) and ``quantise``d;
    ``gains``: those of the model's quality (variable-rate models; None otherwise)."""
    H, W = x.shape[-2:]
    bottleneck, entropy = model.entropy_bottleneck, model.entropy_model
    medians = model._z_medians()
    z_tilde = quantise(z - medians) + medians
    values = z_tilde.permute(1, 0, 2, 3).reshape(z_tilde.shape[1], 1, -1)
    z_likelihood, _, _ = bottleneck._likelihood(values)
    if bottleneck.use_likelihood_bound:
        z_likelihood = bottleneck.likelihood_lower_bound(z_likelihood)
    y_slices = entropy.split(y)
    likelihoods = [z_likelihood]

    def code(i: int, means: Tensor, scales: Tensor) -> Tensor:
        y_tilde = quantise(y_slices[i] - means) + means
        likelihood = entropy.gaussian._likelihood(y_tilde, scales, means)
        if entropy.gaussian.use_likelihood_bound:
            likelihood = entropy.gaussian.likelihood_lower_bound(likelihood)
        likelihoods.append(likelihood)
        return y_tilde

    y_hat = entropy.merge(entropy._code_slices(model.hyper_synthesis(z_tilde, gains), code), (y.shape[-2], y.shape[-1]))
    x_hat = model.synthesis(y_hat, gains)[..., :H, :W]
    bits = sum(torch.log2(lik).sum() for lik in likelihoods)
    bpp = -bits / (H * W)
    mse = torch.mean((x_hat - x) ** 2)
    return bpp + lmbda * 255.0**2 * mse, bpp, mse


def refine_latents(
    model: WeConveneLIC,
    x: Tensor,
    steps: int,
    *,
    lr: float = DEFAULT_LR,
    lr_end: float | None = None,
    tau_start: float = 0.5,
    tau_end: float = 0.1,
    lmbda: float | None = None,
    check_every: int = 10,
    seed: int = 0,
) -> RefineResult:
    """Refine the latents of ``x`` (1, 3, H, W) in [0, 1] for ``steps`` Adam steps (``lr``, decayed
    geometrically to ``lr_end``, default ``lr``: constant) on
    ``bpp + lmbda * 255^2 * MSE`` (``lmbda``: that of the model's quality, ``model.lmbda``) through SGA
    with ``tau`` annealed geometrically from ``tau_start`` to ``tau_end``; the Gumbel noise comes
    from ``seed``. The model's weights are not changed (no gradient is stored in them)."""
    if not isinstance(model, WeConveneLIC):
        raise TypeError(f"model must be a WeConveneLIC, got {type(model).__name__}")
    model._check_image(x, batch_one=True)
    check_schedule(steps, lr, lr_end)
    if isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 1:
        raise ValueError(f"check_every must be an integer >= 1, got {check_every!r}")
    if not (0 < tau_end <= tau_start) or not math.isfinite(tau_start):
        raise ValueError(f"need 0 < tau_end <= tau_start < inf, got tau_start={tau_start!r}, tau_end={tau_end!r}")
    lr_end = lr if lr_end is None else lr_end
    lmbda = model.lmbda if lmbda is None else float(lmbda)
    start = time.perf_counter()
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=x.device).manual_seed(seed)
    try:
        with torch.no_grad():
            gains = model._gains(None)
            y0 = model.analysis(model._pad(x), gains)
            z0 = model.hyper_analysis(y0, gains)
        y, z = y0.clone().requires_grad_(True), z0.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([y, z], lr=lr)
        checks: list[tuple[int, float, float, float]] = []

        def check(step: int) -> float:
            with torch.no_grad():
                loss, bpp, mse = _rate_distortion(model, x, y, z, lmbda, torch.round, gains)
            checks.append((step, float(loss), float(bpp), float(mse)))
            return float(loss)

        best_loss = initial = check(0)
        best = (y.detach().clone(), z.detach().clone(), 0)
        for step in range(1, steps + 1):
            progress = (step - 1) / max(steps - 1, 1)
            tau = tau_start * (tau_end / tau_start) ** progress
            for group in optimizer.param_groups:
                group["lr"] = lr * (lr_end / lr) ** progress
            loss, _, _ = _rate_distortion(model, x, y, z, lmbda, lambda v: sga_round(v, tau, generator), gains)
            optimizer.zero_grad(set_to_none=True)
            y.grad, z.grad = torch.autograd.grad(loss, [y, z])
            optimizer.step()
            if step % check_every == 0 or step == steps:
                hard = check(step)
                if hard < best_loss:
                    best_loss, best = hard, (y.detach().clone(), z.detach().clone(), step)
    finally:
        model.train(was_training)
    return RefineResult(best[0], best[1], initial, best_loss, best[2], checks, time.perf_counter() - start)


@torch.no_grad()
def encode_latents(
    model: WeConveneLIC, y: Tensor, z: Tensor, height: int, width: int, reconstruct: bool = True
) -> tuple[list[bytes], Tensor | None]:
    """Entropy-code given latents exactly as :meth:`WeConveneLIC.encode` codes its own (at the
    model's quality): ``y`` (1, M, h, w), ``z`` (1, Z, h/4, w/4) of an image ``height`` x ``width``
    -> ``([z_stream, y_stream], x_hat)``, ``x_hat`` (1, 3, height, width) what the decoder will
    return (or None)."""
    y_size, z_size = model._latent_sizes(height, width)
    if y.dim() != 4 or y.shape[0] != 1 or tuple(y.shape[-2:]) != y_size:
        raise ValueError(f"y must have shape (1, M, {y_size[0]}, {y_size[1]}), got {tuple(y.shape)}")
    if z.dim() != 4 or z.shape[0] != 1 or tuple(z.shape[-2:]) != z_size:
        raise ValueError(f"z must have shape (1, Z, {z_size[0]}, {z_size[1]}), got {tuple(z.shape)}")
    return model.encode_latents(y, z, height, width, model._gains(None), reconstruct)


def compress_refined(
    model: WeConveneLIC, x: Tensor, steps: int, reconstruct: bool = True, **options
) -> tuple[bytes, Tensor | None, RefineResult]:
    """Like ``compress_image`` with :func:`refine_latents` (``steps``, ``options``) before coding:
    ``x`` (1, 3, H, W) -> ``(file bytes, encoder-side reconstruction or None, RefineResult)``."""
    result = refine_latents(model, x, steps, **options)
    H, W = x.shape[-2:]
    streams, x_hat = encode_latents(model, result.y, result.z, H, W, reconstruct=reconstruct)
    return pack(file_header(model, H, W), streams), x_hat, result
