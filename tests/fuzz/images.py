"""Seeded valid images of every format `serving_bytes` accepts, and decompression bombs.

Valid images are small (8 to 48 pixels a side) so a fuzz case costs the server little; they cover
the variants each decoder handles differently (grayscale, palette, alpha, 16-bit and interlaced
PNG, progressive JPEG, animated GIF, 8/24/32-bit BMP). Bombs are tiny on the wire and claim, or
really decode to, far more pixels than the export's ``max_pixels``.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

FORMATS = ("jpeg", "png", "gif", "bmp")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAGIC = {"jpeg": b"\xff\xd8\xff", "png": PNG_MAGIC, "gif": b"GIF89a", "bmp": b"BM"}


@dataclass(frozen=True)
class Sample:
    """One encoded image: its format, a short description, and its bytes."""

    fmt: str
    variant: str
    data: bytes


def _pixels(rng: np.random.Generator, height: int, width: int, channels: int) -> np.ndarray:
    """Noise, a gradient, or a flat colour: decoders take different paths on each."""
    kind = rng.integers(3)
    if kind == 0:
        return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    if kind == 1:
        ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
        offset = rng.uniform(0, 255, (1, 1, channels)).astype(np.float32)
        return ((ramp + offset + np.zeros((height, 1, 1), np.float32)) % 256).astype(np.uint8)
    return np.broadcast_to(rng.integers(0, 256, (1, 1, channels), dtype=np.uint8), (height, width, channels))


def _encode(image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt.upper(), **options)
    return buffer.getvalue()


def _variant(rng: np.random.Generator, fmt: str) -> Sample:
    height, width = (int(v) for v in rng.integers(8, 49, size=2))
    rgb = Image.fromarray(np.ascontiguousarray(_pixels(rng, height, width, 3)))
    gray = Image.fromarray(np.ascontiguousarray(_pixels(rng, height, width, 1)[..., 0]))
    if fmt == "jpeg":
        options = [
            ("baseline", rgb, {"quality": int(rng.integers(30, 96))}),
            ("progressive", rgb, {"quality": 80, "progressive": True}),
            ("grayscale", gray, {"quality": 90}),
            ("no-subsampling", rgb, {"quality": 95, "subsampling": 0}),
        ]
    elif fmt == "png":
        rgba = Image.fromarray(np.ascontiguousarray(_pixels(rng, height, width, 4)))
        deep = Image.fromarray(_pixels(rng, height, width, 1)[..., 0].astype(np.uint16) * 257)
        options = [
            ("rgb", rgb, {"compress_level": int(rng.integers(0, 10))}),
            ("rgba", rgba, {}),
            ("palette", rgb.convert("P"), {}),
            ("gray", gray, {}),
            ("16-bit-gray", deep, {}),
            ("interlaced", rgb, {"interlace": True}),
        ]
    elif fmt == "gif":
        second = Image.fromarray(np.ascontiguousarray(_pixels(rng, height, width, 3))).convert("P")
        options = [
            ("palette", rgb.convert("P"), {}),
            ("gray", gray, {}),
            ("animated", rgb.convert("P"), {"save_all": True, "append_images": [second], "duration": 50}),
            ("interlaced", rgb.convert("P"), {"interlace": True}),
        ]
    else:
        options = [
            ("24-bit", rgb, {}),
            ("8-bit-palette", rgb.convert("P"), {}),
            ("8-bit-gray", gray, {}),
            ("32-bit", Image.fromarray(np.ascontiguousarray(_pixels(rng, height, width, 4))), {}),
        ]
    name, image, kwargs = options[int(rng.integers(len(options)))]
    return Sample(fmt, f"{fmt}-{name}-{width}x{height}", _encode(image, fmt, **kwargs))


def valid_pool(seed: int, per_format: int = 12) -> list[Sample]:
    """``per_format`` seeded valid images of each format (same seed, same bytes)."""
    rng = np.random.default_rng(seed)
    return [_variant(rng, fmt) for _ in range(per_format) for fmt in FORMATS]


def reference_images(size: int = 24) -> list[Sample]:
    """One fixed, valid image per format: the request answered before and after a run."""
    rng = np.random.default_rng(12345)
    image = Image.fromarray(np.ascontiguousarray(_pixels(rng, size, size, 3)))
    return [
        Sample("jpeg", "reference-jpeg", _encode(image, "jpeg", quality=90)),
        Sample("png", "reference-png", _encode(image, "png")),
        Sample("gif", "reference-gif", _encode(image.convert("P"), "gif")),
        Sample("bmp", "reference-bmp", _encode(image, "bmp")),
    ]


# --- format structure (used by the header mutations and the bombs) ---------------------------------


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """A PNG chunk with its CRC."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def jpeg_sof_offset(data: bytes) -> int | None:
    """Offset of the first start-of-frame marker (``FF C0``..``FF CF`` but DHT/JPG/DAC), or None."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return position
        if marker == 0xDA:  # start of scan: no frame header before it
            return None
        position += 2 + struct.unpack(">H", data[position + 2 : position + 4])[0]
    return None


def gif_image_descriptor_offset(data: bytes) -> int | None:
    """Offset of the first image descriptor (``0x2C``), skipping the global colour table and extensions."""
    if len(data) < 13:
        return None
    packed = data[10]
    position = 13 + (3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0)
    while position < len(data):
        if data[position] == 0x2C:
            return position
        if data[position] != 0x21 or position + 2 >= len(data):
            return None
        position += 2  # introducer and label, then sub-blocks until a zero length
        while position < len(data) and data[position]:
            position += data[position] + 1
        position += 1
    return None


# --- decompression bombs --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bomb:
    """An image whose header claims ``width`` x ``height`` pixels (``real``: it would decode so)."""

    name: str
    width: int
    height: int
    data: bytes
    real: bool

    @property
    def pixels(self) -> int:
        return self.width * self.height


def png_bomb(width: int, height: int) -> bytes:
    """A real 8-bit grayscale PNG of all-zero rows: a few hundred KB that decode to gigabytes.

    The rows are deflated in identical blocks, each ended by a full flush (which resets the
    compressor, so every block compresses to the same bytes): one block is compressed and repeated,
    and only the checksum runs over all the rows.
    """
    row = b"\0" * (1 + width)  # filter byte 0, then the row
    per_block = max(1, (1 << 22) // len(row))
    full, rest = divmod(height, per_block)
    block = row * per_block
    unit = zlib.compressobj(6, zlib.DEFLATED, -15)
    repeated = unit.compress(block) + unit.flush(zlib.Z_FULL_FLUSH)
    last = zlib.compressobj(6, zlib.DEFLATED, -15)
    tail = last.compress(row * rest) + last.flush()
    checksum = 1
    for _ in range(full):
        checksum = zlib.adler32(block, checksum)
    checksum = zlib.adler32(row * rest, checksum)
    stream = b"\x78\x9c" + repeated * full + tail + struct.pack(">I", checksum)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return PNG_MAGIC + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", stream) + png_chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A valid 16x16 JPEG whose frame header is edited to claim ``width`` x ``height``."""
    data = bytearray(_encode(Image.new("L", (16, 16), 128), "jpeg"))
    sof = jpeg_sof_offset(bytes(data))
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def real_jpeg(width: int, height: int) -> bytes:
    """A real, flat grayscale JPEG of ``width`` x ``height`` (small on the wire)."""
    return _encode(Image.new("L", (width, height), 90), "jpeg", quality=75)


@functools.lru_cache(maxsize=8)
def _flat_gif(width: int, height: int) -> bytes:
    image = Image.new("P", (width, height), 0)
    image.putpalette([0, 0, 0, 255, 255, 255])
    return _encode(image, "gif")


def gif_with_frames(frames: list[tuple[int, int]], screen: tuple[int, int]) -> bytes:
    """A GIF of flat frames of the given ``(width, height)`` on a logical screen of ``screen``.

    TensorFlow's decoder ignores the logical screen: its canvas is the largest frame width by the
    largest frame height over *all* frames (even when only the first is returned), so frames of
    12000x1 and 1x12000 on a 1x1 screen decode to 12000x12000.
    """
    parts = [_flat_gif(*size) for size in frames]
    head = bytearray(parts[0][: gif_image_descriptor_offset(parts[0])])
    head[6:10] = struct.pack("<HH", *screen)
    blocks = [part[gif_image_descriptor_offset(part) : -1] for part in parts]  # each without its trailer
    return bytes(head) + b"".join(blocks) + b";"


def bmp_claiming(width: int, height: int) -> bytes:
    """A valid 4x4 24-bit BMP whose info header claims ``width`` x ``height`` (negative: top-down)."""
    data = bytearray(_encode(Image.new("RGB", (4, 4), (1, 2, 3)), "bmp"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def bombs() -> list[Bomb]:
    """Bombs of every format, each claiming far more than the default 40-megapixel limit."""
    return [
        Bomb("png-12000x12000", 12000, 12000, png_bomb(12000, 12000), True),
        Bomb("png-20000x20000", 20000, 20000, png_bomb(20000, 20000), True),
        Bomb("jpeg-header-60000x60000", 60000, 60000, jpeg_claiming(60000, 60000), False),
        Bomb("jpeg-real-6400x6400", 6400, 6400, real_jpeg(6400, 6400), True),
        Bomb("gif-screen-60000x60000", 60000, 60000, gif_with_frames([(1, 1)], (60000, 60000)), False),
        Bomb(
            "gif-frame-12000x12000-screen-1x1", 12000, 12000, gif_with_frames([(12000, 12000)], (1, 1)), True
        ),
        Bomb(
            "gif-frames-8x8-then-12000x12000",
            12000,
            12000,
            gif_with_frames([(8, 8), (12000, 12000)], (8, 8)),
            True,
        ),
        Bomb(
            "gif-frames-12000x1-and-1x12000",
            12000,
            12000,
            gif_with_frames([(12000, 1), (1, 12000)], (1, 1)),
            True,
        ),
        Bomb("bmp-header-60000x60000", 60000, 60000, bmp_claiming(60000, 60000), False),
        Bomb("bmp-header-60000x60000-top-down", 60000, 60000, bmp_claiming(60000, -60000), False),
    ]
