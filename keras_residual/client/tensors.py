"""numpy <-> ``tensorflow.TensorProto`` conversion on the package's own wire messages (no TensorFlow).

bfloat16 has no numpy dtype: a ``DT_BFLOAT16`` tensor decodes to float32 (exactly: bfloat16 is the
upper half of a float32), and `to_tensor_proto` encodes float arrays as bfloat16 when asked with
``dtype="bfloat16"`` (round to nearest even, as TensorFlow casts), or when the array already has
the ``bfloat16`` dtype of the ``ml_dtypes`` package.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_residual.client import wire
from keras_residual.client.errors import ServingError
from keras_residual.client.metadata import TensorInfo

_NP_TO_DT = {
    "float32": "DT_FLOAT",
    "float64": "DT_DOUBLE",
    "float16": "DT_HALF",
    "int8": "DT_INT8",
    "int16": "DT_INT16",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "uint8": "DT_UINT8",
    "uint16": "DT_UINT16",
    "uint32": "DT_UINT32",
    "uint64": "DT_UINT64",
    "bool": "DT_BOOL",
}
_DT_TO_NP = {dt: np_name for np_name, dt in _NP_TO_DT.items()}
_DT_TO_NP["DT_STRING"] = "string"
_DT_TO_NP["DT_BFLOAT16"] = "bfloat16"
# Which repeated field of TensorProto holds each dtype when tensor_content is empty.
_VAL_FIELD = {
    "DT_FLOAT": "float_val",
    "DT_DOUBLE": "double_val",
    "DT_HALF": "half_val",
    "DT_BFLOAT16": "half_val",
    "DT_INT8": "int_val",
    "DT_INT16": "int_val",
    "DT_INT32": "int_val",
    "DT_UINT8": "int_val",
    "DT_UINT16": "int_val",
    "DT_INT64": "int64_val",
    "DT_UINT32": "uint32_val",
    "DT_UINT64": "uint64_val",
    "DT_BOOL": "bool_val",
}
_STRING_KINDS = ("S", "U", "O")


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype an array of signature dtype ``name`` decodes to (bfloat16 -> float32, string -> object)."""
    if name == "string":
        return np.dtype(object)
    if name == "bfloat16":
        return np.dtype(np.float32)
    return np.dtype(name)


def _bfloat16_bits(array: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), rounding to nearest even; NaN stays NaN."""
    bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
    rounded = (bits + (0x7FFF + ((bits >> 16) & 1))) >> 16
    nan = np.isnan(array)
    return np.where(nan, (bits >> 16) | 0x40, rounded).astype(np.uint16)


def to_tensor_proto(array: Any, dtype: str | None = None) -> Any:
    """Convert a numpy array (numeric, bool, or bytes/str) to a ``tensorflow.TensorProto``.

    Args:
        array: the values.
        dtype: send as this dtype instead of the array's own (``"bfloat16"``, or any numpy name).

    Example:
        ```python
        import numpy as np
        from keras_residual.client import to_tensor_proto, to_numpy

        proto = to_tensor_proto(np.arange(6, dtype="float32").reshape(2, 3))
        assert (to_numpy(proto) == np.arange(6).reshape(2, 3)).all()
        ```
    """
    arr = np.asarray(array)
    proto = wire.TensorProto()
    for size in arr.shape:
        proto.tensor_shape.dim.add().size = int(size)
    if arr.dtype.kind in _STRING_KINDS or dtype == "string":
        proto.dtype = wire.dtype_number("DT_STRING")
        proto.string_val.extend(
            item.encode("utf-8") if isinstance(item, str) else bytes(item) for item in arr.reshape(-1)
        )
        return proto
    name = dtype or arr.dtype.name
    if name == "bfloat16":
        proto.dtype = wire.dtype_number("DT_BFLOAT16")
        if arr.dtype.name == "bfloat16":  # ml_dtypes' type: already the bit patterns
            bits = np.ascontiguousarray(arr).view(np.uint16)
        else:
            bits = _bfloat16_bits(arr.astype(np.float32))
        proto.tensor_content = bits.astype("<u2").tobytes()
        return proto
    dt_name = _NP_TO_DT.get(name)
    if dt_name is None:
        raise ValueError(
            f"`array` dtype {name!r} has no TensorFlow Serving equivalent; allowed: "
            f"{sorted([*_NP_TO_DT, 'bfloat16'])} or strings; received dtype={name!r}"
        )
    proto.dtype = wire.dtype_number(dt_name)
    target = np.dtype(name).newbyteorder("<")
    proto.tensor_content = np.ascontiguousarray(arr).astype(target).tobytes()
    return proto


def to_numpy(proto: Any) -> np.ndarray:
    """Convert a ``TensorProto`` (tensor_content or typed-field form) to a numpy array.

    Works on this package's messages and on TensorFlow's own (any message with the same fields).
    Strings come back as an object array of ``str`` (or ``bytes`` when not UTF-8); bfloat16 as
    float32.

    Example:
        ```python
        import numpy as np
        from keras_residual.client import to_tensor_proto, to_numpy

        print(to_numpy(to_tensor_proto(np.array([b"a", b"b"]))))
        ```
    """
    dt_name = wire.dtype_name(proto.dtype)
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    size = int(np.prod(shape, dtype=np.int64))
    if dt_name == "DT_STRING":
        values = [_decode(v) for v in proto.string_val]
        out = np.empty(len(values), dtype=object)
        out[:] = values
        if len(values) == 1 and size != 1:
            out = np.full(size, values[0], dtype=object)
        return out.reshape(shape)
    if dt_name not in _DT_TO_NP:
        raise ServingError("UNIMPLEMENTED", f"cannot decode a {dt_name} tensor")
    if dt_name == "DT_BFLOAT16":
        if proto.tensor_content:
            bits = np.frombuffer(proto.tensor_content, dtype="<u2")
        else:
            bits = np.asarray(proto.half_val, dtype=np.uint32).astype(np.uint16)
        flat = (bits.astype(np.uint32) << 16).view(np.float32)
        return _fill(flat, shape, size)
    dtype = np.dtype(_DT_TO_NP[dt_name]).newbyteorder("<")
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(shape)
    values = getattr(proto, _VAL_FIELD[dt_name])
    if dt_name == "DT_HALF":
        flat = np.asarray(values, dtype=np.uint32).astype(np.uint16).view(np.float16)
    else:
        flat = np.asarray(values, dtype=dtype.newbyteorder("="))
    return _fill(flat, shape, size)


def _fill(flat: np.ndarray, shape: tuple[int, ...], size: int) -> np.ndarray:
    if flat.size == size:
        return flat.reshape(shape)
    if flat.size == 1:  # TF's compact form: one value repeated
        return np.full(shape, flat[0], dtype=flat.dtype)
    if flat.size == 0:
        return np.zeros(shape, dtype=flat.dtype)
    raise ServingError("INTERNAL", f"tensor has {flat.size} values for shape {list(shape)}")


def _decode(value: bytes) -> str | bytes:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


def decode_strings(values: np.ndarray) -> np.ndarray:
    """An object array with UTF-8 ``bytes`` decoded to ``str`` (other bytes left as they are)."""
    out = np.empty(values.shape, dtype=object)
    flat = out.reshape(-1)
    for i, item in enumerate(values.reshape(-1)):
        flat[i] = _decode(item) if isinstance(item, bytes) else item
    return out


def tensor_info(proto: Any) -> TensorInfo:
    """A `TensorInfo` record from a ``tensorflow.TensorInfo`` message."""
    dt_name = wire.dtype_name(proto.dtype)
    dtype = _DT_TO_NP.get(dt_name, dt_name)
    if proto.tensor_shape.unknown_rank:
        shape = None
    else:
        shape = tuple(None if d.size < 0 else int(d.size) for d in proto.tensor_shape.dim)
    return TensorInfo(proto.name, dtype, shape)
