"""The variable-rate model (gain units, :mod:`integrations.lic.gains`) on the tiny preset: geometric
interpolation of the gains and λ, a converted fixed-rate model codes exactly as before, rate grows
with quality, a fractional quality decodes bit-exactly from the header alone, the target-rate
search, training with a quality per step (resumed exactly), and clear refusals of bad values."""
from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pytest
import torch
from PIL import Image
from skimage import data as skdata

from integrations.compression.container import BitstreamError, Header, pack, unpack
from integrations.compression.imageio import load_rgb
from integrations.lic.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from integrations.lic.cli import main
from integrations.lic.codec import compress_image, decompress_image, load_model, model_for_stream
from integrations.lic.gains import LAMBDAS, check_quality, lambda_of
from integrations.lic.model import (
    GatedResidualBlock, build_model, deepen_encoder, model_config, model_names, parse_model_name, to_variable_rate,
)
from integrations.lic.rate_control import compress_to_rate
from integrations.lic.training import run_training

pytestmark = pytest.mark.usefixtures("single_thread_module")

TINY, TINY_VR = "3dm-weconvene-tiny", "3dm-weconvene-tiny-vr"


def _spread_gains(model) -> None:
    """Gains growing with the quality index (y by e^0.4 per index, z by e^0.2), inverses their reciprocals."""
    with torch.no_grad():
        for i in range(len(LAMBDAS)):
            model.gains.y_gain[i], model.gains.y_inverse[i] = 0.4 * (i - 2), -0.4 * (i - 2)
            model.gains.z_gain[i], model.gains.z_inverse[i] = 0.2 * (i - 2), -0.2 * (i - 2)
    model.update(force=True)


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.from_numpy(skdata.coffee()[40:136, 60:188].copy()).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def vr_model():
    model = build_model(TINY_VR)
    _spread_gains(model)
    return model.eval()


def test_names_and_config():
    assert TINY_VR in model_names() and "3dm-weconvene-small-vr" in model_names()
    assert parse_model_name("3dm-weconvene-small-wecharm-vr") == ("3dm-weconvene", "small", "wecharm", True)
    assert parse_model_name(TINY) == ("3dm-weconvene", "tiny", "3dwecharm", False)
    assert build_model(TINY_VR).variable_rate and build_model(TINY).gains is None


def test_gains_interpolate_geometrically(vr_model):
    g2, g3, g25 = vr_model.gains(2), vr_model.gains(3), vr_model.gains(2.5)
    for name in g2:
        torch.testing.assert_close(g25[name], torch.sqrt(g2[name] * g3[name]))
    torch.testing.assert_close(g2["y_gain"].flatten(), torch.full((32,), math.exp(-0.4)))
    torch.testing.assert_close(vr_model.gains(6)["y_gain"].flatten(), torch.full((32,), math.exp(1.2)))
    assert lambda_of(2.5) == pytest.approx(math.sqrt(LAMBDAS[2] * LAMBDAS[3]))
    assert lambda_of(4) == LAMBDAS[4] and lambda_of(5.75) == pytest.approx(LAMBDAS[5] ** 0.25 * LAMBDAS[6] ** 0.75)


def test_a_converted_model_with_unit_gains_codes_exactly_as_the_fixed_one(image):
    fixed = build_model(TINY, 3)
    vr = to_variable_rate(fixed)
    vr.update(force=True)
    assert vr.name == TINY_VR
    streams_fixed, x_fixed = fixed.encode(image)
    for q in (1, 3, 4.5):
        streams_vr, x_vr = vr.encode(image, quality=q)
        assert streams_vr == streams_fixed and torch.equal(x_vr, x_fixed)


def test_rate_grows_with_quality(vr_model, image):
    sizes = [len(compress_image(vr_model, image, reconstruct=False, quality=q)[0])
             for q in (1, 1.5, 2, 2.75, 3, 4, 4.2, 5, 6)]
    assert sizes == sorted(sizes) and sizes[-1] > 2 * sizes[0]


def test_fractional_quality_decodes_bit_exactly_from_the_header(vr_model, image, tmp_path):
    data, x_enc = compress_image(vr_model, image, quality=2.437)
    header, _ = unpack(data)
    assert data[4] == 2 and header.quality == 2.437 and vr_model.quality == 3
    path = tmp_path / "vr.safetensors"
    save_checkpoint(vr_model, path)
    decoder = load_checkpoint(path)
    decoder.quality = 5.5  # the file's quality wins, the model's is left alone
    assert torch.equal(decompress_image(decoder, data), x_enc) and decoder.quality == 5.5
    integer, x_int = compress_image(vr_model, image, quality=4)
    assert integer[4] == 1 and torch.equal(decompress_image(decoder, integer), x_int)


def test_checkpoint_keeps_a_fractional_quality(vr_model, tmp_path):
    model = load_checkpoint(_saved(vr_model, tmp_path, 4.25))
    assert model.variable_rate and model.quality == 4.25 and model.lmbda == pytest.approx(lambda_of(4.25))


def _saved(model, folder: Path, quality) -> Path:
    before, model.quality = model.quality, quality
    try:
        path = folder / f"q{quality}.safetensors"
        save_checkpoint(model, path, force=True)
        return path
    finally:
        model.quality = before


def test_target_rate_is_reached_within_tolerance(vr_model, image):
    rates = {q: len(compress_image(vr_model, image, reconstruct=False, quality=q)[0]) * 8 / image[0, 0].numel()
             for q in (2, 5)}
    target = 0.5 * (rates[2] + rates[5])
    search = compress_to_rate(vr_model, image, target, tolerance=0.02)
    assert search.within and abs(search.bpp - target) <= 0.02 * target and 2 < search.encodes <= 15
    assert 2 < search.quality < 5 and len(search.data) * 8 / image[0, 0].numel() == search.bpp
    header, _ = unpack(search.data)
    assert header.quality == search.quality
    x_hat = decompress_image(vr_model, search.data)
    assert torch.equal(x_hat, compress_image(vr_model, image, quality=search.quality)[1])


def test_target_rate_refusals(vr_model, image):
    with pytest.raises(ValueError, match="out of reach"):
        compress_to_rate(vr_model, image, 1e-4)
    with pytest.raises(ValueError, match="out of reach"):
        compress_to_rate(vr_model, image, 50.0)
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="target bpp"):
            compress_to_rate(vr_model, image, bad)
    with pytest.raises(ValueError, match="variable-rate model"):
        compress_to_rate(build_model(TINY, 3), image, 0.5)


@pytest.mark.parametrize("quality, variable_rate, match", [
    (0.5, True, r"in \[1, 6\]"), (6.01, True, r"in \[1, 6\]"), (float("nan"), True, r"in \[1, 6\]"),
    ("3", True, "a number"), (2.5, False, "fixed-rate"), (7, False, "fixed-rate"), (True, True, "a number"),
])
def test_bad_qualities_are_refused(quality, variable_rate, match):
    with pytest.raises(ValueError, match=match):
        check_quality(quality, variable_rate)


def test_quality_is_snapped_to_the_header_resolution():
    assert check_quality(2.0004, True) == 2 and check_quality(3.14159, True) == 3.142


def test_fixed_rate_models_refuse_another_quality(image):
    fixed = build_model(TINY, 3)
    with pytest.raises(ValueError, match="codes quality 3 only"):
        fixed.encode(image, quality=2)
    data, _ = compress_image(fixed, image)
    header, streams = unpack(data)
    forged = pack(Header(header.model_id, 2.5, header.height, header.width), streams)
    with pytest.raises(BitstreamError, match="fixed-rate"):
        decompress_image(fixed, forged)
    with pytest.raises(BitstreamError, match="invalid quality"):
        model_for_stream(forged)


def _train_vr(photos: Path, out: Path, steps: int, **kwargs) -> list[dict]:
    return run_training(build_model(TINY_VR), str(photos), str(out), steps=steps, batch=1, crop=64, progress=False,
                        lr_drop=1.0, gain_lr=1e-2, **kwargs)


def test_training_draws_a_quality_per_step_and_resumes_exactly(photos, tmp_path):
    full = _train_vr(photos, tmp_path / "full.safetensors", steps=6, qualities=[1, 4, 6], save_every=3)
    assert {h["quality"] for h in full} <= {1, 4, 6} and len({h["quality"] for h in full}) > 1
    _train_vr(photos, tmp_path / "part.safetensors", steps=3, qualities=[1, 4, 6], save_every=3)
    resumed = _train_vr(photos, tmp_path / "part.safetensors", steps=6, qualities=[1, 4, 6], resume=True)
    assert [h["quality"] for h in resumed] == [h["quality"] for h in full]
    a, b = load_checkpoint(tmp_path / "full.safetensors"), load_checkpoint(tmp_path / "part.safetensors")
    assert a.fingerprint() == b.fingerprint() and a.quality == 3
    trained = {i for i, g in enumerate(a.gains.y_gain) if bool(g.abs().max() > 0)}
    assert trained == {h["quality"] - 1 for h in full}  # only the gains of the qualities drawn moved


def test_training_validates_every_quality(photos, tmp_path):
    out = tmp_path / "v.safetensors"
    _train_vr(photos, out, steps=2, val=str(photos))
    extra = json.loads(read_metadata(out)["extra"])
    assert sorted(extra["val"]) == [f"q{q}" for q in LAMBDAS] and extra["qualities"] == sorted(LAMBDAS)
    assert all(0 < v["bpp_z"] < v["bpp"] for v in extra["val"].values())
    with pytest.raises(ValueError, match="qualities"):
        _train_vr(photos, tmp_path / "w.safetensors", steps=1, qualities=[0])
    with pytest.raises(ValueError, match="variable-rate"):
        run_training(build_model(TINY, 3), str(photos), str(tmp_path / "f.safetensors"), steps=1, batch=1, crop=64,
                     progress=False, qualities=[1, 2])


def test_encoder_only_training_leaves_the_decoder_bit_identical(photos, tmp_path):
    """--train encoder: g_a / h_a / the forward gains move, every other parameter keeps its exact bits,
    so the streams of the new encoder decode with the starting model to the very same image."""
    torch.manual_seed(0)
    start = build_model(TINY_VR)
    out = tmp_path / "enc.safetensors"
    history = run_training(copy.deepcopy(start), str(photos), str(out), steps=3, batch=1, crop=64, progress=False,
                           lr=1e-2, lr_drop=1.0, qualities=[2, 5], save_every=2, train="encoder")
    assert all("aux_loss" not in h for h in history)
    trained = load_checkpoint(out)
    before, after = dict(start.named_parameters()), dict(trained.named_parameters())
    moved = {n for n in before if not torch.equal(before[n], after[n])}
    assert moved and all(start.encoder_parameter(n) for n in moved)
    assert any(n.startswith("g_a.") for n in moved) and "gains.y_inverse" not in moved
    assert torch.equal(start.entropy_bottleneck.quantiles, trained.entropy_bottleneck.quantiles)
    assert json.loads(read_metadata(out)["extra"])["train"] == "encoder"
    image = load_rgb(next(p for p in sorted(photos.iterdir()) if p.suffix == ".png"))[..., :48, :64]
    start.update(force=True)
    start.eval()
    streams, _ = trained.encode(image, quality=5)
    assert torch.equal(start.decode(streams, 48, 64, quality=5), trained.decode(streams, 48, 64, quality=5))
    with pytest.raises(ValueError, match="same --train"):
        run_training(build_model(TINY_VR), str(photos), str(out), steps=4, batch=1, crop=64, progress=False,
                     resume=True)
    with pytest.raises(ValueError, match="train must be one of"):
        run_training(build_model(TINY_VR), str(photos), str(tmp_path / "x.safetensors"), steps=1, batch=1, crop=64,
                     progress=False, train="decoder")


def test_a_deepened_encoder_codes_exactly_as_the_model_it_came_from_and_then_trains(photos, image, tmp_path):
    """deepen_encoder: the new g_a blocks start as the identity (gate 0), so the streams and images are the
    starting model's bit for bit; the decoder is carried over; training moves the new blocks; a
    checkpoint of the deeper model loads with its config, and deepening twice adds up."""
    torch.manual_seed(0)
    start = build_model(TINY_VR)
    deeper = deepen_encoder(start, 1)
    assert deeper.name == TINY_VR + "-encoder_blocks=1" and deeper.config.encoder_blocks == 1
    assert len(deeper.g_a) == len(start.g_a) + 3
    decoder = {n: p for n, p in start.named_parameters() if not start.encoder_parameter(n)}
    assert all(torch.equal(p, dict(deeper.named_parameters())[n]) for n, p in decoder.items())
    for q in (1, 4.5, 6):
        (streams, x_hat), (deep_streams, deep_x_hat) = start.encode(image, quality=q), deeper.encode(image, quality=q)
        assert deep_streams == streams and torch.equal(deep_x_hat, x_hat)
    out = tmp_path / "deep.safetensors"
    run_training(deeper, str(photos), str(out), steps=2, batch=1, crop=64, progress=False, lr=1e-2, lr_drop=1.0,
                 qualities=[2, 5])
    trained = load_checkpoint(out)
    assert trained.config.encoder_blocks == 1 and trained.name == deeper.name
    new_block = trained.g_a[2]  # tiny: down, block, then the new block of stage 1
    assert isinstance(new_block, GatedResidualBlock) and new_block.gate.abs().item() > 0  # it fades in
    twice = deepen_encoder(trained, 2)
    assert twice.config.encoder_blocks == 3 and twice.name == TINY_VR + "-encoder_blocks=3"
    assert twice.encode(image, quality=3)[0] == trained.encode(image, quality=3)[0]
    with pytest.raises(ValueError, match="blocks must be an int >= 1"):
        deepen_encoder(start, 0)
    with pytest.raises(ValueError, match="encoder_blocks must be an int >= 0"):
        model_config(TINY_VR, encoder_blocks=-1)


def test_cli_deepens_the_encoder_of_an_init_checkpoint(photos, tmp_path):
    first = tmp_path / "vr.safetensors"
    args = ["--data", str(photos), "--steps", "1", "--batch", "1", "--crop", "64"]
    assert main(["train", *args, "--out", str(first), "--preset", "tiny", "--variable-rate"]) == 0
    second = tmp_path / "deep.safetensors"
    assert main(["train", *args, "--out", str(second), "--init", str(first), "--variable-rate",
                 "--deepen-encoder", "1"]) == 0
    assert load_checkpoint(second).config.encoder_blocks == 1
    assert "--deepen-encoder 1" in read_metadata(second)["command"]
    assert main(["train", *args, "--out", str(tmp_path / "x.safetensors"), "--preset", "tiny",
                 "--deepen-encoder", "1"]) == 2  # nothing to deepen


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "coffee.png"
    Image.fromarray(skdata.coffee()[50:120, 100:150]).save(path)
    return path


def test_cli_fractional_quality_and_target_rate(image_file, tmp_path, capsys):
    wlic, png = tmp_path / "a.wlic", tmp_path / "a.png"
    args = ["compress", str(image_file), str(wlic), "--preset", "tiny", "--variable-rate"]
    assert main([*args, "--quality", "2.5"]) == 0
    assert unpack(wlic.read_bytes())[0].quality == 2.5
    assert main(["decompress", str(wlic), str(png)]) == 0  # the untrained registered model, from the header
    model = load_model(name=TINY_VR, quality=2.5, shipped=False)
    expected = compress_image(model, load_rgb(image_file))[1]
    assert torch.equal(load_rgb(png), (expected * 255).round() / 255)
    capsys.readouterr()
    # untrained gains are all 1: every quality has the same rate, any target in range is met at once
    rate = len(wlic.read_bytes()) * 8 / (70 * 50)
    assert main([*args, "--target-bpp", f"{rate:.4f}", "--force"]) == 0
    assert "encodes" in capsys.readouterr().out


@pytest.mark.parametrize("extra, match", [
    (["--quality", "7"], r"in \[1, 6\]"),
    (["--quality", "2", "--target-bpp", "0.5"], "not both"),
    (["--target-bpp", "0.5", "--refine", "2"], "cannot be combined"),
])
def test_cli_refuses_bad_rate_arguments(image_file, tmp_path, capsys, extra, match):
    args = ["compress", str(image_file), str(tmp_path / "b.wlic"), "--preset", "tiny", "--variable-rate", *extra]
    assert main(args) == 2
    assert re.search(match, capsys.readouterr().err)


def test_cli_refuses_fractional_quality_for_fixed_rate_models(image_file, tmp_path, capsys):
    args = ["compress", str(image_file), str(tmp_path / "c.wlic"), "--preset", "tiny"]
    assert main([*args, "--quality", "2.5"]) == 2
    assert "fixed-rate" in capsys.readouterr().err
    assert main([*args, "--target-bpp", "0.5"]) == 2
    assert "variable-rate model" in capsys.readouterr().err


def test_refinement_at_a_fractional_quality_decodes_with_the_plain_decoder(vr_model, image):
    from integrations.lic.refine import compress_refined

    before, vr_model.quality = vr_model.quality, 4.5
    try:
        data, x_enc, result = compress_refined(vr_model, image, 4)
    finally:
        vr_model.quality = before
    assert unpack(data)[0].quality == 4.5 and result.final_loss <= result.initial_loss
    assert torch.equal(decompress_image(vr_model, data), x_enc)


def test_lambda_gain_init_starts_at_the_high_rate_quantiser_steps(image):
    fixed = build_model(TINY, 3)
    vr = to_variable_rate(fixed, gain_init="lambda")
    for q in LAMBDAS:
        gains = vr.gains(q)
        torch.testing.assert_close(gains["y_gain"], torch.full_like(gains["y_gain"], math.sqrt(LAMBDAS[q] / LAMBDAS[3])))
        torch.testing.assert_close(gains["y_inverse"] * gains["y_gain"], torch.ones_like(gains["y_gain"]))
        assert torch.equal(gains["z_gain"], torch.ones_like(gains["z_gain"]))
    vr.update(force=True)
    assert vr.encode(image, quality=3)[0] == fixed.encode(image)[0]  # the reference quality codes as before
    with pytest.raises(ValueError, match="gain_init"):
        to_variable_rate(fixed, gain_init="random")


def test_versus_table_interpolates_the_candidate_at_the_reference_rates():
    from integrations.lic.evaluate import versus_table

    candidate = {"name": "vr", "results": {"bpp": [0.1, 0.3], "psnr-rgb": [25.0, 27.0]}}
    reference = {"name": "fixed", "points": [{"quality": 1, "bpp": 0.2, "psnr-rgb": 25.5},
                                             {"quality": 4, "bpp": 0.5, "psnr-rgb": 28.0}]}
    lines = versus_table(candidate, reference).splitlines()
    assert lines[2] == "| 1 | 0.2000 | 25.50 | 26.00 | +0.50 |"
    assert lines[3].startswith("| 4 | 0.5000 | 28.00 | n/a")


def test_export_state_writes_the_weights_of_a_running_state(photos, tmp_path):
    from integrations.lic.training import export_state

    out = tmp_path / "run.safetensors"
    _train_vr(photos, out, steps=2, half=True)
    progress = export_state(build_model(TINY_VR), str(out) + ".state.pt", tmp_path / "look.safetensors")
    assert progress["step"] == 2
    assert load_checkpoint(tmp_path / "look.safetensors").fingerprint() == load_checkpoint(out).fingerprint()
