"""A seeded mutation fuzzer for encoded images.

`cases(seed, count, pool)` yields ``count`` `Case` objects: each is one valid image from ``pool``
changed by one or more mutations (truncation, bit flips, byte insertions and deletions, span
duplication, splicing two images, edits of the format's header fields, another format's magic),
or raw garbage, an empty string, or the untouched image. The same seed gives the same bytes.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from tests.fuzz.images import FORMATS, MAGIC, Sample, gif_image_descriptor_offset, jpeg_sof_offset

# Dimensions a mutated header claims: edges of the integer types, and sizes around the pixel limit.
_DIMENSIONS = (0, 1, 2, 3, 7, 8, 255, 256, 4095, 4096, 6324, 6325, 32767, 32768, 65535)


@dataclass(frozen=True)
class Case:
    """One fuzz input: the mutations applied (``kind``), the source image's format and the bytes."""

    kind: str
    fmt: str
    data: bytes


def _position(rng: np.random.Generator, size: int) -> int:
    """A position in ``[0, size]``, half the time within the first 64 bytes (where the headers are)."""
    if size == 0:
        return 0
    limit = min(size, 64) if rng.random() < 0.5 else size
    return int(rng.integers(0, limit + 1))


def truncate(rng: np.random.Generator, data: bytes, fmt: str) -> bytes:
    return data[: _position(rng, max(len(data) - 1, 0))]


def flip_bits(rng: np.random.Generator, data: bytes, fmt: str) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 17))):
        index = min(_position(rng, len(out) - 1), len(out) - 1)
        out[index] ^= 1 << int(rng.integers(8))
    return bytes(out)


def insert_bytes(rng: np.random.Generator, data: bytes, fmt: str) -> bytes:
    at = _position(rng, len(data))
    filler = rng.integers(0, 256, int(rng.integers(1, 65)), dtype=np.uint8).tobytes()
    return data[:at] + filler + data[at:]


def delete_bytes(rng: np.random.Generator, data: bytes, fmt: str) -> bytes:
    at = _position(rng, len(data))
    return data[:at] + data[at + int(rng.integers(1, 65)) :]


def duplicate_span(rng: np.random.Generator, data: bytes, fmt: str) -> bytes:
    at = _position(rng, len(data))
    span = data[at : at + int(rng.integers(1, 257))]
    return data[:at] + span * int(rng.integers(2, 9)) + data[at:]


def swap_magic(rng: np.random.Generator, data: bytes, fmt: str) -> bytes:
    """Another format's signature over (or before) this image's bytes."""
    other = MAGIC[FORMATS[int(rng.integers(len(FORMATS)))]]
    if rng.random() < 0.5:
        return other + data[len(MAGIC[fmt]) :]
    return other + data


def garbage(rng: np.random.Generator, data: bytes, fmt: str) -> bytes:
    """Random bytes, half the time behind a valid signature so the decoder itself must refuse them."""
    noise = rng.integers(0, 256, int(rng.integers(0, 2049)), dtype=np.uint8).tobytes()
    return MAGIC[fmt] + noise if rng.random() < 0.5 else noise


def _dimension(rng: np.random.Generator) -> int:
    if rng.random() < 0.7:
        return int(_DIMENSIONS[int(rng.integers(len(_DIMENSIONS)))])
    return int(rng.integers(0, 1 << 16))


def _byte(*choices: int) -> Callable[[np.random.Generator], tuple[int, ...]]:
    """A field drawn from ``choices`` (any byte when none are given)."""
    return lambda rng: (int(rng.choice(choices)) if choices else int(rng.integers(256)),)


def _size(rng: np.random.Generator) -> tuple[int, ...]:
    return _dimension(rng), _dimension(rng)


# Header fields per format: (offset from the header's start, struct format, value drawer).
_PNG_FIELDS = [
    (16, ">II", _size),  # IHDR width, height
    (24, "B", _byte(0, 1, 2, 3, 4, 5, 8, 16, 32)),  # bit depth
    (25, "B", _byte(0, 1, 2, 3, 4, 5, 6, 7)),  # colour type
    (26, "B", _byte()),  # compression
    (27, "B", _byte()),  # filter
    (28, "B", _byte()),  # interlace
]
_JPEG_FIELDS = [  # from the start-of-frame marker
    (5, ">HH", _size),  # height, width
    (4, "B", _byte(0, 1, 8, 12, 16, 255)),  # sample precision
    (9, "B", _byte(0, 1, 2, 3, 4, 255)),  # component count
    (1, "B", _byte(0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC9, 0xCF)),  # frame type
]
_GIF_SCREEN_FIELDS = [(6, "<HH", _size), (10, "B", _byte())]  # screen size; colour table flags
_GIF_FRAME_FIELDS = [  # from the first image descriptor
    (1, "<HH", _size),  # left, top
    (5, "<HH", _size),  # width, height
    (10, "B", _byte()),  # LZW minimum code size (when there is no local colour table)
]
_BMP_FIELDS = [
    (18, "<ii", lambda rng: (_dimension(rng), -_dimension(rng) if rng.random() < 0.3 else _dimension(rng))),
    (28, "<H", lambda rng: (int(rng.choice([0, 1, 4, 8, 16, 24, 32, 64])),)),  # bits per pixel
    (30, "<I", lambda rng: (int(rng.integers(0, 7)),)),  # compression
    (10, "<I", lambda rng: (int(rng.integers(0, 1 << 32)),)),  # pixel data offset
    (14, "<I", lambda rng: (int(rng.choice([0, 12, 40, 56, 108, 124, 0xFFFFFFFF])),)),  # info header size
]


def _set_field(rng: np.random.Generator, data: bytearray, start: int | None, fields: list) -> None:
    """Overwrite one field of ``fields`` (offsets from ``start``) when it lies inside ``data``."""
    offset, layout, draw = fields[int(rng.integers(len(fields)))]
    if start is None or start + offset + struct.calcsize(layout) > len(data):
        return
    position = start + offset
    data[position : position + struct.calcsize(layout)] = struct.pack(layout, *draw(rng))


def edit_header(rng: np.random.Generator, data: bytes, fmt: str) -> bytes:
    """Change one header field of the image's own format to a hostile value."""
    out = bytearray(data)
    if fmt == "png":
        _set_field(rng, out, 0, _PNG_FIELDS)
        if len(out) >= 33 and rng.random() < 0.8:  # a correct CRC lets the decoder go past IHDR
            out[29:33] = struct.pack(">I", zlib.crc32(bytes(out[12:29])))
    elif fmt == "jpeg":
        _set_field(rng, out, jpeg_sof_offset(data), _JPEG_FIELDS)
    elif fmt == "gif" and rng.random() < 0.5:
        _set_field(rng, out, 0, _GIF_SCREEN_FIELDS)
    elif fmt == "gif":
        _set_field(rng, out, gif_image_descriptor_offset(data), _GIF_FRAME_FIELDS)
    else:
        _set_field(rng, out, 0, _BMP_FIELDS)
    return bytes(out)


MUTATORS: dict[str, Callable[[np.random.Generator, bytes, str], bytes]] = {
    "truncate": truncate,
    "flip_bits": flip_bits,
    "insert": insert_bytes,
    "delete": delete_bytes,
    "duplicate": duplicate_span,
    "header": edit_header,
    "swap_magic": swap_magic,
}


def mutate(rng: np.random.Generator, sample: Sample, pool: list[Sample]) -> Case:
    """One case from ``sample``: untouched, empty, garbage, spliced, or 1 to 3 mutations in a row."""
    roll = rng.random()
    if roll < 0.08:
        return Case("valid", sample.fmt, sample.data)
    if roll < 0.10:
        return Case("empty", sample.fmt, b"")
    if roll < 0.18:
        return Case("garbage", sample.fmt, garbage(rng, sample.data, sample.fmt))
    if roll < 0.24:
        other = pool[int(rng.integers(len(pool)))]
        head = sample.data[: _position(rng, len(sample.data))]
        return Case(
            f"splice:{other.fmt}", sample.fmt, head + other.data[int(rng.integers(len(other.data))) :]
        )
    names = list(MUTATORS)
    chosen = [names[int(rng.integers(len(names)))] for _ in range(int(rng.integers(1, 4)))]
    data = sample.data
    for name in chosen:
        data = MUTATORS[name](rng, data, sample.fmt)
    return Case("+".join(chosen), sample.fmt, data)


def cases(seed: int, count: int, pool: list[Sample]) -> Iterator[Case]:
    """``count`` seeded cases drawn from ``pool``."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield mutate(rng, pool[int(rng.integers(len(pool)))], pool)
