"""The TensorFlow graph behind the SavedModel's serving signatures.

Two endpoints share one graph: ``serving_default`` takes float32 NHWC pixels, ``serving_bytes``
takes encoded images, checks each header's claimed size against ``max_pixels`` *before* decoding
(a 150 KB PNG can claim 12000x12000 pixels, 432 MB decoded), decodes, resizes and feeds the same
graph. Everything here is in-graph: TF Serving runs no Python. Failures are
``tf.debugging.Assert`` ops, which TF Serving returns as INVALID_ARGUMENT.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from keras_residual import contract

IMAGE_MAGIC = {
    "jpeg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "gif": (b"GIF87a", b"GIF89a"),
    "bmp": (b"BM",),
}
DECODE_ERROR = "image could not be decoded: the bytes are not a JPEG, PNG, GIF or BMP image"
_HEADER_BYTES = 32  # PNG's IHDR, GIF's screen descriptor and BMP's info header all end before this


@dataclass(frozen=True)
class ServingSpec:
    """What the serving graph needs to know about the model and the export options."""

    height: int
    width: int
    channels: int
    channels_first: bool
    class_names: list[str] | None
    top_k: int | None
    resize: str
    apply_softmax: bool
    max_pixels: int


def _starts_with(encoded, magic: bytes):
    return tf.equal(tf.strings.substr(encoded, 0, len(magic)), magic)


def _is_format(encoded, name: str):
    return tf.reduce_any([_starts_with(encoded, magic) for magic in IMAGE_MAGIC[name]])


def _header_int(header, start: int, length: int, big_endian: bool):
    """An unsigned integer from ``length`` bytes of a uint8 header tensor (as int64)."""
    value = tf.constant(0, tf.int64)
    order = range(start, start + length) if big_endian else reversed(range(start, start + length))
    for index in order:
        value = value * 256 + tf.cast(header[index], tf.int64)
    return value


def _signed32_le(header, start: int):
    value = _header_int(header, start, 4, big_endian=False)
    return tf.abs(tf.where(value >= 2**31, value - 2**32, value))  # BMP heights < 0 mean top-down


def gif_canvas(encoded):
    """``(height, width, pixels)`` a GIF makes TensorFlow allocate, read from its blocks without decoding.

    TensorFlow's GIF decoder decodes every frame (even with ``expand_animations=False``) and sizes
    its canvas by the largest frame, not by the logical screen, so a GIF with a 1x1 screen can hold
    a 12000x12000 frame. This walks the block structure (extensions and image descriptors, skipping
    their data sub-blocks) and returns the largest height and width among the logical screen and
    all frames; when the frames together hold more pixels than that canvas, the height is raised
    so that ``height * width`` covers their sum (the decoder keeps every frame in memory).
    """
    data = tf.cast(tf.io.decode_raw(encoded, tf.uint8), tf.int64)
    size = tf.size(data, out_type=tf.int64)

    def byte(index):
        index = tf.cast(index, tf.int64)
        return tf.where(index < size, tf.gather(data, tf.minimum(index, size - 1)), tf.constant(0, tf.int64))

    def u16(index):
        return byte(index) + 256 * byte(index + 1)

    def color_table(packed):  # bytes of a global/local color table announced by a packed field
        return tf.where(packed >= 128, 3 * tf.bitwise.left_shift(tf.constant(2, tf.int64), packed % 8), 0)

    def skip_sub_blocks(pos):
        (end,) = tf.while_loop(lambda p: (p < size) & (byte(p) > 0), lambda p: (p + byte(p) + 1,), (pos,))
        return end + 1

    def step(pos, width, height, total, done):
        def image():
            w, h = u16(pos + 5), u16(pos + 7)
            data_start = pos + 10 + color_table(byte(pos + 9)) + 1  # + the LZW minimum code size
            return (
                skip_sub_blocks(data_start),
                tf.maximum(width, w),
                tf.maximum(height, h),
                total + w * h,
                done,
            )

        def extension():
            return skip_sub_blocks(pos + 2), width, height, total, done

        def stop():  # the trailer, or a broken stream the decoder will refuse
            return pos, width, height, total, tf.constant(True)

        return tf.case([(byte(pos) == 0x2C, image), (byte(pos) == 0x21, extension)], default=stop)

    start = tf.constant(13, tf.int64) + color_table(byte(10))
    initial = (start, u16(6), u16(8), tf.constant(0, tf.int64), tf.constant(False))
    _, width, height, total, _ = tf.while_loop(lambda p, w, h, t, d: (p < size) & ~d, step, initial)
    return height, width, tf.maximum(height * width, total)


def header_size(encoded):
    """``(height, width, pixels)`` an encoded image's header claims, as int64 scalars, without decoding it.

    JPEG uses ``tf.io.extract_jpeg_shape`` (which reads the markers only); PNG reads IHDR, BMP the
    info header, GIF walks its blocks (:func:`gif_canvas`). Bytes of no known format give ``(0, 0)``
    and are rejected later as undecodable.
    """
    padded = tf.strings.substr(tf.strings.join([encoded, "\0" * _HEADER_BYTES]), 0, _HEADER_BYTES)
    header = tf.io.decode_raw(padded, tf.uint8)

    def jpeg():
        shape = tf.cast(tf.io.extract_jpeg_shape(encoded), tf.int64)
        return shape[0], shape[1], shape[0] * shape[1]

    def png():
        height, width = _header_int(header, 20, 4, True), _header_int(header, 16, 4, True)
        return height, width, height * width

    def gif():
        return gif_canvas(encoded)

    def bmp():
        height, width = _signed32_le(header, 22), _signed32_le(header, 18)
        return height, width, height * width

    def unknown():
        zero = tf.constant(0, tf.int64)
        return zero, zero, zero

    return tf.case(
        [
            (_is_format(encoded, "jpeg"), jpeg),
            (_is_format(encoded, "png"), png),
            (_is_format(encoded, "gif"), gif),
            (_is_format(encoded, "bmp"), bmp),
        ],
        default=unknown,
        exclusive=False,
    )


def _checks(encoded, max_pixels: int):
    """The asserts run before decoding: a known format, and a claimed size within ``max_pixels``."""
    known = tf.reduce_any([_is_format(encoded, name) for name in IMAGE_MAGIC])
    known_check = tf.debugging.Assert(known, [DECODE_ERROR])
    with tf.control_dependencies([known_check]):
        height, width, pixels = header_size(encoded)
    message = tf.strings.format(
        "image too large: its header claims {}x{} pixels ({} pixels to decode), more than max_pixels={} "
        "(the export's limit); send a smaller image",
        (height, width, pixels, max_pixels),
    )
    return [known_check, tf.debugging.Assert(pixels <= max_pixels, [message])]


def decode_image(encoded, spec: ServingSpec):
    """Decode one encoded image to float32 ``[height, width, channels]`` at the serving size."""
    with tf.control_dependencies(_checks(encoded, spec.max_pixels)):
        image = tf.io.decode_image(encoded, channels=spec.channels, expand_animations=False)
    image = tf.image.resize(image, [spec.height, spec.width], method=spec.resize, antialias=True)
    return tf.ensure_shape(tf.cast(image, tf.float32), [spec.height, spec.width, spec.channels])


def _run_model(model: keras.Model, images):
    """``model(images)`` in float32; a batch of 0 runs one zero image and keeps 0 rows.

    TensorFlow's oneDNN convolutions return a wrong shape for batch 0, so the empty case never
    reaches them; the conditional costs one scalar comparison per request.
    """

    def full():
        return tf.cast(model(images, training=False), tf.float32)

    def empty():
        one = tf.zeros(tf.concat([[1], tf.shape(images)[1:]], 0), images.dtype)
        return tf.cast(model(one, training=False), tf.float32)[:0]

    return tf.cond(tf.shape(images)[0] > 0, full, empty)


def serving_outputs(model: keras.Model, images, spec: ServingSpec) -> dict:
    """The signature outputs for a float32 NHWC batch (shape-checked against the serving size)."""
    images = tf.ensure_shape(images, [None, spec.height, spec.width, spec.channels])
    if spec.channels_first:
        images = tf.transpose(images, [0, 3, 1, 2])
    result = _run_model(model, images)
    if spec.top_k is None:
        return {contract.OUTPUT_FEATURES: result}
    if spec.apply_softmax:
        result = tf.nn.softmax(result, axis=-1)
    scores, indices = tf.math.top_k(result, k=spec.top_k)
    served = {
        contract.OUTPUT_PROBABILITIES: result,
        contract.OUTPUT_TOP_K_INDICES: indices,
        contract.OUTPUT_TOP_K_SCORES: scores,
    }
    if spec.class_names is not None:
        served[contract.OUTPUT_TOP_K_LABELS] = tf.gather(tf.constant(spec.class_names), indices)
    return served


def build_archive(model: keras.Model, spec: ServingSpec) -> keras.export.ExportArchive:
    """An ``ExportArchive`` tracking ``model`` with the ``serving_default`` and ``serving_bytes`` endpoints."""
    size = [spec.height, spec.width, spec.channels]

    def from_bytes(image_bytes):
        images = tf.map_fn(
            lambda encoded: decode_image(encoded, spec),
            image_bytes,
            fn_output_signature=tf.TensorSpec(size, tf.float32),
        )
        return serving_outputs(model, images, spec)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        contract.SIGNATURE_IMAGES,
        tf.function(lambda images: serving_outputs(model, images, spec)),
        input_signature=[tf.TensorSpec([None, *size], tf.float32, name=contract.INPUT_IMAGES)],
    )
    archive.add_endpoint(
        contract.SIGNATURE_BYTES,
        tf.function(from_bytes),
        input_signature=[tf.TensorSpec([None], tf.string, name=contract.INPUT_BYTES)],
    )
    return archive
