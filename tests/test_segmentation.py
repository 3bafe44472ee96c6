"""mmsegmentation plugin: WaveResNetV1c, the UperNet-R50 ADE20K configs, and a Runner run on an ADE20K fixture."""
from __future__ import annotations

import copy
import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

try:  # the full stack: mmcv with compiled ops (mmseg imports mmcv.ops), mmengine, mmseg
    import mmcv.ops  # noqa: F401
    import mmseg.models  # noqa: F401
    from mmengine.config import Config
    from mmengine.hooks import Hook
    from mmengine.runner import load_state_dict
    from mmseg.models.backbones import ResNetV1c
    from mmseg.registry import DATASETS, MODELS
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData
except (ImportError, AssertionError) as exc:  # mmseg asserts on an unsupported mmcv version
    pytest.skip(f"mmsegmentation stack unavailable ({exc!r}); install it with: bash tools/install_mmseg.sh",
                allow_module_level=True)

from PIL import Image

from integrations.segmentation import WaveResNetV1c
from integrations.segmentation.training import check_ade20k_root, load_config, train
from wavelayers import WeConv3D

pytestmark = pytest.mark.filterwarnings(
    "ignore:pkg_resources is deprecated:UserWarning", "ignore::UserWarning:mmseg", "ignore::UserWarning:mmengine"
)
REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "integrations" / "segmentation" / "configs"
BASELINE = CONFIGS / "upernet_r50_8xb2-80k_ade20k-512x512.py"
WAVE = CONFIGS / "upernet_r50-weconv3d-bior4.4_8xb2-80k_ade20k-512x512.py"
TINY_RESNET = dict(depth=18, stem_channels=16, base_channels=16, norm_cfg=dict(type="BN"))


def _cpu_model_cfg(cfg: Config) -> dict:
    """The config's model with BN for SyncBN (no process group on CPU) and no ImageNet download."""
    model = copy.deepcopy(cfg.model)
    model.pretrained = None
    for part in ("backbone", "decode_head", "auxiliary_head"):
        model[part].norm_cfg = dict(type="BN", requires_grad=True)
    return model


def _data_samples(n: int, size: tuple[int, int], num_classes: int, seed: int = 0) -> list:
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, *size), generator=g))
        sample.set_metainfo(dict(img_shape=size, ori_shape=size, pad_shape=size))
        samples.append(sample)
    return samples


# --- configs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.py")), ids=lambda p: p.stem)
def test_config_loads_with_mmseg_bases(path: Path) -> None:
    cfg = Config.fromfile(str(path))
    assert cfg.crop_size == (512, 512) and cfg.model.data_preprocessor.size == (512, 512)
    assert cfg.model.decode_head.num_classes == cfg.model.auxiliary_head.num_classes == 150
    assert cfg.train_dataloader.dataset.type == "ADE20KDataset"
    assert cfg.train_cfg.max_iters == 80000 and cfg.train_dataloader.batch_size == 2
    backbone = cfg.model.backbone
    assert backbone.depth == 50 and backbone.strides == (1, 2, 2, 2)
    if "weconv3d" in path.name:
        assert backbone.type == "WaveResNetV1c"
        assert cfg.custom_imports == dict(imports=["wavelayers_integrations.segmentation"], allow_failed_imports=False)
        assert backbone.stages == (1, 2, 3) and backbone.levels == 2 and backbone.channel_levels == 1
    else:
        assert backbone.type == "ResNetV1c" and "custom_imports" not in cfg


def test_plugin_under_both_names_is_one_registered_class() -> None:
    """The configs' custom_imports name (the installed one) and the checkout's give the same class,
    registered once; a config load that imports it builds that class."""
    installed = importlib.import_module("wavelayers_integrations.segmentation")
    assert installed.WaveResNetV1c is WaveResNetV1c and MODELS.get("WaveResNetV1c") is WaveResNetV1c
    cfg = Config.fromfile(str(WAVE))  # imports custom_imports again: no "already registered" KeyError
    assert MODELS.get(cfg.model.backbone.type) is WaveResNetV1c


def test_register_once_shares_a_class_only_with_its_own_file(tmp_path: Path) -> None:
    from mmengine.registry import Registry

    registry = Registry("register-once test")
    source = "from integrations.segmentation.registration import register_once\n"
    source += "from tests_registry_target import REGISTRY\n@register_once(REGISTRY)\nclass Thing:\n    pass\n"
    (tmp_path / "same.py").write_text(source)
    (tmp_path / "other.py").write_text(source)
    target = type(sys)("tests_registry_target")
    target.REGISTRY = registry
    sys.modules["tests_registry_target"] = target
    try:
        copies = []
        for name, file in (("copy_a", "same.py"), ("copy_b", "same.py"), ("copy_c", "other.py")):
            spec = importlib.util.spec_from_file_location(name, tmp_path / file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            if file == "other.py":
                with pytest.raises(KeyError, match="already registered"):
                    spec.loader.exec_module(module)
            else:
                spec.loader.exec_module(module)
                copies.append(module.Thing)
    finally:
        for name in ("tests_registry_target", "copy_a", "copy_b", "copy_c"):
            sys.modules.pop(name, None)
    assert copies[0] is copies[1] and list(registry.module_dict) == ["Thing"] and registry.get("Thing") is copies[0]


# --- backbone -------------------------------------------------------------------------------------


def test_backbone_keeps_resnet_output_contract_for_odd_sizes() -> None:
    torch.manual_seed(0)
    base = ResNetV1c(**TINY_RESNET)
    wave = WaveResNetV1c(wavelet="bior2.2", replace_shortcut=True, **TINY_RESNET)
    base.eval(), wave.eval()  # (mmseg's ResNet.train returns None: no chaining)
    assert wave.wavelet_sites == [
        "stem.0", "maxpool",
        "layer2.0.conv1", "layer2.0.downsample.0",
        "layer3.0.conv1", "layer3.0.downsample.0",
        "layer4.0.conv1", "layer4.0.downsample.0",
    ]
    assert sum(isinstance(m, WeConv3D) for m in wave.modules()) == 8
    assert not any(isinstance(m, nn.MaxPool2d) for m in wave.modules())
    x = torch.randn(1, 3, 37, 45)
    with torch.no_grad():
        expected, got = base(x), wave(x)
    assert [t.shape for t in got] == [t.shape for t in expected]  # 10x12, 5x6, 3x3, 2x2 (ceil halvings)
    assert all(torch.isfinite(t).all() for t in got)


def test_replaced_layers_mirror_the_convs_they_replace() -> None:
    base = ResNetV1c(depth=50, norm_cfg=dict(type="BN"))
    wave = WaveResNetV1c(depth=50, norm_cfg=dict(type="BN"), levels=1, channel_levels=0)
    base_modules, wave_modules = dict(base.named_modules()), dict(wave.named_modules())
    assert wave.wavelet_sites == ["stem.0", "maxpool", "layer2.0.conv2", "layer3.0.conv2", "layer4.0.conv2"]
    for path in wave.wavelet_sites[2:] + ["stem.0"]:
        conv, layer = base_modules[path], wave_modules[path]
        assert (layer.in_channels, layer.out_channels) == (conv.in_channels, conv.out_channels)
        assert layer.head.weight.shape == conv.weight.shape and layer.stride == 2
    assert (wave.maxpool.in_channels, wave.maxpool.out_channels) == (64, 64)
    assert type(wave.layer2[0].downsample[0]) is nn.Conv2d  # shortcut kept by default


def test_resnet_checkpoint_initialises_replaced_convs() -> None:
    torch.manual_seed(0)
    base = ResNetV1c(**TINY_RESNET)
    wave = WaveResNetV1c(**TINY_RESNET)
    state = base.state_dict()
    load_state_dict(wave, state, strict=False)
    loaded = wave.state_dict()
    for path in ["stem.0", "layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1"]:
        assert torch.equal(loaded[f"{path}.head.weight"], state[f"{path}.weight"])
    untouched = [k for k in state if not any(k.startswith(p + ".") for p in wave.wavelet_sites)]
    assert len(untouched) > 100
    assert all(torch.equal(loaded[k], state[k]) for k in untouched)


def test_wave_norm_follows_backbone_norm_cfg() -> None:
    sync = WaveResNetV1c(depth=18, norm_cfg=dict(type="SyncBN"), stages=(3,), replace_stem=False)
    layer = sync.layer4[0].conv1
    norms = [m for m in layer.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, nn.SyncBatchNorm) for m in norms)
    plain = WaveResNetV1c(depth=18, norm_cfg=dict(type="SyncBN"), stages=(3,), replace_stem=False, wave_norm=None)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in plain.layer4[0].conv1.modules())


def test_frozen_stages_freeze_their_wavelet_layers() -> None:
    wave = WaveResNetV1c(frozen_stages=2, replace_shortcut=True, **TINY_RESNET)
    frozen = ("stem.", "maxpool.", "layer1.", "layer2.")
    for built in (True, False):  # as built, then after train() (which re-freezes)
        if not built:
            wave.train()
        for name, param in wave.named_parameters():
            assert param.requires_grad != name.startswith(frozen), name
    assert not wave.maxpool.training and not wave.layer2[0].conv1.training and wave.layer3[0].conv1.training


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(stages=(0,)), ValueError),  # stage 0 has stride 1
        (dict(stages=(4,)), ValueError),
        (dict(replace_stem="yes"), TypeError),
        (dict(wave_cfg=["mode"]), TypeError),
        (dict(dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1)), ValueError),  # stages 2, 3 do not down-sample
    ],
)
def test_invalid_arguments_are_rejected(kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        WaveResNetV1c(depth=18, **kwargs)


# --- full UperNet-R50 -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [BASELINE, WAVE], ids=["baseline", "weconv3d"])
def test_upernet_r50_forward_tensor_and_loss(path: Path) -> None:
    torch.manual_seed(0)
    cfg = Config.fromfile(str(path))
    model = MODELS.build(_cpu_model_cfg(cfg))
    model.init_weights()
    assert isinstance(model.backbone, WaveResNetV1c) == ("weconv3d" in path.name)
    inputs = torch.randn(2, 3, 64, 64)  # as after the data preprocessor (normalised)
    samples = _data_samples(2, (64, 64), 150)
    model.eval()
    with torch.no_grad():
        logits = model(inputs[:1], mode="tensor")
    assert logits.shape == (1, 150, 16, 16) and torch.isfinite(logits).all()
    model.train()
    losses = model(inputs, samples, mode="loss")
    assert {"decode.loss_ce", "aux.loss_ce"} <= set(losses)
    total = sum(v for k, v in losses.items() if "loss" in k)
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


# --- data + Runner --------------------------------------------------------------------------------


def _write_ade20k_fixture(root: Path, counts: dict[str, int], size: tuple[int, int] = (45, 61)) -> Path:
    """ADEChallengeData2016 layout: images/<split>/ADE_<split>_*.jpg and annotations/<split>/*.png
    (uint8 labels, 0 = unlabelled, 1..150 = classes, as in the release)."""
    rng = np.random.default_rng(0)
    data_root = root / "ADEChallengeData2016"
    h, w = size
    for split, n in counts.items():
        (data_root / "images" / split).mkdir(parents=True)
        (data_root / "annotations" / split).mkdir(parents=True)
        prefix = "train" if split == "training" else "val"
        for i in range(n):
            name = f"ADE_{prefix}_{i + 1:08d}"
            label = np.zeros((h, w), np.uint8)  # four class blocks and an unlabelled border
            label[2:h // 2, 2:w // 2], label[2:h // 2, w // 2:-2] = rng.integers(1, 151, 2)
            label[h // 2:-2, 2:w // 2], label[h // 2:-2, w // 2:-2] = rng.integers(1, 151, 2)
            image = (label[..., None] * np.array([1, 3, 7]) % 256).astype(np.uint8)
            image = np.clip(image + rng.integers(0, 20, image.shape), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(data_root / "images" / split / f"{name}.jpg", quality=95)
            Image.fromarray(label).save(data_root / "annotations" / split / f"{name}.png")
    return data_root


def _tiny_options(crop: tuple[int, int], max_iters: int) -> dict:
    """A width-reduced UperNet-R18 with tiny crops: the pipeline stages of the ADE20K base config."""
    train_pipeline = [
        dict(type="LoadImageFromFile"),
        dict(type="LoadAnnotations", reduce_zero_label=True),
        dict(type="RandomResize", scale=(64, 32), ratio_range=(0.5, 2.0), keep_ratio=True),
        dict(type="RandomCrop", crop_size=crop, cat_max_ratio=0.75),
        dict(type="RandomFlip", prob=0.5),
        dict(type="PhotoMetricDistortion"),
        dict(type="PackSegInputs"),
    ]
    test_pipeline = [
        dict(type="LoadImageFromFile"),
        dict(type="Resize", scale=(64, 32), keep_ratio=True),  # 45x61 -> 32x43: odd width
        dict(type="LoadAnnotations", reduce_zero_label=True),
        dict(type="PackSegInputs"),
    ]
    loader = dict(num_workers=0, persistent_workers=False)
    bn = dict(type="BN", requires_grad=True)
    return {
        "model.pretrained": None,
        "model.data_preprocessor.size": crop,
        "model.backbone": dict(stem_channels=16, base_channels=16, depth=18, norm_cfg=bn),
        "model.decode_head": dict(in_channels=[16, 32, 64, 128], channels=16, norm_cfg=bn),
        "model.auxiliary_head": dict(in_channels=64, channels=16, norm_cfg=bn),
        "train_dataloader": dict(batch_size=2, dataset=dict(pipeline=train_pipeline), **loader),
        "val_dataloader": dict(dataset=dict(pipeline=test_pipeline), **loader),
        "test_dataloader": dict(dataset=dict(pipeline=test_pipeline), **loader),
        "train_cfg.max_iters": max_iters,
        "train_cfg.val_interval": 3,
        "default_hooks.checkpoint.interval": 3,
        "default_hooks.logger.interval": 1,
        "param_scheduler": [dict(type="PolyLR", eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)],
        "env_cfg.cudnn_benchmark": False,
    }


def test_ade20k_fixture_reads_through_the_config_pipeline(tmp_path: Path) -> None:
    root = _write_ade20k_fixture(tmp_path, {"training": 2, "validation": 1})
    cfg = load_config(WAVE, tmp_path / "work", root, _tiny_options((32, 32), 3))
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    val_set = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(train_set) == 2 and len(val_set) == 1 and len(train_set.metainfo["classes"]) == 150
    item = train_set[0]
    _, h, w = item["inputs"].shape  # random resize (ratio 0.5-2) then a crop of at most 32x32
    assert item["inputs"].shape[0] == 3 and 0 < h <= 32 and 0 < w <= 32
    labels = item["data_samples"].gt_sem_seg.data
    assert labels.shape == (1, h, w) and set(labels.unique().tolist()) <= set(range(150)) | {255}
    val_item = val_set[0]
    assert val_item["inputs"].shape == (3, 32, 43)
    raw = np.array(Image.open(root / "annotations" / "validation" / "ADE_val_00000001.png"))
    reduced = val_item["data_samples"].gt_sem_seg.data[0].numpy()  # labels at the original size
    assert np.array_equal(reduced, np.where(raw == 0, 255, raw.astype(np.int64) - 1))


def test_missing_ade20k_root_names_the_expected_layout(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="images/training"):
        check_ade20k_root(tmp_path)


def test_runner_trains_validates_and_resumes_on_ade20k_fixture(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)  # train() must handle it itself
    root = _write_ade20k_fixture(tmp_path, {"training": 2, "validation": 1})
    work = tmp_path / "work"
    runner = train(load_config(WAVE, work, root, _tiny_options((32, 32), 3)))
    assert runner.iter == 3 and isinstance(runner.model.backbone, WaveResNetV1c)
    assert (work / "iter_3.pth").is_file()
    assert np.isfinite(runner.message_hub.get_scalar("train/loss").current())
    assert 0 <= runner.message_hub.get_scalar("val/mIoU").current() <= 100

    class CountIters(Hook):
        iters = 0

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
            CountIters.iters += 1

    resumed = train(load_config(WAVE, work, root, _tiny_options((32, 32), 4), resume=True), hooks=[CountIters()])
    assert resumed.iter == 4 and CountIters.iters == 1  # iterations 1-3 came from iter_3.pth


def test_example_cli_parses_tools_train_style_arguments() -> None:
    spec = importlib.util.spec_from_file_location("ade20k_upernet", REPO / "examples" / "ade20k_upernet.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    args = example.parse_args(["train", str(WAVE), "--work-dir", "w", "--resume", "--launcher", "pytorch",
                               "--cfg-options", "train_cfg.max_iters=10", "model.backbone.wavelet=haar"])
    assert args.resume is True and args.launcher == "pytorch" and args.work_dir == "w"
    assert args.cfg_options == {"train_cfg.max_iters": 10, "model.backbone.wavelet": "haar"}
    assert example.parse_args(["train", str(WAVE), "--resume", "x.pth"]).resume == "x.pth"
    assert example.parse_args(["eval", str(WAVE), "--checkpoint", "x.pth"]).checkpoint == "x.pth"
