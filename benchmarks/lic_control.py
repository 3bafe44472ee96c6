"""Control at equal budget: 3DM-WeConvene against CompressAI's hyperprior models, same loop and data.

Four models train with the same loop (:func:`integrations.lic.training.train_step`: Adam at ``--lr``,
auxiliary Adam at 1e-3, gradient clipping at 1), the same photos, crop size, batch, seed (the same
crops in the same order for every model), one lambda and the same number of steps:

* ``3dm-weconvene-small`` (WeConv3D re-sampling, 3DWeChARM entropy model),
* ``3dm-weconvene-small-conv`` (the same with ``transform='conv'``: strided / sub-pixel conv + GDN),
* ``bmshj2018-hyperprior`` and ``mbt2018-mean`` (CompressAI's ``ScaleHyperprior`` /
  ``MeanScaleHyperprior``, random init) at the small preset's widths ``N=64, M=128``.

The models train round-robin in chunks of ``--chunk`` steps, so at any moment they have done the same
number of steps; the run stops at ``--steps`` or before a round that would not fit in ``--time-limit``
(leaving time for the final coded evaluation). Every ``--eval-every`` steps each model is validated on
the held-out evaluation photos (the first ``--val-limit`` photos that scikit-image ships, the ones
``examples/lic_kodak.py`` evaluates on; never a training photo): estimated bpp (y and z separately)
from the likelihoods and PSNR. At the end every model really codes those photos (bpp from the entropy
coded streams' bytes, PSNR of the decoded image).

State (weights, optimizers, random-number states, curves) is saved per model after every round
under ``--state-dir``; ``--resume`` continues. Results: ``benchmarks/results/lic_control-<model>.json``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lic_control.py --probe 20       # steps/s of each model
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lic_control.py --steps 1000 --time-limit 5400
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integrations.compression import metrics  # noqa: E402
from integrations.compression.datasets import bundled_photos, list_images  # noqa: E402
from integrations.compression.imageio import load_rgb, to_uint8  # noqa: E402
from integrations.lic.loss import RateDistortionLoss  # noqa: E402
from integrations.lic.model import LAMBDAS, WeConveneLIC, model_config  # noqa: E402
from integrations.lic.training import make_optimizers, random_crops, train_step, validate  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.models import MeanScaleHyperprior, ScaleHyperprior

MODELS = ("3dm-weconvene-small", "3dm-weconvene-small-conv", "bmshj2018-hyperprior", "mbt2018-mean")
RESULTS = ROOT / "benchmarks" / "results"


class PaddedCompressAI(nn.Module):
    """A CompressAI model behind the WeConveneLIC interface: the input is padded bottom / right to a
    multiple of 64 by edge replication (as WeConveneLIC does) and ``x_hat`` cropped back."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    @staticmethod
    def _pad(x: Tensor) -> Tensor:
        H, W = x.shape[-2:]
        ph, pw = -(-H // 64) * 64, -(-W // 64) * 64
        return F.pad(x, (0, pw - W, 0, ph - H), mode="replicate") if (ph, pw) != (H, W) else x

    def forward(self, x: Tensor) -> dict:
        out = self.net(self._pad(x))
        return {"x_hat": out["x_hat"][..., : x.shape[-2], : x.shape[-1]], "likelihoods": out["likelihoods"]}

    def aux_loss(self) -> Tensor:
        return self.net.aux_loss()

    @torch.no_grad()
    def code(self, x: Tensor) -> tuple[int, Tensor, bool]:
        """Real coding of ``x`` (1, 3, H, W): ``(stream bytes, decoded image, bit-exact)``; bit-exact
        compares the decoder's image with the encoder-side reconstruction from the same symbols."""
        self.net.update(force=True)
        padded = self._pad(x)
        coded = self.net.compress(padded)
        n_bytes = sum(len(s) for strings in coded["strings"] for s in strings)
        x_dec = self.net.decompress(coded["strings"], coded["shape"])["x_hat"][..., : x.shape[-2], : x.shape[-1]]
        again = self.net.decompress(coded["strings"], coded["shape"])["x_hat"][..., : x.shape[-2], : x.shape[-1]]
        return n_bytes, x_dec, bool(torch.equal(x_dec, again))


def make_model(key: str, quality: int, seed: int) -> nn.Module:
    """The control model ``key`` (one of :data:`MODELS`), initialised from ``seed``."""
    torch.manual_seed(seed)
    if key == "3dm-weconvene-small":
        return WeConveneLIC(model_config("3dm-weconvene-small"), name=key, quality=quality)
    if key == "3dm-weconvene-small-conv":
        return WeConveneLIC(model_config("3dm-weconvene-small", transform="conv"), name=key, quality=quality)
    if key == "bmshj2018-hyperprior":
        return PaddedCompressAI(ScaleHyperprior(N=64, M=128))
    if key == "mbt2018-mean":
        return PaddedCompressAI(MeanScaleHyperprior(N=64, M=128))
    raise ValueError(f"unknown control model {key!r}: expected one of {MODELS}")


def make_criterion(model: nn.Module, lmbda: float) -> RateDistortionLoss:
    """``bpp + lmbda * 255^2 * MSE`` for every model (no band re-weighting: ``w1 = w2 = 1``)."""
    if isinstance(model, WeConveneLIC):
        return RateDistortionLoss.for_model(model, lmbda)
    return RateDistortionLoss(lmbda, low_bands=())


@torch.no_grad()
def coded(model: nn.Module, images: list[Tensor]) -> dict:
    """Real coding of every image: bpp from the entropy-coded streams (container header excluded, so
    every model is counted the same way), RGB 8-bit PSNR of the decoded image, bit-exactness."""
    model.eval()
    per_image = []
    for im in images:
        H, W = im.shape[-2:]
        if isinstance(model, WeConveneLIC):
            model.update(force=True)
            streams, x_enc = model.encode(im)
            x_dec = model.decode(streams, H, W)
            n_bytes, exact = sum(len(s) for s in streams), bool(torch.equal(x_enc, x_dec))
        else:
            n_bytes, x_dec, exact = model.code(im)
        per_image.append({"bytes": n_bytes, "bpp": n_bytes * 8 / (H * W),
                          "psnr": metrics.psnr(to_uint8(im), to_uint8(x_dec)), "bit_exact": exact})
    return {"bpp": sum(r["bpp"] for r in per_image) / len(per_image),
            "psnr": sum(r["psnr"] for r in per_image) / len(per_image),
            "bit_exact": all(r["bit_exact"] for r in per_image), "images": per_image}


class Run:
    """One model's training state: weights, both optimizers, crop generator, noise RNG, curves."""

    def __init__(self, key: str, args: argparse.Namespace) -> None:
        self.key = key
        self.model = make_model(key, args.quality, args.seed)
        self.criterion = make_criterion(self.model, LAMBDAS[args.quality])
        self.optimizer, self.aux_optimizer = make_optimizers(self.model, lr=args.lr)
        self.generator = torch.Generator().manual_seed(args.seed)  # identical crops for every model
        self.rng = torch.Generator().manual_seed(args.seed + 1).get_state()  # quantisation noise
        self.step, self.seconds = 0, 0.0
        self.curve: list[dict] = []
        self.window: list[dict] = []
        self.final: dict | None = None

    def train(self, images: list[Tensor], n: int, batch: int, crop: int) -> None:
        torch.set_rng_state(self.rng)
        start = time.perf_counter()
        for _ in range(n):
            stats = train_step(self.model, random_crops(images, crop, batch, self.generator), self.criterion,
                               self.optimizer, self.aux_optimizer)
            self.window.append(stats)
            self.step += 1
        self.seconds += time.perf_counter() - start
        self.rng = torch.get_rng_state()

    def record(self, val: list[Tensor]) -> dict:
        train = {f"train_{k}": sum(w[k] for w in self.window) / len(self.window)
                 for k in ("loss", "bpp", "mse", "aux_loss")} if self.window else {}
        point = {"step": self.step, "train_seconds": round(self.seconds, 1), **train,
                 **{f"val_{k}": v for k, v in validate(self.model, val, self.criterion).items()}}
        self.curve.append(point)
        self.window = []
        return point

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "aux_optimizer": self.aux_optimizer.state_dict(), "generator": self.generator.get_state(),
                "rng": self.rng, "step": self.step, "seconds": self.seconds, "curve": self.curve,
                "window": self.window, "final": self.final}

    def load(self, state: dict) -> None:
        self.model.load_state_dict(state["model"], strict=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.aux_optimizer.load_state_dict(state["aux_optimizer"])
        self.generator.set_state(state["generator"])
        self.rng, self.step, self.seconds = state["rng"], state["step"], state["seconds"]
        self.curve, self.window, self.final = state["curve"], state["window"], state["final"]

    def result(self, args: argparse.Namespace, probe: dict | None) -> dict:
        config = asdict(self.model.config) if isinstance(self.model, WeConveneLIC) else {"N": 64, "M": 128}
        return {
            "model": self.key, "config": config,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "lambda": LAMBDAS[args.quality], "quality": args.quality, "lr": args.lr, "aux_lr": 1e-3,
            "clip_max_norm": 1.0, "batch": args.batch, "crop": args.crop, "seed": args.seed,
            "data": str(args.data), "val": f"scikit-image bundled photos, first {args.val_limit}",
            "threads": torch.get_num_threads(), "steps": self.step, "train_seconds": round(self.seconds, 1),
            "seconds_per_step": round(self.seconds / max(self.step, 1), 3), "probe": probe,
            "command": " ".join(sys.argv), "curve": self.curve, "coded": self.final,
        }


def held_out(limit: int) -> list[Tensor]:
    return [torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255.0 for _, a in bundled_photos(limit)]


def probe(args: argparse.Namespace, images: list[Tensor]) -> dict[str, float]:
    """Seconds per training step of every model (after 2 warm-up steps)."""
    speeds = {}
    for key in args.models:
        run = Run(key, args)
        run.train(images, 2, args.batch, args.crop)
        start = time.perf_counter()
        run.train(images, args.probe, args.batch, args.crop)
        speeds[key] = (time.perf_counter() - start) / args.probe
        print(f"{key}: {speeds[key]:.3f} s/step ({sum(p.numel() for p in run.model.parameters())} parameters)",
              flush=True)
    return speeds


def summary(tag: str = "", models: tuple[str, ...] = MODELS) -> str:
    """Markdown tables of the results JSONs: the learning curves (validation loss / estimated bpp /
    PSNR per evaluated step) and the final coded results."""
    results = [json.loads(p.read_text()) for k in models if (p := RESULTS / f"lic_control-{k}{tag}.json").exists()]
    steps = sorted({c["step"] for r in results for c in r["curve"]})
    lines = ["| step | " + " | ".join(r["model"] for r in results) + " |", "|---|" + "---|" * len(results)]
    for step in steps:
        cells = []
        for r in results:
            c = next((c for c in r["curve"] if c["step"] == step), None)
            cells.append(f"{c['val_loss']:.2f} / {c['val_bpp']:.3f} / {c['val_psnr']:.2f}" if c else "")
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    lines += ["", "| model | parameters | s / step | steps | est. bpp (y + z) | est. PSNR | coded bpp | coded PSNR | bit-exact |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        c, f = r["curve"][-1], r["coded"] or {}
        lines.append(f"| {r['model']} | {r['parameters'] / 1e6:.2f} M | {r['seconds_per_step']} | {r['steps']} "
                     f"| {c['val_bpp']:.3f} ({c['val_bpp_y']:.3f} + {c['val_bpp_z']:.3f}) | {c['val_psnr']:.2f} "
                     f"| {f.get('bpp', float('nan')):.3f} | {f.get('psnr', float('nan')):.2f} | {f.get('bit_exact', '')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "photos" / "train")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--quality", type=int, default=3, help="lambda index (3: 0.0067)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=25, help="steps per model per round")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--val-limit", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=None, help="seconds for this invocation")
    parser.add_argument("--final-seconds", type=float, default=240, help="time kept for the coded evaluation")
    parser.add_argument("--probe", type=int, default=0, help="only time this many steps of each model")
    parser.add_argument("--state-dir", type=Path, default=ROOT / "runs" / "lic_control")
    parser.add_argument("--tag", default="", help="suffix of the result / state names (for variants)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--summary", action="store_true", help="print the tables of the results and exit")
    args = parser.parse_args(argv)
    if args.summary:
        print(summary(args.tag, tuple(args.models)))
        return 0
    if args.eval_every % args.chunk:
        parser.error("--eval-every must be a multiple of --chunk")
    torch.set_num_threads(1)
    started = time.monotonic()
    images = [load_rgb(p) for p in list_images(args.data)]
    if args.probe:
        speeds = probe(args, images)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"lic_control-probe{args.tag}.json").write_text(json.dumps(
            {"batch": args.batch, "crop": args.crop, "threads": 1, "seconds_per_step": speeds}, indent=1) + "\n")
        return 0
    val = held_out(args.val_limit)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    probe_path = RESULTS / f"lic_control-probe{args.tag}.json"
    probe_info = json.loads(probe_path.read_text()) if probe_path.exists() else None
    runs = [Run(k, args) for k in args.models]
    for run in runs:
        path = args.state_dir / f"{run.key}{args.tag}.pt"
        if args.resume and path.exists():
            run.load(torch.load(path, weights_only=False))
            print(f"{run.key}: resumed at step {run.step}", flush=True)
        elif run.step == 0 and not run.curve:
            print(run.key, run.record(val), flush=True)

    def save(run: Run) -> None:
        torch.save(run.state(), args.state_dir / f"{run.key}{args.tag}.pt")
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"lic_control-{run.key}{args.tag}.json").write_text(
            json.dumps(run.result(args, probe_info), indent=1) + "\n")

    round_seconds = 0.0
    while min(r.step for r in runs) < args.steps:
        elapsed = time.monotonic() - started
        if args.time_limit is not None and elapsed + round_seconds + args.final_seconds > args.time_limit:
            print(f"stopping at step {min(r.step for r in runs)}: the next round would not fit", flush=True)
            break
        t0 = time.monotonic()
        for run in runs:
            n = min(args.chunk, args.steps - run.step)
            if n > 0:
                run.train(images, n, args.batch, args.crop)
            if run.step % args.eval_every == 0 or run.step >= args.steps:
                print(run.key, run.record(val), flush=True)
            save(run)
        round_seconds = time.monotonic() - t0
    for run in runs:
        if run.window:
            print(run.key, run.record(val), flush=True)
        run.final = coded(run.model, val)
        print(run.key, "coded", {k: v for k, v in run.final.items() if k != "images"}, flush=True)
        save(run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
