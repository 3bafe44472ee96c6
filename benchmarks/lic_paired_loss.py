"""Two codec training runs compared step by step on the same batches.

Runs started with the same ``--seed``, ``--data``, ``--batch``, ``--crop`` and ``--qualities`` draw the
same quality and the same crops at every step, whatever the model, so the difference of their
per-step losses at one step is paired: the noise of the batch cancels, and a few hundred steps
tell which run learns faster. Reads each run's ``OUT.log.jsonl`` (written at the end) or, while it
is running, the history inside ``OUT.state.pt``; refuses runs whose quality sequences differ.

    .venv/bin/python benchmarks/lic_paired_loss.py runs/vr15/3dm-weconvene-small-vr.safetensors \\
        runs/vr15d/3dm-weconvene-small-vr.safetensors --window 500

Prints, per window of steps and per quality, the mean loss of A, of B and B's loss relative to A's
(negative: B lower), then the same over all common steps.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import torch


def read_history(checkpoint: Path) -> list[dict]:
    """The per-step records of the run writing ``checkpoint``: its log if written, else its state."""
    log = Path(str(checkpoint) + ".log.jsonl")
    if log.is_file():
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    state = Path(str(checkpoint) + ".state.pt")
    if not state.is_file():
        raise FileNotFoundError(f"neither {log} nor {state} exists")
    return torch.load(state, map_location="cpu", weights_only=False)["history"]


def paired_rows(a: list[dict], b: list[dict], window: int) -> list[dict]:
    """Rows ``{"steps", "quality", "n", "a", "b", "relative"}`` of the mean losses over the common
    steps, per window of ``window`` steps (and ``"all"``), per quality and over every quality."""
    common = min(len(a), len(b))
    if common == 0:
        raise ValueError("the runs have no step in common")
    mismatch = next((i for i in range(common) if a[i].get("quality") != b[i].get("quality")), None)
    if mismatch is not None:
        raise ValueError(f"the runs draw different qualities at step {mismatch} "
                         f"({a[mismatch].get('quality')} vs {b[mismatch].get('quality')}): not the same batches")
    groups: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for i in range(common):
        for span in (f"{i // window * window}-{min((i // window + 1) * window, common) - 1}", "all"):
            for quality in (a[i].get("quality"), "every"):
                groups[(span, quality)].append((a[i]["loss"], b[i]["loss"]))
    rows = []
    order = sorted(groups, key=lambda k: (k[0] == "all", int(k[0].split("-")[0]) if k[0] != "all" else 0,
                                         k[1] == "every", str(k[1])))
    for span, quality in order:
        pairs = groups[(span, quality)]
        mean_a = sum(p[0] for p in pairs) / len(pairs)
        mean_b = sum(p[1] for p in pairs) / len(pairs)
        rows.append({"steps": span, "quality": quality, "n": len(pairs), "a": mean_a, "b": mean_b,
                     "relative": mean_b / mean_a - 1})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="checkpoint path of run A (its .log.jsonl or .state.pt is read)")
    parser.add_argument("b", type=Path, help="checkpoint path of run B")
    parser.add_argument("--window", type=int, default=1000, help="steps per row")
    args = parser.parse_args(argv)
    if args.window < 1:
        parser.error(f"--window must be >= 1, got {args.window}")
    rows = paired_rows(read_history(args.a), read_history(args.b), args.window)
    print("| steps | quality | n | loss A | loss B | B vs A |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['steps']} | {r['quality']} | {r['n']} | {r['a']:.4f} | {r['b']:.4f} | {100 * r['relative']:+.2f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
