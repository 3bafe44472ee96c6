"""``run_training`` and ``python -m integrations.lic train``: a resumed run ends bit-identical to an
uninterrupted one (same step, same optimizer state, same random crops); torchrun with two processes
keeps the weights in sync and writes one checkpoint; fine-tuning to another rate point; float16
checkpoints hold exactly the weights that code; the MS-SSIM loss; validation metrics."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from skimage import data as skdata

from integrations.lic.checkpoint import load_checkpoint, read_metadata
from integrations.lic.cli import main
from integrations.lic.codec import compress_image, decompress_image
from integrations.lic.model import WeConveneLIC, build_model, model_config
from integrations.lic import training
from integrations.lic.training import round_to_half, run_training

pytestmark = pytest.mark.usefixtures("single_thread_module")

TINY = "3dm-weconvene-tiny"
ROOT = Path(__file__).resolve().parents[1]


def _train(photos: Path, out: Path, steps: int, **kwargs) -> list[dict]:
    model = build_model(TINY, 2)
    return run_training(model, str(photos), str(out), steps=steps, batch=2, crop=64, progress=False,
                        **kwargs)


def test_resume_continues_exactly_where_it_stopped(photos, tmp_path, monkeypatch):
    straight = tmp_path / "straight.safetensors"
    _train(photos, straight, steps=6, lr_drop=0.5)
    parts = tmp_path / "parts.safetensors"
    calls = []
    real_step = training.train_step

    def crash_at_step_5(*args, **kwargs):  # the process dies during step 5 (0-based 4) ...
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", crash_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        _train(photos, parts, steps=6, lr_drop=0.5, save_every=2)
    monkeypatch.setattr(training, "train_step", real_step)
    assert not parts.exists()
    state = torch.load(str(parts) + ".state.pt", weights_only=True)
    assert state["step"] == 4 and len(state["history"]) == 4
    history = _train(photos, parts, steps=6, lr_drop=0.5, resume=True)  # ... and is resumed from step 4
    assert [h["step"] for h in history] == list(range(6))
    a, b = load_checkpoint(straight).state_dict(), load_checkpoint(parts).state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # The optimizer states agree too (moments and step counts), and the lr was dropped at step 3.
    sa = torch.load(str(straight) + ".state.pt", weights_only=True)
    sb = torch.load(str(parts) + ".state.pt", weights_only=True)
    assert sa["lr_dropped_at"] == sb["lr_dropped_at"] == 3
    for i, group in sa["optimizer"]["state"].items():
        for k, v in group.items():
            assert torch.equal(v, sb["optimizer"]["state"][i][k]), (i, k)
    log = [json.loads(line) for line in Path(str(parts) + ".log.jsonl").read_text().splitlines()]
    assert [h["loss"] for h in log] == [h["loss"] for h in json.loads(
        "[" + ",".join(Path(str(straight) + ".log.jsonl").read_text().splitlines()) + "]")]


def test_resume_without_state_and_overwrite_are_refused(photos, tmp_path):
    out = tmp_path / "m.safetensors"
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        _train(photos, out, steps=1, resume=True)
    _train(photos, out, steps=1)
    with pytest.raises(FileExistsError, match="--resume"):
        _train(photos, out, steps=1)


def test_periodic_state_and_metadata(photos, tmp_path):
    out = tmp_path / "m.safetensors"
    _train(photos, out, steps=4, save_every=2, val=str(photos), half=True, seed=5)
    extra = json.loads(read_metadata(out)["extra"])
    assert extra["steps_done"] == 4 and extra["half"] and extra["processes"] == 1 and extra["seed"] == 5
    assert set(extra["val"]) == {"bpp", "bpp_y", "bpp_z", "psnr", "loss"} and extra["val"]["bpp"] > 0
    assert 0 < extra["val"]["bpp_z"] < extra["val"]["bpp"]
    assert extra["val"]["bpp_y"] == pytest.approx(extra["val"]["bpp"] - extra["val"]["bpp_z"])
    assert 0 < extra["val"]["psnr"] < 60
    model = load_checkpoint(out)
    for name, p in model.named_parameters():  # stored in float16, loaded back exactly
        assert torch.equal(p, p.half().float()), name
    x = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    data, x_hat = compress_image(model, x)
    assert torch.equal(decompress_image(model, data), x_hat)


def test_round_to_half_is_idempotent():
    model = build_model(TINY, 1)
    round_to_half(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    round_to_half(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_ms_ssim_loss_trains(tmp_path):
    Image.fromarray(skdata.coffee()[:200, :240]).save(tmp_path / "coffee.png")
    model = build_model(TINY, 2)
    with pytest.raises(ValueError, match="at least 161"):
        run_training(model, str(tmp_path), str(tmp_path / "m.safetensors"), steps=1, crop=128, metric="ms-ssim")
    history = run_training(model, str(tmp_path), str(tmp_path / "m.safetensors"), steps=2, batch=1, crop=192,
                           metric="ms-ssim", progress=False)
    assert all(0 < h["ms_ssim"] <= 1 for h in history)
    assert json.loads(read_metadata(tmp_path / "m.safetensors")["extra"])["metric"] == "ms-ssim"


def test_cli_fine_tunes_a_checkpoint_to_another_rate_point(photos, tmp_path):
    first = tmp_path / "q2.safetensors"
    assert main(["train", "--data", str(photos), "--out", str(first), "--preset", "tiny", "--quality", "2",
                 "--steps", "1", "--batch", "2", "--crop", "64"]) == 0
    second = tmp_path / "q5.safetensors"
    assert main(["train", "--data", str(photos), "--out", str(second), "--init", str(first), "--quality", "5",
                 "--steps", "1", "--batch", "2", "--crop", "64"]) == 0
    meta = read_metadata(second)
    assert meta["quality"] == "5" and float(meta["lambda"]) == pytest.approx(0.025)
    assert "--init" in meta["command"] and load_checkpoint(second).quality == 5
    init = json.loads(meta["extra"])["init"]  # the lineage of the starting weights
    assert init["quality"] == 2 and init["file"] == "q2.safetensors" and "--quality 2" in init["command"]
    assert init["extra"]["steps_done"] == 1 and len(init["sha256"]) == 64


def test_torchrun_two_processes_stay_in_sync(photos, tmp_path):
    out = tmp_path / "ddp.safetensors"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "integrations.lic", "train", "--data", str(photos), "--out", str(out), "--preset", "tiny",
           "--steps", "3", "--batch", "2", "--crop", "64"]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    extra = json.loads(read_metadata(out)["extra"])
    assert extra["processes"] == 2 and extra["steps_done"] == 3
    state = torch.load(str(out) + ".state.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["generators"]) == 2
    assert not torch.equal(state["generators"][0], state["generators"][1])  # each process its own crops


@pytest.mark.parametrize("name, changes", [
    (TINY, {"transform": "conv"}), (TINY, {"transform": "weconv2d"}), (TINY, {"hf_kernel": 3}),
    (TINY, {"wavelet": "haar"}), (TINY, {"wavelet": "bior2.2", "levels": 2}),
    ("chwdta-tiny", {}), ("chwdta-tiny-chwp4", {}),
])
def test_ablation_variants_train_and_code_bit_exactly(name, changes):
    torch.manual_seed(0)
    model = WeConveneLIC(model_config(name, **changes), name=name, quality=2)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    out = model(x)
    assert out["x_hat"].shape == x.shape
    (out["x_hat"].square().mean() - sum(torch.log(v).sum() for v in out["likelihoods"].values())).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None and not n.endswith("quantiles")]
    assert not missing
    model.eval().update(force=True)
    image = torch.rand(1, 3, 70, 90, generator=torch.Generator().manual_seed(2))
    data, x_hat = compress_image(model, image)
    assert torch.equal(decompress_image(model, data), x_hat)


def test_ablation_switches_change_the_architecture_as_named():
    def params(**changes):
        return sum(p.numel() for p in WeConveneLIC(model_config("3dm-weconvene-small", **changes)).parameters())

    base = params()
    assert params(transform="conv") < base < params(hf_kernel=3)
    assert params(levels=1) < base
    assert model_config("chwdta-small").block == "chwdtb" and model_config("chwdta-small").transform == "conv"
    assert model_config("chwdta-small-chwp4").entropy == "chwp4"
    with pytest.raises(ValueError, match="transform must be one of"):
        model_config(TINY, transform="fft")
    with pytest.raises(ValueError, match="unknown LICConfig fields"):
        model_config(TINY, depth=3)
    with pytest.raises(ValueError, match="hf_kernel must be 1 or 3"):
        model_config(TINY, hf_kernel=5)


def test_cli_trains_an_ablation_and_the_chwdta_family(photos, tmp_path):
    out = tmp_path / "conv.safetensors"
    assert main(["train", "--data", str(photos), "--out", str(out), "--preset", "tiny", "--steps", "1",
                 "--batch", "2", "--crop", "64", "--set", "transform=conv", "--set", "levels=1"]) == 0
    meta = read_metadata(out)
    assert meta["model"] == "3dm-weconvene-tiny-levels=1-transform=conv"
    assert json.loads(meta["config"])["transform"] == "conv"
    out = tmp_path / "chwdta.safetensors"
    assert main(["train", "--data", str(photos), "--out", str(out), "--preset", "tiny", "--steps", "1",
                 "--batch", "2", "--crop", "64", "--family", "chwdta", "--entropy", "chwp4"]) == 0
    assert load_checkpoint(out).name == "chwdta-tiny-chwp4"
    assert main(["train", "--data", str(photos), "--out", str(tmp_path / "x.safetensors"), "--preset", "tiny",
                 "--set", "levels"]) == 2


def test_prepared_gpu_script_trains_from_the_shipped_file_and_scores_it(photos, tmp_path):
    """tools/train_lic_vr_gpu.sh, run on the CPU for two steps: the weights and their log land where
    the device tool brings files back, the state one folder too deep for it, and lic_validate's
    ratios against the shipped file are written."""
    data = tmp_path / "photos"
    (data / "train").mkdir(parents=True)
    (data / "val").mkdir()
    for f in photos.iterdir():
        (data / "train" / f.name).write_bytes(f.read_bytes())
    Image.fromarray(skdata.astronaut()[:96, :128]).save(data / "val" / "astronaut.png")
    out = tmp_path / "out"
    env = dict(os.environ, DATA=str(data), PYTHON=sys.executable, OMP_NUM_THREADS="1")
    cmd = ["bash", str(ROOT / "tools" / "train_lic_vr_gpu.sh"), str(out), "30",
           "--device", "cpu", "--batch", "1", "--crop", "64", "--steps", "2"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    name = "3dm-weconvene-small-vr.safetensors"
    extra = json.loads(read_metadata(out / name)["extra"])
    assert extra["steps_done"] == 2 and extra["batch"] == 1 and extra["init"]["file"] == name
    assert load_checkpoint(out / name).variable_rate
    assert len((out / f"{name}.log.jsonl").read_text().splitlines()) == 2
    assert (out / "state" / "a" / "b" / f"{name}.state.pt").is_file()
    doc = json.loads((out / "validate.json").read_text())  # the trained file and the shipped one
    assert doc["images"] == 1 and len(doc["results"]) == 2
    assert all(r["mean_ratio"] > 0 and set(r) >= {f"q{q}" for q in range(1, 7)} for r in doc["results"].values())
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "exists" in again.stderr  # a finished run is never overwritten
