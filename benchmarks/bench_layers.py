"""WeConv3D (1x1 and 3x3 high-band convs) and WeConv2D against the plain residual block they replace:
time and parameters, side by side in one run (CPU, float32, norm=None, default wavelets).

    .venv/bin/python benchmarks/bench_layers.py                  # the docs/benchmarks.md table
    .venv/bin/python benchmarks/bench_layers.py --quick          # tiny shapes: a smoke test
    .venv/bin/python benchmarks/bench_layers.py --shapes 8x128x64x64 --strides 2 --json out.json

Layers, all ``C -> C`` on an ``(N, C, H, W)`` input:

* ``plain block``: conv3x3 (stride s) -> LeakyReLU -> conv3x3, + conv1x1 (stride s) skip (identity for
  stride 1), i.e. a residual block of the same widths;
* ``conv3x3``: the single ``Conv2d(C, C, 3, s, 1)`` a drop-in layer replaces (yardstick);
* ``WeConv3D 1x1 HF``: ``WeConv3D(C, C, s)`` (bior4.4, 2 levels, 1 channel level, 3x3 LF, 1x1 HF);
* ``WeConv3D 3x3 HF``: the same with ``hf_kernel=3``;
* ``WeConv2D``: ``WeConv2D(C, C, s)`` (haar, 1 level, 3x3 on every band).

``fwd`` = forward under ``no_grad`` in eval mode; ``f+b`` = forward + backward to the input and every
parameter (a training step without the optimizer). ``× plain`` = time / plain block's time.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import timing  # noqa: E402

from wavelayers import WeConv2D, WeConv3D  # noqa: E402

DEFAULT_SHAPES = ["8x128x64x64"]
QUICK_SHAPES = ["2x16x16x16"]


class PlainResBlock(nn.Module):
    """conv3x3 (stride) -> LeakyReLU -> conv3x3, plus a 1x1 (stride) skip: what WeConv layers replace."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.act = nn.LeakyReLU(0.01)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1, stride) if (stride != 1 or cin != cout) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x))) + self.skip(x)


def layers(C: int, stride: int) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "plain block": PlainResBlock(C, C, stride),
        "conv3x3": nn.Conv2d(C, C, 3, stride, 1),
        "WeConv3D 1x1 HF": WeConv3D(C, C, stride=stride, hf_kernel=1),
        "WeConv3D 3x3 HF": WeConv3D(C, C, stride=stride, hf_kernel=3),
        "WeConv2D": WeConv2D(C, C, stride=stride),
    }


def bench(shape: tuple[int, ...], stride: int, opts: dict, log) -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen)
    rows = []
    for name, module in layers(shape[1], stride).items():
        with torch.no_grad():
            out_shape = tuple(module(x).shape)
        g = torch.randn(out_shape, generator=gen)
        params = list(module.parameters())

        def fwd() -> None:
            module.eval()
            with torch.no_grad():
                module(x)

        def fb() -> None:
            module.train()
            xg = x.detach().requires_grad_(True)
            torch.autograd.grad(module(xg), [xg, *params], g)

        row = dict(shape="x".join(map(str, shape)), out="x".join(map(str, out_shape)), stride=stride, layer=name,
                   params=sum(p.numel() for p in params), fwd=timing.measure(fwd, **opts), fb=timing.measure(fb, **opts))
        log(f"  stride {stride} {name:>16}: fwd {row['fwd'].median_ms:8.2f} ms, f+b {row['fb'].median_ms:8.2f} ms, "
            f"foreign {row['fwd'].foreign_cores:.2f}/{row['fb'].foreign_cores:.2f}")
        rows.append(row)
    plain = rows[0]
    for r in rows:
        r["fwd_x_plain"] = r["fwd"].median_ms / plain["fwd"].median_ms
        r["fb_x_plain"] = r["fb"].median_ms / plain["fb"].median_ms
        r["params_x_plain"] = r["params"] / plain["params"]
    return rows


def table(rows: list[dict]) -> str:
    headers = ["input -> output", "stride", "layer", "params", "params × plain", "fwd ms", "f+b ms", "fwd × plain",
               "f+b × plain", "foreign (cores)"]
    body = [[
        f"{r['shape']} -> {r['out']}", str(r["stride"]), r["layer"], f"{r['params']:,}", timing.fmt(r["params_x_plain"]),
        timing.fmt(r["fwd"].median_ms), timing.fmt(r["fb"].median_ms), timing.fmt(r["fwd_x_plain"]),
        timing.fmt(r["fb_x_plain"]), f"{max(r['fwd'].foreign_cores, r['fb'].foreign_cores):.2f}",
    ] for r in rows]
    return timing.markdown_table(headers, body, left=3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    timing.add_arguments(parser, DEFAULT_SHAPES)
    parser.add_argument("--strides", nargs="+", type=int, default=[2, 1], choices=[1, 2], help="default: 2 1")
    args = parser.parse_args(argv)
    session = timing.start(args, DEFAULT_SHAPES, QUICK_SHAPES)

    rows: list[dict] = []
    for shape in session.shapes:
        for stride in args.strides:
            rows += bench(shape, stride, session.opts, session.log)

    print("## Layers: WeConv3D / WeConv2D against the plain residual block, float32\n")
    print(timing.describe(session.info, session.idle_cores) + "\n")
    print(table(rows))
    if args.json:
        timing.write_json(args.json, session, args, rows)


if __name__ == "__main__":
    main()
