"""ChWDTB: channel-wise wavelet-domain transformer block (ChWDTA).

Data flow for ``x`` of shape ``(N, C, H, W)`` (``C = dim``)::

    x ─► LayerNorm ─► channel DWT (C x C, per pixel) ─► (shifted) window MSA ─► channel IDWT ─► + x
      ─► LayerNorm ─► MLP (C -> mlp_ratio*C -> C) ─► + ─► out  (N, C, H, W)

The window attention is Swin's: Q/K/V from one linear map of the channel-wavelet coefficients,
a learned relative position bias, an output projection, and for ``shift=True`` a cyclic shift of
half a window with the matching mask. Inputs of any size work: the token grid is padded to a
multiple of ``window_size`` and padded tokens are masked out as keys, then cropped.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_channels, check_positive_int, check_tensor, is_channels_last
from .._deprecation import keyword_only_after
from ..channel import channel_matrices, check_channel_split
from ..operators import check_mode
from ..wavelets import canonical_name

__all__ = ["ChWDTB", "WindowAttention"]


class DropPath(nn.Module):
    """Stochastic depth per sample (identity at eval or when ``p == 0``)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside non-overlapping ``window_size`` x ``window_size`` windows,
    with a relative position bias. Input/output ``(B, ws*ws, C)``; ``mask`` ``(B or 1, 1, T, T)``."""

    def __init__(self, dim: int, num_heads: int, window_size: int, qkv_bias: bool = True, attn_drop: float = 0.0) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.window_size = window_size
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij"))
        coords = coords.flatten(1)  # (2, T)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window_size - 1)
        index = rel[..., 0] * (2 * window_size - 1) + rel[..., 1]
        self.register_buffer("relative_position_index", index, persistent=False)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        B, T, C = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        bias = bias.reshape(T, T, self.num_heads).permute(2, 0, 1).unsqueeze(0).to(x.dtype)  # (1, h, T, T)
        if mask is not None:
            bias = bias + mask.to(x.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj(out.transpose(1, 2).reshape(B, T, C))


def _windows(x: Tensor, ws: int) -> Tensor:
    """(N, H, W, C) -> (N * H/ws * W/ws, ws*ws, C)."""
    N, H, W, C = x.shape
    x = x.reshape(N, H // ws, ws, W // ws, ws, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, C)


def _unwindows(w: Tensor, ws: int, N: int, H: int, W: int) -> Tensor:
    C = w.shape[-1]
    x = w.reshape(N, H // ws, W // ws, ws, ws, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(N, H, W, C)


class ChWDTB(nn.Module):
    """Channel-wise wavelet-domain transformer block; ``(N, dim, H, W) -> (N, dim, H, W)``.

    Args:
        dim: channels (divisible by ``num_heads`` and by ``2**channel_levels``).
        wavelet: the channel DWT's wavelet (default ``"bior4.4"``, see docs/guide.md).
        num_heads, window_size, shift: Swin window attention settings.
        mlp_ratio: hidden width of the MLP relative to ``dim``.
        channel_levels, mode: the channel DWT around the attention.
        qkv_bias, attn_drop, drop_path: as in Swin.
    """

    @keyword_only_after(
        ("dim", "wavelet"),
        ("dim", "num_heads", "window_size", "shift", "mlp_ratio", "wavelet", "mode", "channel_levels", "qkv_bias",
         "attn_drop", "drop_path"),
        wavelet_slot=1,
    )
    def __init__(
        self,
        dim: int,
        wavelet: str = "bior4.4",
        *,
        num_heads: int = 4,
        window_size: int = 8,
        shift: bool = False,
        mlp_ratio: float = 4.0,
        channel_levels: int = 1,
        mode: str = "jpeg2000",
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        check_positive_int(num_heads, "num_heads")
        if dim % num_heads:
            raise ValueError(f"dim must be divisible by num_heads, got dim={dim}, num_heads={num_heads}")
        self.window_size = check_positive_int(window_size, "window_size")
        self.shift = bool(shift)
        self.wavelet = canonical_name(wavelet)
        self.mode = check_mode(mode, self.wavelet)
        self.channel_levels = check_positive_int(channel_levels, "channel_levels")
        check_channel_split(dim, self.channel_levels, self.mode)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, window_size, qkv_bias, attn_drop)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def _mask(self, H: int, W: int, Hp: int, Wp: int, shift: int, device: torch.device) -> Tensor | None:
        """Additive mask (nW, 1, T, T): -inf between tokens of different shifted regions and
        towards padded tokens; ``None`` when nothing is masked."""
        if shift == 0 and Hp == H and Wp == W:
            return None
        ws = self.window_size
        region = torch.zeros(Hp, Wp, device=device)
        if shift:
            bounds = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
            label = 0
            for hs in bounds:
                for wsl in bounds:
                    region[hs, wsl] = label
                    label += 1
        valid = torch.zeros(Hp, Wp, dtype=torch.bool, device=device)
        valid[:H, :W] = True
        if shift:
            valid = torch.roll(valid, shifts=(-shift, -shift), dims=(0, 1))
        region = _windows(region[None, :, :, None], ws).squeeze(-1)  # (nW, T)
        valid = _windows(valid[None, :, :, None].float(), ws).squeeze(-1) > 0.5
        allowed = (region[:, :, None] == region[:, None, :]) & valid[:, None, :]
        mask = torch.zeros(allowed.shape, device=device).masked_fill(~allowed, float("-inf"))
        return mask.unsqueeze(1)

    def _attention(self, t: Tensor) -> Tensor:
        N, H, W, C = t.shape
        ws = self.window_size
        Hp, Wp = -(-H // ws) * ws, -(-W // ws) * ws
        t = F.pad(t, (0, 0, 0, Wp - W, 0, Hp - H))
        shift = ws // 2 if (self.shift and max(H, W) > ws) else 0
        if shift:
            t = torch.roll(t, shifts=(-shift, -shift), dims=(1, 2))
        mask = self._mask(H, W, Hp, Wp, shift, t.device)
        windows = _windows(t, ws)
        if mask is not None:
            nW = mask.shape[0]
            out = self.attn(windows.reshape(N, nW, ws * ws, C).flatten(0, 1), mask.repeat(N, 1, 1, 1))
        else:
            out = self.attn(windows)
        t = _unwindows(out, ws, N, Hp, Wp)
        if shift:
            t = torch.roll(t, shifts=(shift, shift), dims=(1, 2))
        return t[:, :H, :W, :]

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "input", 4, "(N, C, H, W)", nonempty=(1, 2, 3))
        check_channels(x, self.dim)
        A, S = channel_matrices(self.wavelet, self.mode, self.dim, self.channel_levels, False, x.device, x.dtype)
        t = x.permute(0, 2, 3, 1)  # (N, H, W, C)
        coeffs = self.norm1(t) @ A.transpose(0, 1)  # channel DWT of the normalised tokens
        t = t + self.drop_path(self._attention(coeffs) @ S.transpose(0, 1))
        t = t + self.drop_path(self.mlp(self.norm2(t)))
        layout = torch.channels_last if is_channels_last(x) else torch.contiguous_format
        return t.permute(0, 3, 1, 2).contiguous(memory_format=layout)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, window_size={self.window_size}, shift={self.shift}, wavelet={self.wavelet!r}, "
            f"mode={self.mode!r}, channel_levels={self.channel_levels}"
        )
