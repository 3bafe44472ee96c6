"""MIRNet-v2 denoising integration: architecture, wavelet swap, metrics, data layouts, training, CLI."""
from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torch.nn.functional as F
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from integrations.denoising.data import (
    BlockDataset, PairedImageDataset, PairedPatchDataset, augment_8way, find_sidd_pairs, load_image,
    open_test_inputs, open_validation, write_crops,
)
from integrations.denoising.metrics import psnr, quantize, ssim
from integrations.denoising.model import Down, MIRNetConfig, MIRNetV2, Up, build_model
from integrations.denoising.training import Stage, TrainConfig, denoise, load_model, make_loss, parse_stages, train
from wavelayers import WeConv3D

pytestmark = pytest.mark.usefixtures("single_thread")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sidd_mirnet.py"



def _n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _pair(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A blocky clean uint8 image and a noisy copy, (H, W, 3)."""
    base = rng.random((h // 8 + 1, w // 8 + 1, 3))
    clean = np.kron(base, np.ones((8, 8, 1)))[:h, :w]
    noisy = np.clip(clean + 0.08 * rng.standard_normal(clean.shape), 0, 1)
    return (noisy * 255).round().astype(np.uint8), (clean * 255).round().astype(np.uint8)


def _write_official_sidd(root: Path, n: int = 2, size: tuple[int, int] = (40, 48)) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        scene = root / "Data" / f"{i + 1:04d}_001_S6_00100_00060_3200_L"
        scene.mkdir(parents=True)
        for k in ("010", "011"):
            noisy, clean = _pair(rng, *size)
            Image.fromarray(noisy).save(scene / f"{i + 1:04d}_NOISY_SRGB_{k}.PNG")
            Image.fromarray(clean).save(scene / f"{i + 1:04d}_GT_SRGB_{k}.PNG")
    return root


def _write_val_mat(folder: Path, images: int = 2, blocks: int = 2, size: int = 24) -> Path:
    rng = np.random.default_rng(1)
    pairs = [[_pair(rng, size, size) for _ in range(blocks)] for _ in range(images)]
    noisy = np.array([[p[0] for p in row] for row in pairs])
    clean = np.array([[p[1] for p in row] for row in pairs])
    folder.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(folder / "ValidationNoisyBlocksSrgb.mat", {"ValidationNoisyBlocksSrgb": noisy})
    scipy.io.savemat(folder / "ValidationGtBlocksSrgb.mat", {"ValidationGtBlocksSrgb": clean})
    return folder


# ----------------------------------------------------------------------------------- architecture


def test_sizes_match_published_mirnet_v2():
    """Parameter counts of the reference implementation (anchors/integrations.md section 1)."""
    full = build_model("mirnet-v2")
    assert _n_params(full) == 5_858_560
    downs = [m for m in full.modules() if isinstance(m, Down)]
    ups = [m for m in full.modules() if isinstance(m, Up)]
    assert (len(downs), len(ups)) == (24, 32)
    assert sum(map(_n_params, downs)) == 326_400 and sum(map(_n_params, ups)) == 499_200
    assert _n_params(MIRNetV2(MIRNetConfig(n_feat=32, n_mrb=2))) == 939_136
    assert _n_params(build_model("mirnet-v2-small")) == 123_472


def test_invalid_widths_are_rejected():
    with pytest.raises(ValueError, match="multiple of 4"):
        MIRNetV2(MIRNetConfig(n_feat=8))
    with pytest.raises(ValueError, match="wavelet"):
        build_model("mirnet-v2-small", wavelet="db4")


@pytest.mark.parametrize("size", [(2, 2), (13, 22), (33, 37)])
def test_odd_sizes_pad_to_multiple_and_crop_back(size):
    torch.manual_seed(0)
    model = build_model("mirnet-v2-small").eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        y = model(x)
        h, w = size
        mode = "reflect" if (-h) % 4 < h and (-w) % 4 < w else "replicate"
        padded = F.pad(x, (0, (-w) % 4, 0, (-h) % 4), mode=mode)
        reference = model(padded)[..., :h, :w]  # padded size is a multiple of 4: no further padding
    assert y.shape == x.shape
    torch.testing.assert_close(y, reference)


def test_global_residual():
    """With a zero last conv the network is the identity (the residual skips the whole body)."""
    model = build_model("mirnet-v2-small").eval()
    torch.nn.init.zeros_(model.conv_out.weight)
    x = torch.rand(1, 3, 15, 21)
    with torch.no_grad():
        torch.testing.assert_close(model(x), x)


# ----------------------------------------------------------------------------------- wavelet variant


@pytest.mark.parametrize("wavelet", ["haar", "bior4.4"])
def test_wavelet_variant_is_drop_in(wavelet):
    torch.manual_seed(0)
    base = build_model("mirnet-v2-small").eval()
    wave = build_model("mirnet-v2-small", wavelet=wavelet).eval()
    targets = {n: m for n, m in base.named_modules() if isinstance(m, (Down, Up))}
    assert len(wave.swapped) == len(targets) == 28  # 4 RRGs x 1 MRB x (3 Down + 4 Up)
    assert sorted(wave.swapped) == sorted(targets)
    assert not any(isinstance(m, (Down, Up)) for m in wave.modules())
    for name, old in targets.items():
        new = wave.get_submodule(name)
        assert isinstance(new, WeConv3D) and new.wavelet == wavelet
        assert (new.in_channels, new.out_channels) == (old.in_channels, old.out_channels)
        if isinstance(old, Up):  # 2x up: sub-pixel head, no stride (the layers' spelling since 0.2)
            assert new.transposed and new.upsample == "subpixel" and new.stride == 1
        else:
            assert not new.transposed and new.stride == 2
        x = torch.rand(1, old.in_channels, 6, 10)
        with torch.no_grad():
            assert new(x).shape == old(x).shape
    x = torch.rand(1, 3, 33, 37)
    with torch.no_grad():
        assert wave(x).shape == base(x).shape == x.shape


def test_full_preset_swaps_all_56_modules():
    model = build_model("mirnet-v2", wavelet="bior2.2")
    assert len(model.swapped) == 56
    assert sum(isinstance(m, WeConv3D) for m in model.modules()) == 56


def test_generic_rewriter_finds_the_same_sites():
    """wavelayers' rewriter sees each Down (pool, conv) and Up (conv, upsample) pair as one site."""
    rewrite = pytest.importorskip("wavelayers.rewrite")
    base = build_model("mirnet-v2-small")
    sites = {n: m for n, m in base.named_modules() if isinstance(m, (Down, Up))}

    def head3(cin, cout, kernel_size, **kwargs):  # the explicit swap's head kernel (WeConv3D default 3)
        return WeConv3D(cin, cout, kernel_size=3, **kwargs)

    down, report_down = rewrite.replace_downsampling(base, layer=head3, wavelet="haar")
    both, report_up = rewrite.replace_upsampling(down, layer=head3, wavelet="haar")
    found = {r.path.rpartition(".")[0] for r in (*report_down.replaced, *report_up.replaced)}
    assert found == set(sites) and not report_down.skipped and not report_up.skipped
    assert _n_params(both) == _n_params(build_model("mirnet-v2-small", wavelet="haar"))
    x = torch.rand(1, 3, 13, 22)
    with torch.no_grad():
        assert both(x).shape == x.shape


@pytest.mark.parametrize("wavelet", ["none", "haar"])
def test_short_overfit_lowers_loss(wavelet):
    torch.manual_seed(0)
    model = build_model("mirnet-v2-small", wavelet=wavelet)
    rng = np.random.default_rng(0)
    pairs = [_pair(rng, 16, 16) for _ in range(2)]
    noisy = torch.stack([torch.from_numpy(p[0]).permute(2, 0, 1) for p in pairs]).float() / 255
    clean = torch.stack([torch.from_numpy(p[1]).permute(2, 0, 1) for p in pairs]).float() / 255
    loss_fn = make_loss("l1")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    with torch.no_grad():
        start = loss_fn(model(noisy), clean).item()
    for _ in range(12):
        opt.zero_grad()
        loss_fn(model(noisy), clean).backward()
        opt.step()
    with torch.no_grad():
        end = loss_fn(model(noisy), clean).item()
    assert end < 0.7 * start, (start, end)


# ----------------------------------------------------------------------------------- metrics


def test_metrics_match_skimage():
    from skimage import data

    rng = np.random.default_rng(0)
    clean = data.astronaut()[100:164, 180:250].astype(np.float64) / 255  # (64, 70, 3)
    noisy = np.clip(clean + 0.05 * rng.standard_normal(clean.shape), 0, 1)
    a, b = (torch.from_numpy(v).permute(2, 0, 1) for v in (noisy, clean))
    assert psnr(a, b).item() == pytest.approx(peak_signal_noise_ratio(clean, noisy, data_range=1), abs=1e-10)
    assert ssim(a, b).item() == pytest.approx(structural_similarity(clean, noisy, data_range=1, channel_axis=2), abs=1e-10)
    reference = structural_similarity(clean, noisy, data_range=1, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False)
    assert ssim(a, b, gaussian=True).item() == pytest.approx(reference, abs=1e-10)
    batch = ssim(torch.stack([a, b]), torch.stack([b, b]))
    assert batch[0].item() == pytest.approx(ssim(a, b).item()) and batch[1].item() == pytest.approx(1.0)
    q = quantize(torch.tensor([-0.2, 0.5, 1.3]))
    torch.testing.assert_close(q, torch.tensor([0.0, 128 / 255, 1.0]))
    with pytest.raises(ValueError, match="same shape"):
        psnr(a, b[:, :10])


# ----------------------------------------------------------------------------------- data


def test_official_sidd_layout(tmp_path):
    root = _write_official_sidd(tmp_path / "SIDD_Medium_Srgb")
    pairs = find_sidd_pairs(root)
    assert len(pairs) == 4
    for noisy, clean in pairs:
        assert "NOISY" in noisy.name and clean.name == noisy.name.replace("NOISY", "GT")
    assert find_sidd_pairs(root / "Data") == pairs  # the Data folder itself works too
    assert len(find_sidd_pairs(root, limit=3)) == 3
    image = load_image(pairs[0][0])
    assert image.shape == (3, 40, 48) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert write_crops(pairs[:1], tmp_path / "crops", crop=16) == 6  # 40x48 -> 2 x 3 tiles
    crops = find_sidd_pairs(tmp_path / "crops")  # the input/ + target/ layout
    assert len(crops) == 6
    tile = load_image(next(n for n, _ in crops if n.name.endswith("_16_32.png")))
    torch.testing.assert_close(tile, image[:, 16:32, 32:48])
    (pairs[0][1]).unlink()
    with pytest.raises(FileNotFoundError, match="no ground truth"):
        find_sidd_pairs(root)


@pytest.mark.parametrize("names", [("noisy", "gt"), ("input", "target")])
def test_folder_pair_layout_and_patches(tmp_path, names):
    rng = np.random.default_rng(0)
    for d in names:
        (tmp_path / d).mkdir()
    for i in range(3):
        noisy, clean = _pair(rng, 30, 20)
        Image.fromarray(noisy).save(tmp_path / names[0] / f"{i}.png")
        Image.fromarray(clean).save(tmp_path / names[1] / f"{i}.png")
    pairs = find_sidd_pairs(tmp_path)
    assert [(p.name, q.name) for p, q in pairs] == [(f"{i}.png", f"{i}.png") for i in range(3)]
    # noisy == clean: every crop and flip must be applied identically to both images of a pair
    same = PairedPatchDataset([(p, p) for p, _ in pairs], patch_size=12, repeat=4)
    assert len(same) == 12
    for i in range(len(same)):
        a, b = same[i]
        assert a.shape == (3, 12, 12)
        torch.testing.assert_close(a, b)
    # a patch is a (flipped / rotated) window of the full image
    whole = load_image(pairs[0][0])
    patch, _ = PairedPatchDataset(pairs[:1], patch_size=12)[0]
    windows = whole.unfold(1, 12, 1).unfold(2, 12, 1).permute(1, 2, 0, 3, 4).reshape(-1, 3, 12, 12)
    undone = [augment_8way(patch, k) for k in range(8)]
    assert any(torch.equal(w, u) for w in windows for u in undone)
    with pytest.raises(ValueError, match="smaller than the patch"):
        PairedPatchDataset(pairs, patch_size=31)[0]
    (tmp_path / names[1] / "2.png").unlink()
    with pytest.raises(FileNotFoundError, match="no ground truth"):
        find_sidd_pairs(tmp_path)


def test_missing_data_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="looked for"):
        find_sidd_pairs(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        find_sidd_pairs(tmp_path / "absent")


def test_sidd_validation_mat_layout(tmp_path):
    folder = _write_val_mat(tmp_path / "val", images=2, blocks=3, size=24)
    val = open_validation(folder)
    assert isinstance(val, BlockDataset) and len(val) == 6
    noisy, clean, name = val[4]
    raw = scipy.io.loadmat(folder / "ValidationGtBlocksSrgb.mat")["ValidationGtBlocksSrgb"]
    torch.testing.assert_close(clean, torch.from_numpy(raw[1, 1].astype(np.float32) / 255).permute(2, 0, 1))
    assert noisy.shape == (3, 24, 24) and name == "01_01"
    assert len(open_validation(folder / "ValidationNoisyBlocksSrgb.mat", limit=4)) == 4
    (folder / "ValidationGtBlocksSrgb.mat").unlink()
    with pytest.raises(FileNotFoundError, match="ground truth"):
        open_validation(folder)


def test_validation_image_pairs_and_test_inputs(tmp_path):
    root = _write_official_sidd(tmp_path / "sidd", n=1)
    val = open_validation(root)
    assert isinstance(val, PairedImageDataset) and len(val) == 2 and val[0][1].shape == (3, 40, 48)
    bench = np.zeros((2, 2, 8, 8, 3), np.uint8)
    scipy.io.savemat(tmp_path / "BenchmarkNoisyBlocksSrgb.mat", {"BenchmarkNoisyBlocksSrgb": bench})
    blocks = open_test_inputs(tmp_path / "BenchmarkNoisyBlocksSrgb.mat")
    assert len(blocks) == 4 and blocks[0][1] is None
    dnd = tmp_path / "dnd"
    dnd.mkdir()
    for i in range(3):
        Image.fromarray(_pair(np.random.default_rng(i), 16, 16)[0]).save(dnd / f"{i + 1:04d}_{i:02d}.png")
    inputs = open_test_inputs(dnd)
    assert len(inputs) == 3 and inputs[0][2] == "0001_00" and inputs[0][1] is None
    (dnd / "info.mat").write_bytes(b"MATLAB 7.3 MAT-file")
    with pytest.raises(ValueError, match="v7.3"):
        open_test_inputs(dnd)


def test_self_ensemble_inverts_each_transform():
    class Identity(torch.nn.Module):
        def forward(self, x):
            return x * 1.0

    x = torch.rand(1, 3, 6, 9)
    torch.testing.assert_close(denoise(Identity(), x, self_ensemble=True), x)


# ----------------------------------------------------------------------------------- training / CLI


def test_parse_stages():
    assert parse_stages("128:8:92000, 160:5:64") == [Stage(92000, 128, 8), Stage(64, 160, 5)]
    with pytest.raises(ValueError, match="patch:batch:iters"):
        parse_stages("128:8")


def test_train_checkpoint_resume(tmp_path):
    root = _write_official_sidd(tmp_path / "sidd", n=1, size=(24, 24))
    pairs = find_sidd_pairs(root)
    out = tmp_path / "run"
    stages = [Stage(2, 16, 2), Stage(1, 20, 1)]
    cfg = TrainConfig(stages=stages, progress=False, log_every=1)
    torch.manual_seed(0)
    model = build_model("mirnet-v2-small", wavelet="haar")
    train(model, PairedPatchDataset(pairs, 16), TrainConfig(stages=stages[:1], progress=False, log_every=1), out)
    resumed = build_model("mirnet-v2-small", wavelet="haar")
    result = train(resumed, PairedPatchDataset(pairs, 16), cfg, out, resume=True)
    assert result["step"] == 3
    state = torch.load(out / "state_last.pt", weights_only=True)
    assert state["step"] == 3
    rows = list(csv.DictReader(open(out / "train_log.csv")))
    assert [(r["step"], r["patch_size"]) for r in rows] == [("1", "16"), ("2", "16"), ("3", "20")]
    loaded, meta = load_model(out / "model_last.safetensors")
    assert loaded.config == resumed.config and meta["step"] == "3"
    for k, v in resumed.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)
    with pytest.raises(ValueError, match="differs"):
        train(build_model("mirnet-v2-small"), PairedPatchDataset(pairs, 16), cfg, out, resume=True)


def _load_example():
    spec = importlib.util.spec_from_file_location("sidd_mirnet_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_without_data_says_where_it_looked(tmp_path, capsys):
    example = _load_example()
    assert example.main(["train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "looked for" in err and str(tmp_path / "nothing") in err and "No dataset is downloaded" in err


@pytest.mark.parametrize("wavelet", ["none", "haar"])
def test_example_end_to_end(tmp_path, wavelet):
    data = _write_official_sidd(tmp_path / "SIDD_Medium_Srgb", n=2, size=(24, 28))
    val = _write_val_mat(tmp_path / "val", images=1, blocks=2, size=16)
    out = tmp_path / "run"
    cmd = [sys.executable, str(EXAMPLE), "train", "--data", str(data), "--val-data", str(val), "--preset", "small",
           "--wavelet", wavelet, "--iters", "2", "--patch-size", "16", "--batch-size", "2", "--device", "cpu",
           "--threads", "1", "--out", str(out), "--limit", "3", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "validation PSNR" in proc.stdout and ("28 re-sampling" in proc.stdout) == (wavelet != "none")
    val_rows = list(csv.DictReader(open(out / "val_log.csv")))
    assert len(val_rows) == 1 and val_rows[0]["images"] == "2"
    # the saved best model reproduces the logged validation score
    example = _load_example()
    assert example.main(["eval", "--checkpoint", str(out / "model_best.safetensors"), "--data", str(val),
                         "--no-progress", "--device", "cpu"]) == 0
    model, _ = load_model(out / "model_best.safetensors")
    from integrations.denoising.training import evaluate

    scores = evaluate(model, open_validation(val), progress=False)
    assert f"{scores['psnr']:.4f}" == val_rows[0]["psnr"]
