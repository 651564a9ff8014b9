"""A local TF Serving: PredictionService (Predict, GetModelMetadata), ModelService.GetModelStatus
and the REST API beside them (GET /v1/models/<name>[/metadata], POST /v1/models/<name>:predict).

Serves the newest numeric version under a model base path and polls for newly pushed versions,
as `tensorflow_model_server` does; request checks and error codes follow TF Serving, so a client
works unchanged against either. Signature, input and output names come from the SavedModel itself.
REST requests become the same PredictRequest protos and go through the same checks as gRPC ones.
"""
import base64
import binascii
import concurrent.futures
import dataclasses
import http.server
import json
import logging
import os
import re
import signal
import threading
import urllib.parse

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import any_pb2, json_format
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc, status_pb2)

from colorization.serving import op_error_text

POLL_SECONDS = 1.0                      # tensorflow_model_server --file_system_poll_wait_seconds
MAX_MESSAGE_BYTES = 64 * 1024 * 1024    # largest request accepted; larger ones: RESOURCE_EXHAUSTED
                                        # over gRPC, 413 over REST (the limit is the JSON body's)
MAX_LOAD_ATTEMPTS = 5                   # tensorflow_model_server --max_num_load_retries
WORKERS = 8

_State = get_model_status_pb2.ModelVersionStatus.State
_GRPC_CODE = {code.value[0]: code for code in grpc.StatusCode}
log = logging.getLogger('colorization.serve')


class RequestError(Exception):
  """A request TF Serving would refuse: carries the gRPC status code."""

  def __init__(self, code: grpc.StatusCode, message: str):
    super().__init__(message)
    self.code = code


@dataclasses.dataclass
class Servable:
  """One loaded model version: its callable signatures and their SignatureDefs."""
  version: int
  functions: dict
  signature_defs: dict

  @classmethod
  def load(cls, path: str, version: int) -> 'Servable':
    loaded = tf.saved_model.load(path, tags=['serve'])
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(path, 'saved_model.pb'), 'rb') as f:
      saved_model.ParseFromString(f.read())
    meta_graph = next(g for g in saved_model.meta_graphs if 'serve' in g.meta_info_def.tags)
    return cls(version, dict(loaded.signatures), dict(meta_graph.signature_def))


def _version_dirs(base_path: str) -> dict[int, str]:
  """Numeric sub-directories holding a saved_model.pb, by version."""
  versions = {}
  for name in tf.io.gfile.listdir(base_path):
    name = name.rstrip('/')
    path = os.path.join(base_path, name)
    if name.isdigit() and tf.io.gfile.exists(os.path.join(path, 'saved_model.pb')):
      versions[int(name)] = path
  return versions


class ModelVersions:
  """The served versions of one model: loads the newest, then retires the one it replaces."""

  def __init__(self, base_path: str, model_name: str):
    self.base_path = base_path
    self.model_name = model_name
    self._lock = threading.Lock()
    self._current: Servable | None = None
    self._states: dict[int, tuple[int, str]] = {}   # version -> (state, error message)
    self._attempts: dict[int, int] = {}

  def poll(self) -> None:
    """Loads the newest version if it is not the one being served (availability preserving)."""
    try:
      versions = _version_dirs(self.base_path)
    except tf.errors.OpError as e:
      log.warning('cannot list %s: %s', self.base_path, e.message)
      return
    if not versions:
      return
    newest = max(versions)
    current = self._current
    if (current and current.version == newest) or self._attempts.get(newest) == MAX_LOAD_ATTEMPTS:
      return
    self._set_state(newest, _State.LOADING)
    try:
      servable = Servable.load(versions[newest], newest)
    except Exception as e:  # a half-copied or broken export: keep serving, retry on later polls
      reason = (str(e) or type(e).__name__).splitlines()[0]
      self._attempts[newest] = self._attempts.get(newest, 0) + 1
      failed = self._attempts[newest] == MAX_LOAD_ATTEMPTS
      self._set_state(newest, _State.END if failed else _State.START, reason)
      log.error('loading %s version %d failed (attempt %d of %d): %s', self.model_name, newest,
                self._attempts[newest], MAX_LOAD_ATTEMPTS, reason)
      return
    with self._lock:
      self._current = servable
    self._set_state(newest, _State.AVAILABLE)
    if current:
      self._set_state(current.version, _State.END)
    log.info('serving %s version %d from %s', self.model_name, newest, versions[newest])

  @property
  def current(self) -> Servable | None:
    return self._current

  def load_error(self, version: int) -> str:
    with self._lock:
      return self._states.get(version, (0, ''))[1]

  def _set_state(self, version: int, state: int, error: str = '') -> None:
    with self._lock:
      self._states[version] = (state, error)

  def servable(self, spec: model_pb2.ModelSpec) -> Servable:
    """The servable a request's ModelSpec names; NOT_FOUND as TF Serving words it otherwise."""
    if spec.WhichOneof('version_choice') == 'version_label':
      raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                         f'Unrecognized servable version label: {spec.version_label}')
    specific = spec.HasField('version')
    wanted = (f'Specific({spec.name}, {spec.version.value})' if specific
              else f'Latest({spec.name})')
    current = self._current
    if (spec.name != self.model_name or current is None
        or (specific and spec.version.value != current.version)):
      raise RequestError(grpc.StatusCode.NOT_FOUND, f'Servable not found for request: {wanted}')
    return current

  def status(self, spec: model_pb2.ModelSpec) -> list[get_model_status_pb2.ModelVersionStatus]:
    """Every version seen, or the one asked for, with its state and load error."""
    with self._lock:
      states = dict(self._states)
    if spec.name != self.model_name or not states:
      raise RequestError(grpc.StatusCode.NOT_FOUND,
                         f'Could not find any versions of model {spec.name}')
    if spec.HasField('version'):
      if spec.version.value not in states:
        raise RequestError(grpc.StatusCode.NOT_FOUND,
                           f'Could not find version {spec.version.value} of model {spec.name}')
      states = {spec.version.value: states[spec.version.value]}
    return [get_model_status_pb2.ModelVersionStatus(
        version=version, state=state,
        status=status_pb2.StatusProto(
            error_code=grpc.StatusCode.UNKNOWN.value[0] if error else 0, error_message=error))
            for version, (state, error) in sorted(states.items())]


def _shape_matches(shape: tensor_shape_pb2.TensorShapeProto,
                   expected: tensor_shape_pb2.TensorShapeProto) -> bool:
  if expected.unknown_rank:
    return True
  return len(shape.dim) == len(expected.dim) and all(
      want.size in (-1, got.size) for got, want in zip(shape.dim, expected.dim))


def _shape_text(shape: tensor_shape_pb2.TensorShapeProto) -> str:
  return '?' if shape.unknown_rank else '[' + ', '.join(str(d.size) for d in shape.dim) + ']'


def _input_tensors(signature_name: str, signature: meta_graph_pb2.SignatureDef,
                   request: predict_pb2.PredictRequest) -> dict[str, tf.Tensor]:
  """Checks the request's inputs against the SignatureDef, as TF Serving does, and converts them."""
  sent, expected = set(request.inputs), set(signature.inputs)
  if sent != expected:
    raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, (
        f'input size does not match signature {signature_name!r}: {len(sent)}!={len(expected)} '
        f'len({{{",".join(sorted(sent))}}}) != len({{{",".join(sorted(expected))}}}). '
        f'Sent extra: {{{",".join(sorted(sent - expected))}}}. '
        f'Missing but required: {{{",".join(sorted(expected - sent))}}}.'))
  tensors = {}
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
      tensors[name] = tf.constant(tf.make_ndarray(proto))
    except (TypeError, ValueError) as e:
      raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f'input {name!r}: {e}') from None
  return tensors


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


def signature_def(servable: Servable, name: str) -> tuple[str, meta_graph_pb2.SignatureDef]:
  """The named (or the default) signature; FAILED_PRECONDITION, as TF Serving, if there is none."""
  name = name or tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
  signature = servable.signature_defs.get(name)
  if signature is None or name not in servable.functions:
    raise RequestError(grpc.StatusCode.FAILED_PRECONDITION,
                       f'Serving signature key "{name}" not found.')
  return name, signature


def run_signature(servable: Servable,
                  request: predict_pb2.PredictRequest) -> tuple[str, dict[str, np.ndarray]]:
  """Checks a Predict request against the servable's signature and runs it: (signature, outputs).

  The one place requests are checked, for gRPC and REST alike."""
  signature_name, signature = signature_def(servable, request.model_spec.signature_name)
  inputs = _input_tensors(signature_name, signature, request)
  outputs = _output_names(signature_name, signature, request.output_filter)
  try:
    results = servable.functions[signature_name](**inputs)
  except tf.errors.InvalidArgumentError as e:
    raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, (
        f'input {", ".join(map(repr, sorted(inputs)))} of signature {signature_name!r}: '
        f'{op_error_text(e.message)}')) from None
  return signature_name, {name: results.pop(name).numpy() for name in outputs}


def _fill_tensor_proto(proto: tensor_pb2.TensorProto, value: np.ndarray) -> None:
  """Writes value into proto; strings (large PNGs) are copied once, not through make_tensor_proto."""
  if value.dtype != object:
    proto.CopyFrom(tf.make_tensor_proto(value))
    return
  proto.dtype = tf.string.as_datatype_enum
  proto.tensor_shape.CopyFrom(tf.TensorShape(value.shape).as_proto())
  proto.string_val.extend(value.ravel())


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer,
                        model_service_pb2_grpc.ModelServiceServicer):
  """Predict, GetModelMetadata and GetModelStatus over one model's served versions."""

  def __init__(self, versions: ModelVersions):
    self.versions = versions

  def Predict(self, request: predict_pb2.PredictRequest, context) -> predict_pb2.PredictResponse:
    return self._answer(context, self._predict, request)

  def GetModelMetadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest, context):
    return self._answer(context, self.metadata, request)

  def GetModelStatus(self, request: get_model_status_pb2.GetModelStatusRequest, context):
    return self._answer(context, self.status, request)

  @staticmethod
  def _answer(context, handler, request):
    """Runs a handler; refusals and TensorFlow errors become gRPC statuses, the server carries on."""
    try:
      return handler(request)
    except (RequestError, tf.errors.OpError) as e:
      context.abort(*refusal(e))

  def _predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
    servable = self.versions.servable(request.model_spec)
    signature_name, results = run_signature(servable, request)
    response = predict_pb2.PredictResponse()
    response.model_spec.name = self.versions.model_name
    response.model_spec.version.value = servable.version
    response.model_spec.signature_name = signature_name
    for name, value in results.items():
      _fill_tensor_proto(response.outputs[name], value)
    return response

  def metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest
               ) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """GetModelMetadata's answer, for gRPC and REST."""
    if not request.HasField('model_spec'):
      raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, 'Missing ModelSpec')
    if not request.metadata_field:
      raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                         'GetModelMetadataRequest must specify at least one metadata_field')
    for field in request.metadata_field:
      if field != 'signature_def':
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           f'Metadata field {field} is not supported')
    servable = self.versions.servable(request.model_spec)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = self.versions.model_name
    response.model_spec.version.value = servable.version
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in servable.signature_defs.items():
      signature_map.signature_def[name].CopyFrom(signature)
    packed = any_pb2.Any()
    packed.Pack(signature_map)
    response.metadata['signature_def'].CopyFrom(packed)
    return response

  def status(self, request: get_model_status_pb2.GetModelStatusRequest
             ) -> get_model_status_pb2.GetModelStatusResponse:
    """GetModelStatus's answer, for gRPC and REST."""
    if not request.HasField('model_spec'):
      raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, 'Missing ModelSpec')
    return get_model_status_pb2.GetModelStatusResponse(
        model_version_status=self.versions.status(request.model_spec))

# tensorflow_serving/model_servers/http_server.cc ToHTTPStatusCode; any other code: 500.
_HTTP_STATUS = {grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 400,
                grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.NOT_FOUND: 404,
                grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.UNIMPLEMENTED: 501,
                grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DEADLINE_EXCEEDED: 504}
# tensorflow_serving/model_servers/http_rest_api_util.cc, predict only (no classify or regress).
_PREDICT_PATH = re.compile(
    r'/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:predict', re.I)
_MODEL_PATH = re.compile(
    r'/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(/metadata)?', re.I)
# Proto to JSON as TF Serving prints it: field names as in the .proto, defaults included.
_PROTO_JSON = dict(preserving_proto_field_name=True, including_default_value_fields=True)
# JSON number kinds (numpy's) a signature dtype's kind accepts; JSON carries no dtype.
_JSON_KINDS = {'f': 'fiu', 'i': 'iu', 'u': 'iu', 'b': 'b'}
_JSON_TYPES = {'f': 'number', 'i': 'number', 'u': 'number', 'b': 'boolean', 'U': 'string'}


def _bad(message: str) -> RequestError:
  return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _model_spec(name: str, version: str | None, label: str | None) -> model_pb2.ModelSpec:
  spec = model_pb2.ModelSpec(name=urllib.parse.unquote(name))
  if version is not None:
    if int(version) >= 2 ** 63:
      raise _bad(f'Failed to convert version: {version} to numeric.')
    spec.version.value = int(version)
  if label is not None:
    spec.version_label = urllib.parse.unquote(label)
  return spec


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
    _fill_tensor_proto(proto, array)
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
  _fill_tensor_proto(proto, converted)
  return proto


def _fill_inputs(document: dict, signature: meta_graph_pb2.SignatureDef,
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


def _json_outputs(outputs: dict[str, np.ndarray], columnar: bool) -> dict:
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


class RestApi:
  """TF Serving's REST API over the gRPC service's handlers: the same servables and checks."""

  def __init__(self, service: PredictionService):
    self.service = service

  def answer(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
    """(HTTP status, JSON document) for one request; errors are {"error": ...}, as TF Serving's."""
    try:
      return 200, self._route(method, path, body)
    except (RequestError, tf.errors.OpError) as e:
      code, message = refusal(e)
      return _HTTP_STATUS.get(code, 500), {'error': message}
    except Exception as e:  # a bug must not stop the server: answer 500 and carry on
      log.exception('REST %s %s failed', method, path)
      return 500, {'error': f'{type(e).__name__}: {e}'}

  def _route(self, method: str, path: str, body: bytes) -> dict:
    if not path.lower().startswith('/v1/'):
      raise RequestError(grpc.StatusCode.NOT_FOUND, f'Not found: {method} {path}')
    predict = _PREDICT_PATH.fullmatch(path) if method == 'POST' else None
    if predict:
      return self._predict(_model_spec(*predict.groups()), body)
    model = _MODEL_PATH.fullmatch(path) if method == 'GET' else None
    if not model:
      raise _bad(f'Malformed request: {method} {path}')
    name, version, label, metadata = model.groups()
    if not name:
      raise _bad('Missing model name in request.')
    spec = _model_spec(name, version, label)
    if metadata:
      response = self.service.metadata(get_model_metadata_pb2.GetModelMetadataRequest(
          model_spec=spec, metadata_field=['signature_def']))
      signature_map = get_model_metadata_pb2.SignatureDefMap()
      response.metadata['signature_def'].Unpack(signature_map)
      signature_json = json_format.MessageToDict(signature_map, **_PROTO_JSON)
      return {'model_spec': json_format.MessageToDict(response.model_spec, **_PROTO_JSON),
              'metadata': {'signature_def': signature_json}}
    response = self.service.status(get_model_status_pb2.GetModelStatusRequest(model_spec=spec))
    return json_format.MessageToDict(response, **_PROTO_JSON)

  def _predict(self, spec: model_pb2.ModelSpec, body: bytes) -> dict:
    """As TF Serving: parse the JSON, find the servable and signature, convert, run, render."""
    if not body:
      raise _bad('JSON Parse error: The document is empty')
    try:
      document = json.loads(body)
    except (ValueError, RecursionError) as e:
      raise _bad(f'JSON Parse error: {e}') from None
    if not isinstance(document, dict):
      raise _bad(f'JSON Value: {body[:80]!r} Is not object')
    signature_name = document.get('signature_name', '')
    if not isinstance(signature_name, str):
      raise _bad("'signature_name' key must be a string value.")
    spec.signature_name = signature_name
    servable = self.service.versions.servable(spec)
    request = predict_pb2.PredictRequest(model_spec=spec)
    columnar = _fill_inputs(document, signature_def(servable, signature_name)[1], request)
    return _json_outputs(run_signature(servable, request)[1], columnar)


class _RestHandler(http.server.BaseHTTPRequestHandler):
  """HTTP/1.1 with keep-alive; bodies over the server's limit get 413 and are not parsed."""
  protocol_version = 'HTTP/1.1'
  disable_nagle_algorithm = True
  server: 'RestServer'

  def do_GET(self) -> None:
    self._respond()

  do_POST = do_GET

  def log_message(self, format: str, *args) -> None:
    log.debug('REST %s', format % args)

  def _respond(self) -> None:
    with self.server.busy:
      self.server.running += 1
    try:
      status, document = self._answer()
      data = json.dumps(document).encode()
      self.send_response(status)
      self.send_header('Content-Type', 'application/json')
      self.send_header('Content-Length', str(len(data)))
      self.end_headers()
      self.wfile.write(data)
    finally:
      with self.server.busy:
        self.server.running -= 1
        self.server.busy.notify_all()

  def _answer(self) -> tuple[int, dict]:
    if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
      self.close_connection = True
      return 411, {'error': 'chunked request bodies are not supported: send Content-Length'}
    try:
      length = int(self.headers.get('Content-Length') or 0)
    except ValueError:
      length = -1
    if length < 0:
      self.close_connection = True
      return 400, {'error': f'bad Content-Length: {self.headers.get("Content-Length")}'}
    limit = self.server.max_body_bytes
    if length > limit:  # read and drop the body (up to 4x the limit) so the client sees the answer
      self.close_connection = True
      remaining = min(length, 4 * limit)
      while remaining > 0 and (chunk := self.rfile.read(min(remaining, 1 << 20))):
        remaining -= len(chunk)
      return 413, {'error': f'request body of {length} bytes is larger than max ({limit})'}
    body = self.rfile.read(length)
    return self.server.api.answer(self.command, urllib.parse.urlsplit(self.path).path, body)


class RestServer(http.server.ThreadingHTTPServer):
  """The REST front end: one thread per connection; stop() lets running requests finish."""
  daemon_threads = True

  def __init__(self, address: tuple[str, int], api: RestApi, max_body_bytes: int):
    super().__init__(address, _RestHandler)
    self.api = api
    self.max_body_bytes = max_body_bytes
    self.busy = threading.Condition()
    self.running = 0

  def stop(self, grace_seconds: float) -> None:
    self.shutdown()
    with self.busy:
      self.busy.wait_for(lambda: self.running == 0, timeout=grace_seconds)
    self.server_close()


class ModelServer:
  """The gRPC server, the REST server beside it (if rest_port is not None; 0: any free port) and
  the thread that polls for new versions."""

  def __init__(self, model_base_path: str, model_name: str, host: str, port: int,
               poll_seconds: float = POLL_SECONDS, max_message_bytes: int = MAX_MESSAGE_BYTES,
               rest_port: int | None = None):
    if not tf.io.gfile.isdir(model_base_path):
      raise FileNotFoundError(f'model base path {model_base_path} is not a directory')
    on_disk = _version_dirs(model_base_path)
    if not on_disk:
      raise FileNotFoundError(
          f'no model version under {model_base_path}: expected numbered sub-directories holding '
          f'a SavedModel, e.g. {os.path.join(model_base_path, "1", "saved_model.pb")}')
    self.versions = ModelVersions(model_base_path, model_name)
    self.versions.poll()
    if self.versions.current is None:
      raise RuntimeError(f'cannot load {model_name} version {max(on_disk)} from '
                         f'{on_disk[max(on_disk)]}: {self.versions.load_error(max(on_disk))}')
    self._poll_seconds = poll_seconds
    self._stopping = threading.Event()
    self._poller = threading.Thread(target=self._poll_loop, name='version-poller', daemon=True)
    self.grpc_server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS),
        options=[('grpc.max_receive_message_length', max_message_bytes),
                 ('grpc.max_send_message_length', -1)])
    service = PredictionService(self.versions)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(service, self.grpc_server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(service, self.grpc_server)
    try:
      self.port = self.grpc_server.add_insecure_port(f'{host}:{port}')
    except RuntimeError as e:
      raise ValueError(f'cannot listen on {host}:{port}: {e}') from None
    self.address = f'{host}:{self.port}'
    self.rest_server = self.rest_address = None
    if rest_port is not None:
      try:
        self.rest_server = RestServer((host, rest_port), RestApi(service), max_message_bytes)
      except OSError as e:
        raise ValueError(f'cannot listen on {host}:{rest_port}: {e}') from None
      self.rest_address = f'{host}:{self.rest_server.server_address[1]}'

  def start(self) -> None:
    self.grpc_server.start()
    if self.rest_server:
      threading.Thread(target=self.rest_server.serve_forever, name='rest', daemon=True).start()
    self._poller.start()

  def stop(self, grace_seconds: float = 5.0) -> None:
    """Stops polling, refuses new calls and lets running ones finish."""
    self._stopping.set()
    grpc_stopped = self.grpc_server.stop(grace_seconds)
    if self.rest_server:
      self.rest_server.stop(grace_seconds)
    grpc_stopped.wait()

  def _poll_loop(self) -> None:
    while not self._stopping.wait(self._poll_seconds):
      self.versions.poll()


def serve(model_base_path: str, model_name: str, host: str, port: int,
          poll_seconds: float = POLL_SECONDS, max_message_bytes: int = MAX_MESSAGE_BYTES,
          rest_port: int | None = None) -> int:
  """Serves until SIGINT or SIGTERM, then lets running requests finish; returns the exit code.

  rest_port None: gRPC only."""
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
  server = ModelServer(model_base_path, model_name, host, port, poll_seconds, max_message_bytes,
                       rest_port)
  stop = threading.Event()
  for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, lambda *_: stop.set())
  server.start()
  rest = f' and {server.rest_address} (REST API)' if server.rest_server else ''
  print(f'Serving {model_name!r} version {server.versions.current.version} on {server.address} '
        f'(TF Serving gRPC API){rest}; Ctrl-C stops.', flush=True)
  while not stop.wait(1.0):  # a timed wait lets the signal handler run promptly
    pass
  print('Stopping: finishing running requests.', flush=True)
  server.stop()
  return 0
