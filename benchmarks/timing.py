"""Timing helpers shared by the benchmark scripts: threads, allocator regime, an idle guard, medians.

Method (see ``docs/benchmarks.md``):

* ``torch.set_num_threads(threads)`` (2 by default: the development machine has 2 cores).
* Allocator regime ``warm`` (default): the script re-executes itself with ``GLIBC_TUNABLES`` set to
  :data:`WARM_TUNABLES` (large blocks stay in the heap instead of a fresh ``mmap`` per call) and
  pre-grows the heap with ``prewarm_mb`` MiB of touched memory, then frees it. This behaves like a
  caching allocator or a long-running training process. ``default`` leaves stock glibc alone.
* Each case: ``warmup`` calls, then timed calls until at least ``repeat`` calls and ``min_time``
  seconds (at most ``max_repeat`` calls); the **median** is reported.
* Idle guard: the CPU time that *other* processes used during the case is read from
  ``/proc/stat`` (busy jiffies of the whole machine minus this process's own CPU time) and reported
  in cores. Above ``max_foreign`` cores the case is measured again after a pause (``tries`` times
  in all) and the attempt with the least foreign load is kept.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

__all__ = [
    "WARM_TUNABLES",
    "Measurement",
    "set_allocator_regime",
    "measure",
    "foreign_load",
    "idle_load",
    "describe",
    "fmt",
    "machine_info",
    "markdown_table",
    "parse_shape",
    "add_arguments",
    "Session",
    "start",
    "write_json",
]

WARM_TUNABLES = (
    "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=17179869184:glibc.malloc.arena_max=1"
)
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PREWARM_CHUNK_MB = 16  # below the 32 MiB mmap threshold, so freed chunks stay in the heap


@dataclass
class Measurement:
    """Median and spread of one case, in milliseconds, with the foreign load seen meanwhile."""

    median_ms: float
    min_ms: float
    max_ms: float
    calls: int
    foreign_cores: float
    attempts: int

    def as_dict(self) -> dict:
        return asdict(self)


def set_allocator_regime(regime: str, prewarm_mb: int) -> None:
    """Put this process in the ``warm`` or ``default`` allocator regime (``warm`` may re-exec)."""
    if regime not in ("warm", "default"):
        raise ValueError(f"allocator regime must be 'warm' or 'default', got {regime!r}")
    if regime == "default":
        return
    if os.environ.get("GLIBC_TUNABLES") != WARM_TUNABLES:
        # glibc reads its tunables at start-up only: restart this script with them set.
        env = dict(os.environ, GLIBC_TUNABLES=WARM_TUNABLES)
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    chunks = [torch.ones(_PREWARM_CHUNK_MB << 20, dtype=torch.uint8) for _ in range(prewarm_mb // _PREWARM_CHUNK_MB)]
    del chunks


def _machine_busy_s() -> float:
    """CPU seconds all processes have spent busy (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as f:
        v = [int(t) for t in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq + steal) / _CLK_TCK


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class foreign_load:  # noqa: N801 - used as a context manager
    """``with foreign_load() as load: ...`` then ``load.cores``: CPU cores other processes used."""

    def __enter__(self) -> "foreign_load":
        self._t0, self._busy0, self._own0 = time.perf_counter(), _machine_busy_s(), _own_cpu_s()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = max(time.perf_counter() - self._t0, 1e-9)
        foreign = (_machine_busy_s() - self._busy0) - (_own_cpu_s() - self._own0)
        # jiffies tick at SC_CLK_TCK (100 Hz): windows of a few ms are noisy, so clamp to the machine.
        self.cores = min(max(foreign, 0.0) / wall, float(os.cpu_count() or 1))


def idle_load(seconds: float = 1.0) -> float:
    """Foreign load (cores) over ``seconds`` while this process sleeps."""
    with foreign_load() as load:
        time.sleep(seconds)
    return load.cores


def _one_attempt(fn: Callable[[], object], warmup: int, repeat: int, min_time: float, max_repeat: int):
    for _ in range(warmup):
        fn()
    times: list[float] = []
    with foreign_load() as load:
        start = time.perf_counter()
        while len(times) < max_repeat and (len(times) < repeat or time.perf_counter() - start < min_time):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return times, load.cores


def measure(
    fn: Callable[[], object],
    *,
    warmup: int = 2,
    repeat: int = 7,
    min_time: float = 1.0,
    max_repeat: int = 25,
    max_foreign: float = 0.12,
    tries: int = 3,
    pause: float = 2.0,
) -> Measurement:
    """Time ``fn()``; re-measure (up to ``tries`` attempts) while other processes load the CPU."""
    best: tuple[list[float], float] | None = None
    attempt = 0
    for attempt in range(1, tries + 1):
        times, cores = _one_attempt(fn, warmup, repeat, min_time, max_repeat)
        if best is None or cores < best[1]:
            best = (times, cores)
        if cores <= max_foreign:
            break
        if attempt < tries:
            time.sleep(pause)
    times, cores = best
    ms = [t * 1e3 for t in times]
    return Measurement(statistics.median(ms), min(ms), max(ms), len(ms), cores, attempt)


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def machine_info(regime: str, prewarm_mb: int) -> dict:
    """What a results table needs next to it: CPU, threads, versions, allocator regime."""
    return dict(
        cpu=_cpu_model(),
        logical_cpus=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        python=platform.python_version(),
        torch=torch.__version__,
        allocator=regime,
        glibc_tunables=os.environ.get("GLIBC_TUNABLES", ""),
        prewarm_mb=prewarm_mb if regime == "warm" else 0,
    )


def describe(info: dict, idle_cores: float) -> str:
    """One Markdown paragraph describing the machine and method."""
    alloc = (
        f"warm (`GLIBC_TUNABLES={info['glibc_tunables']}`, heap pre-grown with {info['prewarm_mb']} MiB)"
        if info["allocator"] == "warm" else "default (stock glibc)"
    )
    return (
        f"CPU: {info['cpu']} ({info['logical_cpus']} logical CPUs), torch {info['torch']} with "
        f"{info['torch_threads']} threads, Python {info['python']}; allocator regime: {alloc}. "
        f"Foreign CPU load before the run: {idle_cores:.2f} cores."
    )


def markdown_table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    """A GitHub Markdown table; the first ``left`` columns (labels) left-aligned, numbers right."""
    align = ["---" if i < left else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def parse_shape(text: str) -> tuple[int, ...]:
    """'8x128x64x64' or '8,128,64,64' -> (8, 128, 64, 64)."""
    parts = text.replace(",", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"shape must look like 8x128x64x64, got {text!r}") from None
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"shape must be 4 positive integers N x C x H x W, got {text!r}")
    return shape


def fmt(value: float, digits: int = 1) -> str:
    """Milliseconds / ratios for tables: two decimals below 10, ``digits`` decimals above."""
    if value != value:  # NaN
        return "–"
    if abs(value) < 10:
        return f"{value:.2f}"
    return f"{value:.{digits}f}"


# --------------------------------------------------------------------------------------------------
# command-line plumbing shared by the benchmark scripts


def add_arguments(parser: argparse.ArgumentParser, default_shapes: list[str]) -> None:
    """The options every benchmark script takes."""
    parser.add_argument("--shapes", nargs="+", default=None, help=f"N x C x H x W (default {' '.join(default_shapes)})")
    parser.add_argument("--repeat", type=int, default=7, help="at least this many timed calls per case (default 7)")
    parser.add_argument("--min-time", type=float, default=1.0, help="and at least this many seconds (default 1.0)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--tries", type=int, default=3, help="attempts per case while the machine is busy (default 3)")
    parser.add_argument("--max-foreign", type=float, default=0.12, help="foreign load (cores) that counts as idle")
    parser.add_argument("--alloc", choices=["warm", "default"], default="warm", help="allocator regime (default warm)")
    parser.add_argument("--prewarm-mb", type=int, default=2048, help="heap pre-growth in the warm regime (MiB)")
    parser.add_argument("--quick", action="store_true", help="tiny shapes, 2 repeats, 1 thread, no retries: a smoke test")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here (JSON)")


@dataclass
class Session:
    shapes: list[tuple[int, ...]]
    opts: dict
    info: dict
    idle_cores: float

    @staticmethod
    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)


def start(args: argparse.Namespace, default_shapes: list[str], quick_shapes: list[str]) -> Session:
    """Apply ``--quick``, the allocator regime (may re-exec) and the thread count; check for idleness."""
    if args.quick:
        args.repeat, args.min_time, args.tries, args.prewarm_mb = 2, 0.0, 1, min(args.prewarm_mb, 64)
        args.threads = 1  # under contention, 2-thread OpenMP regions stall on the busy core
    shapes = [parse_shape(s) for s in (args.shapes or (quick_shapes if args.quick else default_shapes))]
    set_allocator_regime(args.alloc, args.prewarm_mb)
    torch.set_num_threads(args.threads)
    opts = dict(warmup=1 if args.quick else 2, repeat=args.repeat, min_time=args.min_time, tries=args.tries,
                max_foreign=args.max_foreign)
    session = Session(shapes, opts, machine_info(args.alloc, args.prewarm_mb), idle_load())
    session.log(describe(session.info, session.idle_cores))
    return session


def write_json(path: Path, session: Session, args: argparse.Namespace, rows: list[dict]) -> None:
    payload = dict(
        machine=session.info,
        idle_foreign_cores=session.idle_cores,
        argv=sys.argv,
        args={k: str(v) for k, v in vars(args).items()},
        rows=[{k: (v.as_dict() if isinstance(v, Measurement) else v) for k, v in r.items()} for r in rows],
    )
    path.write_text(json.dumps(payload, indent=1))
