"""Parameter-free wavelet re-samplers (for pooling / interpolation sites) and a floor-size adapter.

=========================  ====================================================================
module                     ``(N, C, H, W) ->``
=========================  ====================================================================
``WaveletDownsample``      ``(N, C, ceil(H/2), ceil(W/2))``: the LL band of a one-level 2D DWT,
                           scaled to keep the mean (a fixed anti-aliasing low-pass + stride 2);
                           timm ``aa_layer`` compatible
``WaveletUpsample``        ``(N, C, 2H, 2W)``: the inverse DWT of the input as LL band with zero
                           detail bands, scaled to keep the mean (Haar: nearest neighbour)
``FloorDownsample``        wraps a ``ceil(H/2)`` down-sampler so it gives ``floor(H/2)``
=========================  ====================================================================

The analysis low-pass taps of every PyWavelets wavelet sum to ``sqrt(2)``, so the 2D LL band of a
constant image is twice that constant: the scale factors are 1/2 (down) and 2 (up), exactly.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ._checks import check_channels, check_positive_int, check_size, check_tensor
from ._deprecation import keyword_only_after
from .functional import dwt2d, idwt2d
from .operators import band_length, check_mode
from .wavelets import canonical_name

__all__ = ["WaveletDownsample", "WaveletUpsample", "FloorDownsample"]

_DC_GAIN_2D = 2.0  # (sum of the low-pass taps)**2 = sqrt(2)**2


class WaveletDownsample(nn.Module):
    """Fixed wavelet low-pass down-sampler: ``(N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2))``.

    Returns ``LL / 2`` of a one-level 2D DWT (constants are kept). No parameters, no buffers.
    ``stride=1`` is the identity (what timm expects of an ``aa_layer`` that is asked not to
    down-sample). Constructible the way timm builds anti-aliasing layers, so
    ``timm.create_model('resnet50', aa_layer=WaveletDownsample)`` works as is.

    Args:
        channels: expected input channels (checked at forward when given; ``None``: any).
        wavelet: wavelet name (default ``"bior4.4"``, see docs/guide.md).
        stride: 2 (down-sample) or 1 (identity).
        mode: a non-expansive boundary mode ('jpeg2000', 'periodization').
        device, dtype: accepted for timm's factory calls; unused (the module holds no tensors).
    """

    @keyword_only_after(("channels", "wavelet"), ("channels", "stride", "wavelet", "mode"), wavelet_slot=1)
    def __init__(
        self,
        channels: int | None = None,
        wavelet: str = "bior4.4",
        *,
        stride: int = 2,
        mode: str = "jpeg2000",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if channels is not None:
            check_positive_int(channels, "channels")
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 (identity) or 2 (down-sample), got {stride!r}")
        self.channels = channels
        self.stride = stride
        self.wavelet = canonical_name(wavelet)
        self.mode = check_mode(mode, self.wavelet)
        if self.mode not in ("jpeg2000", "periodization"):
            raise ValueError(f"mode must be non-expansive ('jpeg2000' or 'periodization') to give ceil(H/2), got {mode!r}")

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "input", 4, "(N, C, H, W)", nonempty=(1, 2, 3))
        if self.channels is not None:
            check_channels(x, self.channels)
        if self.stride == 1:
            return x
        ll, _ = dwt2d(x, self.wavelet, levels=1, mode=self.mode)
        return ll * (1.0 / _DC_GAIN_2D)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, stride={self.stride}, wavelet={self.wavelet!r}, mode={self.mode!r}"

    def describe(self) -> str:
        """One line for reports (the rewriters'): the wavelet and, when fixed, the channel count."""
        channels = f", C={self.channels}" if self.channels is not None else ""
        return f"{type(self).__name__}({self.wavelet}{channels})"


class WaveletUpsample(nn.Module):
    """Fixed wavelet interpolation: ``(N, C, H, W) -> (N, C, 2H, 2W)``.

    The inverse one-level 2D DWT of ``2 * x`` as the LL band with zero detail bands (constants
    are kept). Haar gives nearest-neighbour up-sampling; the 9/7 and 5/3 wavelets give smooth
    interpolation. No parameters, no buffers. ``forward(x, size=(H', W'))`` gives an odd output
    size instead (``H'`` must be ``2H`` or ``2H - 1``: the size whose down-sampling gives ``H``),
    e.g. to undo a :class:`WaveletDownsample` of an odd-sized map.

    Args:
        channels: expected input channels (checked at forward when given; ``None``: any).
        wavelet: wavelet name (default ``"bior4.4"``, see docs/guide.md).
        mode: a non-expansive boundary mode.
    """

    @keyword_only_after(("channels", "wavelet"), ("channels", "wavelet", "mode"))
    def __init__(self, channels: int | None = None, wavelet: str = "bior4.4", *, mode: str = "jpeg2000") -> None:
        super().__init__()
        if channels is not None:
            check_positive_int(channels, "channels")
        self.channels = channels
        self.wavelet = canonical_name(wavelet)
        self.mode = check_mode(mode, self.wavelet)
        if self.mode not in ("jpeg2000", "periodization"):
            raise ValueError(f"mode must be non-expansive ('jpeg2000' or 'periodization') to give 2H, got {mode!r}")

    def forward(self, x: Tensor, *, size: tuple[int, int] | None = None) -> Tensor:
        check_tensor(x, "input", 4, "(N, C, H, W)", nonempty=(1, 2, 3))
        if self.channels is not None:
            check_channels(x, self.channels)
        n, c, h, w = x.shape
        if size is None:
            size = (2 * h, 2 * w)
        else:
            size = check_size(size, "size", 2)
            if any(band_length(s, self.wavelet, self.mode) != m for s, m in zip(size, (h, w))):
                raise ValueError(f"size must be the (H', W') whose down-sampling gives the input's {(h, w)}: "
                                 f"{(2 * h - 1, 2 * w - 1)} to {(2 * h, 2 * w)}, got {size}")
        zeros = x.new_zeros(n, c, 3, h, w)
        return idwt2d(x * _DC_GAIN_2D, [zeros], self.wavelet, mode=self.mode, size=size)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, wavelet={self.wavelet!r}, mode={self.mode!r}"

    describe = WaveletDownsample.describe  # the same one-line report text


class FloorDownsample(nn.Module):
    """Adapts a ``ceil(H/2)`` down-sampler to a site that gives ``floor(H/2)`` (e.g. a stride-2
    conv with kernel 2 and no padding, or ``MaxPool2d(2)``): an odd-sized input loses its last
    row / column (which such a site ignores anyway) before ``layer``.

    ``(N, C, H, W) -> layer((N, C, 2*floor(H/2), 2*floor(W/2)))``.
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        if not isinstance(layer, nn.Module):
            raise TypeError(f"layer must be an nn.Module, got {type(layer).__name__}")
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "input", 4, "(N, C, H, W)", nonempty=(1, 2, 3))
        h, w = x.shape[-2], x.shape[-1]
        return self.layer(x[..., : h - h % 2, : w - w % 2])

    def describe(self) -> str:
        """One line for reports (the rewriters'): ``FloorDownsample(<the wrapped layer's line>)``."""
        inner = getattr(self.layer, "describe", None)
        text = inner() if callable(inner) else f"{type(self.layer).__name__}({' '.join(self.layer.extra_repr().split())})"
        return f"FloorDownsample({text})"
