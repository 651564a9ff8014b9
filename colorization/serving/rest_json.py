"""TF Serving's REST JSON for Predict: "instances" (row) or "inputs" (columnar) JSON to
TensorProtos of a signature's dtypes, and outputs back to JSON ({"b64": ...} for binary strings).
"""
import base64
import binascii
import json

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import predict_pb2

from colorization.serving.requests import fill_tensor_proto, invalid_argument as _bad

# JSON number kinds (numpy's) a signature dtype's kind accepts; JSON carries no dtype.
_JSON_KINDS = {'f': 'fiu', 'i': 'iu', 'u': 'iu', 'b': 'b'}
_JSON_TYPES = {'f': 'number', 'i': 'number', 'u': 'number', 'b': 'boolean', 'U': 'string'}


def _is_named(value) -> bool:
  """A JSON object of named inputs, not a {"b64": ...} value."""
  return isinstance(value, dict) and not _is_b64(value)


def _is_b64(value) -> bool:
  return isinstance(value, dict) and value.keys() == {'b64'} and isinstance(value['b64'], str)


def _json_bytes(name: str, value):
  """Nested lists of JSON strings or {"b64": ...} objects as nested lists of bytes."""
  if isinstance(value, list):
    return [_json_bytes(name, item) for item in value]
  if isinstance(value, str):
    return value.encode()
  if _is_b64(value):
    try:
      return base64.b64decode(value['b64'] + '=' * (-len(value['b64']) % 4), validate=True)
    except binascii.Error:
      raise _bad(f'input {name!r}: Unable to base64 decode') from None
  raise _bad(f'input {name!r}: JSON value {json.dumps(value)[:80]} is not of expected type: string')


def _json_tensor(name: str, value, dtype_enum: int) -> tensor_pb2.TensorProto:
  """One input's JSON value as a TensorProto of the signature's dtype; shapes are checked later."""
  dtype = tf.dtypes.as_dtype(dtype_enum)
  proto = tensor_pb2.TensorProto()
  if dtype == tf.string:
    array = np.array(_json_bytes(name, value), dtype=object)
    if not all(isinstance(item, bytes) for item in array.flat):
      raise _bad(f'input {name!r}: nested lists of different lengths')
    fill_tensor_proto(proto, array)
    return proto
  try:
    array = np.asarray(value)
  except ValueError:
    raise _bad(f'input {name!r}: nested lists of different lengths') from None
  wanted = dtype.as_numpy_dtype
  if array.size and array.dtype.kind not in _JSON_KINDS.get(np.dtype(wanted).kind, ''):
    raise _bad(f'input {name!r}: JSON {_JSON_TYPES.get(array.dtype.kind, "mixed or object")} '
               f'values are not of expected type: {dtype.name}')
  converted = array.astype(wanted)
  if array.dtype.kind in 'iu' and not np.array_equal(converted, array):
    raise _bad(f'input {name!r}: JSON values out of range for {dtype.name}')
  fill_tensor_proto(proto, converted)
  return proto


def fill_inputs(document: dict, signature: meta_graph_pb2.SignatureDef,
                 request: predict_pb2.PredictRequest) -> bool:
  """Fills request.inputs from "instances" (row format) or "inputs" (columnar); True if columnar.

  Inputs the signature lacks are left empty, so run_signature names them with the missing ones."""
  if ('instances' in document) == ('inputs' in document):
    raise _bad("Missing 'inputs' or 'instances' key" if 'inputs' not in document else
               "Not formatted correctly: expecting only one of 'inputs' or 'instances' keys")
  columnar = 'inputs' in document
  if columnar:
    value = document['inputs']
    columns = value if _is_named(value) else {None: value}
  else:
    instances = document['instances']
    if not isinstance(instances, list) or not instances:
      raise _bad("Expecting 'instances' to be a non-empty list")
    keys = instances[0].keys() if _is_named(instances[0]) else None
    for i, instance in enumerate(instances):
      if (keys is None) == _is_named(instance) or (keys is not None and instance.keys() != keys):
        raise _bad(f"Failed to process element: {i} of 'instances' list: every element must be "
                   + (f'an object with the keys {",".join(sorted(keys))}' if keys else
                      'a value or list, not an object'))
    columns = ({key: [instance[key] for instance in instances] for key in keys} if keys
               else {None: instances})
  if None in columns:
    if len(signature.inputs) != 1:
      raise _bad(f'{"inputs" if columnar else "instances"} is a plain value/list, but the '
                 f'signature has {len(signature.inputs)} named inputs: expecting an object')
    columns = {next(iter(signature.inputs)): columns[None]}
  for name, value in columns.items():
    tensor = request.inputs[name]
    if name in signature.inputs:
      tensor.CopyFrom(_json_tensor(name, value, signature.inputs[name].dtype))
  return columnar


def _json_value(name: str, array: np.ndarray):
  """An output as JSON. A string output is {"b64": ...} objects if its alias ends in "_bytes", as
  in TF Serving, and also if any of its values is not UTF-8, e.g. colorized_png (TF Serving would
  write the raw bytes: invalid JSON); otherwise JSON strings."""
  if array.dtype != object:
    return array.tolist()
  if not name.endswith('_bytes'):
    try:
      return np.vectorize(bytes.decode, otypes=[object])(array).tolist()
    except UnicodeDecodeError:
      pass
  return np.vectorize(lambda value: {'b64': base64.b64encode(value).decode()},
                      otypes=[object])(array).tolist()


def json_outputs(outputs: dict[str, np.ndarray], columnar: bool) -> dict:
  """{"outputs": ...} (columnar) or {"predictions": [one entry per batch element]} (row format)."""
  if not columnar and len({a.shape[0] if a.ndim else -1 for a in outputs.values()} - {-1}) != 1:
    raise _bad('outputs do not share a batch dimension: '
               + ', '.join(f'{n} {list(a.shape)}' for n, a in outputs.items()))
  values = {name: _json_value(name, array) for name, array in outputs.items()}
  if columnar:
    return {'outputs': values if len(values) > 1 else next(iter(values.values()))}
  if len(values) == 1:
    return {'predictions': next(iter(values.values()))}
  return {'predictions': [dict(zip(values, row)) for row in zip(*values.values())]}


