"""What every export returns and raises: one `ExportReport`, one `ExportError`, one tolerance.

Every format fills the same report (``keras_residual.export.export``); figures only one format has
(the ONNX opset, a SavedModel's version) go in ``details`` and read as attributes too
(``report.opset``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from keras_residual.contract import INPUT_IMAGES

TOLERANCE = 1e-4
"""Float32 parity bound: ``max |runtime - keras| <= TOLERANCE * max(1, max |keras|)`` on real images."""

DEFAULT_IMAGE_SIZE = 224
"""Height and width of the check images for models whose input size is not fixed."""


class ExportError(ValueError):
    """The model cannot be exported faithfully (unsupported ops, a failed check); nothing was written."""


_TITLES = {"onnx": "ONNX"}  # how a format names itself in the report's first line

_ALIASES = {"variant": "precision", "node_counts": "op_counts", "num_nodes": "num_ops", "atol": "tolerance"}


@dataclasses.dataclass
class ExportReport:
    """What an export wrote, what it ran in and how faithful it is.

    Attributes:
        format: The format name (``"saved_model"``, ``"onnx"``, ``"litert"``, ``"openvino"``, ...).
        path: The published file or directory (an OpenVINO ``.xml``, a SavedModel version directory).
        precision: What the file computes in, a name from ``keras_residual.precision.EXPORT_PRECISIONS``.
        runtime: The runtime the file was loaded and checked in.
        converter: The conversion path that produced it.
        input_shape: Shape of the ``images`` input, ``None`` for the dynamic batch.
        input_dtype: Dtype of the ``images`` input.
        output_names: Output names, in order.
        op_counts: Operations (ONNX nodes, LiteRT ops, OpenVINO ops, TensorFlow graph ops) by type,
            most frequent first.
        file_size: Bytes on disk (every file of the export).
        source_policy: Dtype policy of the model that was passed in.
        rebuilt_float32: Whether the float32 reference is a rebuild of a mixed-precision source.
        execution_precision: The precision the runtime computed in while checking, where it says.
        tolerance: Relative parity bound the outputs were held to (``None``: parity only reported).
        verify_images: Real images behind the parity figures (0 with ``verify=False``).
        max_abs_diff: Max absolute difference from float32 Keras on those images.
        max_rel_diff: ``max_abs_diff`` divided by the largest absolute Keras output.
        source_max_abs_diff: The float32 rebuild vs the mixed-precision source (``None`` without one).
        top1_agreement: Reduced precisions: fraction of held-out images whose top-1 class matches
            float32 Keras.
        min_agreement: The agreement the export was held to.
        heldout_images: Images behind ``top1_agreement``.
        calibration_images: INT8 only: images the ranges were calibrated on.
        calibration_source: Where the calibration and held-out images came from.
        timings: Seconds per stage (``convert``, ``verify``, ``publish``, ``total``).
        details: Format-specific figures (ONNX ``opset``, SavedModel ``version``, ...), also readable
            as attributes.
    """

    format: str
    path: Path
    precision: str
    runtime: str = ""
    converter: str = ""
    input_shape: tuple = ()
    input_dtype: str = "float32"
    output_names: tuple[str, ...] = ()
    op_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    file_size: int = 0
    source_policy: str = "float32"
    rebuilt_float32: bool = False
    execution_precision: str | None = None
    tolerance: float | None = None
    verify_images: int = 0
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    source_max_abs_diff: float | None = None
    top1_agreement: float | None = None
    min_agreement: float | None = None
    heldout_images: int = 0
    calibration_images: int = 0
    calibration_source: str | None = None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __getattr__(self, name: str):
        # Only called for names the dataclass does not have: format details and the old field names.
        if name.startswith("__"):
            raise AttributeError(name)
        if name in _ALIASES:
            return getattr(self, _ALIASES[name])
        details = self.__dict__.get("details", {})
        if name in details:
            return details[name]
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    @property
    def num_ops(self) -> int:
        """Total number of operations in the graph."""
        return sum(self.op_counts.values())

    @property
    def seconds(self) -> float:
        """Wall time of the whole export."""
        return self.timings.get("total", 0.0)

    def __str__(self) -> str:
        dims = ", ".join("batch" if d is None else str(d) for d in self.input_shape)
        lines = [
            f"{_TITLES.get(self.format, self.format)} export: {self.path} ({_size(self.file_size)}, {self.precision})",
            f"  input    {INPUT_IMAGES}: {self.input_dtype} [{dims}] raw pixels, NHWC, preprocessing inside",
            f"  outputs  {', '.join(self.output_names)}",
            f"  source   {self.source_policy} model"
            + (", compared with its float32 rebuild" if self.rebuilt_float32 else "")
            + (f"; converted by {self.converter}" if self.converter else ""),
            f"  graph    {self.num_ops} ops: " + ", ".join(f"{op} {n}" for op, n in self.op_counts.items()),
            f"  runtime  {self.runtime}"
            + (f", inference precision {self.execution_precision}" if self.execution_precision else ""),
        ]
        lines += self._check_lines()
        if self.details:
            lines.append("  details  " + ", ".join(f"{k} {_short(v)}" for k, v in self.details.items()))
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items() if k != "total")
        lines.append(f"  time     {self.seconds:.1f} s" + (f" ({stages})" if stages else ""))
        return "\n".join(lines)

    def _check_lines(self) -> list[str]:
        if self.max_abs_diff is None:
            return ["  parity   not checked (verify=False)"]
        checked = f"checked at {self.tolerance:g} relative" if self.tolerance else "reported, not a check"
        lines = [
            f"  parity   max abs diff {self.max_abs_diff:.2e}, max rel diff {self.max_rel_diff:.2e} "
            f"vs float32 Keras on {self.verify_images} real images ({checked})"
        ]
        if self.source_max_abs_diff is not None:
            lines.append(f"  mixed    the {self.source_policy} model itself differs by {self.source_max_abs_diff:.2e}")
        if self.top1_agreement is not None:
            calibrated = f"; calibrated on {self.calibration_images}" if self.calibration_images else ""
            lines.append(
                f"  top-1    agreement with float32 Keras {100 * self.top1_agreement:.1f}% on "
                f"{self.heldout_images} held-out images ({self.calibration_source}{calibrated}), "
                f"minimum {100 * (self.min_agreement or 0):.1f}%"
            )
        return lines


def _size(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
