"""SpyNet-style coarse-to-fine optical flow (Ranjan & Black, CVPR 2017), as used by DVC.

``L`` pyramid levels built by 2x2 average pooling. At the coarsest level the flow starts at zero; at
every level the flow of the level below is resized to this level (values scaled by the size ratio),
the reference is warped by it, and a small CNN (five ``k x k`` convs, ReLU between) predicts a flow
correction from ``[current, warped reference, flow]`` (8 channels). The last conv of every level is
zero-initialised, so an untrained net returns the zero flow (identity warp) and trains from scratch.

There are no built-in pretrained weights; :meth:`PyramidFlow.load_weights` loads a state-dict file
written for this module (``torch.save(net.state_dict())`` or safetensors). Weights of other SpyNet
releases need their names, input normalisation and channel order mapped by the user.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .warp import warp

__all__ = ["PyramidFlow", "resize_flow"]


def resize_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinearly resize ``flow`` (N, 2, h, w) to ``size`` and scale its values by the size ratio."""
    h, w = flow.shape[-2:]
    if (h, w) == tuple(size):
        return flow
    out = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    scale = torch.tensor([size[1] / w, size[0] / h], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
    return out * scale


def _level_net(channels: Sequence[int], kernel_size: int) -> nn.Sequential:
    dims = [8, *channels, 2]
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2))
        if i < len(dims) - 2:
            layers.append(nn.ReLU(inplace=True))
    nn.init.zeros_(layers[-1].weight)
    nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


class PyramidFlow(nn.Module):
    """Flow from ``cur`` to ``ref``: ``warp(ref, flow) ~ cur`` (both (N, 3, H, W) in [0, 1]) -> (N, 2, H, W).

    Args:
        levels: pyramid levels (the full resolution included).
        channels: hidden widths of each level's CNN (SpyNet / DVC: 32, 64, 32, 16).
        kernel_size: conv kernel (SpyNet: 7).
    """

    def __init__(self, levels: int = 4, channels: Sequence[int] = (32, 64, 32, 16), kernel_size: int = 7) -> None:
        super().__init__()
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
        self.levels = levels
        self.nets = nn.ModuleList(_level_net(tuple(channels), kernel_size) for _ in range(levels))

    def forward(self, cur: Tensor, ref: Tensor) -> Tensor:
        if cur.shape != ref.shape or cur.dim() != 4 or cur.shape[1] != 3:
            raise ValueError(f"cur and ref must both be (N, 3, H, W), got {tuple(cur.shape)} and {tuple(ref.shape)}")
        curs, refs = [cur], [ref]
        for _ in range(self.levels - 1):
            curs.append(F.avg_pool2d(curs[-1], 2, ceil_mode=True, count_include_pad=False))
            refs.append(F.avg_pool2d(refs[-1], 2, ceil_mode=True, count_include_pad=False))
        n, _, h, w = curs[-1].shape
        flow = cur.new_zeros(n, 2, h, w)
        for level in reversed(range(self.levels)):
            c, r = curs[level], refs[level]
            flow = resize_flow(flow, (c.shape[-2], c.shape[-1]))
            flow = flow + self.nets[level](torch.cat((c, warp(r, flow), flow), dim=1))
        return flow

    def load_weights(self, path: str | os.PathLike) -> None:
        """Load a state-dict file (``.safetensors`` or a ``torch.save`` file, read with ``weights_only=True``)."""
        if os.fspath(path).endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(os.fspath(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
        self.load_state_dict(state, strict=True)
