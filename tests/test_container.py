"""The WLIC container: exact layout, every refusal named, a bounded fuzz loop, atomic writes."""
from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import pytest

from integrations.compression import container
from integrations.compression.container import (
    FORMAT_VERSION, MAGIC, BitstreamError, DecompressionBombError, Header, check_stream_capacity, max_stream_symbols,
    pack, unpack, write_atomic,
)

HEADER = Header("3dm-weconvene-small@0123456789ab", quality=3, height=512, width=768, channels=3)
STREAMS = [b"z-stream \x00\x01\x02", bytes(range(256)) * 3, b""]


def _reference_bytes(header: Header, streams: list[bytes]) -> bytes:
    """The layout of the module docstring, written out field by field (independent of pack)."""
    model_id = header.model_id.encode("ascii")
    body = (b"WLIC" + bytes([1, header.quality]) + header.height.to_bytes(2, "big") + header.width.to_bytes(2, "big")
            + bytes([header.channels, len(streams), len(model_id)]) + model_id
            + b"".join(len(s).to_bytes(4, "big") for s in streams) + b"".join(streams))
    return body + zlib.crc32(body).to_bytes(4, "big")


def test_layout_matches_the_documented_table():
    data = pack(HEADER, STREAMS)
    assert data == _reference_bytes(HEADER, STREAMS)
    assert data[:4] == MAGIC and data[4] == 1 < FORMAT_VERSION  # an integer quality: version 1 suffices
    assert len(data) == 13 + len(HEADER.model_id) + 4 * len(STREAMS) + sum(map(len, STREAMS)) + 4


@pytest.mark.parametrize("header, streams", [
    (HEADER, STREAMS),
    (Header("m", 0, 1, 1, 1), []),
    (Header("x" * 64, 255, 65535, 65535, 255), [b"a"] * 255),
    (Header("odd size", 7, 37, 101), [bytes(1000), b"\xff"]),
])
def test_round_trip(header, streams):
    got_header, got_streams = unpack(pack(header, streams), expected_model_id=header.model_id, max_pixels=65535**2)
    assert got_header == header and got_streams == streams


def test_accepts_bytearray_and_memoryview():
    data = pack(HEADER, [bytearray(b"abc"), memoryview(b"de")])
    assert unpack(bytearray(data))[1] == [b"abc", b"de"]
    assert unpack(memoryview(data))[1] == [b"abc", b"de"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(model_id="", quality=1, height=1, width=1), "model_id"),
    (dict(model_id="x" * 65, quality=1, height=1, width=1), "model_id"),
    (dict(model_id="caf\u00e9", quality=1, height=1, width=1), "model_id"),
    (dict(model_id="m", quality=256, height=1, width=1), "quality"),
    (dict(model_id="m", quality=1, height=0, width=1), "height"),
    (dict(model_id="m", quality=1, height=1, width=65536), "width"),
    (dict(model_id="m", quality=1, height=1, width=1, channels=0), "channels"),
])
def test_header_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Header(**kwargs)


def test_header_type_errors():
    with pytest.raises(TypeError, match="quality"):
        Header("m", "3", 1, 1)  # (a float is a fractional quality since format version 2)
    with pytest.raises(TypeError, match="bool"):
        Header("m", True, 1, 1)
    with pytest.raises(TypeError, match="streams"):
        pack(HEADER, ["text"])
    with pytest.raises(ValueError, match="255 streams"):
        pack(HEADER, [b""] * 256)


def _recrc(body: bytes) -> bytes:
    """``body`` (a file without its CRC) with a valid CRC appended."""
    return body + struct.pack(">I", zlib.crc32(body))


def test_every_problem_is_named():
    data = pack(HEADER, STREAMS)
    id_end = 13 + len(HEADER.model_id)
    cases = [
        ("truncated file", b"WL"),
        ("truncated file", b""),
        ("bad magic", b"\x89PNG\r\n\x1a\n" + data[8:]),
        ("unsupported format version 3", data[:4] + b"\x03" + data[5:]),
        ("truncated header", data[:4] + b"\x01"),
        ("truncated header", data[:10]),
        ("truncated header", data[: id_end + 2]),  # inside the stream length table
        ("model id length 0", data[:12] + b"\x00" + data[13:]),
        ("stream length mismatch", data[:-1]),
        ("stream length mismatch", data[:id_end + 12 + 5]),
        ("trailing bytes", data + b"\x00"),
        ("CRC mismatch", data[:20] + bytes([data[20] ^ 0x40]) + data[21:]),
        # well formed, correctly CRC'd, but impossible values
        ("invalid header: height", _recrc(data[:6] + b"\x00\x00" + data[8:-4])),
        ("invalid header: model_id", _recrc(data[:13] + b"\x07" + data[14:-4])),
    ]
    for expected, bad in cases:
        with pytest.raises(BitstreamError) as info:
            unpack(bad)
        assert expected in str(info.value), (expected, str(info.value))


def test_wrong_model_id_names_both():
    with pytest.raises(BitstreamError, match=r"wrong model id '3dm-weconvene-small@0123456789ab' \(expected 'other'\)"):
        unpack(pack(HEADER, STREAMS), expected_model_id="other")


def test_a_forged_image_size_is_refused_before_decoding(monkeypatch):
    bomb = pack(Header("m", 1, 65535, 65535), [b"tiny"])  # 4.3 G pixels in 26 bytes, valid CRC
    with pytest.raises(DecompressionBombError, match=r"65535 x 65535 = 4294836225 pixels, more than the limit "
                                                      r"of 16777216 .*MAX_IMAGE_PIXELS or pass max_pixels="):
        unpack(bomb)
    assert issubclass(DecompressionBombError, BitstreamError)
    at_limit = pack(Header("m", 1, 4096, 4096), [b""])
    assert unpack(at_limit)[0].height == 4096
    with pytest.raises(DecompressionBombError):
        unpack(pack(Header("m", 1, 4096, 4097), [b""]))
    assert unpack(bomb, max_pixels=65535**2)[1] == [b"tiny"]  # per call
    with pytest.raises(DecompressionBombError, match="limit of 100"):
        unpack(at_limit, max_pixels=100)
    monkeypatch.setattr(container, "MAX_IMAGE_PIXELS", None)  # globally, as PIL's Image.MAX_IMAGE_PIXELS
    assert unpack(bomb)[0].width == 65535
    monkeypatch.setattr(container, "MAX_IMAGE_PIXELS", 10)
    with pytest.raises(DecompressionBombError, match="limit of 10"):
        unpack(pack(Header("m", 1, 3, 4), [b""]))
    with pytest.raises(TypeError, match="pixel limit"):
        unpack(at_limit, max_pixels=1.5e6)


def test_stream_capacity_bound_holds_for_the_cheapest_rans_symbols():
    """The bound against CompressAI's rANS coder itself: 4 M symbols of the most probable kind a
    16-bit table allows (65535 / 65536) fit in a few bytes, and the bound still admits them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # compressai calls the deprecated torch.jit.script
        BufferedRansEncoder = pytest.importorskip("compressai.ans").BufferedRansEncoder
    n = 4_000_000
    encoder = BufferedRansEncoder()
    encoder.encode_with_indexes([0] * n, [0] * n, [[0, 65535, 65536]], [3], [0])
    stream = encoder.flush()
    assert len(stream) < 32 and n <= max_stream_symbols(len(stream))
    check_stream_capacity([stream], [n])
    with pytest.raises(BitstreamError, match=r"corrupt y stream: 0 bytes cannot hold the 1 symbols"):
        check_stream_capacity([b"z" * 8, b""], [10, 1], ["z stream", "y stream"])
    with pytest.raises(BitstreamError, match="cannot hold"):
        check_stream_capacity([stream], [max_stream_symbols(len(stream)) + 1])
    with pytest.raises(BitstreamError, match="expected 2 streams, got 1"):
        check_stream_capacity([stream], [1, 1])


def test_bitstream_error_is_a_value_error():
    assert issubclass(BitstreamError, ValueError)
    with pytest.raises(TypeError):
        unpack("WLIC")


def _mutations(data: bytes, rng: random.Random):
    kind = rng.randrange(5)
    if kind == 0:  # flip 1..3 bytes anywhere
        out = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            out[rng.randrange(len(out))] ^= rng.randint(1, 255)
        return bytes(out)
    if kind == 1:  # truncate
        return data[: rng.randrange(len(data))]
    if kind == 2:  # append garbage
        return data + os.urandom(rng.randint(1, 16))
    if kind == 3:  # delete a slice
        i = rng.randrange(len(data))
        return data[:i] + data[i + rng.randint(1, 8):]
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))  # foreign junk


@pytest.mark.timeout(60)
def test_fuzz_flips_and_truncations_only_raise_bitstream_error():
    """2000 mutations (or 5 s, whichever first): each raises BitstreamError; none parses."""
    rng = random.Random(1234)
    data = pack(HEADER, STREAMS)
    deadline, tried = time.monotonic() + 5.0, 0
    while tried < 2000 and time.monotonic() < deadline:
        bad = _mutations(data, rng)
        if bad == data:
            continue
        try:
            unpack(bad, expected_model_id=HEADER.model_id)
        except BitstreamError:
            pass
        else:
            pytest.fail(f"a mutated file parsed: {bad!r}")
        tried += 1
    assert tried >= 200


def test_write_atomic_refuses_overwrite_and_forces(tmp_path):
    path = tmp_path / "out.wlic"
    write_atomic(path, b"first")
    assert path.read_bytes() == b"first"
    with pytest.raises(FileExistsError, match="--force"):
        write_atomic(path, b"second")
    assert path.read_bytes() == b"first"
    write_atomic(path, b"second", force=True)
    assert path.read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wlic"]


def test_write_atomic_leaves_nothing_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "out.wlic"
    path.write_bytes(b"old")

    def failing_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        write_atomic(path, b"new" * 1000, force=True)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wlic"]


def test_write_atomic_without_hard_links_falls_back(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise OSError("operation not permitted (simulated)")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "x.bin"
    write_atomic(path, b"data")
    assert path.read_bytes() == b"data"
    with pytest.raises(FileExistsError, match="--force"):
        write_atomic(path, b"other")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_write_atomic_missing_folder_and_type(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_atomic(tmp_path / "nope" / "x.bin", b"data")
    with pytest.raises(TypeError):
        write_atomic(tmp_path / "x.bin", "text")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(300)
def test_fuzz_script_runs_a_short_campaign(tmp_path):
    """benchmarks/fuzz_lic.py end to end on 40 cases (the 10,000-case run is in docs/lic.md)."""
    pytest.importorskip("compressai")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz_lic.py"
    out = tmp_path / "fuzz.json"
    run = subprocess.run([sys.executable, str(script), "--cases", "40", "--seed", "7", "--out", str(out)],
                         capture_output=True, text=True, timeout=280, cwd=tmp_path,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert sum(result["outcomes"].values()) == 40 and set(result["outcomes"]) <= {"rejected", "decoded"}
    assert "| **all** | 40 |" in run.stdout
