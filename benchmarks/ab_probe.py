"""Before/after probe of one tree: prints one JSON line of medians (ms), one thread.

    PYTHONPATH=/path/to/old/tree .venv/bin/python benchmarks/ab_probe.py before
    PYTHONPATH=$PWD .venv/bin/python benchmarks/ab_probe.py after

Run it alternately for two trees (a ``git worktree`` of the old commit) from a directory outside
both, so each process imports the tree on its ``PYTHONPATH``; the ratio of each before/after pair
cancels the machine's drift. Times: the 2-level 9/7 DWT+IDWT of (8,128,64,64) forward and forward +
backward, ``3dm-weconvene-small``'s g_a / g_s on a 768x512 image, one training step on two 256x256
crops (docs/benchmarks.md, "Codec: g_a / g_s and a training step").
"""
import json, statistics, sys, time, torch
torch.set_num_threads(1)
from wavelayers import dwt2d, idwt2d
from integrations.lic.model import build_model

def med(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return 1000 * statistics.median(ts)

x = torch.randn(8, 128, 64, 64, generator=torch.Generator().manual_seed(0))
def rt(t):
    return idwt2d(dwt2d(t, "bior4.4", levels=2))
xg = x.clone().requires_grad_(True)
out = {"clone": med(lambda: x.clone(), 20), "dwt+idwt fwd": med(lambda: rt(x), 10),
       "dwt+idwt f+b": med(lambda: rt(xg).sum().backward(), 6)}
m = build_model("3dm-weconvene-small", 3).eval()
img = torch.rand(1, 3, 512, 768, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    y = m.g_a(img)
    out["g_a (small, 768x512)"] = med(lambda: m.g_a(img), 3)
    out["g_s (small, 768x512)"] = med(lambda: m.g_s(y), 3)
mt = build_model("3dm-weconvene-small", 3).train()
crop = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(2))
out["train step (small, 2x256x256)"] = med(lambda: mt(crop)["x_hat"].mean().backward(), 3)
print(json.dumps({"tree": sys.argv[1], **out}), flush=True)
