"""CIFAR-100 integration: torchvision loading of a CIFAR-format fixture, CIFAR ResNets with the
wavelet switch, the training recipe, the example script end to end, resume and DDP."""
from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("torchvision")
pytest.importorskip("safetensors")

from integrations.classification import (  # noqa: E402
    CIFAR100Files,
    DatasetNotFound,
    build_model,
    cifar100,
    cifar_resnet,
    load_weights,
    write_cifar100_fixture,
)
from integrations.classification.cli import build_parser, main  # noqa: E402
from integrations.classification.data import eval_transform  # noqa: E402
from integrations.classification.training import TrainConfig, evaluate, lr_at, run, topk_correct  # noqa: E402
from integrations.toolkit import create_model  # noqa: E402
from wavelayers import WeConv3D  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_thread")

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "cifar100_resnet.py"
TINY = ["--width", "4", "--batch-size", "16", "--workers", "0", "--no-verify", "--no-progress"]



@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cifar")
    write_cifar100_fixture(root, n_train=48, n_test=24, seed=0, classes=10)
    return root


def _log_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------------------------- data


def test_fixture_is_in_the_real_pickle_format(fixture_root: Path) -> None:
    folder = fixture_root / "cifar-100-python"
    with open(folder / "train", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    assert set(raw) == {b"data", b"fine_labels", b"coarse_labels", b"filenames", b"batch_label"}
    assert raw[b"data"].dtype == np.uint8 and raw[b"data"].shape == (48, 3072)
    assert raw[b"coarse_labels"] == [c // 5 for c in raw[b"fine_labels"]]
    with open(folder / "meta", "rb") as f:
        meta = pickle.load(f, encoding="bytes")
    assert set(meta) == {b"fine_label_names", b"coarse_label_names"}
    assert len(meta[b"fine_label_names"]) == 100 and len(meta[b"coarse_label_names"]) == 20

    # torchvision's own loader (pickle with encoding='latin1', reshape to HWC, meta file).
    ds = CIFAR100Files(fixture_root, train=True, verify=False)
    assert len(ds) == 48 and ds.classes[:2] == ["class_00", "class_01"]
    np.testing.assert_array_equal(ds.data, raw[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert ds.targets == raw[b"fine_labels"]
    image, label = cifar100(fixture_root, False, eval_transform(), verify=False, limit=5)[4]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and 0 <= label < 10


def test_missing_or_unverified_data_gives_clear_errors(fixture_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound, match=str(tmp_path / "cifar-100-python" / "train")):
        cifar100(tmp_path, True)
    with pytest.raises(RuntimeError, match="MD5 check.*--no-verify"):
        cifar100(fixture_root, True)  # the fixture is not the real CIFAR-100
    with pytest.raises(FileExistsError):
        write_cifar100_fixture(fixture_root)
    assert main(["train", "--data", str(tmp_path), "--no-progress"]) == 2


# ----------------------------------------------------------------------------------------- models


def test_cifar_resnets_match_the_reference_parameter_counts() -> None:
    # pytorch-cifar100's ResNet-18/34 for 100 classes (anchors/integrations.md section 5).
    assert sum(p.numel() for p in cifar_resnet("resnet18").parameters()) == 11_220_132
    assert sum(p.numel() for p in cifar_resnet("resnet34").parameters()) == 21_328_292
    model = cifar_resnet("resnet18", width=8)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    assert model(torch.randn(1, 3, 33, 31)).shape == (1, 100)
    with pytest.raises(ValueError, match="arch must be one of"):
        cifar_resnet("resnet50")


@pytest.mark.parametrize("arch", ["resnet18", "resnet34"])
def test_wavelet_switch_replaces_the_downsampling_sites(arch: str) -> None:
    main_sites = ["layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1"]
    shortcuts = ["layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"]
    baseline = build_model(f"cifar-{arch}", wavelet="none", width=8)
    assert baseline.rewrite_report is None and not any(isinstance(m, WeConv3D) for m in baseline.modules())
    report = build_model(f"cifar-{arch}", wavelet="bior4.4", width=8, sites="main").rewrite_report
    assert report.paths == main_sites and [s.path for s in report.skipped] == shortcuts
    model = create_model(f"cifar-{arch}", wavelet="haar", width=8, sites="all", levels=1)
    report = model.rewrite_report
    assert report.paths == [p for pair in zip(main_sites, shortcuts) for p in pair]
    assert all(model.get_submodule(p).levels == 1 for p in report.paths)
    assert isinstance(model.layer2[0].bn1, nn.BatchNorm2d)  # the norm after the replaced conv stays
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == baseline(x).shape == (2, 100)


@pytest.mark.parametrize("wavelet", ["none", "haar", "bior4.4"])
def test_loss_falls_on_a_fixed_batch(wavelet: str) -> None:
    torch.manual_seed(0)
    model = build_model("cifar-resnet18", wavelet=wavelet, width=8)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 100, (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(25):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0], losses


# --------------------------------------------------------------------------------------- recipe


def test_learning_rate_schedule_is_the_recipe() -> None:
    config = TrainConfig(epochs=200)
    steps = 391  # 50,000 / 128
    assert lr_at(config, 0, steps) == pytest.approx(0.1 / 391)
    assert lr_at(config, 390, steps) == pytest.approx(0.1)  # end of the warm-up epoch
    # pytorch-cifar100: 0.1 for epochs 1-59, 0.02 for 60-119, 0.004 for 120-159, 0.0008 for 160-200.
    for epoch, lr in ((1, 0.1), (58, 0.1), (59, 0.02), (118, 0.02), (119, 0.004), (158, 0.004), (159, 0.0008),
                      (199, 0.0008)):
        assert lr_at(config, epoch * steps, steps) == pytest.approx(lr), epoch
    cosine = TrainConfig(epochs=10, schedule="cosine", warmup_epochs=0)
    lrs = [lr_at(cosine, s, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[50] == pytest.approx(0.05) and lrs[-1] < 1e-3
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_topk_correct_counts() -> None:
    logits = torch.tensor([[0.0, 3.0, 2.0, 1.0, 0.5, 0.1], [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    assert topk_correct(logits, torch.tensor([1, 4]), (1, 5)) == [1, 2]
    assert topk_correct(logits, torch.tensor([2, 5]), (1, 5)) == [0, 1]


def test_help_documents_every_option(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--data", "--download", "--epochs", "--arch", "--wavelet", "--device", "--batch-size", "--lr",
                   "--limit-train", "--limit-test", "--out", "--resume", "--workers", "--sites", "--width"):
        assert option in text
    assert "75.61" in text and "torchrun" in text
    verbs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(verbs.choices) == {"train", "eval"}
    for parser in verbs.choices.values():
        for action in parser._actions:
            assert action.help, action.dest


# ----------------------------------------------------------------------------- end to end, resume


def test_example_script_end_to_end_then_resume(fixture_root: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    # Constant lr (no warm-up, gamma 1) so that 1 epoch + resume to 2 must equal 2 epochs at once.
    common = ["train", "--data", str(fixture_root), "--wavelet", "haar", "--levels", "1", "--limit-train", "32",
              "--warmup-epochs", "0", "--gamma", "1", "--lr", "0.05", *TINY]
    resumed = tmp_path / "resumed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(EXAMPLE), *common, "--epochs", "1", "--out", str(resumed)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "replace_downsampling: replaced 3" in done.stdout and "epoch 1/1" in done.stdout
    assert {p.name for p in resumed.iterdir()} == {"last.pt", "best.safetensors", "final.safetensors", "log.csv"}
    ckpt = torch.load(resumed / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["model_settings"]["wavelet"] == "haar"

    assert main([*common, "--epochs", "2", "--out", str(resumed), "--resume"]) == 0
    rows = _log_rows(resumed / "log.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert torch.load(resumed / "last.pt", weights_only=True)["epoch"] == 2

    straight = tmp_path / "straight"
    assert main([*common, "--epochs", "2", "--out", str(straight)]) == 0
    a, b = load_weights(resumed / "final.safetensors"), load_weights(straight / "final.safetensors")
    for (name, ta), tb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(ta, tb, rtol=1e-4, atol=1e-5, msg=name)

    # The saved weights reproduce the logged test metrics.
    loader = torch.utils.data.DataLoader(cifar100(fixture_root, False, eval_transform(), verify=False), 16)
    metrics = evaluate(a, loader)
    assert metrics["top1"] == pytest.approx(float(rows[-1]["test_top1"]), abs=1e-3)
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(resumed / "final.safetensors"), "--data", str(fixture_root),
                 "--no-verify", "--batch-size", "16", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["top1"] == pytest.approx(metrics["top1"], abs=1e-9)

    with pytest.raises(ValueError, match="other model settings"):
        main([*common, "--epochs", "3", "--out", str(resumed), "--resume", "--wavelet", "bior4.4"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_environment_single_process(fixture_root: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(key, value)
    config = TrainConfig(data=str(fixture_root), out=str(tmp_path), width=4, epochs=1, batch_size=16, workers=0,
                         verify=False, progress=False, limit_train=16, device="cpu", sync_bn=True)
    result = run(config)
    assert result["epoch"] == 1 and not torch.distributed.is_initialized()
    assert len(_log_rows(tmp_path / "log.csv")) == 1


@pytest.mark.slow
def test_torchrun_two_processes_gloo(fixture_root: Path, tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not found next to the Python interpreter")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [torchrun, "--nproc_per_node", "2", "--master_port", str(_free_port()), str(EXAMPLE),
           "train", "--data", str(fixture_root), "--epochs", "1", "--device", "cpu", "--out", str(tmp_path), *TINY]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _log_rows(tmp_path / "log.csv")
    # The test metrics are summed over both processes' shards: they equal one process evaluating it all.
    loader = torch.utils.data.DataLoader(cifar100(fixture_root, False, eval_transform(), verify=False), 16)
    metrics = evaluate(load_weights(tmp_path / "final.safetensors"), loader)
    assert float(rows[0]["test_top1"]) == pytest.approx(metrics["top1"], abs=1e-3)
    assert float(rows[0]["test_loss"]) == pytest.approx(metrics["loss"], rel=1e-4)
