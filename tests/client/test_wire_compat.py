"""The package's wire messages against tensorflow-serving-api's: same names, numbers, types, and bytes.

Each message is serialized with one implementation and parsed with the other, both ways, and
compared field by field; tensors of every dtype the client sends or reads are encoded by one side
and decoded by the other (`to_tensor_proto` / `to_numpy` against TensorFlow's ``make_tensor_proto``
/ ``make_ndarray``).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow.core.protobuf import error_codes_pb2, meta_graph_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2,
    predict_pb2,
    prediction_service_pb2,
    status_pb2,
)

from keras_residual.client import to_numpy, to_tensor_proto, wire

PAIRS = [
    (wire.TensorProto, tensor_pb2.TensorProto),
    (wire.TensorShapeProto, tensor_shape_pb2.TensorShapeProto),
    (wire.TensorInfo, meta_graph_pb2.TensorInfo),
    (wire.SignatureDef, meta_graph_pb2.SignatureDef),
    (wire.ModelSpec, model_pb2.ModelSpec),
    (wire.PredictRequest, predict_pb2.PredictRequest),
    (wire.PredictResponse, predict_pb2.PredictResponse),
    (wire.SignatureDefMap, get_model_metadata_pb2.SignatureDefMap),
    (wire.GetModelMetadataRequest, get_model_metadata_pb2.GetModelMetadataRequest),
    (wire.GetModelMetadataResponse, get_model_metadata_pb2.GetModelMetadataResponse),
    (wire.GetModelStatusRequest, get_model_status_pb2.GetModelStatusRequest),
    (wire.GetModelStatusResponse, get_model_status_pb2.GetModelStatusResponse),
    (wire.ModelVersionStatus, get_model_status_pb2.ModelVersionStatus),
]
# Upstream fields the client neither sends nor reads (kept as unknown fields when parsed).
LEFT_OUT = {
    "tensorflow.TensorProto": {"resource_handle_val", "variant_val"},
    "tensorflow.TensorInfo": {"coo_sparse", "composite_tensor"},
    "tensorflow.serving.PredictRequest": {"predict_streamed_options", "client_id", "request_options"},
}


def _describe(field) -> tuple:
    kind = field.message_type.full_name if field.message_type else None
    enum = field.enum_type.full_name if field.enum_type else None
    oneof = field.containing_oneof.name if field.containing_oneof else None  # proto3 `optional`: "_name"
    return field.number, field.type, field.is_repeated, kind, enum, oneof


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=lambda cls: cls.DESCRIPTOR.full_name)
def test_every_declared_field_matches_upstream(ours, theirs):
    mine, upstream = ours.DESCRIPTOR, theirs.DESCRIPTOR
    assert mine.full_name == upstream.full_name
    left_out = LEFT_OUT.get(upstream.full_name, set())
    assert set(upstream.fields_by_name) - set(mine.fields_by_name) == left_out
    for name, field in mine.fields_by_name.items():
        assert _describe(field) == _describe(upstream.fields_by_name[name]), name


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (wire.DATA_TYPE, types_pb2.DataType.DESCRIPTOR),
        (wire.ERROR_CODE, error_codes_pb2.Code.DESCRIPTOR),
        (wire.VERSION_STATE, get_model_status_pb2.ModelVersionStatus.State.DESCRIPTOR),
    ],
    ids=["DataType", "error.Code", "ModelVersionStatus.State"],
)
def test_enums_match_upstream(ours, theirs):
    assert ours.full_name == theirs.full_name
    assert {v.name: v.number for v in ours.values} == {v.name: v.number for v in theirs.values}


def test_method_paths_and_types_match_the_upstream_services():
    services = {
        wire.PREDICT: prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"].methods_by_name[
            "Predict"
        ],
        wire.GET_MODEL_METADATA: prediction_service_pb2.DESCRIPTOR.services_by_name[
            "PredictionService"
        ].methods_by_name["GetModelMetadata"],
        wire.GET_MODEL_STATUS: model_service_pb2.DESCRIPTOR.services_by_name["ModelService"].methods_by_name[
            "GetModelStatus"
        ],
    }
    ours = {
        wire.PREDICT: (wire.PredictRequest, wire.PredictResponse),
        wire.GET_MODEL_METADATA: (wire.GetModelMetadataRequest, wire.GetModelMetadataResponse),
        wire.GET_MODEL_STATUS: (wire.GetModelStatusRequest, wire.GetModelStatusResponse),
    }
    for path, method in services.items():
        assert path == f"/{method.containing_service.full_name}/{method.name}"
        request, response = ours[path]
        assert request.DESCRIPTOR.full_name == method.input_type.full_name
        assert response.DESCRIPTOR.full_name == method.output_type.full_name


def _both_ways(ours, theirs) -> None:
    """Bytes of each parse in the other class to the same content, and serialize back identically."""
    mine_bytes = ours.SerializeToString(deterministic=True)
    their_bytes = theirs.SerializeToString(deterministic=True)
    assert mine_bytes == their_bytes
    parsed_theirs = type(theirs).FromString(mine_bytes)
    parsed_ours = type(ours).FromString(their_bytes)
    assert parsed_theirs == theirs and parsed_ours == ours
    as_dict = json_format.MessageToDict(ours, preserving_proto_field_name=True)
    assert as_dict == json_format.MessageToDict(theirs, preserving_proto_field_name=True)


TENSORS = {
    "float32": np.array([[1.5, -2.25, 3.0e-7], [np.inf, -0.0, 1e30]], np.float32),
    "float64": np.array([1.0 / 3, -1e300], np.float64),
    "float16": np.array([[0.5, -65504.0], [6.1e-5, 1.0]], np.float16),
    "int8": np.array([-128, 0, 127], np.int8),
    "uint8": np.array([[0, 255], [7, 9]], np.uint8),
    "int32": np.array([[-(2**31), 2**31 - 1]], np.int32),
    "int64": np.array([-(2**62), 2**62], np.int64),
    "bool": np.array([True, False, True]),
    "string": np.array([b"\xff\xd8\xff binary", "text \u00e9".encode()], dtype=object),
}


@pytest.mark.parametrize("name", sorted(TENSORS))
def test_tensors_ours_to_tensorflow(name):
    array = TENSORS[name]
    theirs = tensor_pb2.TensorProto.FromString(to_tensor_proto(array).SerializeToString())
    back = tf.make_ndarray(theirs)
    assert back.shape == array.shape
    if name == "string":
        assert back.tolist() == array.tolist()
    else:
        assert back.dtype == array.dtype
        np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("name", sorted(TENSORS))
def test_tensors_tensorflow_to_ours(name):
    array = TENSORS[name]
    for proto in _tf_forms(array):
        mine = wire.TensorProto.FromString(proto.SerializeToString())
        back = to_numpy(mine)
        assert back.shape == array.shape
        if name == "string":  # UTF-8 decodes to str, other bytes stay bytes
            assert back.tolist() == [b"\xff\xd8\xff binary", "text \u00e9"]
        else:
            assert back.dtype == array.dtype
            np.testing.assert_array_equal(back, array)


def _tf_forms(array: np.ndarray) -> list:
    """TensorFlow's encodings: make_tensor_proto (tensor_content for numbers), and typed fields."""
    if array.dtype == object:
        return [tf.make_tensor_proto(array)]
    return [tf.make_tensor_proto(array), _typed_fields(array)]


def _typed_fields(array: np.ndarray):
    """The form TF Serving's Predict answers in (``Tensor::AsProtoField``: repeated typed fields)."""
    proto = tensor_pb2.TensorProto(dtype=tf.as_dtype(array.dtype).as_datatype_enum)
    proto.tensor_shape.CopyFrom(tf.TensorShape(array.shape).as_proto())
    flat = array.reshape(-1)
    if array.dtype == np.float16:
        proto.half_val.extend(flat.view(np.uint16).tolist())
    else:
        field = {
            "float32": "float_val", "float64": "double_val", "int8": "int_val", "uint8": "int_val",
            "int32": "int_val", "int64": "int64_val", "bool": "bool_val",
        }[array.dtype.name]  # fmt: skip
        getattr(proto, field).extend(flat.tolist())
    return proto


def test_bfloat16_both_ways():
    values = np.array([[1.0, -2.5, 3.140625], [1e-3, 65280.0, -0.0]], np.float32)
    exact = values.astype(ml_dtypes.bfloat16)
    # ours -> TensorFlow, from float32 (rounded to nearest even like TF's cast) and from ml_dtypes
    for source in (values, exact):
        proto = to_tensor_proto(source, "bfloat16") if source.dtype == np.float32 else to_tensor_proto(source)
        theirs = tensor_pb2.TensorProto.FromString(proto.SerializeToString())
        assert theirs.dtype == types_pb2.DT_BFLOAT16
        back = tf.make_ndarray(theirs)
        np.testing.assert_array_equal(back.astype(np.float32), exact.astype(np.float32))
    rounding = np.array([1.00390625, 1.01171875, -3.3e38, np.nan], np.float32)  # ties to even, near-max, NaN
    ours = tf.make_ndarray(tensor_pb2.TensorProto.FromString(to_tensor_proto(rounding, "bfloat16").SerializeToString()))
    expected = tf.cast(tf.constant(rounding), tf.bfloat16).numpy()
    np.testing.assert_array_equal(ours.astype(np.float32), expected.astype(np.float32))
    # TensorFlow -> ours (tensor_content and half_val forms) decodes to float32 exactly
    forms = [tf.make_tensor_proto(exact)]
    typed = tensor_pb2.TensorProto(dtype=types_pb2.DT_BFLOAT16)
    typed.tensor_shape.CopyFrom(tf.TensorShape(exact.shape).as_proto())
    typed.half_val.extend(exact.reshape(-1).view(np.uint16).tolist())
    forms.append(typed)
    for proto in forms:
        back = to_numpy(wire.TensorProto.FromString(proto.SerializeToString()))
        assert back.dtype == np.float32
        np.testing.assert_array_equal(back, exact.astype(np.float32))


def _fill_request(request, tensor) -> None:
    request.model_spec.name = "digits"
    request.model_spec.version_label = "stable"
    request.model_spec.signature_name = "serving_bytes"
    request.inputs["image_bytes"].ParseFromString(tensor)
    request.output_filter.extend(["probabilities", "top_k_labels"])


def test_predict_request_and_response_both_ways():
    tensor = tf.make_tensor_proto(np.array([b"\x89PNG", b"\xff\xd8"], dtype=object)).SerializeToString()
    ours, theirs = wire.PredictRequest(), predict_pb2.PredictRequest()
    _fill_request(ours, tensor)
    _fill_request(theirs, tensor)
    _both_ways(ours, theirs)
    ours.model_spec.version.value = 7  # the oneof switches from the label to the number
    theirs.model_spec.version.value = 7
    _both_ways(ours, theirs)
    out = tf.make_tensor_proto(np.array([[0.25, 0.75]], np.float32)).SerializeToString()
    mine_resp, their_resp = wire.PredictResponse(), predict_pb2.PredictResponse()
    for response in (mine_resp, their_resp):
        response.model_spec.name = "digits"
        response.model_spec.version.value = 7
        response.outputs["probabilities"].ParseFromString(out)
    _both_ways(mine_resp, their_resp)


def _signature_map():
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    sig = sig_map.signature_def["serving_default"]
    sig.method_name = "tensorflow/serving/predict"
    info = sig.inputs["images"]
    info.name, info.dtype = "serving_default_images:0", types_pb2.DT_FLOAT
    for size in (-1, 32, 32, 3):
        info.tensor_shape.dim.add().size = size
    out = sig.outputs["top_k_labels"]
    out.name, out.dtype = "StatefulPartitionedCall:2", types_pb2.DT_STRING
    out.tensor_shape.unknown_rank = True
    sig.defaults["top_k"].CopyFrom(tf.make_tensor_proto(np.int32(3)))
    return sig_map


def test_metadata_any_both_ways():
    """GetModelMetadata's Any(SignatureDefMap): packed upstream, unpacked here, and the reverse."""
    sig_map = _signature_map()
    theirs = get_model_metadata_pb2.GetModelMetadataResponse()
    theirs.model_spec.name = "digits"
    theirs.model_spec.version.value = 3
    theirs.metadata["signature_def"].Pack(sig_map)
    ours = wire.GetModelMetadataResponse.FromString(theirs.SerializeToString())
    assert ours.metadata["signature_def"].type_url == wire.SIGNATURE_DEF_MAP_URL
    unpacked = wire.unpack_signature_def_map(ours.metadata["signature_def"])
    assert unpacked.SerializeToString(deterministic=True) == sig_map.SerializeToString(deterministic=True)
    info = unpacked.signature_def["serving_default"].inputs["images"]
    assert (info.name, wire.dtype_name(info.dtype), [d.size for d in info.tensor_shape.dim]) == (
        "serving_default_images:0", "DT_FLOAT", [-1, 32, 32, 3],
    )  # fmt: skip
    # the reverse: packed with our classes, unpacked by the upstream Any
    mine = wire.GetModelMetadataResponse()
    mine.model_spec.name = "digits"
    mine.model_spec.version.value = 3
    mine.metadata["signature_def"].type_url = wire.SIGNATURE_DEF_MAP_URL
    mine.metadata["signature_def"].value = unpacked.SerializeToString()
    parsed = get_model_metadata_pb2.GetModelMetadataResponse.FromString(mine.SerializeToString())
    again = get_model_metadata_pb2.SignatureDefMap()
    assert parsed.metadata["signature_def"].Unpack(again) and again == sig_map
    request, their_request = wire.GetModelMetadataRequest(), get_model_metadata_pb2.GetModelMetadataRequest()
    for item in (request, their_request):
        item.model_spec.name = "digits"
        item.metadata_field.append("signature_def")
    _both_ways(request, their_request)


def test_status_both_ways():
    theirs = get_model_status_pb2.GetModelStatusResponse()
    for version, state, code, message in ((1, "END", 0, ""), (2, "AVAILABLE", 0, ""), (3, "END", 3, "bad")):
        item = theirs.model_version_status.add(version=version)
        item.state = get_model_status_pb2.ModelVersionStatus.State.Value(state)
        item.status.CopyFrom(status_pb2.StatusProto(error_code=code, error_message=message))
    ours = wire.GetModelStatusResponse.FromString(theirs.SerializeToString())
    names = [
        (s.version, wire.VERSION_STATE.values_by_number[s.state].name, wire.ERROR_CODE.values_by_number[s.status.error_code].name)
        for s in ours.model_version_status
    ]
    assert names == [(1, "END", "OK"), (2, "AVAILABLE", "OK"), (3, "END", "INVALID_ARGUMENT")]
    _both_ways(ours, theirs)
    request, their_request = wire.GetModelStatusRequest(), get_model_status_pb2.GetModelStatusRequest()
    for item in (request, their_request):
        item.model_spec.name = "digits"
        item.model_spec.version.value = 2
    _both_ways(request, their_request)


def test_fields_left_out_survive_a_round_trip():
    """An upstream field this package does not declare is kept as an unknown field, bytes intact."""
    theirs = meta_graph_pb2.TensorInfo(dtype=types_pb2.DT_FLOAT)
    theirs.coo_sparse.values_tensor_name = "values:0"
    data = theirs.SerializeToString()
    assert wire.TensorInfo.FromString(data).SerializeToString() == data
