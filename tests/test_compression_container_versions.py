"""The ``WLIC`` container's two versions: version 1 (integer quality, one byte) is still written for
integer qualities and read as before; version 2 (quality in steps of 1/1000, two bytes) carries the
fractional quality of a variable-rate model. Layouts are checked against bytes written field by field."""
from __future__ import annotations

import zlib

import pytest

from integrations.compression.container import (
    QUALITY_SCALE, READ_VERSIONS, BitstreamError, Header, pack, unpack,
)

STREAMS = [b"zz", b"yyy"]


def _reference(version: int, quality_field: bytes, model_id: bytes = b"m@1") -> bytes:
    body = (b"WLIC" + bytes([version]) + quality_field + (300).to_bytes(2, "big") + (451).to_bytes(2, "big")
            + bytes([3, len(STREAMS), len(model_id)]) + model_id
            + b"".join(len(s).to_bytes(4, "big") for s in STREAMS) + b"".join(STREAMS))
    return body + zlib.crc32(body).to_bytes(4, "big")


def test_integer_quality_writes_version_1_byte_for_byte():
    data = pack(Header("m@1", 3, 300, 451), STREAMS)
    assert data == _reference(1, bytes([3]))
    assert unpack(data)[0] == Header("m@1", 3, 300, 451)


@pytest.mark.parametrize("quality, stored", [(2.5, 2500), (1.001, 1001), (5.999, 5999), (0.25, 250)])
def test_fractional_quality_writes_version_2_byte_for_byte(quality, stored):
    data = pack(Header("m@1", quality, 300, 451), STREAMS)
    assert data == _reference(2, stored.to_bytes(2, "big"))
    header, streams = unpack(data)
    assert header.quality == quality and isinstance(header.quality, float) and streams == STREAMS


def test_an_integral_float_is_an_integer_quality():
    header = Header("m@1", 6.0, 300, 451)
    assert header.quality == 6 and isinstance(header.quality, int) and header.version == 1


def test_a_version_2_file_with_an_integral_quality_reads_as_that_integer():
    data = _reference(2, (4 * QUALITY_SCALE).to_bytes(2, "big"))
    header, _ = unpack(data)
    assert header.quality == 4 and isinstance(header.quality, int)


@pytest.mark.parametrize("quality, match", [
    (2.0005, "multiple of 1/1000"), (float("nan"), "multiple of 1/1000"), (70.5, "0..65.535"), (-0.5, "0..65.535"),
])
def test_bad_fractional_qualities_are_refused(quality, match):
    with pytest.raises(ValueError, match=match):
        Header("m@1", quality, 1, 1)


def test_unknown_versions_are_named():
    data = bytearray(pack(Header("m@1", 2.5, 300, 451), STREAMS))
    assert READ_VERSIONS == (1, 2)
    data[4] = 3
    with pytest.raises(BitstreamError, match="unsupported format version 3"):
        unpack(bytes(data))


def test_a_truncated_version_2_header_is_named():
    data = pack(Header("m@1", 2.5, 300, 451), STREAMS)
    with pytest.raises(BitstreamError, match="truncated header"):
        unpack(data[:13])
