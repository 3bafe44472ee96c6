"""Encoder-side latent refinement (integrations/lic/refine.py) on the untrained tiny model."""
from __future__ import annotations

import pytest
import torch

from integrations.lic.model import build_model
from integrations.lic.refine import check_schedule, compress_refined, encode_latents, refine_latents, sga_round


@pytest.fixture(scope="module")
def model():
    return build_model("3dm-weconvene-tiny", quality=3).eval()


@pytest.fixture(scope="module")
def image():
    g = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0, 1, 80).reshape(1, 1, 1, 80).expand(1, 3, 72, 80)
    return (0.7 * ramp + 0.3 * torch.rand(1, 3, 72, 80, generator=g)).contiguous()


def test_sga_round_stays_between_floor_and_ceil_and_has_gradients():
    v = (torch.randn(2000, dtype=torch.float64) * 3).requires_grad_(True)
    out = sga_round(v, 0.5, torch.Generator().manual_seed(1))
    assert torch.all(out >= torch.floor(v)) and torch.all(out <= torch.floor(v) + 1)
    out.sum().backward()
    assert torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0


def test_sga_round_approaches_rounding_as_tau_falls():
    v = torch.rand(20000, dtype=torch.float64) * 10 - 5
    g = torch.Generator().manual_seed(2)
    err = {tau: float((sga_round(v, tau, g) - torch.round(v)).abs().mean()) for tau in (1.0, 0.3, 0.05)}
    assert err[1.0] > err[0.3] > err[0.05]
    assert err[0.05] < 0.1


def test_encode_latents_of_the_encoders_latents_is_encode(model, image):
    """Oracle: the model's own encode path gives the same streams and reconstruction."""
    with torch.no_grad():
        y = model.g_a(model._pad(image))
        z = model.h_a(y)
    streams, x_hat = encode_latents(model, y, z, *image.shape[-2:])
    ref_streams, ref_x_hat = model.encode(image)
    assert streams == ref_streams
    assert torch.equal(x_hat, ref_x_hat)


def test_zero_steps_returns_the_encoders_latents(model, image):
    result = refine_latents(model, image, 0)
    with torch.no_grad():
        y = model.g_a(model._pad(image))
    assert torch.equal(result.y, y) and result.best_step == 0
    assert result.final_loss == result.initial_loss


def test_refinement_lowers_the_loss_and_decodes_bit_exactly(model, image):
    before = model.fingerprint()
    data, x_hat, result = compress_refined(model, image, 30, lr=0.05, check_every=5)
    assert result.final_loss < result.initial_loss
    assert result.best_step > 0
    assert [c[0] for c in result.checks] == [0, 5, 10, 15, 20, 25, 30]
    decoded = model.decompress(data)
    assert torch.equal(decoded, x_hat)
    assert model.fingerprint() == before
    assert all(p.grad is None for p in model.parameters())


def test_refinement_is_deterministic(model, image):
    a = refine_latents(model, image, 6, lr=0.05, check_every=3, seed=4)
    b = refine_latents(model, image, 6, lr=0.05, check_every=3, seed=4)
    assert torch.equal(a.y, b.y) and torch.equal(a.z, b.z)


def test_learning_rate_decay(model, image):
    """lr_end = lr is the constant schedule (the default) bit for bit; a decayed one follows another
    path and still never returns a worse loss than the encoder's latents."""
    constant = refine_latents(model, image, 8, lr=0.05, check_every=8, seed=1)
    same = refine_latents(model, image, 8, lr=0.05, lr_end=0.05, check_every=8, seed=1)
    decayed = refine_latents(model, image, 8, lr=0.05, lr_end=0.0005, check_every=8, seed=1)
    assert torch.equal(constant.y, same.y) and torch.equal(constant.z, same.z)
    assert decayed.final_loss <= decayed.initial_loss
    assert [c[0] for c in decayed.checks] == [0, 8]
    assert decayed.checks[1][1] != constant.checks[1][1]  # the hard-rounded loss at step 8


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": -1}, "steps"), ({"steps": 1.5}, "steps"), ({"steps": 2, "check_every": 0}, "check_every"),
    ({"steps": 2, "tau_start": 0.1, "tau_end": 0.5}, "tau"), ({"steps": 2, "lr": 0.0}, "lr"),
    ({"steps": 2, "lr": 0.01, "lr_end": 0.02}, "lr_end"), ({"steps": 2, "lr_end": 0.0}, "lr_end"),
])
def test_bad_arguments(model, image, kwargs, match):
    with pytest.raises(ValueError, match=match):
        refine_latents(model, image, **kwargs)


def test_bad_model_and_image(model, image):
    with pytest.raises(TypeError, match="WeConveneLIC"):
        refine_latents(torch.nn.Identity(), image, 1)
    with pytest.raises(ValueError, match="batch"):
        refine_latents(model, image.expand(2, -1, -1, -1), 1)
    with pytest.raises(ValueError, match="shape"):
        encode_latents(model, torch.zeros(1, 32, 3, 3), torch.zeros(1, 16, 1, 1), 72, 80)


@pytest.mark.parametrize("steps, lr, lr_end", [
    (True, 0.01, None), (-1, 0.01, None), (3, 0.0, None), (3, float("inf"), None), (3, 0.01, 0.02),
    (3, 0.01, 0.0), (3, "0.01", None), (3, 0.01, True),
])
def test_check_schedule_refuses(steps, lr, lr_end):
    with pytest.raises(ValueError, match="steps|lr"):
        check_schedule(steps, lr, lr_end)


def test_check_schedule_accepts_constant_and_decayed_steps():
    for args in [(0,), (300, 3e-2, 3e-3), (5, 1, None), (5, 0.01, 0.01)]:
        check_schedule(*args)
