"""Parameters and encode / decode time of the 3DM-WeConvene presets beside CompressAI models, one run.

    .venv/bin/python benchmarks/bench_lic.py                       # CPU, all four models, 3 repeats
    .venv/bin/python benchmarks/bench_lic.py --device cuda         # where a GPU exists
    .venv/bin/python benchmarks/bench_lic.py --params              # parameter table of every registered model
    .venv/bin/python benchmarks/bench_lic.py --parts               # where our decoder / encoder spend the time
    .venv/bin/python benchmarks/bench_lic.py --rans                # CompressAI rANS alone, per symbol
    .venv/bin/python benchmarks/bench_lic.py --train-step          # one training step (forward + backward)

Image: scikit-image's ``coffee`` (600x400) resized to 768x512, the Kodak size. All models are
untrained (deterministic init for ours, ``pretrained=False`` for CompressAI's zoo, quality 3),
CDF tables built with ``update(force=True)``: byte counts are meaningless, times are not (the
entropy-coding time depends a little on the symbol statistics). ``encode`` = image -> streams
(analysis, hyperprior, rANS; no reconstruction); ``decode`` = streams -> image. Medians of
``--repeats`` runs after one warm-up. ``exact``: the decoded image equals the encoder-side
reconstruction (ours), or two decodes agree (CompressAI). The machine is shared: expect +-20-30 %
noise between runs, more under load (the load average is printed).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore", category=FutureWarning)

from compressai.zoo import cheng2020_anchor, mbt2018_mean  # noqa: E402
from skimage import data as skdata  # noqa: E402

from integrations.lic.model import build_model, model_names  # noqa: E402


def test_image(device: torch.device) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(skdata.coffee())).permute(2, 0, 1).float().div(255)[None]
    x = F.interpolate(x, size=(512, 768), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    return x.to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device: torch.device):
    _sync(device)
    t = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - t


class Ours:
    def __init__(self, name: str, device: torch.device) -> None:
        self.label = name
        self.model = build_model(name, 3).eval().to(device)

    def encode(self, x):
        return self.model.encode(x, reconstruct=False)[0]

    def decode(self, enc, x):
        return self.model.decode(enc, x.shape[-2], x.shape[-1])

    def num_bytes(self, enc) -> int:
        return sum(len(s) for s in enc)

    def exact(self, enc, dec) -> bool:
        return torch.equal(self.model.encode(self.x, reconstruct=True)[1], dec)


class Zoo:
    def __init__(self, label: str, ctor, device: torch.device) -> None:
        self.label = label
        self.model = ctor(quality=3, pretrained=False).eval().to(device)
        self.model.update(force=True)

    def encode(self, x):
        with torch.no_grad():
            return self.model.compress(x)

    def decode(self, enc, x):
        with torch.no_grad():
            return self.model.decompress(enc["strings"], enc["shape"])["x_hat"]

    def num_bytes(self, enc) -> int:
        return sum(len(s[0]) for s in enc["strings"])

    def exact(self, enc, dec) -> bool:
        return torch.equal(dec, self.decode(enc, None))


def measure(codec, x: torch.Tensor, repeats: int, device: torch.device) -> dict:
    codec.x = x
    enc, _ = _timed(lambda: codec.encode(x), device)  # warm-up
    dec, _ = _timed(lambda: codec.decode(enc, x), device)
    enc_times, dec_times = [], []
    for _ in range(repeats):
        enc, t = _timed(lambda: codec.encode(x), device)
        enc_times.append(t)
        dec, t = _timed(lambda: codec.decode(enc, x), device)
        dec_times.append(t)
    return {
        "model": codec.label,
        "params_M": sum(p.numel() for p in codec.model.parameters()) / 1e6,
        "encode_ms": 1000 * statistics.median(enc_times),
        "decode_ms": 1000 * statistics.median(dec_times),
        "bytes": codec.num_bytes(enc),
        "exact": codec.exact(enc, dec),
    }


def parameter_table() -> None:
    """Parameters (millions) of every registered paper / small model, per part."""
    parts = ("g_a", "g_s", "h_a", "h_s", "entropy_model")
    print("| model | total (M) | " + " | ".join(parts) + " | slices |")
    print("|---|---|" + "---|" * len(parts) + "---|")
    for name in model_names():
        if "-tiny" in name:
            continue
        m = build_model(name, 3)
        counts = [sum(p.numel() for p in getattr(m, k).parameters()) / 1e6 for k in parts]
        total = sum(p.numel() for p in m.parameters()) / 1e6
        print(f"| {name} | {total:.2f} | " + " | ".join(f"{c:.2f}" for c in counts)
              + f" | {len(m.entropy_model.slices)} |")


def part_times(x: torch.Tensor, repeats: int) -> None:
    """Median time (ms) of each stage of our presets on ``x``, run the way the codec runs them."""
    from integrations.lic.model import coding_threads

    stages = ("g_a", "h_a", "z decode", "h_s", "y decode (slices)", "g_s")
    print("| model | " + " | ".join(f"{s} ms" for s in stages) + " |")
    print("|---|" + "---|" * len(stages))
    for name in ("3dm-weconvene-paper", "3dm-weconvene-small"):
        m = build_model(name, 3).eval()
        streams, _ = m.encode(x, reconstruct=False)
        times: dict[str, list[float]] = {s: [] for s in stages}
        with torch.no_grad():
            for _ in range(repeats + 1):
                t = time.perf_counter()
                y = m.g_a(m._pad(x))
                times["g_a"].append(time.perf_counter() - t)
                t = time.perf_counter()
                z = m.h_a(y)
                times["h_a"].append(time.perf_counter() - t)
                with coding_threads():
                    t = time.perf_counter()
                    z_hat = m.entropy_bottleneck.decompress([streams[0]], z.shape[-2:])
                    times["z decode"].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    hyper = m.h_s(z_hat)
                    times["h_s"].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    y_hat = m.entropy_model.decompress(streams[1], hyper, y.shape[-2:])
                    times["y decode (slices)"].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    m.g_s(y_hat)
                    times["g_s"].append(time.perf_counter() - t)
        print(f"| {name} | " + " | ".join(f"{1000 * statistics.median(times[s][1:]):.0f}" for s in stages) + " |")


def layer_times(repeats: int) -> None:
    """Median time (ms) of one ``WeConv3D(128, 128)`` (9/7, 2 levels, the codec's default block) on
    ``(4, 128, 64, 64)``: forward under ``no_grad`` and forward + backward (input and weight gradients)."""
    from wavelayers import WeConv3D

    torch.manual_seed(0)
    layer = WeConv3D(128, 128)
    x = torch.randn(4, 128, 64, 64)
    g = torch.randn(4, 128, 64, 64)
    fwd, fb = [], []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        with torch.no_grad():
            layer(x)
        fwd.append(time.perf_counter() - t)
        xg = x.detach().requires_grad_(True)
        t = time.perf_counter()
        torch.autograd.grad(layer(xg), [xg, *layer.parameters()], g)
        fb.append(time.perf_counter() - t)
    print(f"\nWeConv3D(128, 128) on (4, 128, 64, 64), threads {torch.get_num_threads()}: "
          f"fwd {1000 * statistics.median(fwd[1:]):.0f} ms, f+b {1000 * statistics.median(fb[1:]):.0f} ms")


def train_step_times(repeats: int) -> None:
    """Median seconds of one training step (forward with noise quantisation + backward of a rate-
    distortion loss) of the presets that train on a CPU, at the training recipe's batch 2 of 256x256
    crops, and of CompressAI's mbt2018-mean for scale; ``torch.get_num_threads()`` threads."""
    from compressai.zoo import mbt2018_mean as zoo_mbt

    x = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    makers = {"3dm-weconvene-small": lambda: build_model("3dm-weconvene-small", 3),
              "3dm-weconvene-tiny": lambda: build_model("3dm-weconvene-tiny", 3),
              "compressai mbt2018-mean (q3 widths)": lambda: zoo_mbt(quality=3, pretrained=False)}
    print("| model | step s (batch 2, 256x256) |")
    print("|---|---|")
    for name, make in makers.items():
        model = make().train()
        times = []
        for _ in range(repeats + 1):
            t = time.perf_counter()
            out = model(x)
            rate = sum(-torch.log2(v).sum() for v in out["likelihoods"].values()) / (2 * 256 * 256)
            (rate + 0.0067 * 255**2 * F.mse_loss(out["x_hat"], x)).backward()
            times.append(time.perf_counter() - t)
            model.zero_grad(set_to_none=True)
        print(f"| {name} | {statistics.median(times[1:]):.2f} |", flush=True)


def rans_time(repeats: int) -> None:
    """CompressAI's buffered rANS alone on as many symbols as the ``paper`` latent of a 768x512 image
    (320 x 32 x 48), Gaussian tables of the entropy model, scales and values from a trained-like spread."""
    from compressai.ans import BufferedRansEncoder, RansDecoder

    g = build_model("3dm-weconvene-paper", 3).entropy_model.gaussian
    n = 320 * 32 * 48
    gen = torch.Generator().manual_seed(0)
    scales = torch.exp(torch.empty(n).uniform_(-2.0, 2.0, generator=gen))
    symbols = torch.round(torch.randn(n, generator=gen) * scales).int().tolist()
    indexes = g.build_indexes(scales).tolist()
    cdfs, lengths, offsets = g.quantized_cdf.tolist(), g.cdf_length.tolist(), g.offset.tolist()
    enc_t, dec_t = [], []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        encoder = BufferedRansEncoder()
        encoder.encode_with_indexes(symbols, indexes, cdfs, lengths, offsets)
        stream = encoder.flush()
        enc_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        decoder = RansDecoder()
        decoder.set_stream(stream)
        out = decoder.decode_stream(indexes, cdfs, lengths, offsets)
        dec_t.append(time.perf_counter() - t)
    assert out == symbols
    enc, dec = statistics.median(enc_t[1:]), statistics.median(dec_t[1:])
    print(f"{n} symbols, {len(stream)} bytes: encode {1000 * enc:.0f} ms ({1e9 * enc / n:.0f} ns/symbol), "
          f"decode {1000 * dec:.0f} ms ({1e9 * dec / n:.0f} ns/symbol)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="paper,small,mbt2018_mean,cheng2020_anchor")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--params", action="store_true", help="print the parameter table and exit")
    parser.add_argument("--parts", action="store_true", help="time each stage of our presets and exit")
    parser.add_argument("--rans", action="store_true", help="time CompressAI's rANS alone and exit")
    parser.add_argument("--train-step", action="store_true", help="time one training step (fwd + bwd) and exit")
    args = parser.parse_args()
    if args.params:
        parameter_table()
        return
    if args.rans:
        rans_time(args.repeats)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.train_step:
        print(f"threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
        train_step_times(args.repeats)
        return
    device = torch.device(args.device)
    x = test_image(device)
    if args.parts:
        print(f"threads {torch.get_num_threads()} (g_a, h_a) / 1 (the rest), load average {os.getloadavg()[0]:.2f}")
        part_times(x, args.repeats)
        layer_times(args.repeats)
        return
    makers = {
        "paper": lambda: Ours("3dm-weconvene-paper", device),
        "small": lambda: Ours("3dm-weconvene-small", device),
        "mbt2018_mean": lambda: Zoo("compressai mbt2018_mean q3", mbt2018_mean, device),
        "cheng2020_anchor": lambda: Zoo("compressai cheng2020_anchor q3", cheng2020_anchor, device),
    }
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, image 768x512, "
          f"median of {args.repeats} after 1 warm-up, load average before: {os.getloadavg()[0]:.2f}")
    print("| model | params (M) | encode ms | decode ms | bytes (untrained) | exact |")
    print("|---|---|---|---|---|---|")
    for key in args.models.split(","):
        with torch.no_grad():
            r = measure(makers[key](), x, args.repeats, device)
        print(f"| {r['model']} | {r['params_M']:.2f} | {r['encode_ms']:.0f} | {r['decode_ms']:.0f} | {r['bytes']} | "
              f"{'yes' if r['exact'] else 'NO'} |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
