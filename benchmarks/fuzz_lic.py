"""Fuzz the LIC decoder: mutated, truncated and forged ``.wlic`` files through ``decompress``, in-process.

    nice -n 5 python benchmarks/fuzz_lic.py [--cases 10000] [--seed 0] [--time-limit 20] [--out FILE.json]
    python benchmarks/fuzz_lic.py --atheris [--runs 5000] [--max-seconds 600]   # coverage-guided
    python benchmarks/fuzz_lic.py --cost H W    # time and memory of decoding one H x W file

Seeds: small crops of bundled photos coded with the shipped variable-rate weights (qualities 1, 2.5,
4 and 6: format versions 1 and 2) and with three untrained registered models (other entropy models,
a quality with no shipped weights). Each case
takes one seed and one mutation: byte flips, truncation, appended / deleted / inserted bytes, junk
(these mostly fail the CRC), and forgeries WITH a valid CRC: stream bytes changed, streams
replaced, resized, dropped, added or swapped, header fields (size, quality, channels, version,
model id, id length, stream count) set to other values, one file's header spliced onto another's
streams. Each file is decoded as the CLI does: :func:`model_for_stream` picks the weights (shipped
or untrained) from the header, then :func:`decompress_image`, under a per-case time limit (SIGALRM).

Outcomes: ``rejected`` (a :class:`BitstreamError` with a message), ``decoded`` (an image of the
header's size, finite, in [0, 1]), ``bad-output`` (an image that is not), ``crashed`` (any other
exception), ``hung`` (over the time limit). A segmentation fault would end the run: the index of
the case being decoded is kept in ``--progress``, and ``--start`` reruns from any index (cases are a
pure function of ``--seed`` and the index).

Forged sizes stay at or below 1024 x 1024 pixels after the decoder's padding to multiples of 64, or
above the pixel limit: a forged size between the two decodes noise in time and memory proportional
to the padded size, which is what the limit (:data:`container.MAX_IMAGE_PIXELS`) bounds; docs/lic.md,
"Fuzzing the decoder", has the figures.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import resource
import signal
import struct
import sys
import time
import warnings
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from integrations.compression import container  # noqa: E402
from integrations.compression.container import BitstreamError, unpack  # noqa: E402
from integrations.lic.codec import compress_image, decompress_image, load_model, model_for_stream  # noqa: E402

UNTRAINED_SEEDS = (("3dm-weconvene-small", 5), ("3dm-weconvene-tiny-wecharm", 3), ("3dm-weconvene-tiny-chwp4", 2))
CROPS = ((64, 64), (37, 101), (96, 128), (130, 70))
# the fixed header of each format version: magic, version, quality, height, width, channels, streams, id length
_FIXED = {1: struct.Struct(">4sBBHHBBB"), 2: struct.Struct(">4sBHHHBBB")}
_QUALITY_MASK = {1: 0xFF, 2: 0xFFFF}
SHIPPED_QUALITIES = (1, 2.5, 4, 6)


# --- seeds ----------------------------------------------------------------------------------------
def _photo(h: int, w: int, which: int) -> torch.Tensor:
    from skimage import data as skdata

    image = (skdata.chelsea(), skdata.astronaut(), skdata.coffee())[which % 3]
    top, left = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
    return torch.from_numpy(image[top:top + h, left:left + w].copy()).permute(2, 0, 1)[None].float() / 255


def seed_files() -> list[tuple[str, bytes]]:
    """Valid files: the shipped variable-rate model at four qualities and three untrained models, each
    on one crop."""
    models = [load_model(name="3dm-weconvene-small-vr", quality=q) for q in SHIPPED_QUALITIES]
    models += [load_model(name=n, quality=q, shipped=False) for n, q in UNTRAINED_SEEDS]
    seeds = []
    for i, model in enumerate(models):
        h, w = CROPS[i % len(CROPS)]
        data, _ = compress_image(model, _photo(h, w, i), reconstruct=False)
        seeds.append((f"{model.model_id} q{model.quality} {h}x{w}", data))
    return seeds


# --- raw layout (the container's docstring table), written without pack's validation -------------
def _fields(data: bytes) -> dict:
    layout = 2 if data[4] == 2 else 1
    fixed = _FIXED[layout]
    _, version, quality, height, width, channels, count, id_length = fixed.unpack_from(data)
    table = fixed.size + id_length
    lengths = [struct.unpack_from(">I", data, table + 4 * i)[0] for i in range(count)]
    streams, offset = [], table + 4 * count
    for n in lengths:
        streams.append(data[offset:offset + n])
        offset += n
    return {"layout": layout, "version": version, "quality": quality, "height": height, "width": width,
            "channels": channels, "model_id": data[fixed.size:table], "streams": streams, "count": None,
            "id_length": None}


def _build(f: dict) -> bytes:
    """Fields -> bytes with a valid CRC, in the layout they were read in (a forged version byte does not
    change it); ``count`` / ``id_length`` override the true values (forgeries)."""
    streams, model_id, layout = f["streams"], f["model_id"], f["layout"]
    count = len(streams) if f["count"] is None else f["count"]
    id_length = len(model_id) if f["id_length"] is None else f["id_length"]
    body = _FIXED[layout].pack(b"WLIC", f["version"] & 255, f["quality"] & _QUALITY_MASK[layout],
                               f["height"] & 0xFFFF, f["width"] & 0xFFFF, f["channels"] & 255, count & 255,
                               id_length & 255)
    body += model_id + b"".join(struct.pack(">I", len(s)) for s in streams) + b"".join(streams)
    return body + struct.pack(">I", zlib.crc32(body))


# --- mutations: (rng, seed, all seeds) -> bytes ---------------------------------------------------
def _flip(rng, data, _):
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8) if rng.random() < 0.5 else rng.randint(1, 255)
    return bytes(out)


def _truncate(rng, data, _):
    return data[: rng.randrange(len(data))]


def _append(rng, data, _):
    return data + rng.randbytes(rng.randint(1, 64))


def _delete(rng, data, _):
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, 16):]


def _insert(rng, data, _):
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.randbytes(rng.randint(1, 16)) + data[i:]


def _junk(rng, data, _):
    head = data[: rng.choice((0, 4, 5, 13))]  # sometimes a valid magic / version in front
    return head + rng.randbytes(rng.randint(0, 256))


def _stream_bytes(rng, data, _):
    f = _fields(data)
    i = rng.randrange(2)
    s = bytearray(f["streams"][i])
    for _ in range(rng.randint(1, 8)):
        if s:
            s[rng.randrange(len(s))] = rng.randrange(256)
    f["streams"][i] = bytes(s)
    return _build(f)


def _stream_replace(rng, data, _):
    f = _fields(data)
    i = rng.randrange(2)
    n = len(f["streams"][i])
    kind = rng.randrange(4)
    if kind == 0:
        f["streams"][i] = rng.randbytes(rng.randint(0, 2 * n + 8))
    elif kind == 1:
        f["streams"][i] = f["streams"][i][: rng.randint(0, max(n - 1, 0))]
    elif kind == 2:
        f["streams"][i] = bytes([rng.choice((0, 255))]) * rng.randint(0, 4 * n + 8)
    else:
        f["streams"][i] += rng.randbytes(rng.randint(1, 64))
    return _build(f)


def _stream_count(rng, data, _):
    f = _fields(data)
    kind = rng.randrange(5)
    if kind == 0:
        f["streams"] = f["streams"][::-1]
    elif kind == 1:
        f["streams"] = f["streams"][: rng.randint(0, 1)]
    elif kind == 2:
        f["streams"] = f["streams"] + [rng.randbytes(rng.randint(0, 32)) for _ in range(rng.randint(1, 3))]
    elif kind == 3:
        f["count"] = rng.randrange(256)  # the table no longer matches the declared count
    else:
        f["streams"] = [f["streams"][0], f["streams"][0]]
    return _build(f)


def _size(rng: random.Random, limit: int) -> tuple[int, int]:
    """A forged image size: decodable (at most 1024 x 1024 pixels once padded to 64) or a bomb."""
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randint(1, 256), rng.randint(1, 256)
    if kind == 1:
        return rng.randint(1, 1024), rng.randint(1, 1024)
    if kind == 2:  # thin extremes: 1..64 rows pad to 64, so up to 16384 columns
        side, long = rng.randint(1, 64), rng.randint(1, 16384)
        return (side, long) if rng.random() < 0.5 else (long, side)
    while True:  # a bomb: more pixels than the limit
        h, w = rng.randint(1, 65535), rng.randint(1, 65535)
        if h * w > limit:
            return h, w


def _header(rng, data, _):
    f = _fields(data)
    field = rng.choice(("size", "size", "size", "quality", "channels", "version", "model_id", "id_length"))
    if field == "size":
        f["height"], f["width"] = _size(rng, container.MAX_IMAGE_PIXELS or 2**24)
    elif field == "quality":
        scale = 1 if f["layout"] == 1 else container.QUALITY_SCALE  # version 2 stores quality * 1000
        f["quality"] = rng.choice((0, 1, 2, 3, 4, 5, 6, 7)) * scale + rng.choice((0, 0, rng.randrange(scale)))
        if rng.random() < 0.2:
            f["quality"] = rng.randrange(_QUALITY_MASK[f["layout"]] + 1)
    elif field == "channels":
        f["channels"] = rng.choice((0, 1, 2, 4, rng.randrange(256)))
    elif field == "version":
        f["version"] = rng.choice((0, 2, rng.randrange(256)))
    elif field == "model_id":
        name = f["model_id"].split(b"@")[0]
        f["model_id"] = rng.choice((
            name + b"@" + rng.randbytes(6).hex().encode(),  # a registered name, unknown weights
            b"3dm-weconvene-paper@" + rng.randbytes(6).hex().encode(),
            rng.randbytes(rng.randint(1, 64)),  # not ASCII
            bytes(rng.randrange(32, 127) for _ in range(rng.randint(1, 64))),
            b"",
        ))
    else:
        f["id_length"] = rng.choice((0, 65, 255, len(f["model_id"]) + rng.choice((-1, 1))))
    return _build(f)


def _splice(rng, data, seeds):
    other = _fields(rng.choice(seeds)[1])
    f = _fields(data)
    f["streams"] = other["streams"]
    return _build(f)


MUTATIONS: dict[str, Callable] = {
    "flip": _flip, "truncate": _truncate, "append": _append, "delete": _delete, "insert": _insert,
    "junk": _junk, "stream-bytes (CRC ok)": _stream_bytes, "stream-replace (CRC ok)": _stream_replace,
    "stream-count (CRC ok)": _stream_count, "header (CRC ok)": _header, "splice (CRC ok)": _splice,
}


def make_case(seed: int, index: int, seeds: list[tuple[str, bytes]]) -> tuple[str, str, bytes]:
    """Case ``index`` of run ``seed``: ``(mutation, seed name, bytes)``; a pure function of its arguments."""
    rng = random.Random(f"{seed}:{index}")
    name, data = rng.choice(seeds)
    mutation = rng.choice(list(MUTATIONS))
    return mutation, name, MUTATIONS[mutation](rng, data, seeds)


# --- the decoder under test -----------------------------------------------------------------------
class Decoder:
    """The CLI's decode path (:func:`model_for_stream` then :func:`decompress_image`), with the models
    it loads kept in a small LRU cache (the choice depends only on the header's model id and quality)."""

    def __init__(self, cache_size: int = 12) -> None:
        self.cache: OrderedDict = OrderedDict()
        self.cache_size = cache_size

    def __call__(self, data: bytes) -> torch.Tensor:
        header, _ = unpack(data)
        key = (header.model_id, header.quality)
        if key not in self.cache:
            try:
                self.cache[key] = model_for_stream(data)
            except BitstreamError as e:
                self.cache[key] = e
            if len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        self.cache.move_to_end(key)
        model = self.cache[key]
        if isinstance(model, BitstreamError):
            raise model
        with torch.no_grad():
            return decompress_image(model, data)


class _Hung(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` in the decoder swallows it."""


def _alarm(signum, frame):
    raise _Hung


def _category(message: str) -> str:
    """The kind of a refusal: its first words, up to a colon, a parenthesis or a quoted value; numbers -> N."""
    words = []
    for word in message.split(":")[0].split("(")[0].split()[:4]:
        if any(c in "'\"" for c in word):
            break
        words.append("N" if word.isdigit() else word)
    return " ".join(words)


def run_case(decode: Decoder, data: bytes, limit: float) -> tuple[str, str, float]:
    """``(outcome, detail, seconds)`` of decoding ``data``."""
    start = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        x = decode(data)
        outcome, detail = "decoded", ""
        header, _ = unpack(data, max_pixels=2**32)
        if x.shape != (1, 3, header.height, header.width) or not bool(torch.isfinite(x).all()) \
                or float(x.min()) < 0 or float(x.max()) > 1:
            outcome, detail = "bad-output", f"shape {tuple(x.shape)}, range {float(x.min())}..{float(x.max())}"
    except _Hung:
        outcome, detail = "hung", f"over {limit} s"
    except BitstreamError as e:
        outcome, detail = ("rejected", str(e)) if str(e) else ("crashed", "BitstreamError without a message")
    except Exception as e:  # noqa: BLE001 - every other exception is a finding
        outcome, detail = "crashed", f"{type(e).__name__}: {e}"[:500]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    seconds = time.perf_counter() - start
    if seconds > limit and outcome != "hung":
        outcome, detail = "hung", f"{seconds:.1f} s > {limit} s (in native code: {outcome})"
    return outcome, detail, seconds


def _code_version() -> str:
    """``git describe`` of the checkout the decoder was imported from (``-dirty``: uncommitted changes)."""
    import subprocess

    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                              text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def fuzz(cases: int, seed: int, limit: float, start: int = 0, progress: Path | None = None) -> dict:
    torch.set_num_threads(1)
    signal.signal(signal.SIGALRM, _alarm)
    code = _code_version()
    t0 = time.perf_counter()
    seeds = seed_files()
    decode = Decoder()
    for name, data in seeds:  # every seed itself decodes
        outcome, detail, _ = run_case(decode, data, limit)
        if outcome != "decoded":
            raise SystemExit(f"seed {name} does not decode: {outcome} {detail}")
    setup = time.perf_counter() - t0
    outcomes, by_mutation, rejections = Counter(), {m: Counter() for m in MUTATIONS}, Counter()
    findings, slowest = [], []
    t1 = time.perf_counter()
    for index in range(start, start + cases):
        mutation, name, data = make_case(seed, index, seeds)
        if progress is not None:
            progress.write_text(f"{index}\n")
        outcome, detail, seconds = run_case(decode, data, limit)
        outcomes[outcome] += 1
        by_mutation[mutation][outcome] += 1
        if outcome == "rejected":
            rejections[_category(detail)] += 1
        elif outcome != "decoded":
            findings.append({"index": index, "mutation": mutation, "seed": name, "outcome": outcome, "detail": detail})
        slowest = sorted([*slowest, {"index": index, "mutation": mutation, "seed": name, "outcome": outcome,
                                     "seconds": round(seconds, 3), "bytes": len(data), "detail": detail[:200]}],
                         key=lambda c: -c["seconds"])[:5]
        if (index - start + 1) % 500 == 0:
            print(f"{index - start + 1}/{cases} {dict(outcomes)} {time.perf_counter() - t1:.0f} s",
                  file=sys.stderr, flush=True)
    return {
        "command": " ".join(sys.argv), "cases": cases, "seed": seed, "start": start, "time_limit_s": limit,
        "max_image_pixels": container.MAX_IMAGE_PIXELS, "seeds": [n for n, _ in seeds],
        "outcomes": dict(outcomes), "by_mutation": {m: dict(c) for m, c in by_mutation.items()},
        "rejections": dict(rejections.most_common()), "findings": findings[:50], "slowest": slowest,
        "setup_s": round(setup, 1), "fuzz_s": round(time.perf_counter() - t1, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "code": code,
    }


def table(result: dict) -> str:
    """The result as a Markdown table: one row per mutation, one column per outcome."""
    cols = ("rejected", "decoded", "bad-output", "crashed", "hung")
    rows = ["| mutation | cases | " + " | ".join(cols) + " |", "|---|---:|" + "---:|" * len(cols)]
    for m, c in [*result["by_mutation"].items(), ("**all**", result["outcomes"])]:
        rows.append(f"| {m} | {sum(c.values())} | " + " | ".join(str(c.get(k, 0)) for k in cols) + " |")
    return "\n".join(rows)


# --- coverage-guided mode -------------------------------------------------------------------------
def _instrument(instrument: Callable) -> int:
    """Coverage instrumentation for every function and method of the loaded ``integrations`` modules
    (not torch's thousands: ``atheris.instrument_all`` would spend minutes on them). Returns how many."""
    import inspect

    count = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith(("integrations.", "wavelayers_integrations.")):
            continue
        for obj in vars(module).values():
            members = vars(obj).values() if inspect.isclass(obj) else [obj]
            for f in members:
                f = getattr(f, "__func__", f)
                if inspect.isfunction(f) and f.__module__ == name:
                    instrument(f)
                    count += 1
    return count


def _padded(header) -> tuple[int, int]:
    return -(-header.height // 64) * 64, -(-header.width // 64) * 64


def run_atheris(runs: int, max_seconds: int, limit: float) -> None:
    """libFuzzer via atheris on the file body; the harness appends a valid CRC, so that mutations reach
    the header checks and the entropy decoder instead of stopping at the CRC. Inputs whose image,
    padded to 64, exceeds 2**20 pixels but not the pixel limit are skipped."""
    import tempfile

    import atheris

    torch.set_num_threads(1)
    seeds = seed_files()
    decode = Decoder()
    corpus = Path(tempfile.mkdtemp(prefix="fuzz_lic_corpus_"))
    for i, (_, data) in enumerate(seeds):
        (corpus / f"seed{i}").write_bytes(data[:-4])

    def one_input(body: bytes) -> None:
        data = body + struct.pack(">I", zlib.crc32(body))
        try:
            header = unpack(data, max_pixels=2**32)[0]
            h, w = _padded(header)
            if h * w > 2**20 and header.height * header.width <= (container.MAX_IMAGE_PIXELS or 2**32):
                return  # an allowed size decodes noise in proportional time: keep each run short
        except BitstreamError:
            pass
        try:
            x = decode(data)
        except BitstreamError as e:
            assert str(e), "BitstreamError without a message"
            return
        assert bool(torch.isfinite(x).all()) and float(x.min()) >= 0 and float(x.max()) <= 1

    _instrument(atheris.instrument_func)
    argv = [sys.argv[0], str(corpus), f"-runs={runs}", f"-max_total_time={max_seconds}",
            f"-timeout={int(math.ceil(limit))}", "-rss_limit_mb=8192", "-max_len=8192", "-print_final_stats=1"]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


# --- cost of an allowed size ---------------------------------------------------------------------
def _encode_for_cost(height: int, width: int, path: str) -> None:
    model = load_model(name="3dm-weconvene-small", quality=1)
    x = torch.nn.functional.interpolate(_photo(512, 512, 1), size=(height, width), mode="bilinear").clamp(0, 1)
    Path(path).write_bytes(compress_image(model, x, reconstruct=False)[0])


def decode_cost(height: int, width: int) -> dict:
    """Seconds and peak-memory growth of decoding a real ``height x width`` file (shipped q1 weights, one
    thread): what a forged header of that size costs too, since the networks do the same work. The file
    is encoded in a child process so that the encoder's memory does not hide the decoder's."""
    import subprocess
    import tempfile

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/cost.wlic"
        subprocess.run([sys.executable, __file__, "--cost-encode", str(height), str(width), path], check=True)
        data = Path(path).read_bytes()
    model = load_model(name="3dm-weconvene-small", quality=1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with torch.no_grad():
        decompress_image(model, data)
    seconds = time.perf_counter() - start
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return {"height": height, "width": width, "seconds": round(seconds, 2), "peak_rss_growth_mib": round(grown),
            "bytes_per_pixel": round(grown * 2**20 / (height * width))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="first case index (to rerun from a crash)")
    parser.add_argument("--time-limit", type=float, default=20.0, help="seconds per case before it counts as hung")
    parser.add_argument("--out", help="write the result JSON here")
    parser.add_argument("--progress", help="file holding the index of the case being decoded")
    parser.add_argument("--atheris", action="store_true", help="coverage-guided fuzzing (pip install atheris)")
    parser.add_argument("--runs", type=int, default=5000, help="atheris: number of inputs")
    parser.add_argument("--max-seconds", type=int, default=600, help="atheris: total time")
    parser.add_argument("--cost", nargs=2, type=int, metavar=("H", "W"),
                        help="only measure the time and memory of decoding one H x W file")
    parser.add_argument("--cost-encode", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore", FutureWarning)  # compressai calls the deprecated torch.jit.script
    if args.cost_encode:
        _encode_for_cost(int(args.cost_encode[0]), int(args.cost_encode[1]), args.cost_encode[2])
        return 0
    if args.cost:
        print(json.dumps(decode_cost(*args.cost)))
        return 0
    if args.atheris:
        run_atheris(args.runs, args.max_seconds, args.time_limit)
        return 0
    result = fuzz(args.cases, args.seed, args.time_limit, args.start, Path(args.progress) if args.progress else None)
    print(table(result))
    print(json.dumps({k: result[k] for k in ("outcomes", "rejections", "slowest", "setup_s", "fuzz_s",
                                             "peak_rss_mib")}, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0 if set(result["outcomes"]) <= {"rejected", "decoded"} else 1


if __name__ == "__main__":
    sys.exit(main())
