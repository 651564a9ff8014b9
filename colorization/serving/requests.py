"""Predict requests checked as TF Serving checks them, and run against a servable's signature.

The one place requests are checked and refused, for gRPC and REST alike: RequestError carries the
gRPC status code TF Serving answers with.
"""
from typing import TYPE_CHECKING

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import predict_pb2

from colorization.serving import op_error_text

if TYPE_CHECKING:
  from colorization.serving.servable import Servable

_GRPC_CODE = {code.value[0]: code for code in grpc.StatusCode}


class RequestError(Exception):
  """A request TF Serving would refuse: carries the gRPC status code."""

  def __init__(self, code: grpc.StatusCode, message: str):
    super().__init__(message)
    self.code = code



def invalid_argument(message: str) -> RequestError:
  return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _shape_matches(shape: tensor_shape_pb2.TensorShapeProto,
                   expected: tensor_shape_pb2.TensorShapeProto) -> bool:
  if expected.unknown_rank:
    return True
  return len(shape.dim) == len(expected.dim) and all(
      want.size in (-1, got.size) for got, want in zip(shape.dim, expected.dim))


def _shape_text(shape: tensor_shape_pb2.TensorShapeProto) -> str:
  return '?' if shape.unknown_rank else '[' + ', '.join(str(d.size) for d in shape.dim) + ']'


def _input_arrays(signature_name: str, signature: meta_graph_pb2.SignatureDef,
                  request: predict_pb2.PredictRequest) -> dict[str, np.ndarray]:
  """Checks the request's inputs against the SignatureDef, as TF Serving does, and converts them."""
  sent, expected = set(request.inputs), set(signature.inputs)
  if sent != expected:
    raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, (
        f'input size does not match signature {signature_name!r}: {len(sent)}!={len(expected)} '
        f'len({{{",".join(sorted(sent))}}}) != len({{{",".join(sorted(expected))}}}). '
        f'Sent extra: {{{",".join(sorted(sent - expected))}}}. '
        f'Missing but required: {{{",".join(sorted(expected - sent))}}}.'))
  arrays = {}
  for name, proto in request.inputs.items():
    spec = signature.inputs[name]
    if proto.dtype != spec.dtype:
      raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, (
          f'input {name!r}: dtype {tf.dtypes.as_dtype(proto.dtype).name if proto.dtype else "unset"}'
          f' does not match signature {signature_name!r}, which expects '
          f'{tf.dtypes.as_dtype(spec.dtype).name}'))
    if not _shape_matches(proto.tensor_shape, spec.tensor_shape):
      raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, (
          f'input {name!r}: shape {_shape_text(proto.tensor_shape)} does not match signature '
          f'{signature_name!r}, which expects {_shape_text(spec.tensor_shape)}'))
    try:
      arrays[name] = tf.make_ndarray(proto)
    except (TypeError, ValueError) as e:
      raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f'input {name!r}: {e}') from None
  return arrays


def _output_names(signature_name: str, signature: meta_graph_pb2.SignatureDef,
                  output_filter) -> list[str]:
  for name in output_filter:
    if name not in signature.outputs:
      raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, (
          f'output tensor alias not found in signature {signature_name!r}: {name} Outputs '
          f'expected to be in the set {{{",".join(sorted(signature.outputs))}}}.'))
  if len(set(output_filter)) != len(output_filter):
    raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, 'duplicate output tensor alias')
  return list(output_filter) or list(signature.outputs)


def refusal(error: Exception) -> tuple[grpc.StatusCode, str]:
  """The gRPC status and message TF Serving answers a RequestError or TensorFlow error with."""
  if isinstance(error, RequestError):
    return error.code, str(error)
  return _GRPC_CODE.get(error.error_code, grpc.StatusCode.INTERNAL), op_error_text(error.message)


def signature_def(servable: 'Servable', name: str) -> tuple[str, meta_graph_pb2.SignatureDef]:
  """The named (or the default) signature; FAILED_PRECONDITION, as TF Serving, if there is none."""
  name = name or tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
  signature = servable.signature_defs.get(name)
  if signature is None or not servable.runs(name):
    raise RequestError(grpc.StatusCode.FAILED_PRECONDITION,
                       f'Serving signature key "{name}" not found.')
  return name, signature


def run_signature(servable: 'Servable', request: predict_pb2.PredictRequest,
                  timeout_seconds: float | None = None) -> tuple[str, dict[str, np.ndarray]]:
  """Checks a Predict request against the servable's signature and runs it: (signature, outputs).

  The one place requests are checked, for gRPC and REST alike. A run still going after
  timeout_seconds (the client's deadline, or the REST time limit) is stopped: DEADLINE_EXCEEDED."""
  signature_name, signature = signature_def(servable, request.model_spec.signature_name)
  inputs = _input_arrays(signature_name, signature, request)
  outputs = _output_names(signature_name, signature, request.output_filter)
  if timeout_seconds is not None and timeout_seconds <= 0:
    raise RequestError(grpc.StatusCode.DEADLINE_EXCEEDED, 'deadline passed before the run started')
  try:
    return signature_name, servable.run(signature_name, inputs, outputs, timeout_seconds)
  except tf.errors.InvalidArgumentError as e:
    raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, (
        f'input {", ".join(map(repr, sorted(inputs)))} of signature {signature_name!r}: '
        f'{op_error_text(e.message)}')) from None
  except tf.errors.DeadlineExceededError:
    raise RequestError(grpc.StatusCode.DEADLINE_EXCEEDED, (
        f'signature {signature_name!r} ran past the request\'s time limit of '
        f'{timeout_seconds:.3g} s and was stopped')) from None


def fill_tensor_proto(proto: tensor_pb2.TensorProto, value: np.ndarray) -> None:
  """Writes value into proto; strings (large PNGs) are copied once, not through make_tensor_proto."""
  if value.dtype != object:
    proto.CopyFrom(tf.make_tensor_proto(value))
    return
  proto.dtype = tf.string.as_datatype_enum
  proto.tensor_shape.CopyFrom(tf.TensorShape(value.shape).as_proto())
  proto.string_val.extend(value.ravel())

