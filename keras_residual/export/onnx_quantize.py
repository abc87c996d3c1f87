"""Smaller ONNX variants of a float32 export: float16 weights/compute and static INT8 (QDQ).

Both start from the verified float32 graph. float16 uses onnxconverter-common's converter with
float32 inputs and outputs kept; INT8 uses ``onnxruntime.quantization.quantize_static`` with per-channel
weights and activation ranges calibrated on real images.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

CALIBRATION_BATCH = (
    4  # images per calibration feed: bounds ORT calibration memory (ResNet-50 224x224: ~2 GB peak)
)


def to_float16(model_proto):
    """Convert a float32 ONNX model to float16, keeping float32 inputs and outputs.

    Float32 I/O means callers feed and read the same arrays as for the float32 file; the graph casts
    once at the input and once at each output.

    Args:
        model_proto: An ``onnx.ModelProto`` with float32 tensors.

    Returns:
        A new ``onnx.ModelProto`` whose weights and compute are float16.

    Example:
        >>> fp16 = to_float16(onnx.load("model.onnx"))  # doctest: +SKIP
    """
    try:
        from onnxconverter_common import float16  # optional extra [onnx]
    except ImportError as err:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "float16 ONNX export needs onnxconverter-common: pip install 'keras-residual[onnx]'"
        ) from err
    with warnings.catch_warnings():
        # One warning per weight below float16's smallest normal value, which becomes 1e-7; the
        # parity check that follows measures the effect on the outputs instead.
        warnings.filterwarnings(
            "ignore", message=r"the float32 number .* will be truncated", category=UserWarning
        )
        return float16.convert_float_to_float16(model_proto, keep_io_types=True)


class ImageBatchReader:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over an NHWC batch of raw images.

    Yields ``{input_name: batch}`` feeds of at most ``batch_size`` images, then ``None``. It also
    has the ``len`` / ``set_range`` pair that ``quantize_static``'s strided calibration
    (``CalibStridedMinMax``) uses to calibrate one feed at a time.

    Example:
        >>> reader = ImageBatchReader("images", np.zeros((40, 32, 32, 3), "float32"))
        >>> [len(feed["images"]) for feed in iter(reader.get_next, None)]
        [4, 4, 4, 4, 4, 4, 4, 4, 4, 4]
    """

    def __init__(self, input_name: str, images: np.ndarray, batch_size: int = CALIBRATION_BATCH):
        self.input_name = input_name
        self.images = np.asarray(images, dtype="float32")
        self.batch_size = batch_size
        self.set_range(0, len(self))

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def set_range(self, start_index: int, end_index: int) -> None:
        """Restrict the reader to feeds ``start_index`` (inclusive) to ``end_index`` (exclusive)."""
        self._next, self._end = start_index, min(end_index, len(self))

    def get_next(self) -> dict | None:
        """Return the next feed dictionary, or ``None`` at the end of the range."""
        if self._next >= self._end:
            return None
        start = self._next * self.batch_size
        self._next += 1
        return {self.input_name: self.images[start : start + self.batch_size]}

    def rewind(self) -> None:
        """Start again from the first image."""
        self.set_range(0, len(self))


def quantize_int8(
    float32_path: str | Path, output_path: str | Path, input_name: str, images: np.ndarray
) -> None:
    """Write a static INT8 (QDQ) quantization of the float32 ONNX file at ``float32_path``.

    Settings: QDQ format (ONNX Runtime's recommended format on CPU and what TensorRT reads),
    per-channel int8 weights, uint8 activations, ``reduce_range=True`` (7-bit weights: no integer
    saturation on x86 CPUs without VNNI, the usual cloud and laptop case), MinMax activation ranges
    calibrated on ``images`` one small feed at a time, so memory does not grow with their number.

    Args:
        float32_path: The verified float32 ONNX file.
        output_path: Where the quantized file goes.
        input_name: The graph's image input name.
        images: Calibration images, NHWC raw pixels at the model's input size.

    Example:
        >>> quantize_int8("model.onnx", "model.int8.onnx", "images", images)  # doctest: +SKIP
    """
    try:
        # optional extra [onnx]: imported on use
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as err:  # pragma: no cover - depends on the installed extras
        raise ImportError("INT8 ONNX export needs onnxruntime: pip install 'keras-residual[onnx]'") from err
    prepared = Path(output_path).with_name(Path(output_path).stem + ".prepared.onnx")
    try:
        # ONNX shape inference plus ORT's basic graph optimizations, as the quantization guide
        # recommends. The symbolic shape inference step is skipped: tf2onnx graphs carry static
        # shapes apart from the batch, and that step imports torch when it is installed (~10 s).
        quant_pre_process(str(float32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(output_path),
            ImageBatchReader(input_name, images),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            # The calibrator holds every feed's intermediate tensors until it reduces them (11 GB
            # peak for 128 ResNet-50 images at 224x224 in feeds of 16): small feeds, reduced and
            # merged one at a time, keep it near 2 GB.
            extra_options={"CalibStridedMinMax": 1},
        )
    finally:
        prepared.unlink(missing_ok=True)


def quantize_dynamic_int8(float32_path: str | Path, output_path: str | Path) -> None:
    """Write a dynamic-range INT8 quantization of the float32 ONNX file at ``float32_path``.

    ONNX Runtime's ``quantize_dynamic``: per-channel int8 weights stored in the file (a quarter of
    the float32 size), activation ranges computed per batch at run time, so no calibration images.
    ``reduce_range=True`` for the same reason as `quantize_int8`.

    Example:
        >>> quantize_dynamic_int8("model.onnx", "model.dynamic.onnx")  # doctest: +SKIP
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic  # optional extra [onnx]
    except ImportError as err:  # pragma: no cover - depends on the installed extras
        raise ImportError("INT8 ONNX export needs onnxruntime: pip install 'keras-residual[onnx]'") from err
    quantize_dynamic(
        str(float32_path), str(output_path), per_channel=True, reduce_range=True, weight_type=QuantType.QInt8
    )
