"""Weight averaging (``integrations.lic.averaging``, ``python -m integrations.lic average``): the result is
the weighted mean of the inputs' parameters, codes and decodes bit-exactly with rebuilt CDF tables,
keeps every input's lineage, and refuses models that differ."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from skimage import data as skdata

from integrations.lic.averaging import average_checkpoints, average_models
from integrations.lic.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from integrations.lic.cli import main
from integrations.lic.codec import compress_image, decompress_image
from integrations.lic.model import WeConveneLIC, build_model, model_config
from script_import import import_script

pytestmark = pytest.mark.usefixtures("single_thread_module")

TINY = "3dm-weconvene-tiny"
ROOT = Path(__file__).resolve().parents[1]
training_runs = import_script(ROOT / "tools", "make_lic_manifest").training_runs


def _model(seed: int, quality: int = 3) -> WeConveneLIC:
    return build_model(TINY, quality, seed=seed)


def test_average_is_the_weighted_mean_of_the_parameters():
    a, b, c = _model(0), _model(1), _model(2)
    pa, pb, pc = ({k: v.clone() for k, v in m.named_parameters()} for m in (a, b, c))
    assert any(not torch.equal(pa[k], pb[k]) for k in pa)
    out = average_models([a, b, c], weights=[2, 1, 1])
    assert out is a
    for k, v in out.named_parameters():
        torch.testing.assert_close(v, 0.5 * pa[k] + 0.25 * pb[k] + 0.25 * pc[k], rtol=0, atol=1e-6)
    equal = average_models([_model(0), _model(1)])
    for k, v in equal.named_parameters():
        torch.testing.assert_close(v, (pa[k] + pb[k]) / 2, rtol=0, atol=1e-6)


def test_average_refuses_models_that_differ_and_bad_weights():
    with pytest.raises(ValueError, match="at least two"):
        average_models([_model(0)])
    with pytest.raises(ValueError, match="cannot average"):
        average_models([_model(0), WeConveneLIC(model_config(TINY, levels=1), name=TINY + "-levels=1", quality=3)])
    with pytest.raises(ValueError, match="2 positive weights"):
        average_models([_model(0), _model(1)], weights=[1, 0])
    with pytest.raises(ValueError, match="2 positive weights"):
        average_models([_model(0), _model(1)], weights=[1])


def test_cli_average_codes_bit_exactly_and_keeps_the_lineage(tmp_path):
    paths = []
    for seed in (0, 1):
        paths.append(tmp_path / f"run{seed}" / f"{TINY}.safetensors")
        paths[-1].parent.mkdir()
        save_checkpoint(_model(seed), paths[-1], command=f"python -m integrations.lic train --seed {seed}",
                        extra={"steps_done": 5 + seed, "seconds": 1.0, "seed": seed})
    out = tmp_path / "soup.safetensors"
    argv = ["average", *map(str, paths), "--out", str(out), "--half", "--weights", "3", "1"]
    assert main(argv) == 0
    assert main(argv) == 2  # an existing output is refused without --force
    model = load_checkpoint(out)
    expected = average_models([load_checkpoint(p) for p in paths], weights=[3, 1])
    for (k, v), w in zip(model.named_parameters(), expected.parameters()):
        torch.testing.assert_close(v, w.half().float(), rtol=0, atol=0, msg=k)
    x = torch.from_numpy(skdata.chelsea()[:64, :96].copy()).permute(2, 0, 1)[None].float() / 255
    data, x_hat = compress_image(model, x)
    assert torch.equal(decompress_image(load_checkpoint(out), data), x_hat)
    meta = read_metadata(out)
    assert meta["command"].startswith("python -m integrations.lic average")
    extra = json.loads(meta["extra"])
    assert [r["file"] for r in extra["averaged"]] == [f"{TINY}.safetensors"] * 2 and extra["weights"] == [0.75, 0.25]
    (record,) = training_runs(extra, meta["command"])  # the manifest's record: one branch per input
    assert [b["weight"] for b in record["averaged"]] == [0.75, 0.25]
    assert [b["training_runs"][0]["seed"] for b in record["averaged"]] == [0, 1]
    assert [b["training_runs"][0]["steps_done"] for b in record["averaged"]] == [5, 6]


def test_average_checkpoints_of_a_variable_rate_model_keep_every_quality(tmp_path):
    paths = []
    for seed in (0, 1):
        paths.append(tmp_path / f"vr{seed}.safetensors")
        save_checkpoint(build_model(TINY + "-vr", 2.5, seed=seed), paths[-1])
    model = average_checkpoints(paths, tmp_path / "soup.safetensors")
    assert model.variable_rate and model.quality == 2.5
    x = torch.from_numpy(skdata.coffee()[:64, :64].copy()).permute(2, 0, 1)[None].float() / 255
    for q in (1, 6):
        data, x_hat = compress_image(model, x, quality=q)
        assert torch.equal(decompress_image(load_checkpoint(tmp_path / "soup.safetensors"), data), x_hat)
