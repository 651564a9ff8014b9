"""TF Serving's REST API (GET /v1/models/<name>[/versions/<v>][/metadata], POST ...:predict) beside
gRPC: REST requests become the same protos and go through the same handlers and checks.

A prediction runs at most REST_TIMEOUT_SECONDS (TF Serving's REST timeout), then is stopped: 504."""
import http.server
import json
import logging
import re
import sys
import threading
import urllib.parse

import grpc
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_pb2,
                                     predict_pb2)

from colorization.serving.defaults import REST_TIMEOUT_SECONDS
from colorization.serving.grpc_service import PredictionService
from colorization.serving.requests import (RequestError, invalid_argument as _bad, refusal,
                                           run_signature, signature_def)
from colorization.serving.rest_json import fill_inputs, json_outputs

BODY_SECONDS = 5.0           # longest pause while a request body arrives: then 408, connection closed
IDLE_SECONDS = 120.0         # a kept-alive connection idle this long is closed

log = logging.getLogger('colorization.serve')

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




def _model_spec(name: str, version: str | None, label: str | None) -> model_pb2.ModelSpec:
  spec = model_pb2.ModelSpec(name=urllib.parse.unquote(name))
  if version is not None:
    if int(version) >= 2 ** 63:
      raise _bad(f'Failed to convert version: {version} to numeric.')
    spec.version.value = int(version)
  if label is not None:
    spec.version_label = urllib.parse.unquote(label)
  return spec


class RestApi:
  """TF Serving's REST API over the gRPC service's handlers: the same servables and checks."""

  def __init__(self, service: PredictionService, timeout_seconds: float = REST_TIMEOUT_SECONDS):
    self.service = service
    self.timeout_seconds = timeout_seconds

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
    columnar = fill_inputs(document, signature_def(servable, signature_name)[1], request)
    return json_outputs(run_signature(servable, request, self.timeout_seconds)[1], columnar)


class _RestHandler(http.server.BaseHTTPRequestHandler):
  """HTTP/1.1 with keep-alive. Every method and every error is answered in JSON, as TF Serving's;
  bodies over the server's limit get 413 and are not parsed; a stalled body gets 408."""
  protocol_version = 'HTTP/1.1'
  disable_nagle_algorithm = True
  timeout = IDLE_SECONDS  # socket timeout between requests on a kept-alive connection
  server: 'RestServer'

  def __getattr__(self, name: str):
    """do_GET, do_POST, do_PUT, ...: every method goes to the API, which refuses all but two."""
    if name.startswith('do_'):
      return self._respond
    raise AttributeError(name)

  def log_message(self, format: str, *args) -> None:
    log.debug('REST %s', format % args)

  def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
    """http.server's own refusals (bad request line, headers too long) in JSON too, not HTML."""
    self.close_connection = True
    self._send(code, {'error': message or self.responses.get(code, ('error',))[0]})

  def _respond(self) -> None:
    with self.server.busy:
      self.server.running += 1
    try:
      self._send(*self._answer())
    finally:
      with self.server.busy:
        self.server.running -= 1
        self.server.busy.notify_all()

  def _send(self, status: int, document: dict) -> None:
    data = json.dumps(document).encode()
    self.send_response(status)
    self.send_header('Content-Type', 'application/json')
    self.send_header('Content-Length', str(len(data)))
    if self.close_connection:
      self.send_header('Connection', 'close')
    self.end_headers()
    if self.command != 'HEAD':
      self.wfile.write(data)

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
    self.connection.settimeout(self.server.body_seconds)  # a stalled client must not hold a thread
    try:
      if length > limit:  # read and drop the body (up to 4x the limit): the client sees the answer
        self.close_connection = True
        remaining = min(length, 4 * limit)
        while remaining > 0 and (chunk := self.rfile.read(min(remaining, 1 << 20))):
          remaining -= len(chunk)
        return 413, {'error': f'request body of {length} bytes is larger than max ({limit})'}
      body = self.rfile.read(length)
    except TimeoutError:
      self.close_connection = True
      return 408, {'error': f'request body stalled: no data for {self.server.body_seconds:g} s'}
    finally:
      self.connection.settimeout(self.timeout)
    if len(body) < length:
      self.close_connection = True
      return 400, {'error': f'request body ended after {len(body)} of {length} bytes'}
    return self.server.api.answer(self.command, urllib.parse.urlsplit(self.path).path, body)


class RestServer(http.server.ThreadingHTTPServer):
  """The REST front end: one thread per connection; stop() lets running requests finish."""
  daemon_threads = True

  def __init__(self, address: tuple[str, int], api: RestApi, max_body_bytes: int,
               body_seconds: float = BODY_SECONDS):
    super().__init__(address, _RestHandler)
    self.api = api
    self.max_body_bytes = max_body_bytes
    self.body_seconds = body_seconds
    self.busy = threading.Condition()
    self.running = 0

  def handle_error(self, request, client_address) -> None:
    """A client that went away is one quiet log line, not a traceback on stderr."""
    error = sys.exc_info()[1]
    if isinstance(error, OSError):
      log.info('REST client %s went away: %s', client_address[0], error)
    else:
      log.exception('REST connection from %s failed', client_address[0])

  def stop(self, grace_seconds: float) -> None:
    self.shutdown()
    with self.busy:
      self.busy.wait_for(lambda: self.running == 0, timeout=grace_seconds)
    self.server_close()


