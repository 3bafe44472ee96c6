"""3DM-WeConvene codec: bit-exact decoding on odd sizes, rate from bytes vs the likelihood
estimate, training on a fixed batch, checkpoints without pickles, model identity checks."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from skimage import data as skdata

from integrations.compression.container import BitstreamError, unpack
from integrations.lic.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from integrations.lic.codec import compress_image, decompress_image, is_untrained
from integrations.lic.loss import RateDistortionLoss
from integrations.lic.model import PAD_MULTIPLE, build_model, extend_smoothly
from integrations.lic.training import make_optimizers, random_crops, train_step

pytestmark = pytest.mark.usefixtures("single_thread_module")

TINY = "3dm-weconvene-tiny"



def _photo() -> torch.Tensor:
    """scikit-image's astronaut, (1, 3, 512, 512) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(skdata.astronaut())).permute(2, 0, 1).float().div(255)[None]


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    return _photo()


@pytest.mark.parametrize("name", [TINY, f"{TINY}-wecharm", f"{TINY}-chwp8", f"{TINY}-chwp4"])
@pytest.mark.parametrize("size", [(33, 47), (70, 50), (64, 128)])
def test_decode_is_bit_exact(name, size, photo):
    model = build_model(name, 3)
    x = photo[:, :, 100 : 100 + size[0], 200 : 200 + size[1]].contiguous()
    data, x_enc = compress_image(model, x)
    x_dec = decompress_image(model, data)
    assert x_dec.shape == x.shape
    assert torch.equal(x_dec, x_enc)
    assert model.decompress(model.compress(x)).equal(x_enc)
    header, streams = unpack(data)
    assert (header.model_id, header.quality, header.height, header.width) == (model.model_id, 3, *size)
    assert len(streams) == 2


def _blurred_row(row: np.ndarray, width: int) -> np.ndarray:
    """Oracle: each entry the mean of the ``width`` entries centred on it, indices clamped to the row."""
    half = width // 2
    index = np.clip(np.arange(len(row))[:, None] + np.arange(-half, half + 1)[None], 0, len(row) - 1)
    return row[index].mean(axis=1)


def test_padding_extends_the_edges_ever_more_blurred(photo):
    """The encoder's padding (cropped after decoding) keeps the image, then repeats its last column /
    row box-blurred over min(4d + 1, 33) pixels at distance d: checked against a numpy oracle, the
    right padding first, the bottom padding from the widened image's last row."""
    x = photo[:, :, 5:48, 7:60].double()  # 43 x 53 -> 64 x 64
    out = extend_smoothly(x, 64, 64)
    assert out.shape == (1, 3, 64, 64) and out.dtype == x.dtype
    assert torch.equal(out[..., :43, :53], x)
    a, b = x[0].numpy(), out[0].numpy()
    for d in range(1, 12):
        width = min(4 * d + 1, 33)
        for c in range(3):
            np.testing.assert_allclose(b[c, :43, 52 + d], _blurred_row(a[c, :, -1], width), rtol=0, atol=1e-12)
    for d in range(1, 22):
        for c in range(3):
            np.testing.assert_allclose(b[c, 42 + d], _blurred_row(b[c, 42], min(4 * d + 1, 33)), rtol=0, atol=1e-12)
    flat = torch.full((1, 3, 10, 20), 0.3)
    assert torch.allclose(extend_smoothly(flat, 64, 64), torch.full((1, 3, 64, 64), 0.3))
    whole = photo[..., :PAD_MULTIPLE, :PAD_MULTIPLE].contiguous()
    same = extend_smoothly(whole, PAD_MULTIPLE, PAD_MULTIPLE)
    assert torch.equal(same, whole) and same.data_ptr() == whole.data_ptr()  # no copy when nothing is padded
    with pytest.raises(ValueError, match="cannot extend an image of 43 x 53 to 40 x 64"):
        extend_smoothly(x, 40, 64)


def test_decoding_does_not_depend_on_the_thread_count(photo):
    """oneDNN's convolutions sum in a thread-count dependent order; the coding path runs on a fixed
    count, so an encoder on 2 threads and a decoder on 1 agree bit for bit (and write the same bytes)."""
    model = build_model("3dm-weconvene-small", 3)
    x = photo[:, :, 64:192, 64:256].contiguous()
    torch.set_num_threads(2)
    try:
        data, x_enc = compress_image(model, x)
    finally:
        torch.set_num_threads(1)
    assert torch.equal(decompress_image(model, data), x_enc)
    assert compress_image(model, x)[0] == data


def test_forward_returns_flat_band_likelihoods(photo):
    model = build_model(TINY, 3)
    out = model(photo[:, :, :33, :47])
    assert out["x_hat"].shape == (1, 3, 33, 47)
    # padded to 64x64 -> y (32, 4, 4) -> 8 bands (16, 2, 2); z (16, 1, 1)
    assert list(out["likelihoods"]) == ["LLL", "HLL", "LLH", "LHL", "LHH", "HLH", "HHL", "HHH", "z"]
    assert all(v.shape == (1, 16, 2, 2) for k, v in out["likelihoods"].items() if k != "z")
    assert out["likelihoods"]["z"].shape == (1, 16, 1, 1)


def test_build_model_is_deterministic_and_identified():
    a, b = build_model(TINY, 3), build_model(TINY, 3)
    assert a.model_id == b.model_id and a.model_id.startswith(TINY + "@")
    assert build_model(TINY, 4).model_id != a.model_id
    assert is_untrained(a)
    with torch.no_grad():
        a.g_s[0].head[0].weight.add_(1e-3)
    assert a.model_id != b.model_id and not is_untrained(a)
    with pytest.raises(ValueError, match="unknown model"):
        build_model("3dm-weconvene-huge", 3)
    with pytest.raises(ValueError, match="quality"):
        build_model(TINY, 9)


def test_file_from_other_weights_is_refused(photo):
    x = photo[:, :, :40, :40].contiguous()
    data, _ = compress_image(build_model(TINY, 3), x)
    other = build_model(f"{TINY}-chwp8", 3)
    with pytest.raises(BitstreamError, match="model id"):
        decompress_image(other, data)


@pytest.fixture(scope="module")
def trained(photo):
    """The tiny model after 100 steps on crops of the left half of the photo (about 10 s)."""
    torch.manual_seed(0)
    model = build_model(TINY, 6)
    criterion = RateDistortionLoss.for_model(model, 0.05)
    opt, aux_opt = make_optimizers(model, lr=2e-3, aux_lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    losses = [train_step(model, random_crops([photo[..., :256]], 128, 4, gen), criterion, opt, aux_opt)["loss"]
              for _ in range(100)]
    model.eval()
    model.update(force=True)
    return model, losses


def test_loss_falls_on_fixed_batch(photo):
    torch.manual_seed(0)
    model = build_model(TINY, 3)
    criterion = RateDistortionLoss.for_model(model, 0.0067)
    opt, aux_opt = make_optimizers(model, lr=1e-3)
    batch = photo[:, :, 128:256, 160:288].contiguous()
    losses = [train_step(model, batch, criterion, opt, aux_opt)["loss"] for _ in range(25)]
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])


def test_bpp_from_bytes_matches_likelihood_estimate(trained, photo):
    """On a held-out 256x256 crop the coded streams are within 3 % of the estimated bits, plus 8
    bytes per stream: the rANS coder flushes a 64-bit state, the Gaussian scales are rounded to
    CompressAI's 64-entry table and the CDFs to 16-bit precision (each well under 1 %)."""
    model, _ = trained
    x = photo[:, :, 100:356, 256:512].contiguous()
    with torch.no_grad():
        rates = RateDistortionLoss.for_model(model, 0.05)(model(x), x)
    est_bytes = float(rates["bpp"]) * x.shape[-2] * x.shape[-1] / 8
    data, _ = compress_image(model, x)
    _, streams = unpack(data)
    stream_bytes = sum(len(s) for s in streams)
    assert est_bytes > 500  # enough symbols for the comparison to mean something
    assert abs(stream_bytes - est_bytes) <= 0.03 * est_bytes + 8 * len(streams), (stream_bytes, est_bytes)
    assert len(data) - stream_bytes < 100  # container overhead (header, lengths, CRC)


def test_checkpoint_round_trip_without_pickles(trained, photo, tmp_path):
    model, _ = trained
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(model, path, command="pytest", extra={"note": "test"})
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])  # safetensors: 8-byte length, JSON header, raw tensors
    assert header["__metadata__"]["model"] == TINY and header["__metadata__"]["quality"] == "6"
    meta = read_metadata(path)
    assert meta["fingerprint"] == model.fingerprint() and meta["command"] == "pytest"
    loaded = load_checkpoint(path)
    assert loaded.model_id == model.model_id and not is_untrained(loaded)
    x = photo[:, :, 300:333, 10:57].contiguous()
    data, x_enc = compress_image(model, x)
    assert torch.equal(decompress_image(loaded, data), x_enc)
    with pytest.raises(FileExistsError):
        save_checkpoint(model, path)
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......")
    with pytest.raises(ValueError, match="checkpoint"):
        load_checkpoint(bogus)


def test_decoder_refuses_streams_too_short_for_the_header_size():
    """A header forged to a large image over tiny streams is refused before g_s allocates anything."""
    model = build_model(TINY, 3)
    with pytest.raises(BitstreamError, match="y stream"):
        model.decode([b"\x00" * 64, b""], 2048, 2048)
