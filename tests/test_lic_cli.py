"""``python -m integrations.lic``: a file written by one process decodes bit-exactly in another;
outputs are never overwritten without --force; broken, truncated and foreign files give one clear
error line and exit status 2 (a bounded fuzz loop of byte flips and truncations included)."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from integrations.compression.container import BitstreamError, Header, pack, unpack
from integrations.compression.imageio import load_rgb, to_uint8
from integrations.lic.cli import main
from integrations.lic.codec import compress_image, decompress_image
from integrations.lic.model import build_model
from integrations.lic.refine import DEFAULT_LR, compress_refined

pytestmark = pytest.mark.usefixtures("single_thread_module")

TINY = "3dm-weconvene-tiny"
ROOT = Path(__file__).resolve().parents[1]



def _run_cli(*args: str, threads: int = 1) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(threads))
    return subprocess.run([sys.executable, "-m", "integrations.lic", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "coffee.png"
    Image.fromarray(skdata.coffee()[50:120, 100:150]).save(path)  # 70 x 50, odd-free but not a multiple of 64
    return path


@pytest.fixture(scope="module")
def wlic_file(image_file, tmp_path_factory) -> tuple[Path, bytes]:
    out = tmp_path_factory.mktemp("wlic") / "coffee.wlic"
    assert main(["compress", str(image_file), str(out), "--preset", "tiny", "--quality", "2"]) == 0
    return out, out.read_bytes()


def test_round_trip_across_processes(image_file, tmp_path):
    wlic, rec = tmp_path / "a.wlic", tmp_path / "a.png"
    # Encoder and decoder processes with different thread counts (2, then 1; this process runs 1).
    r = _run_cli("compress", str(image_file), str(wlic), "--preset", "tiny", "--quality", "2", threads=2)
    assert r.returncode == 0, r.stderr
    assert "UNTRAINED" in r.stderr
    r = _run_cli("decompress", str(wlic), str(rec))
    assert r.returncode == 0, r.stderr
    assert "UNTRAINED" in r.stderr
    # The encoder-side reconstruction, computed here in a third process.
    model = build_model(TINY, 2)
    data, x_enc = compress_image(model, load_rgb(image_file))
    assert data == wlic.read_bytes()
    assert np.array_equal(np.asarray(Image.open(rec).convert("RGB")), to_uint8(x_enc))


def test_compress_refine_writes_a_file_the_plain_decoder_reads_exactly(image_file, tmp_path):
    wlic, rec = tmp_path / "r.wlic", tmp_path / "r.png"
    assert main(["compress", str(image_file), str(wlic), "--preset", "tiny", "--quality", "2", "--refine", "3"]) == 0
    model = build_model(TINY, 2)
    data, x_enc, _ = compress_refined(model, load_rgb(image_file), 3)
    assert data == wlic.read_bytes()
    assert main(["decompress", str(wlic), str(rec)]) == 0
    assert np.array_equal(np.asarray(Image.open(rec).convert("RGB")), to_uint8(x_enc))
    assert main(["compress", str(image_file), str(tmp_path / "n.wlic"), "--preset", "tiny", "--refine", "-1"]) == 2


def test_compress_refine_with_a_decayed_step_is_what_the_api_writes(image_file, tmp_path, capsys):
    wlic = tmp_path / "d.wlic"
    schedule = ["--refine", "4", "--refine-lr", "0.05", "--refine-lr-end", "0.005"]
    assert main(["compress", str(image_file), str(wlic), "--preset", "tiny", "--quality", "2", *schedule]) == 0
    model = build_model(TINY, 2)
    x = load_rgb(image_file)
    assert wlic.read_bytes() == compress_refined(model, x, 4, lr=0.05, lr_end=0.005)[0]
    assert wlic.read_bytes() != compress_refined(model, x, 4, lr=0.05)[0]  # the schedule reached the optimiser
    # an end step above the start is refused before anything is written
    bad = tmp_path / "bad.wlic"
    assert main(["compress", str(image_file), str(bad), "--preset", "tiny", "--refine", "4", "--refine-lr", "0.01",
                 "--refine-lr-end", "0.02"]) == 2
    assert "need 0 < lr_end <= lr" in capsys.readouterr().err and not bad.exists()


def test_outputs_are_not_overwritten(image_file, wlic_file, tmp_path, capsys):
    wlic, _ = wlic_file
    rec = tmp_path / "rec.png"
    rec.write_bytes(b"keep me")
    assert main(["decompress", str(wlic), str(rec)]) == 2
    assert "exists" in capsys.readouterr().err and rec.read_bytes() == b"keep me"
    assert main(["decompress", str(wlic), str(rec), "--force"]) == 0
    assert Image.open(rec).size == (50, 70)
    assert main(["compress", str(image_file), str(wlic), "--preset", "tiny", "--quality", "2"]) == 2
    assert "exists" in capsys.readouterr().err


def _decode_error(tmp_path: Path, data: bytes, capsys, *extra: str) -> str:
    src, dst = tmp_path / "in.wlic", tmp_path / "out.png"
    src.write_bytes(data)
    if dst.exists():
        dst.unlink()
    status = main(["decompress", str(src), str(dst), *extra])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert not dst.exists()
    return err


def test_broken_files_give_clear_errors(wlic_file, tmp_path, capsys):
    _, data = wlic_file
    header, streams = unpack(data)
    assert "magic" in _decode_error(tmp_path, b"JUNK" + data[4:], capsys)
    assert "version" in _decode_error(tmp_path, data[:4] + bytes([99]) + data[5:], capsys)
    assert "model id" in _decode_error(tmp_path, pack(Header("not-a-model@0123456789ab", 2, 70, 50), streams), capsys)
    trained_like = Header(header.model_id[:-4] + "beef", header.quality, header.height, header.width)
    assert "model id" in _decode_error(tmp_path, pack(trained_like, streams), capsys)
    # Another quality index names other (initial) weights: refused as a model id mismatch.
    assert "model id" in _decode_error(tmp_path, pack(Header(header.model_id, 3, 70, 50), streams), capsys)
    for cut in (0, 3, 10, len(data) // 2, len(data) - 1):
        _decode_error(tmp_path, data[:cut], capsys)
    _decode_error(tmp_path, b"", capsys)
    # A checkpoint that did not write the file.
    other = tmp_path / "other.safetensors"
    from integrations.lic.checkpoint import save_checkpoint

    save_checkpoint(build_model(TINY, 5), other)
    assert "model id" in _decode_error(tmp_path, data, capsys, "--checkpoint", str(other))


def test_fuzz_byte_flips_and_truncations(wlic_file):
    """Bounded fuzz loop: every mutation raises BitstreamError (never a crash, hang or image)."""
    _, data = wlic_file
    model = build_model(TINY, 2)
    rng = random.Random(0)
    for trial in range(300):
        buf = bytearray(data)
        kind = trial % 3
        if kind == 0:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif kind == 1:
            for _ in range(rng.randint(2, 8)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
            if bytes(buf) == data:
                continue
        else:
            buf = buf[: rng.randrange(len(buf))]
        with pytest.raises(BitstreamError):
            decompress_image(model, bytes(buf))


def test_forged_streams_with_valid_crc_never_crash(wlic_file):
    """Random stream bytes behind a valid header and CRC: decoding stays memory-safe (the rANS input
    is zero-guarded) and either names the corruption or returns a finite image of the declared size."""
    _, data = wlic_file
    header, streams = unpack(data)
    model = build_model(TINY, 2)
    rng = np.random.default_rng(0)
    outcomes = set()
    for n in (0, 1, 3, 8, 16, 200, 2000) * 3:
        forged = [bytes(rng.integers(0, 256, n, dtype=np.uint8)) for _ in streams]
        try:
            x = decompress_image(model, pack(header, forged))
        except BitstreamError as e:
            assert "corrupt" in str(e)
            outcomes.add("error")
            continue
        assert x.shape == (1, 3, 70, 50) and bool(torch.isfinite(x).all())
        assert float(x.min()) >= 0 and float(x.max()) <= 1
        outcomes.add("image")
    assert outcomes


def test_image_inputs_are_converted_or_refused(tmp_path, capsys):
    gray = tmp_path / "gray.png"
    Image.fromarray(skdata.camera()[:40, :40]).save(gray)
    assert main(["compress", str(gray), str(tmp_path / "g.wlic"), "--preset", "tiny"]) == 0
    deep = tmp_path / "deep.png"
    Image.fromarray((np.arange(1600, dtype=np.uint16).reshape(40, 40) * 40)).save(deep)
    assert main(["compress", str(deep), str(tmp_path / "d.wlic"), "--preset", "tiny"]) == 2
    assert "16-bit" in capsys.readouterr().err
    assert main(["compress", str(tmp_path / "missing.png"), str(tmp_path / "m.wlic"), "--preset", "tiny"]) == 2
    assert "error" in capsys.readouterr().err


def test_eval_writes_results_and_plot_with_live_classic_curves(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for name, img in (("astronaut", skdata.astronaut()[100:180, 200:296]), ("coffee", skdata.coffee()[:72, :88])):
        Image.fromarray(img).save(data / f"{name}.png")
    out, plot = tmp_path / "r.json", tmp_path / "rd.png"
    args = ["eval", "--data", str(data), "--preset", "tiny", "--quality", "1", "4", "--out", str(out),
            "--plot", str(plot), "--classic", "jpeg,jpeg2000", "--anchor", "jpeg"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "UNTRAINED" in captured.err
    doc = json.loads(out.read_text())
    assert doc["name"].endswith("(UNTRAINED)") and len(doc["results"]["bpp"]) == 2
    for point in doc["points"]:
        assert [r["image"] for r in point["images"]] == ["astronaut.png", "coffee.png"]
        for r in point["images"]:
            assert r["bit_exact"] and r["bpp"] == pytest.approx(r["bytes"] * 8 / (r["height"] * r["width"]))
    assert [c["name"] for c in doc["classic"]] == ["jpeg", "jpeg2000"]
    assert all(len(c["results"]["bpp"]) >= 2 for c in doc["classic"])
    assert list(doc["bd_rate"]) == ["jpeg"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(args) == 2 and "exists" in capsys.readouterr().err


def test_eval_with_refinement_reports_both_curves_and_a_per_image_table(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    Image.fromarray(skdata.coffee()[:72, :88]).save(data / "coffee.png")
    out = tmp_path / "r.json"
    args = ["eval", "--data", str(data), "--preset", "tiny", "--quality", "2", "--out", str(out), "--classic", "jpeg",
            "--refine", "2"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    doc = json.loads(out.read_text())
    refined = doc["refined"]
    assert refined["refine_steps"] == 2 and refined["name"].startswith("3dm-weconvene-tiny + refine 2")
    assert (refined["refine_lr"], refined["refine_lr_end"]) == (DEFAULT_LR, DEFAULT_LR)  # constant by default
    assert "jpeg" in refined["bd_rate"]
    plain, ref = doc["points"][0]["images"][0], refined["points"][0]["images"][0]
    assert (plain["refine_steps"], ref["refine_steps"]) == (0, 2) and plain["bit_exact"] and ref["bit_exact"]
    # the refined file is what compress_refined writes for these weights (same image, same steps)
    x = load_rgb(data / "coffee.png")
    model = build_model(TINY, quality=2)
    assert len(compress_refined(model, x, 2)[0]) == ref["bytes"]
    assert "with 2 refinement steps:" in printed and "| 2 | 2 | coffee.png |" in printed
    # JPEG was also coded at the image's own rates, plain and refined, for the per-image deltas
    assert sorted(r["target_bpp"] for r in doc["classic"][0]["image_points"]) == sorted({plain["bpp"], ref["bpp"]})
    assert main([*args[:-2], "--refine", "-1", "--force"]) == 2
    assert "refinement steps must be an integer >= 0, got -1" in capsys.readouterr().err
    # a decayed step is used and recorded
    assert main([*args, "--refine-lr", "0.05", "--refine-lr-end", "0.01", "--force"]) == 0
    refined = json.loads(out.read_text())["refined"]
    assert (refined["refine_lr"], refined["refine_lr_end"]) == (0.05, 0.01)
    assert len(compress_refined(model, x, 2, lr=0.05, lr_end=0.01)[0]) == refined["points"][0]["images"][0]["bytes"]


def test_per_image_deltas_use_each_images_own_classic_points():
    from integrations.lic.evaluate import per_image_deltas, per_image_table

    def rec(image, bpp, psnr, **extra):
        return {"image": image, "bpp": bpp, "psnr-rgb": psnr, **extra}

    classic = {"name": "jpeg", "points": [{"images": [rec("a.png", 0.2, 25.0), rec("b.png", 0.3, 30.0)]},
                                          {"images": [rec("a.png", 0.4, 29.0), rec("b.png", 0.5, 32.0)]}]}
    document = {"images": ["a.png", "b.png"], "classic": [classic],
                "points": [{"quality": 1, "images": [rec("a.png", 0.3, 28.0), rec("b.png", 0.6, 31.0)]}],
                "refined": {"points": [{"quality": 1, "images": [rec("b.png", 0.4, 31.5, refine_steps=5)]}]}}
    rows = per_image_deltas(document)
    # a.png at 0.3 bpp: its own JPEG points give 27.0 dB (the mean curve of both images would give 28.75)
    assert rows[0] == {"refine_steps": 0, "quality": 1, "image": "a.png", "bpp": 0.3, "psnr-rgb": 28.0,
                       "jpeg": pytest.approx(1.0), "bounds": {}}
    assert rows[1]["jpeg"] is None  # 0.6 bpp is beyond b.png's JPEG points
    assert rows[1]["bounds"] == {"jpeg": ("<=", pytest.approx(-1.0))}  # against its highest point, 0.5 bpp 32 dB
    assert rows[2]["refine_steps"] == 5 and rows[2]["jpeg"] == pytest.approx(0.5)
    lines = per_image_table(document).splitlines()
    assert lines[0] == "| refine steps | quality | image | bpp | PSNR (dB) | Δ jpeg (dB) |"
    assert lines[2:] == ["| 0 | 1 | a.png | 0.3000 | 28.00 | +1.00 |", "| 0 | 1 | b.png | 0.6000 | 31.00 | ≤ -1.00 |",
                         "| 5 | 1 | b.png | 0.4000 | 31.50 | +0.50 |"]
    # below every point of the codec: a lower bound from its lowest-rate point; no points at all: n/a
    document["points"][0]["images"][0] = rec("a.png", 0.1, 26.5)
    classic["points"][0]["images"][1] = rec("c.png", 0.3, 30.0)  # b.png has no JPEG point left
    classic["points"][1]["images"][1] = rec("c.png", 0.5, 32.0)
    rows = per_image_deltas(document)
    assert rows[0]["jpeg"] is None and rows[0]["bounds"] == {"jpeg": (">=", pytest.approx(1.5))}
    assert rows[1]["jpeg"] is None and rows[1]["bounds"] == {}
    assert per_image_table(document).splitlines()[2:4] == ["| 0 | 1 | a.png | 0.1000 | 26.50 | ≥ +1.50 |",
                                                           "| 0 | 1 | b.png | 0.6000 | 31.00 | n/a |"]


def test_psnr_at_matched_rate_interpolates_within_the_curve_only():
    from integrations.lic.evaluate import matched_rate_table, psnr_at

    curve = {"bpp": [0.5, 0.25, 1.0], "psnr-rgb": [30.0, 27.0, 34.0]}
    assert psnr_at(curve, 0.25) == 27.0 and psnr_at(curve, 0.75) == pytest.approx(32.0)
    assert psnr_at(curve, 0.2) is None and psnr_at(curve, 1.2) is None
    table = matched_rate_table({"matched_rate": [{"quality": 2, "bpp": 0.3, "psnr-rgb": 29.0, "jpeg": 27.5},
                                                 {"quality": 1, "bpp": 0.1, "psnr-rgb": 25.0, "jpeg": None}]})
    lines = table.splitlines()
    assert lines[0].startswith("| quality | bpp | PSNR (dB) | jpeg (dB) | Δ jpeg")
    assert "| 2 | 0.3000 | 29.00 | 27.50 | +1.50 |" == lines[2]
    assert "n/a" in lines[3]
