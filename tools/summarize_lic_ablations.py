"""Summarise the LIC ablation runs of ``tools/train_lic_weights.sh`` as a Markdown table.

    python tools/summarize_lic_ablations.py OUT_DIR [--first 800 --last 990]

Reads ``OUT_DIR/ablations.json`` (written by the run script) and ``OUT_DIR/ablations/*.log.jsonl``.
For each variant: parameters, the mean training loss, rate and PSNR over the steps ``first..last``
(the same steps, crops and learning rate for every variant: all runs share seed and data, and
``last`` must come before any run's learning-rate drop), then the steps each run reached in its
time budget and its validation metrics at the end.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integrations.lic.cli import _parse_setting  # noqa: E402
from integrations.lic.model import WeConveneLIC, model_config, model_names  # noqa: E402

HEADER = ("| variant | train flags | params (M) | loss, steps {a}-{b} | bpp | PSNR (dB) | steps reached | lr drop at "
          "| val loss | val bpp | val PSNR (dB) |\n|---|---|---|---|---|---|---|---|---|---|---|")


def config_of(name: str):
    """``'3dm-weconvene-small-levels=1-transform=conv'`` -> the registered config with those changes."""
    base = max((n for n in model_names() if name == n or name.startswith(n + "-")), key=len)
    changes = dict(_parse_setting(s) for s in name[len(base) + 1:].split("-") if s)
    return model_config(base, **changes), changes


def summarize(folder: Path, first: int, last: int) -> str:
    runs = json.loads((folder / "ablations.json").read_text())
    rows = [HEADER.format(a=first, b=last)]
    for key, run in sorted(runs.items()):
        if not key.startswith("ablations/"):
            continue
        if run["lr_dropped_at"] is not None and run["lr_dropped_at"] <= last:
            raise ValueError(f"{key}: the learning rate dropped at step {run['lr_dropped_at']}, "
                             f"within the compared steps (use --last < {run['lr_dropped_at']})")
        log = [json.loads(line) for line in (folder / (key + ".log.jsonl")).read_text().splitlines()]
        window = [h for h in log if first <= h["step"] <= last]
        mean = {k: sum(h[k] for h in window) / len(window) for k in ("loss", "bpp", "mse")}
        config, changes = config_of(run["model"])
        params = sum(p.numel() for p in WeConveneLIC(config).parameters())
        flags = " ".join(f"--set {k}={v}" for k, v in sorted(changes.items()))
        if run["model"].startswith("chwdta"):
            flags = f"--family chwdta --entropy {config.entropy}"
        elif config.entropy != "3dwecharm":
            flags = f"--entropy {config.entropy}"
        val = run["val"]
        rows.append(f"| {Path(key).stem.removesuffix('.safetensors')} | `{flags or '(none)'}` | {params / 1e6:.2f} | "
                    f"{mean['loss']:.3f} | {mean['bpp']:.3f} | {-10 * math.log10(mean['mse']):.2f} | "
                    f"{run['steps_done']} | {run['lr_dropped_at']} | {val['loss']:.3f} | {val['bpp']:.3f} | "
                    f"{val['psnr']:.2f} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("--first", type=int, default=800)
    parser.add_argument("--last", type=int, default=990)
    args = parser.parse_args()
    print(summarize(Path(args.folder), args.first, args.last))
    return 0


if __name__ == "__main__":
    sys.exit(main())
