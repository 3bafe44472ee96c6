"""The ``WLIC`` container: one header, any number of entropy-coded streams, one CRC32.

Layout (all integers big-endian; ``L`` = model id length, ``S`` = number of streams):

====================  =========  ==========================================================
offset                size       field
====================  =========  ==========================================================
0                     4          magic ``b"WLIC"``
4                     1          format version (1 or 2)
5                     1 (v1)     quality: v1 an integer rate point index, 0..255;
                      2 (v2)     v2 ``round(quality * QUALITY_SCALE)``, 0..65535 (a fractional
                                 quality of a variable-rate model, steps of 1/1000)
+0                    2          original image height (1..65535)
+2                    2          original image width (1..65535)
+4                    1          channels (1..255)
+5                    1          number of streams ``S`` (0..255)
+6                    1          model id length ``L`` (1..64)
+7                    L          model id, printable ASCII
+7 + L                4 * S      length of each stream in bytes (uint32)
+7 + L + 4 S          sum        the streams, concatenated in order
end - 4               4          CRC32 (zlib) of every byte before it
====================  =========  ==========================================================

(``+k``: offset after the quality field: 6 + k in version 1, 7 + k in version 2.) :func:`pack`
writes the lowest version that holds the header: version 1 for an integer quality (so fixed-rate
files are byte-identical to those written before version 2 existed), version 2 for a fractional
one; :func:`unpack` reads both. Magic and version stay at offsets 0 and 4 in every future version,
so any decoder can say "unsupported version" instead of misreading a newer file. :func:`unpack` checks, in order:
magic, version, that the header and length table are complete, that the declared stream lengths
match the bytes present (no missing, no trailing bytes), the CRC, the header values, the image size
against :data:`MAX_IMAGE_PIXELS` and finally the model id; every failure is a :class:`BitstreamError`
whose message names the problem.

Decompression bombs: a 60-byte file with a valid CRC can declare a 65535 x 65535 image, whose
decoding would need terabytes. :func:`unpack` refuses more than :data:`MAX_IMAGE_PIXELS` pixels
(:class:`DecompressionBombError`) before anything is allocated; a user with a bigger real image
raises the limit (``container.MAX_IMAGE_PIXELS = ...``, ``None`` for no limit) or passes
``max_pixels=`` per call, as with PIL's ``Image.MAX_IMAGE_PIXELS``. Below the limit,
:func:`check_stream_capacity` lets a decoder refuse latent sizes its streams are too short to hold.
"""
from __future__ import annotations

import operator
import os
import secrets
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BitstreamError", "DecompressionBombError", "Header", "FORMAT_VERSION", "READ_VERSIONS", "QUALITY_SCALE",
           "MAGIC", "MAX_IMAGE_PIXELS",
           "MAX_MODEL_ID_BYTES", "check_stream_capacity", "max_stream_symbols", "pack", "unpack", "write_atomic"]

MAGIC: bytes = b"WLIC"
FORMAT_VERSION: int = 2  # the newest version; pack writes 1 where that suffices
READ_VERSIONS = (1, 2)
# Version 2 stores a quality q as the integer round(q * QUALITY_SCALE).
QUALITY_SCALE = 1000
MAX_MODEL_ID_BYTES = 64
MAX_STREAMS = 255
# Most pixels (height * width) a file may declare before decoding; None: no limit. 2**24 = 4096 x 4096; the
# LIC decoder needs about 0.8-1.1 kB per pixel (docs/lic.md, "Fuzzing the decoder"): ~14 GiB at the limit.
MAX_IMAGE_PIXELS: int | None = 2**24
# The streams are CompressAI rANS streams: symbol frequencies are counted in 1/2**16, every symbol of a
# table keeps at least one count and every table has an overflow symbol, so no symbol costs less than
# -log2(1 - 2**-16) = 2.2e-5 bits; the bound below uses half of that. The 64-bit final state carries at
# most 32 bits of information beyond the initial state (2**31), less than the 8 bytes it takes.
_MIN_BITS_PER_SYMBOL = 1.1e-5

# magic, version, quality, height, width, channels, streams, id length (version 1: 1-byte quality, 2: 2 bytes)
_FIXED = {1: struct.Struct(">4sBBHHBBB"), 2: struct.Struct(">4sBHHHBBB")}
_LENGTH = struct.Struct(">I")
_CRC = struct.Struct(">I")


class BitstreamError(ValueError):
    """A byte string is not a valid ``WLIC`` file of the expected kind; the message says why."""


class DecompressionBombError(BitstreamError):
    """A file declares more pixels than the limit (:data:`MAX_IMAGE_PIXELS` or ``max_pixels``)."""


@dataclass(frozen=True)
class Header:
    """What a decoder needs besides the streams.

    ``model_id``: printable ASCII, 1..64 bytes (e.g. ``"3dm-weconvene-small@0123456789ab"``);
    ``quality``: an integer 0..255, or a multiple of 1 / :data:`QUALITY_SCALE` in [0, 65.535] (stored
    as a float unless integral); ``height`` / ``width``: original image size, 1..65535; ``channels``: 1..255.
    """

    model_id: str
    quality: int
    height: int
    width: int
    channels: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.model_id, str):
            raise TypeError(f"model_id must be a str, got {type(self.model_id).__name__}")
        if not 1 <= len(self.model_id) <= MAX_MODEL_ID_BYTES or not all(" " <= c <= "~" for c in self.model_id):
            raise ValueError(
                f"model_id must be 1..{MAX_MODEL_ID_BYTES} printable ASCII characters, got {self.model_id!r}"
            )
        if isinstance(self.quality, float):
            quality = _fractional_quality(self.quality)
            if not 0 <= quality <= 65535 / QUALITY_SCALE:
                raise ValueError(f"quality must be in 0..{65535 / QUALITY_SCALE}, got {quality}")
            object.__setattr__(self, "quality", quality)
        integers = [("height", 1, 65535), ("width", 1, 65535), ("channels", 1, 255)]
        if not isinstance(self.quality, float):
            integers.insert(0, ("quality", 0, 255))
        for name, low, high in integers:
            value = getattr(self, name)
            if isinstance(value, bool):
                raise TypeError(f"{name} must be an integer, got a bool")
            try:
                value = operator.index(value)
            except TypeError:
                raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
            if not low <= value <= high:
                raise ValueError(f"{name} must be in {low}..{high}, got {value}")
            object.__setattr__(self, name, value)

    @property
    def version(self) -> int:
        """The format version :func:`pack` writes for this header: 1 (integer quality) or 2 (fractional)."""
        return 2 if isinstance(self.quality, float) else 1


def _fractional_quality(quality: float) -> int | float:
    """A float quality checked to be a multiple of 1 / QUALITY_SCALE; an integral one becomes an int."""
    steps = round(quality * QUALITY_SCALE) if quality == quality and abs(quality) < 1e6 else None
    if steps is None or abs(steps - quality * QUALITY_SCALE) > 1e-6:
        raise ValueError(f"a fractional quality must be a multiple of 1/{QUALITY_SCALE}, got {quality!r}")
    return steps // QUALITY_SCALE if steps % QUALITY_SCALE == 0 else steps / QUALITY_SCALE


def pack(header: Header, streams: list[bytes]) -> bytes:
    """``header`` and ``streams`` -> file bytes (layout in the module docstring)."""
    if not isinstance(header, Header):
        raise TypeError(f"header must be a Header, got {type(header).__name__}")
    streams = [bytes(s) if isinstance(s, (bytearray, memoryview)) else s for s in streams]
    if not all(isinstance(s, bytes) for s in streams):
        raise TypeError(f"streams must be bytes, got {[type(s).__name__ for s in streams]}")
    if len(streams) > MAX_STREAMS:
        raise ValueError(f"at most {MAX_STREAMS} streams fit in a file, got {len(streams)}")
    if any(len(s) >= 2**32 for s in streams):
        raise ValueError("a stream must be shorter than 4 GiB")
    model_id = header.model_id.encode("ascii")
    version = header.version
    stored_quality = header.quality if version == 1 else round(header.quality * QUALITY_SCALE)
    head = _FIXED[version].pack(MAGIC, version, stored_quality, header.height, header.width, header.channels,
                                len(streams), len(model_id))
    body = b"".join([head, model_id, *(_LENGTH.pack(len(s)) for s in streams), *streams])
    return body + _CRC.pack(zlib.crc32(body))


def unpack(
    data: bytes, expected_model_id: str | None = None, max_pixels: int | None = None
) -> tuple[Header, list[bytes]]:
    """File bytes -> ``(header, streams)``; raises :class:`BitstreamError` naming the problem.

    With ``expected_model_id``, a file written by another model is refused ("wrong model id").
    A header declaring more than ``max_pixels`` pixels (default: :data:`MAX_IMAGE_PIXELS` at call
    time) raises :class:`DecompressionBombError`.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if data[: len(MAGIC)] != MAGIC:
        if MAGIC.startswith(data):
            raise BitstreamError(f"truncated file: {len(data)} bytes, not even the {len(MAGIC)}-byte magic")
        raise BitstreamError(f"bad magic {data[:len(MAGIC)]!r}: not a WLIC file (expected {MAGIC!r})")
    if len(data) <= len(MAGIC):
        raise BitstreamError(f"truncated header: {len(data)} bytes, the version byte is missing")
    version = data[len(MAGIC)]
    if version not in READ_VERSIONS:
        raise BitstreamError(f"unsupported format version {version} (this decoder reads versions "
                             f"{', '.join(map(str, READ_VERSIONS))})")
    fixed = _FIXED[version]
    if len(data) < fixed.size:
        raise BitstreamError(f"truncated header: {len(data)} bytes, the fixed header needs {fixed.size}")
    _, _, quality, height, width, channels, num_streams, id_length = fixed.unpack_from(data)
    if version == 2:
        quality = quality // QUALITY_SCALE if quality % QUALITY_SCALE == 0 else quality / QUALITY_SCALE
    if not 1 <= id_length <= MAX_MODEL_ID_BYTES:
        raise BitstreamError(f"invalid header: model id length {id_length} (must be 1..{MAX_MODEL_ID_BYTES})")
    table_start = fixed.size + id_length
    payload_start = table_start + _LENGTH.size * num_streams
    if len(data) < payload_start:
        raise BitstreamError(
            f"truncated header: {len(data)} bytes, the model id and the table of {num_streams} stream lengths "
            f"end at byte {payload_start}"
        )
    lengths = [_LENGTH.unpack_from(data, table_start + _LENGTH.size * i)[0] for i in range(num_streams)]
    declared = sum(lengths)
    available = len(data) - payload_start - _CRC.size
    if available < declared:
        raise BitstreamError(
            f"stream length mismatch: the header declares {declared} bytes in {num_streams} stream(s) "
            f"{lengths}, only {max(available, 0)} are available before the CRC (truncated file?)"
        )
    if available > declared:
        raise BitstreamError(
            f"trailing bytes: {available - declared} byte(s) beyond the {declared} declared stream bytes and the CRC"
        )
    stored_crc = _CRC.unpack_from(data, len(data) - _CRC.size)[0]
    computed_crc = zlib.crc32(data[: len(data) - _CRC.size])
    if stored_crc != computed_crc:
        raise BitstreamError(
            f"CRC mismatch: stored 0x{stored_crc:08x}, computed 0x{computed_crc:08x} (the file is corrupted)"
        )
    try:
        model_id = data[fixed.size:table_start].decode("ascii")
        header = Header(model_id, quality, height, width, channels)
    except (UnicodeDecodeError, ValueError) as e:
        raise BitstreamError(f"invalid header: {e}") from None
    _check_pixels(header, MAX_IMAGE_PIXELS if max_pixels is None else max_pixels)
    if expected_model_id is not None and model_id != expected_model_id:
        raise BitstreamError(f"wrong model id {model_id!r} (expected {expected_model_id!r})")
    streams, offset = [], payload_start
    for length in lengths:
        streams.append(data[offset:offset + length])
        offset += length
    return header, streams


def _check_pixels(header: Header, limit: int | None) -> None:
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"the pixel limit must be an int or None, got {type(limit).__name__}")
    pixels = header.height * header.width
    if pixels > limit:
        raise DecompressionBombError(
            f"image too large: the header declares {header.height} x {header.width} = {pixels} pixels, more than "
            f"the limit of {limit} (a decompression bomb?); for a real image this big, raise "
            f"integrations.compression.container.MAX_IMAGE_PIXELS or pass max_pixels="
        )


def max_stream_symbols(num_bytes: int) -> int:
    """The most symbols a rANS stream of ``num_bytes`` bytes can hold (a safe upper bound)."""
    return int(8 * num_bytes / _MIN_BITS_PER_SYMBOL)


def check_stream_capacity(streams: list[bytes], symbols: list[int], names: list[str] | None = None) -> None:
    """Refuse (:class:`BitstreamError`) a stream too short to hold the symbols the header implies.

    ``symbols[i]``: how many symbols the decoder will read from ``streams[i]`` (from the header's image
    size); a real stream always satisfies the bound, so this only stops forged sizes early.
    """
    if len(streams) != len(symbols):
        raise BitstreamError(f"expected {len(symbols)} streams, got {len(streams)}")
    names = names or [f"stream {i}" for i in range(len(streams))]
    for stream, count, name in zip(streams, symbols, names):
        if count > max_stream_symbols(len(stream)):
            raise BitstreamError(
                f"corrupt {name}: {len(stream)} bytes cannot hold the {count} symbols the header's image size "
                f"implies (at most {max_stream_symbols(len(stream))})"
            )


def write_atomic(path: str | os.PathLike, data: bytes, force: bool = False) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, then a rename.

    Readers see either the old file or the complete new one, never a partial file; on any error
    the temporary file is removed. An existing ``path`` is refused (:class:`FileExistsError`)
    unless ``force``; without ``force`` the final step is a hard link, which also refuses a file
    that appeared meanwhile (where the file system has no hard links, an existence check).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    path = Path(path)
    refusal = f"{path} exists; pass --force (force=True) to overwrite it"
    if not force and (path.exists() or path.is_symlink()):
        raise FileExistsError(refusal)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist")
    tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path, refusal)
    finally:
        tmp.unlink(missing_ok=True)


def _link_no_clobber(tmp: Path, path: Path, refusal: str) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(refusal) from None
    except OSError:  # no hard links here (some network / FAT file systems)
        if path.exists():
            raise FileExistsError(refusal) from None
        os.replace(tmp, path)
