"""The shared integration toolkit: model registry, checkpoint format, process group, CLI runner."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from integrations.toolkit import ProcessGroup, create_model, list_models, lineage, read_checkpoint
from integrations.toolkit import read_metadata, register_model, save_checkpoint
from integrations.toolkit.cli import new_parser, run

FORMAT = "wavelayers-test/1"


def test_registry_holds_every_integration_and_builds_what_build_model_builds():
    names = list_models()
    for name in ("3dm-weconvene-small", "cifar-resnet18", "mirnet-v2-small", "dvc-small"):
        assert name in names
    assert list_models("dvc*", integration="video") == ["dvc", "dvc-pytorch", "dvc-small"]
    from integrations.denoising import build_model

    torch.manual_seed(0)
    a = create_model("mirnet-v2-small", wavelet="haar")
    torch.manual_seed(0)
    b = build_model("mirnet-v2-small", wavelet="haar")
    assert a.config == b.config and all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                                            b.state_dict().values()))
    with pytest.raises(ValueError, match="unknown model 'resnet18'.*cifar-resnet18"):
        create_model("resnet18")
    with pytest.raises(ValueError, match="already registered by 'video'"):
        register_model("dvc", nn.Identity, integration="not-video")


def test_checkpoint_round_trip_refusal_and_lineage(tmp_path: Path):
    net = nn.Linear(3, 2)
    first = tmp_path / "a.safetensors"
    save_checkpoint(first, net.state_dict(), format=FORMAT, model="lin", config={"in": 3, "out": 2},
                    command="cmd a", extra={"steps": 1}, fields={"quality": "4"})
    meta, tensors = read_checkpoint(first, FORMAT)
    assert meta["model"] == "lin" and json.loads(meta["config"]) == {"in": 3, "out": 2} and meta["quality"] == "4"
    assert all(torch.equal(tensors[k], v) for k, v in net.state_dict().items())
    with pytest.raises(FileExistsError):
        save_checkpoint(first, net.state_dict(), format=FORMAT, model="lin", config={})
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "b.safetensors", {}, format=FORMAT, model="x", config={}, fields={"model": "y"})
    with pytest.raises(ValueError, match="expected 'wavelayers-other/1'"):
        read_metadata(first, "wavelayers-other/1")
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a safetensors checkpoint"):
        read_metadata(tmp_path / "junk.safetensors", FORMAT)

    second = tmp_path / "b.safetensors"  # a fine-tuning of the first: its record is the lineage
    save_checkpoint(second, net.state_dict(), format=FORMAT, model="lin", config={},
                    extra={"steps": 2, "init": lineage(first, FORMAT)})
    record = json.loads(read_metadata(second, FORMAT)["extra"])["init"]
    assert record["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest() and record["file"] == "a.safetensors"
    assert record["command"] == "cmd a" and record["extra"] == {"steps": 1} and record["quality"] == "4"


def test_single_process_group_is_a_no_op():
    group = ProcessGroup.join("cpu")
    assert (group.rank, group.size, group.is_main, group.distributed) == (0, 1, True, False)
    net = nn.Linear(2, 2)
    assert group.wrap(net) is net
    net(torch.ones(1, 2)).sum().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    group.average_gradients(list(net.parameters()))
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, net.parameters()))
    assert group.sum([1.0, 2.5]) == [1.0, 2.5]
    group.barrier()
    group.leave()


def test_cli_runner_reports_errors_with_status_2(capsys):
    parser, sub = new_parser("pkg.demo", "demo")
    sub.add_parser("train")

    def fail(args):
        raise FileNotFoundError("no data in /nowhere")

    assert run(parser, {"train": lambda args: None}, ["train"]) == 0
    assert run(parser, {"train": fail}, ["train"]) == 2
    assert capsys.readouterr().err.strip() == "error: no data in /nowhere"
    with pytest.raises(SystemExit):
        run(parser, {"train": fail}, ["eval"])
