"""Smoke test of the benchmark scripts: ``--quick`` runs end to end and prints its table (no timings asserted)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from script_import import import_script

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(script: str, tmp_path: Path) -> tuple[str, dict]:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--json", str(out)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


@pytest.mark.timeout(120)
def test_bench_transforms_quick(tmp_path: Path) -> None:
    stdout, results = _run("bench_transforms.py", tmp_path)
    assert "| shape | dtype | wavelet | implementation | mode | fwd ms | f+b ms |" in stdout
    for impl in ("clone", "conv3x3", "wavelayers native", "wavelayers matrix", "wavelayers lifting", "pytorch_wavelets",
                 "ptwt"):
        assert f"| {impl}" in stdout
    rows = results["rows"]
    # yardsticks + 3 wavelets x (3 wavelayers backends x 2 modes + 2 peers x 2 modes)
    assert len(rows) == 2 + 3 * 10
    assert results["machine"]["allocator"] == "warm" and "mmap_threshold" in results["machine"]["glibc_tunables"]
    ours = [r for r in rows if r["impl"].startswith("wavelayers")]
    assert {r["impl"] for r in ours} == {"wavelayers native", "wavelayers matrix", "wavelayers lifting"}
    assert all(r["rec_err"] < 1e-5 and r["adjoint_err"] < 1e-12 and r["coef_ratio"] == 1.0 for r in ours)


@pytest.mark.timeout(120)
def test_bench_layers_quick(tmp_path: Path) -> None:
    stdout, results = _run("bench_layers.py", tmp_path)
    assert "| input -> output | stride | layer | params |" in stdout
    for layer in ("plain block", "WeConv3D 1x1 HF", "WeConv3D 3x3 HF", "WeConv2D"):
        assert f"| {layer} |" in stdout
    rows = results["rows"]
    assert {r["stride"] for r in rows} == {1, 2}
    params = {(r["stride"], r["layer"]): r["params"] for r in rows}
    assert all(params[(s, "WeConv3D 1x1 HF")] < params[(s, "WeConv3D 3x3 HF")] for s in (1, 2))


@pytest.mark.timeout(120)
def test_bench_formulations_quick(tmp_path: Path) -> None:
    """The exact formulations are checked against dwt1d inside the script before timing."""
    stdout, results = _run("bench_formulations.py", tmp_path)
    assert "| formulation | result | ms | x clone |" in stdout
    names = [r["formulation"] for r in results["rows"]]
    assert names[0] == "clone" and "dense GEMM, W (matrix backend)" in names and "lifting steps, H (lifting backend)" in names
    assert results["rows"][0]["x_clone"] == 1.0


@pytest.mark.timeout(120)
def test_bench_native_kernels_quick(tmp_path: Path) -> None:
    stdout, results = _run("bench_native_kernels.py", tmp_path)
    assert "| mode | map | planes | this tree ms |" in stdout
    assert [(r["mode"], r["map"]) for r in results["rows"]] == [
        (mode, op) for mode in ("jpeg2000", "periodization") for op in ("A", "Aᵀ", "S", "Sᵀ")]


@pytest.mark.timeout(180)
def test_lic_ceiling_reproduces_the_coded_point_and_orders_the_reconstructions(tmp_path: Path) -> None:
    """The ``coded`` column is the forward pass the codec trains on; plain rounding without the
    entropy model's means must not beat the continuous latents at the lowest quality."""
    lic_ceiling = import_script(BENCHMARKS, "lic_ceiling")
    out = tmp_path / "ceiling.json"
    assert lic_ceiling.main(["--quality", "1", "6", "--limit", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["quality"], r["image"]) for r in rows] == [(1.0, "astronaut"), (6.0, "astronaut")]
    low, high = rows
    assert low["rounded"] < low["unquantised"]
    assert 0.05 < low["bpp"] < high["bpp"] < 2.0
    assert all(15 < r[k] < 50 for r in rows for k in lic_ceiling.KINDS)
    assert all("decoder" not in r for r in rows)


@pytest.mark.timeout(180)
def test_lic_ceiling_decoder_column_improves_on_the_encoders_latents(tmp_path: Path) -> None:
    """Latents optimised for MSE alone reconstruct better than g_a's own (the decoder-range bound)."""
    lic_ceiling = import_script(BENCHMARKS, "lic_ceiling")
    out = tmp_path / "ceiling.json"
    assert lic_ceiling.main(["--quality", "6", "--limit", "1", "--decoder-steps", "4", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    (row,) = doc["rows"]
    assert doc["decoder_steps"] == 4 and row["decoder"] > row["unquantised"] + 0.05


@pytest.mark.timeout(120)
def test_lic_validate_scores_checkpoints_against_a_base(photos: Path, tmp_path: Path) -> None:
    """Per-quality validation loss of two variable-rate checkpoints (untrained: equal gains, so only λ
    differs between the qualities); the base's ratio to itself is 1."""
    from integrations.lic.checkpoint import save_checkpoint
    from integrations.lic.model import build_model

    lic_validate = import_script(BENCHMARKS, "lic_validate")
    paths = [tmp_path / f"vr{seed}.safetensors" for seed in (0, 1)]
    for seed, p in zip((0, 1), paths):
        save_checkpoint(build_model("3dm-weconvene-tiny-vr", 3, seed=seed), p)
    out = tmp_path / "val.json"
    assert lic_validate.main([str(paths[1]), "--versus", str(paths[0]), "--data", str(photos), "--quality", "1", "6",
                              "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["images"] == 2 and set(doc["results"]) == {str(p) for p in paths}
    base, other = doc["results"][str(paths[0])], doc["results"][str(paths[1])]
    assert base["mean_ratio"] == 1.0 and other["mean_ratio"] > 0
    assert base["q6"]["loss"] > base["q1"]["loss"] > 0 and set(other) == {"q1", "q6", "mean_ratio"}


def test_lic_paired_loss_pairs_the_steps_and_refuses_different_batches(tmp_path: Path) -> None:
    lic_paired_loss = import_script(BENCHMARKS, "lic_paired_loss")
    a = [{"step": i, "quality": 1 + i % 2, "loss": 2.0} for i in range(5)]
    b = [{"step": i, "quality": 1 + i % 2, "loss": 1.0 if i % 2 else 1.5} for i in range(4)]
    for name, history in (("a", a), ("b", b)):
        (tmp_path / f"{name}.safetensors.log.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    rows = lic_paired_loss.paired_rows(a, b, window=2)
    table = {(r["steps"], r["quality"]): r for r in rows}
    assert table[("all", "every")]["n"] == 4 and table[("all", "every")]["relative"] == pytest.approx(-0.375)
    assert table[("all", 2)]["relative"] == pytest.approx(-0.5) and table[("2-3", 1)]["b"] == 1.5
    assert [r["steps"] for r in rows][-1] == "all"
    with pytest.raises(ValueError, match="different qualities at step 1"):
        lic_paired_loss.paired_rows(a, [b[0], {**b[1], "quality": 5}], window=2)
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "lic_paired_loss.py"), str(tmp_path / "a.safetensors"),
                           str(tmp_path / "b.safetensors"), "--window", "2"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "| all | every | 4 | 2.0000 | 1.2500 | -37.50 % |" in proc.stdout


@pytest.mark.timeout(180)
def test_lic_refine_codes_only_the_photos_named(tmp_path: Path, capsys) -> None:
    """``--image`` keeps the named photos of the first ``--limit``: the plain and refined codes of
    chelsea alone, both bit-exact; a name outside them is refused with the names it could take."""
    lic_refine = import_script(BENCHMARKS, "lic_refine")
    out = tmp_path / "refine.json"
    assert lic_refine.main(["--quality", "6", "--steps", "2", "--limit", "3", "--image", "chelsea",
                            "--out", str(out)]) == 0
    records = json.loads(out.read_text())["records"]
    assert [(r["image"], r["steps"]) for r in records] == [("chelsea", 0), ("chelsea", 2)]
    assert all(r["bit_exact"] and 0.1 < r["bpp"] < 2.0 for r in records)
    with pytest.raises(SystemExit):
        lic_refine.main(["--limit", "2", "--image", "chelsea", "--out", str(out)])
    assert "--image chelsea: not among the first 2 photos (astronaut, coffee)" in capsys.readouterr().err


@pytest.mark.timeout(180)
def test_lic_padding_compares_the_paddings_of_padded_photos_only(tmp_path: Path) -> None:
    """astronaut (512 x 512) needs no padding and is left out; coffee (400 x 600) is coded with each
    padding, bit-exactly, and the codec's smooth one costs the fewest bits."""
    lic_padding = import_script(BENCHMARKS, "lic_padding")
    out = tmp_path / "padding.json"
    assert lic_padding.main(["--quality", "1", "--limit", "2", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert (row["image"], row["size"], row["padded"]) == ("coffee", "400x600", "448x640")
    assert row["smooth"]["bpp"] < min(row["replicate"]["bpp"], row["reflect"]["bpp"])
    assert abs(row["smooth"]["psnr"] - row["replicate"]["psnr"]) < 0.1
