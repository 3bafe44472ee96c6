"""replace_downsampling / replace_upsampling, the wavelet re-samplers, and timm's aa_layer hook."""
from __future__ import annotations

import copy
import inspect
import io
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wavelayers import (
    FloorDownsample,
    WaveletDownsample,
    WaveletUpsample,
    WeConv2D,
    WeConv3D,
    replace_downsampling,
    replace_upsampling,
)

pytestmark = pytest.mark.usefixtures("single_thread")

torchvision = pytest.importorskip("torchvision")
timm = pytest.importorskip("timm")

# Lighter WeConv3D settings for the 2048-channel nets: the sites do not depend on them, and the
# channel DWT operators of 1024/2048 channels take seconds to build (a dense float64 inverse).
LIGHT = dict(levels=1, channel_levels=0, lf_kernel=1)



def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _types(model: nn.Module) -> list[tuple[str, type]]:
    return [(name, type(m)) for name, m in model.named_modules()]


def _output_shapes(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Output shape of every module that returns a tensor, by path."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [
        m.register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape))
                                if isinstance(out, torch.Tensor) else None)
        for name, m in model.named_modules()
    ]
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return shapes


def _assert_same_shapes(old: nn.Module, new: nn.Module, x: torch.Tensor, skip: set[str] = frozenset()) -> None:
    a, b = _output_shapes(old, x), _output_shapes(new, x)
    common = [p for p in a if p in b and p not in skip]
    assert "" in common  # the whole model
    bad = {p: (a[p], b[p]) for p in common if a[p] != b[p]}
    assert not bad, f"output shapes differ: {bad}"


def _forward_backward(model: nn.Module, x: torch.Tensor, new_paths: list[str]) -> None:
    model.train()
    out = model(x)
    out = out if isinstance(out, torch.Tensor) else out[0]
    out.float().square().mean().backward()
    modules = dict(model.named_modules())
    for path in new_paths:
        for name, p in modules[path].named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), f"{path}.{name} got no finite gradient"


# ----------------------------------------------------------------------- ImageNet nets: exact sites

RESNET_SITES = {  # torchvision/timm ResNet-18/34 (stride on conv1 of BasicBlock)
    "conv1": "conv", "maxpool": "pool",
    "layer2.0.conv1": "conv", "layer2.0.downsample.0": "shortcut conv",
    "layer3.0.conv1": "conv", "layer3.0.downsample.0": "shortcut conv",
    "layer4.0.conv1": "conv", "layer4.0.downsample.0": "shortcut conv",
}
BOTTLENECK_SITES = {  # ResNet-50 v1.5 (stride on the 3x3 conv2 of the first Bottleneck)
    k.replace(".conv1", ".conv2") if k.startswith("layer") else k: v for k, v in RESNET_SITES.items()
}

MODELS = {
    "tv_resnet18": (lambda: torchvision.models.resnet18(num_classes=10), RESNET_SITES, {}),
    "tv_resnet34": (lambda: torchvision.models.resnet34(num_classes=10), RESNET_SITES, {}),
    "tv_resnet50": (lambda: torchvision.models.resnet50(num_classes=10), BOTTLENECK_SITES, LIGHT),
    "timm_resnet18": (lambda: timm.create_model("resnet18", pretrained=False, num_classes=10), RESNET_SITES, {}),
    "timm_resnet50": (lambda: timm.create_model("resnet50", pretrained=False, num_classes=10), BOTTLENECK_SITES, LIGHT),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_resnets_exact_sites_shapes_and_gradients(name: str) -> None:
    build, sites, kwargs = MODELS[name]
    torch.manual_seed(0)
    base = build()
    before = _state(base)
    new, report = replace_downsampling(base, wavelet="haar", **kwargs)
    assert {r.path: r.kind for r in report.replaced} == sites
    assert report.skipped == []
    assert _same_state(before, _state(base)) and all(not isinstance(m, WeConv3D) for m in base.modules())
    modules = dict(new.named_modules())
    for path, kind in sites.items():
        expected = WaveletDownsample if kind == "pool" else WeConv3D
        assert type(modules[path]) is expected, path
    # Every BatchNorm is kept: one per original BatchNorm, same paths.
    assert [n for n, m in base.named_modules() if isinstance(m, nn.BatchNorm2d)] == [
        n for n, m in new.named_modules() if isinstance(m, nn.BatchNorm2d) and not n.startswith(tuple(sites))
    ]
    assert report.params_after == sum(p.numel() for p in new.parameters())
    x = torch.randn(1, 3, 33, 35)
    _assert_same_shapes(base, new, x)
    _forward_backward(new, torch.randn(2, 3, 33, 35), [p for p, k in sites.items() if k != "pool"])


def test_convnext_tiny_floor_sites_cropped() -> None:
    base = timm.create_model("convnext_tiny", pretrained=False, num_classes=10)
    new, report = replace_downsampling(base, **LIGHT)
    assert report.paths == ["stages.1.downsample.1", "stages.2.downsample.1", "stages.3.downsample.1"]
    assert all(r.kind == "conv" for r in report.replaced)  # a stage-level downsample, not a shortcut
    assert [(s.path, s.reason) for s in report.skipped] == [("stem.0", "stride (4, 4) is not 2")]
    for path in report.paths:
        layer = new.get_submodule(path)
        assert isinstance(layer, FloorDownsample) and isinstance(layer.layer, WeConv3D)
        assert layer.layer.head.kernel_size == (3, 3)  # k=2 patchify conv -> next odd kernel
    # 37x45 -> stem 9x11 -> floor halvings 4x5 -> 2x2 -> 1x1, all as the original.
    _assert_same_shapes(base, new, torch.randn(1, 3, 37, 45))
    _forward_backward(new, torch.randn(2, 3, 37, 45), report.paths)


def test_report_is_readable_table() -> None:
    _, report = replace_downsampling(torchvision.models.resnet18(), wavelet="bior2.2", exclude="layer4.*")
    text = str(report)
    lines = text.splitlines()
    assert lines[0].startswith("replace_downsampling: replaced 6, skipped 2; parameters ")
    assert "skipped:" in lines
    row = next(line for line in lines if line.strip().startswith("layer2.0.conv1 "))
    assert "Conv2d(64->128, k3, s2, p1)" in row and "WeConv3D(64->128, k3, s2, bior2.2" in row
    assert f"{report.replaced[2].param_delta:+,}" in row
    assert "excluded by pattern 'layer4.*'" in text


# ----------------------------------------------------------------- dry run, inplace, state_dict


def test_dry_run_changes_nothing_and_lists_the_same_sites() -> None:
    model = torchvision.models.resnet18(num_classes=10)
    before, types = _state(model), _types(model)
    returned, dry = replace_downsampling(model, dry_run=True, example_input=torch.randn(2, 3, 32, 32))
    assert returned is model and dry.dry_run
    assert _same_state(before, _state(model)) and _types(model) == types  # the probe forward touched nothing
    assert model.training  # training flags restored after the probe
    _, real = replace_downsampling(model)
    assert dry.paths == real.paths and [r.param_delta for r in dry.replaced] == [r.param_delta for r in real.replaced]
    assert "(dry run): would replace 8" in str(dry)


def test_inplace_modifies_and_returns_the_model() -> None:
    model = torchvision.models.resnet18(num_classes=10)
    returned, report = replace_downsampling(model, inplace=True, include="layer2.*")
    assert returned is model and report.paths == ["layer2.0.conv1", "layer2.0.downsample.0"]
    assert isinstance(model.layer2[0].conv1, WeConv3D)


def test_state_dict_round_trip() -> None:
    torch.manual_seed(0)
    new, _ = replace_downsampling(torchvision.models.resnet18(num_classes=10), wavelet="bior4.4")
    buffer = io.BytesIO()
    torch.save(new.state_dict(), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    torch.manual_seed(1)
    other, _ = replace_downsampling(torchvision.models.resnet18(num_classes=10), wavelet="bior4.4")
    other.load_state_dict(loaded, strict=True)
    x = torch.randn(2, 3, 33, 33)
    torch.testing.assert_close(other.eval()(x), new.eval()(x), rtol=0, atol=0)


def test_head_is_seeded_with_the_old_conv_weights() -> None:
    base = torchvision.models.resnet18()
    new, _ = replace_downsampling(base)
    assert torch.equal(new.layer3[0].conv1.head.weight, base.layer3[0].conv1.weight)
    assert torch.count_nonzero(new.layer3[0].conv1.head.bias) == 0  # the old conv had no bias
    fresh, _ = replace_downsampling(base, copy_weights=False)
    assert not torch.equal(fresh.layer3[0].conv1.head.weight, base.layer3[0].conv1.weight)


# ------------------------------------------------------------------ patterns, options, skip reasons


def test_include_exclude_patterns() -> None:
    model = torchvision.models.resnet18()
    _, only4 = replace_downsampling(model, include="layer4.*", dry_run=True)
    assert only4.paths == ["layer4.0.conv1", "layer4.0.downsample.0"]
    assert {s.reason for s in only4.skipped} == {"not matched by include=['layer4.*']"}
    _, no_shortcut = replace_downsampling(model, exclude=["*downsample*", "maxpool"], dry_run=True)
    assert no_shortcut.paths == ["conv1", "layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1"]
    assert len(no_shortcut.skipped) == 4
    _, flag = replace_downsampling(model, shortcuts=False, dry_run=True)
    assert [s.path for s in flag.skipped] == ["layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"]
    assert {s.reason for s in flag.skipped} == {"residual shortcut (shortcuts=False)"}


class CustomNet(nn.Module):
    """A CNN the rewriter has never seen: VGG-like features plus odd corners."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),                                   # floor site, followed by a conv: fused
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 5, stride=2, padding=2),         # strided conv, ceil
            nn.BatchNorm2d(32), nn.ReLU(),
            nn.AvgPool2d(3, stride=2, padding=1),              # lone pool, ceil
        )
        self.depthwise = nn.Conv2d(32, 32, 3, stride=2, padding=1, groups=32)
        self.grouped = nn.Conv2d(32, 32, 3, stride=1, padding=1, groups=4)  # stride 1: not a candidate
        self.dilated = nn.Conv2d(32, 32, 3, stride=2, padding=2, dilation=2)
        self.stride3 = nn.Conv2d(32, 32, 3, stride=3, padding=1)
        self.no_pad = nn.Conv2d(32, 32, 3, stride=2, padding=0)
        self.odd_out = nn.Conv2d(32, 7, 3, stride=2, padding=1)
        self.head = nn.Linear(7, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.depthwise(x) + self.dilated(x)
        x = self.grouped(x)
        x = F.interpolate(self.stride3(x), size=x.shape[-2:]) + self.no_pad(F.pad(x, (1, 1, 1, 1)))
        return self.head(self.odd_out(x).mean((2, 3)))


def test_custom_cnn_sites_and_skip_reasons() -> None:
    torch.manual_seed(0)
    base = CustomNet()
    new, report = replace_downsampling(base, wavelet="bior2.2", levels=1)
    assert {r.path: r.kind for r in report.replaced} == {
        "features.2": "pool+conv", "features.5": "conv", "features.8": "pool",
    }
    reasons = {s.path: s.reason for s in report.skipped}
    assert set(reasons) == {"depthwise", "dilated", "stride3", "no_pad", "odd_out"}
    assert reasons["depthwise"].startswith("depthwise conv (groups=32)")
    assert reasons["dilated"].startswith("dilation (2, 2)")
    assert reasons["stride3"] == "stride (3, 3) is not 2"
    assert "neither ceil(H/2) nor floor(H/2)" in reasons["no_pad"]
    assert reasons["odd_out"].startswith("layer refused:") and "divisible by 2" in reasons["odd_out"]
    assert isinstance(new.features[2], FloorDownsample) and isinstance(new.features[3], nn.Identity)
    assert isinstance(new.features[8], WaveletDownsample)
    x = torch.randn(2, 3, 29, 31)  # 29 -> floor 14 -> ceil 7 -> ceil 4: odd sizes on every site
    _assert_same_shapes(base, new, x, skip={"features.2"})  # the fused slot now holds the conv's output
    assert _output_shapes(new, x)["features.2"] == _output_shapes(base, x)["features.3"]
    _forward_backward(new, x, ["features.2", "features.5"])


def test_grouped_conv_with_stride_two_is_skipped() -> None:
    _, report = replace_downsampling(nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1, groups=4)))
    assert [s.reason for s in report.skipped] == ["grouped conv (groups=4): a wavelet layer mixes all channels"]


def test_pooling_policies_and_the_channel_probe() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
    x = torch.randn(2, 3, 15, 15)
    _, unknown = replace_downsampling(net, pooling="layer")
    assert unknown.replaced == [] and "pass example_input" in unknown.skipped[0].reason
    new, probed = replace_downsampling(net, pooling="layer", example_input=x)
    assert probed.paths == ["3"] and isinstance(new[3], WeConv3D) and new[3].in_channels == 8
    assert new(x).shape == net(x).shape == (2, 8, 8, 8)
    _, kept = replace_downsampling(net, pooling="skip")
    assert kept.replaced == [] and kept.skipped[0].reason.startswith("pooling='skip'")
    wave, _ = replace_downsampling(net, example_input=x)
    assert isinstance(wave[3], WaveletDownsample) and wave[3].channels == 8


def test_floor_sites_can_be_skipped() -> None:
    _, report = replace_downsampling(nn.Sequential(nn.MaxPool2d(2)), floor_sizes="skip")
    assert report.skipped[0].reason == "gives floor(H/2), not ceil(H/2) (floor_sizes='skip')"


def test_shared_module_is_replaced_everywhere() -> None:
    conv = nn.Conv2d(4, 4, 3, 2, 1)
    net = nn.Sequential(conv, nn.ReLU(), conv)
    new, report = replace_downsampling(net, layer=WeConv2D)
    assert report.paths == ["0"] and new[0] is new[2] and isinstance(new[0], WeConv2D)
    assert new(torch.randn(1, 4, 9, 9)).shape == (1, 4, 3, 3)


def test_custom_layer_factory_and_frozen_modules() -> None:
    made = []

    def factory(cin: int, cout: int, stride: int, kernel_size: int, wavelet: str) -> nn.Module:
        made.append((cin, cout, stride, kernel_size, wavelet))
        return nn.Conv2d(cin, cout, kernel_size, stride, kernel_size // 2)

    net = nn.Sequential(nn.Conv2d(3, 6, 3, 2, 1))
    net.requires_grad_(False)
    new, report = replace_downsampling(net, layer=factory, wavelet="haar")
    assert made == [(3, 6, 2, 3, "haar")]
    assert not any(p.requires_grad for p in new.parameters())
    assert "frozen, as the old module was" in report.replaced[0].notes


def test_bad_arguments() -> None:
    net = nn.Sequential(nn.Conv2d(3, 6, 3, 2, 1))
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        replace_downsampling("resnet")
    with pytest.raises(ValueError, match="pooling must be one of"):
        replace_downsampling(net, pooling="max")
    with pytest.raises(ValueError, match="unknown"):
        replace_downsampling(net, wavelet="nope")
    with pytest.raises(TypeError, match="include must be"):
        replace_downsampling(net, include=[1])
    with pytest.raises(ValueError, match="interpolation must be one of"):
        replace_upsampling(net, interpolation="bilinear")


# ------------------------------------------------------------------------------------ upsampling


def _decoder() -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(32, 32, 3, 2, 1, output_padding=1), nn.ReLU(),   # 0: 2H
        nn.ConvTranspose2d(32, 16, 4, 2, 1),                                # 2: 2H
        nn.ConvTranspose2d(16, 16, 2, 2),                                   # 3: 2H
        nn.Conv2d(16, 64, 3, padding=1), nn.PixelShuffle(2),                # 4-5: sub-pixel head
        nn.Conv2d(16, 8, 1, bias=False), nn.Upsample(scale_factor=2, mode="bilinear"),  # 6-7: MIRNet's Up
        nn.Upsample(scale_factor=2.0), nn.Conv2d(8, 8, 3, padding=1),       # 8-9
        nn.Upsample(scale_factor=2),                                        # 10: lone
        nn.ConvTranspose2d(8, 8, 3, 2, 1),                                  # 11: 2H - 1
        nn.ConvTranspose2d(8, 8, 3, 3),                                     # 12: stride 3
        nn.PixelShuffle(2),                                                 # 13: lone
    )


def test_upsampling_sites_shapes_and_reasons() -> None:
    torch.manual_seed(0)
    base = _decoder()
    new, report = replace_upsampling(base, wavelet="haar", levels=1)
    assert {r.path: r.kind for r in report.replaced} == {
        "0": "transposed conv", "2": "transposed conv", "3": "transposed conv",
        "4": "conv+pixel shuffle", "6": "conv+upsample", "8": "upsample+conv",
    }
    assert [new[i].head[0].kernel_size for i in (0, 2, 3)] == [(3, 3), (3, 3), (1, 1)]
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons["10"].startswith("parameter-free, kept")
    assert reasons["11"].endswith("give 2H-1, not 2H")
    assert reasons["12"] == "stride (3, 3) is not 2"
    assert reasons["13"].startswith("not right after a stride-1 conv")
    for i in (5, 7, 9):
        assert isinstance(new[i], nn.Identity)
    x = torch.randn(1, 32, 3, 5)
    for stop in (4, 6, 10, 11):  # every prefix keeps its output shape (odd input sizes)
        assert new[:stop](x).shape == base[:stop](x).shape
    _forward_backward(new[:10], x, ["0", "2", "3", "4", "6", "8"])


def test_pixel_shuffle_head_keeps_the_old_weights_exactly() -> None:
    base = nn.Sequential(nn.Conv2d(8, 32, 3, padding=1), nn.PixelShuffle(2))
    new, _ = replace_upsampling(base)
    x = torch.randn(2, 8, 5, 7)
    torch.testing.assert_close(new[0].head(x), base(x))


def test_lone_upsample_policies() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.Upsample(scale_factor=2))
    x = torch.randn(1, 3, 5, 6)
    wave, report = replace_upsampling(net, interpolation="wavelet")
    assert report.paths == ["2"] and isinstance(wave[2], WaveletUpsample)
    learned, report = replace_upsampling(net, interpolation="layer", example_input=x)
    assert isinstance(learned[2], WeConv3D) and learned[2].transposed and learned[2].in_channels == 4
    assert wave(x).shape == learned(x).shape == net(x).shape == (1, 4, 10, 12)
    _, report = replace_upsampling(nn.Sequential(nn.Upsample(size=(8, 8))))
    assert "not a fixed 2x" in report.skipped[0].reason


# ----------------------------------------------------------------- re-samplers and timm aa_layer


@pytest.mark.parametrize("wavelet", ["haar", "bior2.2", "bior4.4"])
@pytest.mark.parametrize("size", [(1, 1), (7, 10), (16, 16)])
def test_wavelet_resamplers_keep_constants_and_sizes(wavelet: str, size: tuple[int, int]) -> None:
    x = torch.full((2, 3, *size), 1.5, dtype=torch.float64)
    down = WaveletDownsample(3, wavelet)(x)
    assert down.shape == (2, 3, (size[0] + 1) // 2, (size[1] + 1) // 2)
    torch.testing.assert_close(down, torch.full_like(down, 1.5))
    up = WaveletUpsample(3, wavelet)(x)
    assert up.shape == (2, 3, 2 * size[0], 2 * size[1])
    torch.testing.assert_close(up, torch.full_like(up, 1.5))


def test_haar_resamplers_match_average_pooling_and_nearest_neighbour() -> None:
    x = torch.randn(2, 5, 8, 12, dtype=torch.float64)
    torch.testing.assert_close(WaveletDownsample(wavelet="haar")(x), F.avg_pool2d(x, 2))
    torch.testing.assert_close(WaveletUpsample(wavelet="haar")(x), F.interpolate(x, scale_factor=2, mode="nearest"))


def test_wavelet_downsample_arguments() -> None:
    x = torch.randn(1, 4, 5, 5)
    assert WaveletDownsample(4, stride=1)(x) is x
    with pytest.raises(ValueError, match="4 channels"):
        WaveletDownsample(4)(torch.randn(1, 3, 5, 5))
    with pytest.raises(ValueError, match="stride must be 1"):
        WaveletDownsample(4, stride=3)
    with pytest.raises(ValueError, match="non-expansive"):
        WaveletDownsample(4, mode="symmetric")
    assert FloorDownsample(WaveletDownsample())(torch.randn(1, 2, 7, 9)).shape == (1, 2, 3, 4)


def test_timm_aa_layer_hook_needs_no_surgery() -> None:
    model = timm.create_model("resnet18", pretrained=False, num_classes=10, aa_layer=WaveletDownsample)
    found = {n: m.stride for n, m in model.named_modules() if isinstance(m, WaveletDownsample)}
    assert found == {"maxpool.1": 2, "layer2.0.aa": 2, "layer3.0.aa": 2, "layer4.0.aa": 2}
    assert model.layer2[0].conv1.stride == (1, 1)  # timm moved the stride into the aa layer
    base = timm.create_model("resnet18", pretrained=False, num_classes=10)
    x = torch.randn(1, 3, 33, 35)
    assert model.forward_features(x).shape == base.forward_features(x).shape == (1, 512, 2, 2)
    dilated = timm.create_model("resnet18", pretrained=False, aa_layer=WaveletDownsample, output_stride=16)
    assert dilated.layer4[0].aa.stride == 1  # stride 1 when timm dilates instead: identity
    assert dilated.forward_features(x).shape == (1, 512, 3, 3)
    assert isinstance(timm.layers.create_aa(WaveletDownsample, channels=8, stride=2), WaveletDownsample)
    # The rewriter leaves the aa layers alone and finds what is left.
    _, report = replace_downsampling(model, dry_run=True)
    assert report.paths == ["conv1", "layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"]


def test_rewriter_does_not_enter_wavelet_layers() -> None:
    net = nn.Sequential(WeConv3D(8, 8, stride=2), nn.Conv2d(8, 8, 3, 2, 1))
    _, report = replace_downsampling(copy.deepcopy(net), dry_run=True)
    assert report.paths == ["1"] and report.skipped == []


def test_subclasses_with_their_own_forward_are_skipped() -> None:
    same = timm.layers.Conv2dSame(4, 8, 3, stride=2)  # pads dynamically; its padding attribute says 0
    _, report = replace_downsampling(nn.Sequential(same))
    assert report.replaced == [] and "own forward" in report.skipped[0].reason


# ---------------------------------------------- argument convention, old spellings, layer contract


def _small_net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1))


def test_old_positional_spelling_warns_and_gives_the_same_rewrite() -> None:
    torch.manual_seed(0)
    net = _small_net()
    with pytest.warns(DeprecationWarning, match="positionally is deprecated"):
        _, old = replace_downsampling(net, WeConv3D, "haar", 1, None, "2", True)
    _, new = replace_downsampling(net, "haar", layer=WeConv3D, levels=1, exclude="2", dry_run=True)
    assert old.dry_run and str(old) == str(new)
    with pytest.warns(DeprecationWarning, match="positionally is deprecated"):
        _, old_up = replace_upsampling(nn.Sequential(nn.ConvTranspose2d(8, 4, 4, 2, 1)), WeConv3D, "haar")
    assert old_up.paths == ["0"]
    with pytest.raises(TypeError, match="positional"):
        replace_downsampling(net, "haar", 1)
    with pytest.raises(TypeError, match="multiple values"):
        replace_downsampling(net, WeConv3D, layer=WeConv2D)


def test_fuse_pool_conv_is_now_fuse() -> None:
    net = _small_net()
    with pytest.warns(DeprecationWarning, match="fuse_pool_conv"):
        _, old = replace_downsampling(net, "haar", fuse_pool_conv=False, dry_run=True)
    _, new = replace_downsampling(net, "haar", fuse=False, dry_run=True)
    assert str(old) == str(new) and {r.kind for r in new.replaced} == {"conv", "pool"}


def test_the_new_spelling_warns_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        down, _ = replace_downsampling(_small_net(), "haar", levels=1, pooling="wavelet", fuse=False)
        up, report = replace_upsampling(_decoder(), "haar", levels=1, interpolation="wavelet")
    assert isinstance(down[2], FloorDownsample) and isinstance(down[2].layer, WaveletDownsample)
    assert len(report.replaced) == 7


def test_mode_is_passed_to_layers_and_resamplers() -> None:
    down, _ = replace_downsampling(_small_net(), "db2", mode="periodization", fuse=False)
    assert down[0].mode == down[2].layer.mode == "periodization"
    up, _ = replace_upsampling(_decoder(), "db2", mode="periodization", levels=1, interpolation="wavelet")
    assert up[0].mode == up[10].mode == "periodization"
    keep, _ = replace_downsampling(_small_net(), "bior2.2", fuse=False)
    assert keep[0].mode == keep[2].layer.mode == "jpeg2000"  # None: the layers' default
    with pytest.raises(ValueError, match="mode"):
        replace_downsampling(_small_net(), "haar", mode="nope")


def test_upsample_chooses_the_head() -> None:
    base = nn.Sequential(nn.ConvTranspose2d(8, 4, 3, 2, 1, output_padding=1))
    sub, _ = replace_upsampling(base, "haar")
    tr, _ = replace_upsampling(base, "haar", upsample="transposed")
    assert isinstance(sub[0].head, nn.Sequential) and isinstance(tr[0].head, nn.ConvTranspose2d)
    x = torch.randn(1, 8, 5, 6)
    assert sub(x).shape == tr(x).shape == base(x).shape == (1, 4, 10, 12)
    torch.testing.assert_close(tr[0].head.weight, base[0].weight)  # same shape: seeded exactly
    with pytest.raises(ValueError, match="upsample must be one of"):
        replace_upsampling(base, upsample="bilinear")


def test_layer_factory_is_checked_before_any_site() -> None:
    net = _small_net()

    def no_wavelet(cin: int, cout: int, stride: int, kernel_size: int) -> nn.Module:
        return nn.Conv2d(cin, cout, kernel_size, stride, kernel_size // 2)

    with pytest.raises(TypeError, match=r"does not accept \['wavelet'\]"):
        replace_downsampling(net, layer=no_wavelet)
    with pytest.raises(TypeError, match=r"does not accept \['levels'\]"):
        replace_downsampling(net, layer=WeConv2D, levels=2)  # WeConv2D has one level, no levels=
    with pytest.raises(TypeError, match="must return an nn.Module"):
        replace_downsampling(net, layer=lambda cin, cout, **kw: "conv")
    with pytest.raises(TypeError, match="set per site"):
        replace_downsampling(net, upsample="subpixel")


def test_factory_in_the_old_up_spelling_still_works() -> None:
    calls = []

    def old_up(cin: int, cout: int, stride: int = 1, transposed: bool = False, **kwargs) -> nn.Module:
        calls.append((stride, transposed))
        return nn.ConvTranspose2d(cin, cout, 4, 2, 1)

    with pytest.warns(DeprecationWarning, match="names a 'transposed' parameter"):
        new, report = replace_upsampling(nn.Sequential(nn.ConvTranspose2d(8, 4, 4, 2, 1)), layer=old_up)
    assert calls == [(2, True)] and report.paths == ["0"]


class _Described(nn.Module):
    def __init__(self, cin: int, cout: int, *, stride: int, kernel_size: int, wavelet: str) -> None:
        super().__init__()
        self.head = nn.Conv2d(cin, cout, kernel_size, stride, kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)

    def describe(self) -> str:
        return "my layer"


def test_layers_describe_themselves_in_the_report() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 2, 2))  # a floor site: the layer is wrapped
    _, report = replace_downsampling(net, "haar", layer=_Described)
    assert report.replaced[0].new == "FloorDownsample(my layer)"
    assert "head seeded from old weights" not in report.replaced[0].notes  # 3x3 head, 2x2 old conv
    _, plain = replace_downsampling(nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1)), "haar", layer=_Described)
    assert plain.replaced[0].new == "my layer" and "head seeded from old weights" in plain.replaced[0].notes


# ---------------------------------------------- the shared options (RewriteOptions) and the signature

_SHARED = ["layer", "mode", "levels", "include", "exclude", "dry_run", "inplace", "copy_weights", "example_input"]


@pytest.mark.parametrize(
    ("fn", "own"),
    (
        (replace_downsampling, ["pooling", "shortcuts", "fuse", "floor_sizes"]),
        (replace_upsampling, ["upsample", "interpolation", "fuse"]),
    ),
)
def test_signature_lists_every_argument(fn, own: list[str]) -> None:
    """The 0.2 signature (as docs/api.md shows it): model and wavelet positional, all the rest by keyword."""
    params = inspect.signature(fn).parameters
    names = list(params)
    assert names[:2] == ["model", "wavelet"] and names[-1] == "layer_kwargs"
    assert sorted(names[2:-1]) == sorted(_SHARED + own)
    kinds = [p.kind for p in params.values()]
    assert kinds[:2] == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 2 and kinds[-1] is inspect.Parameter.VAR_KEYWORD
    assert set(kinds[2:-1]) == {inspect.Parameter.KEYWORD_ONLY}
    assert params["wavelet"].default == "bior4.4" and params["layer"].default is WeConv3D
    assert (params["dry_run"].default, params["copy_weights"].default) == (False, True)


@pytest.mark.parametrize("fn", (replace_downsampling, replace_upsampling))
def test_shared_options_are_checked_alike(fn) -> None:
    net = _small_net()
    for name in ("dry_run", "inplace", "copy_weights"):
        with pytest.raises(TypeError, match=rf"{name} must be a bool, got 1"):
            fn(net, **{name: 1})
    with pytest.raises(TypeError, match=r"exclude must be a glob pattern .* got \('0', 3\)"):
        fn(net, exclude=["0", 3])
    with pytest.raises(ValueError, match="levels must be None or an integer >= 1, got 0"):
        fn(net, levels=0)
    with pytest.raises(TypeError, match="by keyword .* not as options="):
        fn(net, options={})


def test_old_spellings_warn_at_the_callers_line() -> None:
    net = _small_net()
    calls = (
        lambda: replace_downsampling(net, WeConv3D, "haar", dry_run=True),
        lambda: replace_downsampling(net, "haar", fuse_pool_conv=False, dry_run=True),
        lambda: replace_upsampling(nn.Sequential(nn.ConvTranspose2d(8, 4, 4, 2, 1)),
                                   layer=lambda cin, cout, stride=1, transposed=False, **kw: nn.Identity()),
    )
    for call in calls:
        with pytest.warns(DeprecationWarning) as record:
            call()
        assert [w.filename for w in record] == [__file__], [str(w.message) for w in record]
