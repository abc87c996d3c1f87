"""TF Serving's wire messages, declared by this package: no TensorFlow, no ``tensorflow-serving-api``.

The messages the client sends and reads are built at import time as protobuf descriptors in a
private descriptor pool, with upstream's full names (``tensorflow.TensorProto``,
``tensorflow.serving.PredictRequest``, ...), field numbers and types, so that their bytes are the
bytes ``tensorflow_model_server`` expects and answers. A private pool keeps them apart from
TensorFlow's own generated classes when both are loaded in one process.

Only the fields the client uses are declared; fields left out (``TensorProto.resource_handle_val``
and ``variant_val``, ``TensorInfo.coo_sparse`` and ``composite_tensor``, and the newer
``PredictRequest`` options) are kept as unknown fields when a message is parsed and re-serialized.
``tests/client/test_wire_compat.py`` checks every declared field against ``tensorflow-serving-api``.

Example:
    ```python
    from keras_residual.client import wire

    request = wire.PredictRequest()
    request.model_spec.name = "digits"
    assert wire.PredictRequest.FromString(request.SerializeToString()).model_spec.name == "digits"
    print(wire.PREDICT)  # /tensorflow.serving.PredictionService/Predict
    ```
"""

from __future__ import annotations

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

PREDICT = "/tensorflow.serving.PredictionService/Predict"
"""gRPC method path of PredictionService.Predict."""
GET_MODEL_METADATA = "/tensorflow.serving.PredictionService/GetModelMetadata"
"""gRPC method path of PredictionService.GetModelMetadata."""
GET_MODEL_STATUS = "/tensorflow.serving.ModelService/GetModelStatus"
"""gRPC method path of ModelService.GetModelStatus."""
SIGNATURE_DEF_MAP_URL = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
"""``type_url`` of the ``Any`` that GetModelMetadata answers under the key ``signature_def``."""

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "double": _F.TYPE_DOUBLE,
    "float": _F.TYPE_FLOAT,
    "int64": _F.TYPE_INT64,
    "uint64": _F.TYPE_UINT64,
    "int32": _F.TYPE_INT32,
    "uint32": _F.TYPE_UINT32,
    "bool": _F.TYPE_BOOL,
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
}

# tensorflow/core/framework/types.proto: the value types; each has a *_REF twin at value + 100.
_DATA_TYPES = (
    "INVALID FLOAT DOUBLE INT32 UINT8 INT16 INT8 STRING COMPLEX64 INT64 BOOL QINT8 QUINT8 QINT32 BFLOAT16 "
    "QINT16 QUINT16 UINT16 COMPLEX128 HALF RESOURCE VARIANT UINT32 UINT64 FLOAT8_E5M2 FLOAT8_E4M3FN "
    "FLOAT8_E4M3FNUZ FLOAT8_E4M3B11FNUZ FLOAT8_E5M2FNUZ INT4 UINT4 INT2 UINT2 FLOAT4_E2M1FN"
).split()
# tensorflow/core/protobuf/error_codes.proto (tensorflow.error.Code), the gRPC status codes.
_ERROR_CODES = {
    "OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4, "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "UNAUTHENTICATED": 16, "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12, "INTERNAL": 13,
    "UNAVAILABLE": 14, "DATA_LOSS": 15,
    "DO_NOT_USE_RESERVED_FOR_FUTURE_EXPANSION_USE_DEFAULT_IN_SWITCH_INSTEAD_": 20,
}  # fmt: skip
_VERSION_STATES = {"UNKNOWN": 0, "START": 10, "LOADING": 20, "AVAILABLE": 30, "UNLOADING": 40, "END": 50}


def _field(name: str, number: int, kind: str, *, repeated: bool = False, oneof: int | None = None):
    """One field; ``kind`` is a scalar name, or ``.full.Name`` of a message or ``enum .full.Name``."""
    field = _F(name=name, number=number, label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
    if kind in _SCALARS:
        field.type = _SCALARS[kind]
    elif kind.startswith("enum "):
        field.type, field.type_name = _F.TYPE_ENUM, kind.removeprefix("enum ")
    else:
        field.type, field.type_name = _F.TYPE_MESSAGE, kind
    if oneof is not None:
        field.oneof_index = oneof
    return field


def _message(name: str, *fields, nested=(), enums=(), oneofs=(), maps=()):
    """A message; ``maps`` are ``(field name, number, key kind, value kind)`` (protobuf map fields)."""
    message = descriptor_pb2.DescriptorProto(name=name)
    message.field.extend(fields)
    message.nested_type.extend(nested)
    message.enum_type.extend(enums)
    for oneof in oneofs:
        message.oneof_decl.add(name=oneof)
    for field_name, number, key, value in maps:
        entry = "".join(part.capitalize() for part in field_name.split("_")) + "Entry"
        message.nested_type.append(
            _message(entry, _field("key", 1, key), _field("value", 2, value))
        )
        message.nested_type[-1].options.map_entry = True
        message.field.append(_field(field_name, number, f".{message.name}.{entry}", repeated=True))
    return message


def _enum(name: str, values: dict[str, int]):
    enum = descriptor_pb2.EnumDescriptorProto(name=name)
    for value_name, number in values.items():
        enum.value.add(name=value_name, number=number)
    return enum


def _file(name: str, package: str, deps: list[str], messages=(), enums=()):
    proto = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3")
    proto.dependency.extend(deps)
    proto.message_type.extend(messages)
    proto.enum_type.extend(enums)
    # Map entry type names were written relative to the message: make them absolute.
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(f".{message.name}."):
                field.type_name = f".{package}{field.type_name}"
    return proto


def _files() -> list[descriptor_pb2.FileDescriptorProto]:
    """Upstream's .proto files, as far as the client uses them.

    Longer than 60 lines because it is one declarative table (file, package, messages, field
    numbers), read side by side with upstream's .proto files; splitting it would scatter the schema.
    """
    data_types = {f"DT_{n}": i for i, n in enumerate(_DATA_TYPES)}
    data_types |= {f"DT_{n}_REF": i + 100 for i, n in enumerate(_DATA_TYPES) if i}
    dt, shape, tensor = "enum .tensorflow.DataType", ".tensorflow.TensorShapeProto", ".tensorflow.TensorProto"
    spec = ".tensorflow.serving.ModelSpec"
    tensor_fields = [
        ("dtype", 1, dt), ("tensor_shape", 2, shape), ("version_number", 3, "int32"),
        ("tensor_content", 4, "bytes"), ("half_val", 13, "int32", True), ("float_val", 5, "float", True),
        ("double_val", 6, "double", True), ("int_val", 7, "int32", True), ("string_val", 8, "bytes", True),
        ("scomplex_val", 9, "float", True), ("int64_val", 10, "int64", True), ("bool_val", 11, "bool", True),
        ("dcomplex_val", 12, "double", True), ("uint32_val", 16, "uint32", True),
        ("uint64_val", 17, "uint64", True), ("float8_val", 18, "bytes"),
    ]  # fmt: skip
    return [
        _file("tensorflow/core/framework/types.proto", "tensorflow", [], enums=[_enum("DataType", data_types)]),
        _file("tensorflow/core/framework/tensor_shape.proto", "tensorflow", [], [
            _message("TensorShapeProto", _field("dim", 2, ".tensorflow.TensorShapeProto.Dim", repeated=True),
                     _field("unknown_rank", 3, "bool"),
                     nested=[_message("Dim", _field("size", 1, "int64"), _field("name", 2, "string"))]),
        ]),
        _file("tensorflow/core/framework/tensor.proto", "tensorflow",
              ["tensorflow/core/framework/types.proto", "tensorflow/core/framework/tensor_shape.proto"], [
            _message("TensorProto", *(_field(n, i, k, repeated=bool(r)) for n, i, k, *r in tensor_fields)),
        ]),
        _file("tensorflow/core/protobuf/meta_graph.proto", "tensorflow",
              ["tensorflow/core/framework/types.proto", "tensorflow/core/framework/tensor_shape.proto",
               "tensorflow/core/framework/tensor.proto"], [
            _message("TensorInfo", _field("name", 1, "string", oneof=0), _field("dtype", 2, dt),
                     _field("tensor_shape", 3, shape), oneofs=["encoding"]),
            _message("SignatureDef", _field("method_name", 3, "string"),
                     maps=[("inputs", 1, "string", ".tensorflow.TensorInfo"),
                           ("outputs", 2, "string", ".tensorflow.TensorInfo"),
                           ("defaults", 4, "string", tensor)]),
        ]),
        _file("tensorflow/core/protobuf/error_codes.proto", "tensorflow.error", [],
              enums=[_enum("Code", _ERROR_CODES)]),
        _file("tf_serving/apis/model.proto", "tensorflow.serving", ["google/protobuf/wrappers.proto"], [
            _message("ModelSpec", _field("name", 1, "string"),
                     _field("version", 2, ".google.protobuf.Int64Value", oneof=0),
                     _field("version_label", 4, "string", oneof=0), _field("signature_name", 3, "string"),
                     oneofs=["version_choice"]),
        ]),
        _file("tf_serving/apis/predict.proto", "tensorflow.serving",
              ["tensorflow/core/framework/tensor.proto", "tf_serving/apis/model.proto"], [
            _message("PredictRequest", _field("model_spec", 1, spec),
                     _field("output_filter", 3, "string", repeated=True), maps=[("inputs", 2, "string", tensor)]),
            _message("PredictResponse", _field("model_spec", 2, spec), maps=[("outputs", 1, "string", tensor)]),
        ]),
        _file("tf_serving/apis/get_model_metadata.proto", "tensorflow.serving",
              ["google/protobuf/any.proto", "tensorflow/core/protobuf/meta_graph.proto",
               "tf_serving/apis/model.proto"], [
            _message("SignatureDefMap", maps=[("signature_def", 1, "string", ".tensorflow.SignatureDef")]),
            _message("GetModelMetadataRequest", _field("model_spec", 1, spec),
                     _field("metadata_field", 2, "string", repeated=True)),
            _message("GetModelMetadataResponse", _field("model_spec", 1, spec),
                     maps=[("metadata", 2, "string", ".google.protobuf.Any")]),
        ]),
        _file("tf_serving/apis/status.proto", "tensorflow.serving",
              ["tensorflow/core/protobuf/error_codes.proto"], [
            _message("StatusProto", _field("error_code", 1, "enum .tensorflow.error.Code"),
                     _field("error_message", 2, "string")),
        ]),
        _file("tf_serving/apis/get_model_status.proto", "tensorflow.serving",
              ["tf_serving/apis/model.proto", "tf_serving/apis/status.proto"], [
            _message("GetModelStatusRequest", _field("model_spec", 1, spec)),
            _message("ModelVersionStatus", _field("version", 1, "int64"),
                     _field("state", 2, "enum .tensorflow.serving.ModelVersionStatus.State"),
                     _field("status", 3, ".tensorflow.serving.StatusProto"),
                     enums=[_enum("State", _VERSION_STATES)]),
            _message("GetModelStatusResponse",
                     _field("model_version_status", 1, ".tensorflow.serving.ModelVersionStatus", repeated=True)),
        ]),
    ]  # fmt: skip


def _build_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for module in (any_pb2, wrappers_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        pool.Add(proto)
    for proto in _files():
        pool.Add(proto)
    return pool


POOL = _build_pool()
"""The private descriptor pool holding the declared messages (and ``Any`` / ``Int64Value``)."""


def message_class(full_name: str) -> type:
    """The generated class of a declared message, by its upstream full name.

    Example:
        ```python
        from keras_residual.client import wire

        cls = wire.message_class("tensorflow.serving.ModelSpec")
        print(cls(name="digits"))
        ```
    """
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(full_name))


TensorProto = message_class("tensorflow.TensorProto")
TensorShapeProto = message_class("tensorflow.TensorShapeProto")
TensorInfo = message_class("tensorflow.TensorInfo")
SignatureDef = message_class("tensorflow.SignatureDef")
ModelSpec = message_class("tensorflow.serving.ModelSpec")
PredictRequest = message_class("tensorflow.serving.PredictRequest")
PredictResponse = message_class("tensorflow.serving.PredictResponse")
SignatureDefMap = message_class("tensorflow.serving.SignatureDefMap")
GetModelMetadataRequest = message_class("tensorflow.serving.GetModelMetadataRequest")
GetModelMetadataResponse = message_class("tensorflow.serving.GetModelMetadataResponse")
GetModelStatusRequest = message_class("tensorflow.serving.GetModelStatusRequest")
GetModelStatusResponse = message_class("tensorflow.serving.GetModelStatusResponse")
ModelVersionStatus = message_class("tensorflow.serving.ModelVersionStatus")

DATA_TYPE = POOL.FindEnumTypeByName("tensorflow.DataType")
"""The ``tensorflow.DataType`` enum descriptor (``DATA_TYPE.values_by_name["DT_FLOAT"].number``)."""
ERROR_CODE = POOL.FindEnumTypeByName("tensorflow.error.Code")
"""The ``tensorflow.error.Code`` enum descriptor (gRPC status codes by number)."""
VERSION_STATE = POOL.FindEnumTypeByName("tensorflow.serving.ModelVersionStatus.State")
"""The ``ModelVersionStatus.State`` enum descriptor (``AVAILABLE`` = 30, ...)."""


def dtype_number(name: str) -> int:
    """``"DT_FLOAT"`` -> 1."""
    return DATA_TYPE.values_by_name[name].number


def dtype_name(number: int) -> str:
    """1 -> ``"DT_FLOAT"``; an unknown number gives ``"DT_<number>"``."""
    value = DATA_TYPE.values_by_number.get(number)
    return value.name if value is not None else f"DT_{number}"


def unpack_signature_def_map(any_message) -> object:
    """The ``SignatureDefMap`` inside GetModelMetadata's ``Any``, or None when it holds another type."""
    if any_message.type_url.rsplit("/", 1)[-1] != "tensorflow.serving.SignatureDefMap":
        return None
    return SignatureDefMap.FromString(any_message.value)
