"""A local TF Serving: PredictionService (Predict, GetModelMetadata) and ModelService.GetModelStatus.

Serves the newest numeric version under a model base path and polls for newly pushed versions,
as `tensorflow_model_server` does; request checks and error codes follow TF Serving, so a client
works unchanged against either. Signature, input and output names come from the SavedModel itself.
"""
import concurrent.futures
import dataclasses
import logging
import os
import signal
import threading

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import any_pb2
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc, status_pb2)

from colorization.serving import op_error_text

POLL_SECONDS = 1.0                      # tensorflow_model_server --file_system_poll_wait_seconds
MAX_MESSAGE_BYTES = 64 * 1024 * 1024    # largest request accepted; larger ones: RESOURCE_EXHAUSTED
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
    return self._answer(context, self._metadata, request)

  def GetModelStatus(self, request: get_model_status_pb2.GetModelStatusRequest, context):
    return self._answer(context, self._status, request)

  @staticmethod
  def _answer(context, handler, request):
    """Runs a handler; refusals and TensorFlow errors become gRPC statuses, the server carries on."""
    try:
      return handler(request)
    except RequestError as e:
      context.abort(e.code, str(e))
    except tf.errors.OpError as e:
      context.abort(_GRPC_CODE.get(e.error_code, grpc.StatusCode.INTERNAL), op_error_text(e.message))

  def _predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
    servable = self.versions.servable(request.model_spec)
    signature_name = (request.model_spec.signature_name
                      or tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY)
    signature = servable.signature_defs.get(signature_name)
    if signature is None or signature_name not in servable.functions:
      raise RequestError(grpc.StatusCode.FAILED_PRECONDITION,
                         f'Serving signature key "{signature_name}" not found.')
    inputs = _input_tensors(signature_name, signature, request)
    outputs = _output_names(signature_name, signature, request.output_filter)
    try:
      results = servable.functions[signature_name](**inputs)
    except tf.errors.InvalidArgumentError as e:
      raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, (
          f'input {", ".join(map(repr, sorted(inputs)))} of signature {signature_name!r}: '
          f'{op_error_text(e.message)}')) from None
    response = predict_pb2.PredictResponse()
    response.model_spec.name = self.versions.model_name
    response.model_spec.version.value = servable.version
    response.model_spec.signature_name = signature_name
    for name in outputs:
      _fill_tensor_proto(response.outputs[name], results.pop(name).numpy())
    return response

  def _metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest):
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

  def _status(self, request: get_model_status_pb2.GetModelStatusRequest):
    if not request.HasField('model_spec'):
      raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, 'Missing ModelSpec')
    return get_model_status_pb2.GetModelStatusResponse(
        model_version_status=self.versions.status(request.model_spec))


class ModelServer:
  """The gRPC server and the thread that polls for new versions."""

  def __init__(self, model_base_path: str, model_name: str, host: str, port: int,
               poll_seconds: float = POLL_SECONDS, max_message_bytes: int = MAX_MESSAGE_BYTES):
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

  def start(self) -> None:
    self.grpc_server.start()
    self._poller.start()

  def stop(self, grace_seconds: float = 5.0) -> None:
    """Stops polling, refuses new calls and lets running ones finish."""
    self._stopping.set()
    self.grpc_server.stop(grace_seconds).wait()

  def _poll_loop(self) -> None:
    while not self._stopping.wait(self._poll_seconds):
      self.versions.poll()


def serve(model_base_path: str, model_name: str, host: str, port: int,
          poll_seconds: float = POLL_SECONDS, max_message_bytes: int = MAX_MESSAGE_BYTES) -> int:
  """Serves until SIGINT or SIGTERM, then lets running requests finish; returns the exit code."""
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
  server = ModelServer(model_base_path, model_name, host, port, poll_seconds, max_message_bytes)
  stop = threading.Event()
  for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, lambda *_: stop.set())
  server.start()
  print(f'Serving {model_name!r} version {server.versions.current.version} on {server.address} '
        '(TF Serving gRPC API); Ctrl-C stops.', flush=True)
  stop.wait()
  print('Stopping: finishing running requests.', flush=True)
  server.stop()
  return 0
