"""The local TF Serving server: API answers, TF Serving's error codes, version pickup, load, shutdown."""
import base64
import concurrent.futures
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
                                     get_model_status_pb2, inference_pb2, model_service_pb2_grpc,
                                     predict_pb2, prediction_service_pb2_grpc, regression_pb2)

from colorization.models import features
from colorization.serving import rest, server as server_lib
from tests.conftest import COLORIZATION, SERVER_MAX_MESSAGE_BYTES as MAX_MESSAGE_BYTES

AVAILABLE = get_model_status_pb2.ModelVersionStatus.State.AVAILABLE
END = get_model_status_pb2.ModelVersionStatus.State.END


def start_server(base_path: str) -> server_lib.ModelServer:
  server = server_lib.ModelServer(base_path, features.MODEL_NAME, '127.0.0.1', 0,
                                  poll_seconds=0.2, max_message_bytes=MAX_MESSAGE_BYTES)
  server.start()
  return server


@pytest.fixture(scope='session')
def address(server) -> str:
  return server.address


def stubs(address: str):
  channel = grpc.insecure_channel(address, options=[('grpc.max_send_message_length', -1)])
  return (prediction_service_pb2_grpc.PredictionServiceStub(channel),
          model_service_pb2_grpc.ModelServiceStub(channel))


def png_bytes(width: int, height: int, mode: str = 'RGB') -> bytes:
  rng = np.random.default_rng(width * height)
  pixels = rng.integers(0, 256, (height, width, 3), np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels).convert(mode).save(buffer, 'PNG')
  return buffer.getvalue()


def colorize_request(images: list[bytes], name: str = features.MODEL_NAME,
                     signature_name: str = features.COLORIZE_IMAGE, version: int | None = None,
                     version_label: str = '') -> predict_pb2.PredictRequest:
  request = predict_pb2.PredictRequest()
  request.model_spec.name = name
  request.model_spec.signature_name = signature_name
  if version is not None:
    request.model_spec.version.value = version
  if version_label:
    request.model_spec.version_label = version_label
  request.inputs[features.IMAGE_BYTES_KEY].CopyFrom(tf.make_tensor_proto(images, tf.string))
  return request


def lightness_request(array: np.ndarray) -> predict_pb2.PredictRequest:
  request = predict_pb2.PredictRequest()
  request.model_spec.name = features.MODEL_NAME
  request.inputs[features.L_KEY].CopyFrom(tf.make_tensor_proto(array))
  return request


def model_status(address: str, version: int | None = None) -> dict[int, tuple[int, str]]:
  request = get_model_status_pb2.GetModelStatusRequest()
  request.model_spec.name = features.MODEL_NAME
  if version is not None:
    request.model_spec.version.value = version
  response = stubs(address)[1].GetModelStatus(request, timeout=10)
  return {s.version: (s.state, s.status.error_message) for s in response.model_version_status}


def test_status_metadata_and_predict(address):
  assert model_status(address) == {1: (AVAILABLE, '')}
  predict, _ = stubs(address)
  request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=['signature_def'])
  request.model_spec.name = features.MODEL_NAME
  metadata = predict.GetModelMetadata(request, timeout=10)
  signature_map = get_model_metadata_pb2.SignatureDefMap()
  metadata.metadata['signature_def'].Unpack(signature_map)
  colorize = signature_map.signature_def[features.COLORIZE_IMAGE]
  assert list(colorize.inputs) == [features.IMAGE_BYTES_KEY]
  assert list(colorize.outputs) == [features.COLORIZED_PNG_KEY]
  assert metadata.model_spec.version.value == 1

  ab = predict.Predict(lightness_request(np.full([2, 224, 224, 1], 50, np.float32)), timeout=30)
  assert ab.model_spec.signature_name == features.SERVING_DEFAULT
  assert tf.make_ndarray(ab.outputs[features.AB_KEY]).shape == (2, 224, 224, 2)

  images = [png_bytes(97, 61), png_bytes(300, 20, 'L')]
  response = predict.Predict(colorize_request(images), timeout=60)
  pngs = tf.make_ndarray(response.outputs[features.COLORIZED_PNG_KEY])
  assert [Image.open(io.BytesIO(png)).size for png in pngs] == [(97, 61), (300, 20)]


def _call(address: str, method: str, request):
  predict, models = stubs(address)
  service = models if method == 'GetModelStatus' else predict
  with pytest.raises(grpc.RpcError) as raised:
    getattr(service, method)(request, timeout=30)
  return raised.value.code(), raised.value.details()


def _without_input() -> predict_pb2.PredictRequest:
  request = colorize_request([b''])
  del request.inputs[features.IMAGE_BYTES_KEY]
  return request


def _extra_input() -> predict_pb2.PredictRequest:
  request = colorize_request([png_bytes(8, 8)])
  request.inputs['extra'].CopyFrom(tf.make_tensor_proto([1.0]))
  return request


def _metadata(fields: list[str]) -> get_model_metadata_pb2.GetModelMetadataRequest:
  request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=fields)
  request.model_spec.name = features.MODEL_NAME
  return request


def _status(name: str, version: int) -> get_model_status_pb2.GetModelStatusRequest:
  request = get_model_status_pb2.GetModelStatusRequest()
  request.model_spec.name = name
  request.model_spec.version.value = version
  return request


def _filtered(output: str) -> predict_pb2.PredictRequest:
  request = colorize_request([png_bytes(8, 8)])
  request.output_filter.append(output)
  return request


MALFORMED = {
    'unknown model': ('Predict', lambda: colorize_request([b''], name='nope'),
                      grpc.StatusCode.NOT_FOUND, 'Latest(nope)'),
    'unknown version': ('Predict', lambda: colorize_request([b''], version=7),
                        grpc.StatusCode.NOT_FOUND, 'Specific(colorizer, 7)'),
    'version label': ('Predict', lambda: colorize_request([b''], version_label='stable'),
                      grpc.StatusCode.INVALID_ARGUMENT, 'stable'),
    # TF Serving answers an unknown signature with FAILED_PRECONDITION (predict_util.cc).
    'unknown signature': ('Predict', lambda: colorize_request([b''], signature_name='nope'),
                          grpc.StatusCode.FAILED_PRECONDITION, '"nope"'),
    'missing input': ('Predict', _without_input, grpc.StatusCode.INVALID_ARGUMENT,
                      'Missing but required: {image_bytes}'),
    'extra input': ('Predict', _extra_input, grpc.StatusCode.INVALID_ARGUMENT,
                    'Sent extra: {extra}'),
    'wrong dtype': ('Predict', lambda: lightness_request(np.zeros([1, 224, 224, 1], np.int32)),
                    grpc.StatusCode.INVALID_ARGUMENT, "input 'L': dtype int32"),
    'wrong shape': ('Predict', lambda: lightness_request(np.zeros([1, 10, 10, 1], np.float32)),
                    grpc.StatusCode.INVALID_ARGUMENT, "input 'L': shape [1, 10, 10, 1]"),
    'undecodable image': ('Predict', lambda: colorize_request([png_bytes(8, 8), b'not an image']),
                          grpc.StatusCode.INVALID_ARGUMENT, "input 'image_bytes'"),
    'unknown output': ('Predict', lambda: _filtered('nope'), grpc.StatusCode.INVALID_ARGUMENT,
                       'nope'),
    'oversized message': ('Predict', lambda: colorize_request([bytes(MAX_MESSAGE_BYTES + 1)]),
                          grpc.StatusCode.RESOURCE_EXHAUSTED, 'larger than max'),
    'metadata field': ('GetModelMetadata', lambda: _metadata(['nope']),
                       grpc.StatusCode.INVALID_ARGUMENT, 'nope'),
    'status of unknown version': ('GetModelStatus', lambda: _status(features.MODEL_NAME, 7),
                                  grpc.StatusCode.NOT_FOUND, 'version 7'),
    'status of unknown model': ('GetModelStatus', lambda: _status('nope', 1),
                                grpc.StatusCode.NOT_FOUND, 'nope'),
}


@pytest.mark.parametrize('case', MALFORMED)
def test_malformed_request_gets_tf_serving_status_and_server_carries_on(address, case):
  method, make_request, code, detail = MALFORMED[case]
  got_code, details = _call(address, method, make_request())
  assert got_code == code and detail in details, details
  assert model_status(address) == {1: (AVAILABLE, '')}
  response = stubs(address)[0].Predict(colorize_request([png_bytes(16, 16)]), timeout=60)
  assert len(response.outputs[features.COLORIZED_PNG_KEY].string_val) == 1


def wait_for(condition, timeout: float = 60.0):
  deadline = time.monotonic() + timeout
  while not condition():
    assert time.monotonic() < deadline, 'timed out'
    time.sleep(0.1)


def test_new_version_is_picked_up_without_restart(small_export, tmp_path):
  shutil.copytree(small_export, tmp_path / '1')
  server = start_server(str(tmp_path))
  try:
    shutil.copytree(small_export, tmp_path / 'incoming')
    os.rename(tmp_path / 'incoming', tmp_path / '2')
    wait_for(lambda: model_status(server.address).get(2, (0,))[0] == AVAILABLE)
    assert model_status(server.address) == {1: (END, ''), 2: (AVAILABLE, '')}
    response = stubs(server.address)[0].Predict(colorize_request([png_bytes(9, 9)]), timeout=60)
    assert response.model_spec.version.value == 2

    (tmp_path / '3').mkdir()
    (tmp_path / '3' / 'saved_model.pb').write_bytes(b'not a SavedModel')
    wait_for(lambda: model_status(server.address).get(3, (0, ''))[1])
    assert model_status(server.address, version=2) == {2: (AVAILABLE, '')}
    response = stubs(server.address)[0].Predict(colorize_request([png_bytes(9, 9)]), timeout=60)
    assert response.model_spec.version.value == 2
  finally:
    server.stop()


@pytest.mark.slow
def test_load_every_response_accounted_for(server):
  """8 client threads x 125 requests, gRPC and REST alternately, one in ten malformed; then the
  server still answers (the audit's load test)."""
  predict, _ = stubs(server.address)
  images = {False: png_bytes(32, 24), True: b'not an image'}  # by "malformed"
  requests = {malformed: colorize_request([image]) for malformed, image in images.items()}
  bodies = {malformed: json.dumps({'signature_name': features.COLORIZE_IMAGE,
                                   'instances': [{'b64': base64.b64encode(image).decode()}]})
            for malformed, image in images.items()}
  path = f'/v1/models/{features.MODEL_NAME}:predict'

  def call(i: int) -> str:
    malformed = i % 10 == 0
    if i % 2:
      connection = http.client.HTTPConnection(server.rest_address, timeout=120)
      connection.request('POST', path, bodies[malformed], {'Content-Type': 'application/json'})
      response = connection.getresponse()
      answer = json.loads(response.read())
      connection.close()
      return ('ok' if response.status == 200 and len(answer['predictions']) == 1 else
              'INVALID_ARGUMENT' if response.status == 400 else f'HTTP {response.status}')
    try:
      response = predict.Predict(requests[malformed], timeout=120)
      return 'ok' if len(response.outputs[features.COLORIZED_PNG_KEY].string_val) == 1 else 'empty'
    except grpc.RpcError as e:
      return e.code().name

  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    results = list(pool.map(call, range(1000)))
  assert {r: results.count(r) for r in set(results)} == {'ok': 900, 'INVALID_ARGUMENT': 100}
  assert model_status(server.address) == {1: (AVAILABLE, '')}


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_serve_without_a_version_fails_with_one_line(tmp_path):
  result = subprocess.run([COLORIZATION, 'serve', '--model-base-path', str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 2
  last_line = result.stderr.strip().splitlines()[-1]  # earlier lines: TensorFlow's own start-up log
  assert last_line.startswith(f'colorization serve: error: no model version under {tmp_path}')


@pytest.mark.slow
@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_serve_shuts_down_cleanly_on_signal(small_export, tmp_path, signum):
  shutil.copytree(small_export, tmp_path / '5')
  port = free_port()
  process = subprocess.Popen([COLORIZATION, 'serve', '--model-base-path', str(tmp_path),
                              '--port', str(port), '--rest-port', '0'],
                             stdout=subprocess.PIPE, text=True)
  try:
    assert f'127.0.0.1:{port}' in process.stdout.readline()
    assert model_status(f'127.0.0.1:{port}') == {5: (AVAILABLE, '')}
    process.send_signal(signum)
    assert process.wait(timeout=120) == 0
  finally:
    process.kill()


def flat_png(width: int, height: int) -> bytes:
  """A large image that is small to send: one grey level compresses to a few kilobytes."""
  buffer = io.BytesIO()
  Image.new('L', (width, height), 128).save(buffer, 'PNG')
  return buffer.getvalue()


def test_predict_past_its_deadline_is_stopped_not_left_running(server):
  """A client that gives up (deadline passed) leaves no work behind: the server's run is
  cancelled at the deadline instead of finishing a batch nobody waits for."""
  predict, _ = stubs(server.address)
  image = flat_png(1000, 1000)
  start = time.monotonic()
  predict.Predict(colorize_request([image]), timeout=60)
  one_image = time.monotonic() - start
  count = (MAX_MESSAGE_BYTES - 4096) // len(image)
  bound = 3 + 2 * one_image  # seconds after the deadline: the image being worked on, and slack
  assert count * one_image > 3 * bound, 'the whole batch must take far longer than the bound'
  with pytest.raises(grpc.RpcError) as raised:
    predict.Predict(colorize_request([image] * count), timeout=1.0)
  assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
  gave_up = time.monotonic()
  wait_for(lambda: server.service.running == 0, timeout=bound)
  print(f'{count} images of {one_image:.2f} s each; stopped {time.monotonic() - gave_up:.2f} s '
        f'after the deadline')


def test_rest_prediction_past_the_time_limit_is_stopped(server):
  api = rest.RestApi(server.service, timeout_seconds=0.5)
  body = json.dumps({'signature_name': features.COLORIZE_IMAGE, 'instances': [
      {'b64': base64.b64encode(flat_png(1000, 1000)).decode()}] * 40})
  start = time.monotonic()
  status, answer = api.answer('POST', f'/v1/models/{features.MODEL_NAME}:predict', body.encode())
  assert (status, list(answer)) == (504, ['error']) and 'time limit of 0.5 s' in answer['error']
  assert time.monotonic() - start < 10


def test_second_server_on_the_same_port_is_refused(server, small_export, tmp_path):
  shutil.copytree(small_export, tmp_path / '1')
  port = server.port
  with pytest.raises(ValueError, match=f'^cannot listen on 127.0.0.1:{port}: the port is in use'):
    server_lib.ModelServer(str(tmp_path), features.MODEL_NAME, '127.0.0.1', port)
  assert model_status(server.address) == {1: (AVAILABLE, '')}


@pytest.mark.parametrize('method, request_type', [
    ('Classify', classification_pb2.ClassificationRequest),
    ('Regress', regression_pb2.RegressionRequest),
    ('MultiInference', inference_pb2.MultiInferenceRequest)])
def test_unimplemented_methods_answer_unimplemented_without_a_traceback(address, caplog, method,
                                                                        request_type):
  code, details = _call(address, method, request_type())
  assert code == grpc.StatusCode.UNIMPLEMENTED and 'Predict' in details
  assert not [record for record in caplog.records if record.exc_info], caplog.text
