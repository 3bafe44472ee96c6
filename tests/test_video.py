"""DVC video integration: warping, odd frame sizes, bit-exact GOP files, training, data layouts."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from integrations.compression.container import BitstreamError, pack, unpack
from integrations.video.data import FramePairs, list_frames, list_sequences, moving_sequence, vimeo_septuplets
from integrations.video.gop import decode_gop, encode_gop, gop_metrics
from integrations.video.model import DVC, DVCConfig, pad_frame
from integrations.video.cli import main
from integrations.video.training import (
    TrainConfig, load_model, make_optimizers, rd_loss, save_checkpoint, train, train_step,
)
from integrations.video.warp import warp
from wavelayers import WeConv3D

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning"), pytest.mark.usefixtures("single_thread_module")]

TINY = DVCConfig(flow_levels=3, flow_channels=(8, 16, 8, 4), flow_kernel=3, mv_channels=8, res_channels=8,
                 res_latent_channels=16, hyper_channels=8, mc_channels=8)



def tiny(wavelet: str = "none", entropy: str = "hyperprior", seed: int = 0) -> DVC:
    torch.manual_seed(seed)
    model = DVC(replace(TINY, wavelet=wavelet, residual_entropy=entropy), name="tiny")
    model.update(force=True)
    return model.eval()


# -- warping ------------------------------------------------------------------------------------
def test_warp_integer_translation_matches_shift():
    ref = torch.rand(2, 3, 12, 17, dtype=torch.float64)
    flow = torch.zeros(2, 2, 12, 17, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = 3.0, -2.0  # out[y, x] = ref[y - 2, x + 3]
    out = warp(ref, flow)
    torch.testing.assert_close(out[..., 2:, :-3], ref[..., :-2, 3:], rtol=0, atol=1e-12)
    # outside the frame: the nearest border pixel
    torch.testing.assert_close(out[..., 2:, -1], ref[..., :-2, -1], rtol=0, atol=1e-12)


def test_warp_subpixel_matches_analytic_bilinear():
    ref = torch.rand(1, 2, 9, 11, dtype=torch.float64)
    a, b = 0.25, 0.6  # x and y fractions
    flow = torch.empty(1, 2, 9, 11, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = a, b
    expected = ((1 - a) * (1 - b) * ref[..., :-1, :-1] + a * (1 - b) * ref[..., :-1, 1:]
                + (1 - a) * b * ref[..., 1:, :-1] + a * b * ref[..., 1:, 1:])
    torch.testing.assert_close(warp(ref, flow)[..., :-1, :-1], expected, rtol=0, atol=1e-12)


def test_warp_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, 2, H, W\)"):
        warp(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


# -- model shapes and the wavelet switch ------------------------------------------------------------
def test_wavelet_switch_replaces_the_16_sampling_layers():
    plain, wave = DVC(TINY), DVC(replace(TINY, wavelet="haar"))
    assert not any(isinstance(m, WeConv3D) for m in plain.modules())
    for coder in (wave.motion.encoder, wave.motion.decoder, wave.residual.encoder, wave.residual.decoder):
        assert sum(isinstance(m, WeConv3D) for m in coder) == 4
        assert not any(isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for m in coder)  # top level
    assert wave.motion.decoder[-1].channel_levels == 0 and wave.residual.decoder[-1].out_channels == 3
    assert not any(isinstance(m, WeConv3D) for m in wave.residual.hyper_encoder.modules())


@pytest.mark.parametrize("wavelet", ["none", "bior4.4"])
def test_training_forward_shapes_and_size_check(wavelet):
    model = DVC(replace(TINY, wavelet=wavelet))
    cur, ref = torch.rand(2, 3, 64, 128), torch.rand(2, 3, 64, 128)
    out = model(cur, ref)
    assert out.x_hat.shape == cur.shape and out.flow.shape == (2, 2, 64, 128)
    assert out.motion_likelihoods[0].shape == (2, 8, 4, 8)
    with pytest.raises(ValueError, match="multiple of 64"):
        model(torch.rand(1, 3, 70, 64), torch.rand(1, 3, 70, 64))


def test_pad_frame_to_multiple():
    x = torch.rand(1, 3, 67, 93)
    p = pad_frame(x)
    assert p.shape == (1, 3, 128, 128) and torch.equal(p[..., :67, :93], x)
    assert torch.equal(p[..., 100, 100], x[..., 66, 92])


# -- GOP files ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def frames():
    return moving_sequence(4, 67, 93, motion=(1, -2), seed=3)  # odd sizes: padded to 128 x 128 and cropped


@pytest.mark.parametrize("wavelet,entropy", [("none", "hyperprior"), ("bior4.4", "hyperprior"), ("haar", "3dwecharm")])
def test_gop_decodes_bit_exactly_through_a_file(tmp_path, frames, wavelet, entropy):
    coding = encode_gop(tiny(wavelet, entropy), frames, "jpeg", 85)
    path = tmp_path / "gop.dvc"
    path.write_bytes(coding.data)
    decoder = tiny(wavelet, entropy)  # a separate instance, as a decoding process would build
    decoded = decode_gop(decoder, path.read_bytes())
    assert len(decoded) == 4
    for enc, dec in zip(coding.frames, decoded):
        assert dec.shape == (67, 93, 3) and dec.dtype == np.uint8
        assert np.array_equal(enc, dec)
    header, streams = unpack(coding.data)
    assert (header.height, header.width) == (67, 93) and len(streams) == 2 + 3 * 3
    assert sum(coding.frame_bytes) == sum(len(s) for s in streams[1:])
    m = gop_metrics(frames, coding)
    assert len(m["bpp"]) == 4 and m["mean"]["bpp_file"] > m["mean"]["bpp"] > 0
    assert np.isnan(m["mean"]["ms-ssim-rgb"])  # frames below MS-SSIM's 161-pixel minimum
    assert m["psnr-rgb"][0] > 25  # the JPEG I-frame


def test_decoder_uses_the_encoders_thread_count(frames):
    """CPU float results depend on the thread count; the file carries the encoder's and the decoder uses it."""
    model = tiny()
    torch.set_num_threads(2)
    try:
        coding = encode_gop(model, frames[:2])
    finally:
        torch.set_num_threads(1)
    assert json.loads(unpack(coding.data)[1][0])["threads"] == 2
    decoded = decode_gop(model, coding.data)
    assert torch.get_num_threads() == 1
    assert all(np.array_equal(a, b) for a, b in zip(coding.frames, decoded))


def test_gop_refuses_other_weights_and_corrupted_files(frames):
    model = tiny()
    data = encode_gop(model, frames[:2], "webp", 80).data
    with pytest.raises(BitstreamError, match="wrong model id"):
        decode_gop(tiny(seed=1), data)
    broken = bytearray(data)
    broken[len(broken) // 2] ^= 0xFF
    with pytest.raises(BitstreamError, match="CRC"):
        decode_gop(model, bytes(broken))
    with pytest.raises(BitstreamError, match="truncated|length mismatch"):
        decode_gop(model, data[:-10])
    with pytest.raises(BitstreamError, match="bad magic"):
        decode_gop(model, b"RIFF" + data[4:])
    header, streams = unpack(data)
    with pytest.raises(BitstreamError, match="stream count mismatch"):
        decode_gop(model, pack(header, streams[:-1]))
    with pytest.raises(BitstreamError, match="I-frame"):
        decode_gop(model, pack(header, [streams[0], b"garbage", *streams[2:]]))
    meta = json.loads(streams[0])
    meta["format"] = "dvc-gop/9"
    with pytest.raises(BitstreamError, match="unsupported GOP format"):
        decode_gop(model, pack(header, [json.dumps(meta).encode(), *streams[1:]]))


def test_forged_pframe_stream_fails_cleanly(frames):
    """A stream that passes the CRC but is not what the encoder wrote: an error or frames, never a crash."""
    model = tiny()
    header, streams = unpack(encode_gop(model, frames[:2], "jpeg", 80).data)
    forged = [*streams[:-1], bytes(b ^ 0x5A for b in streams[-1]) + b"\x01" * 16]
    try:
        out = decode_gop(model, pack(header, forged))
    except BitstreamError:
        return
    assert len(out) == 2 and out[1].shape == (67, 93, 3)


def test_encode_gop_rejects_bad_frames(frames):
    with pytest.raises(ValueError, match="uint8"):
        encode_gop(tiny(), [f.astype(np.float32) for f in frames])
    with pytest.raises(ValueError, match="frame 1 has shape"):
        encode_gop(tiny(), [frames[0], frames[1][:-1]])


# -- training --------------------------------------------------------------------------------------
@pytest.mark.parametrize("wavelet", ["none", "haar"])
def test_short_overfit_lowers_the_loss(wavelet):
    torch.manual_seed(0)
    seq = moving_sequence(3, 64, 64, motion=(1, 2), seed=1)
    ref, cur = (torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255 for f in (seq[0], seq[2]))
    model = DVC(replace(TINY, wavelet=wavelet))
    lmbda = 256.0

    def eval_loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(rd_loss(model(cur, ref), cur, lmbda, "full")["loss"])

    before = eval_loss()
    optimizers = make_optimizers(model, lr=3e-3)
    for step in range(14):
        train_step(model, optimizers, ref, cur, lmbda, "motion" if step < 2 else "full", aux_weight=0.1)
    after = eval_loss()
    assert after < 0.7 * before, (before, after)


def test_train_loop_checkpoints_and_resumes(tmp_path, frames):
    seq_dir = tmp_path / "uvg" / "seq"
    seq_dir.mkdir(parents=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(seq_dir / f"f{i}.png")
    dataset = FramePairs([list_frames(seq_dir)], crop=64, gap=1)
    config = TrainConfig(lmbda=256, steps=2, motion_steps=1, batch_size=1, checkpoint_every=1, num_workers=0)
    model = DVC(TINY, name="tiny")
    records = train(model, dataset, config, tmp_path / "run")
    assert [r["stage"] for r in records] == ["motion", "full"]
    ckpt = tmp_path / "run" / "last.safetensors"
    loaded = load_model(ckpt)
    assert loaded.fingerprint() == model.fingerprint() and loaded.config == model.config
    coding = encode_gop(loaded, frames[:2])  # a file written by the checkpoint decodes with a fresh load of it
    assert np.array_equal(decode_gop(load_model(ckpt), coding.data)[1], coding.frames[1])
    resumed = train(DVC(TINY, name="tiny"), dataset, replace(config, steps=3), tmp_path / "run", resume=ckpt)
    assert [r["step"] for r in resumed] == [3]
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]


def test_cli_compress_decompress_round_trip(tmp_path, frames, capsys):
    model = tiny("haar")
    ckpt = tmp_path / "tiny.safetensors"
    save_checkpoint(ckpt, model, command="pytest")
    src = tmp_path / "frames"
    src.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(src / f"f{i}.png")
    gop, out = tmp_path / "seq.dvc", tmp_path / "decoded"
    common = ["--checkpoint", str(ckpt), "--device", "cpu"]
    assert main(["compress", str(src), str(gop), "--frames", "3", "--iframe-codec", "jpeg", *common]) == 0
    expected = encode_gop(load_model(ckpt), frames[:3], "jpeg", 90)
    assert gop.read_bytes() == expected.data
    assert main(["decompress", str(gop), str(out), *common]) == 0
    decoded = [np.asarray(Image.open(out / f"frame{i:03d}.png")) for i in range(3)]
    assert all(np.array_equal(a, b) for a, b in zip(decoded, expected.frames))
    assert main(["compress", str(src), str(gop), *common]) == 2  # no overwrite without --force
    assert "exists" in capsys.readouterr().err
    assert main(["decompress", str(gop), str(tmp_path / "other"), "--device", "cpu"]) == 2  # untrained: wrong model id
    assert "model id" in capsys.readouterr().err


def test_flow_net_loads_user_weights(tmp_path):
    src, dst = DVC(TINY).flow, DVC(replace(TINY, wavelet="haar")).flow
    for p in src.parameters():
        torch.nn.init.normal_(p)
    torch.save(src.state_dict(), tmp_path / "flow.pt")
    dst.load_weights(tmp_path / "flow.pt")
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(dst(x, y), src(x, y))
    assert torch.count_nonzero(DVC(TINY).flow(x, y)) == 0  # untrained: zero flow (identity warp)


# -- data layouts ----------------------------------------------------------------------------------
def _png(path, value: int, size=(40, 48)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path)


def test_uvg_layout_natural_order_and_pairs(tmp_path):
    for name, value in (("f1", 10), ("f2", 20), ("f10", 100), ("f3", 30)):
        _png(tmp_path / "Beauty" / f"{name}.png", value)
    _png(tmp_path / "Jockey" / "f1.png", 5)
    (tmp_path / "empty").mkdir()
    seqs = list_sequences(tmp_path)
    assert [s.name for s in seqs] == ["Beauty", "Jockey"]
    assert [p.stem for p in list_frames(seqs[0])] == ["f1", "f2", "f3", "f10"]
    dataset = FramePairs([list_frames(seqs[0])], crop=32, gap=2)
    assert len(dataset) == 2
    pairs = {(round(float(r.mean()) * 255), round(float(c.mean()) * 255)) for r, c in (dataset[0], dataset[1])}
    assert pairs == {(10, 30), (20, 100)}
    ref, cur = dataset[0]
    assert ref.shape == cur.shape == (3, 32, 32) and ref.dtype == torch.float32
    with pytest.raises(ValueError, match="no .png frames"):
        list_frames(tmp_path / "empty")
    with pytest.raises(ValueError, match="smaller than"):
        FramePairs([list_frames(seqs[0])], crop=64, gap=1)[0]


def test_vimeo_septuplet_layout(tmp_path):
    for clip in ("00001/0001", "00002/0007"):
        for i in range(1, 8):
            _png(tmp_path / "sequences" / clip / f"im{i}.png", 10 * i)
    (tmp_path / "sep_trainlist.txt").write_text("00001/0001\n00002/0007\n")
    septuplets = vimeo_septuplets(tmp_path)
    assert len(septuplets) == 2 and [p.name for p in septuplets[1]] == [f"im{i}.png" for i in range(1, 8)]
    dataset = FramePairs(septuplets, crop=24, gap=2)
    assert len(dataset) == 10
    ref, cur = dataset[4]
    assert round(float(cur.mean() - ref.mean()) * 255) == 20
    (tmp_path / "sep_testlist.txt").write_text("00003/0001\n")
    with pytest.raises(FileNotFoundError, match="00003/0001"):
        vimeo_septuplets(tmp_path, "sep_testlist.txt")
    with pytest.raises(FileNotFoundError, match="sep_trainlist.txt"):
        vimeo_septuplets(tmp_path / "sequences")
