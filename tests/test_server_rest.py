"""The REST API beside gRPC: TF Serving's routes, JSON and errors, over plain http.client."""
import base64
import http.client
import io
import json
import shutil
import signal
import socket
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from PIL import Image
from tensorflow_serving.apis import get_model_metadata_pb2

from colorization.models import features
from colorization.serving import requests, rest_json, server as server_lib
from tests.conftest import COLORIZATION
from tests.test_server import (MAX_MESSAGE_BYTES, colorize_request, free_port, lightness_request,
                               png_bytes, stubs)

MODEL = f'/v1/models/{features.MODEL_NAME}'
AVAILABLE = {'model_version_status': [
    {'version': '1', 'state': 'AVAILABLE', 'status': {'error_code': 'OK', 'error_message': ''}}]}


def call(address: str, method: str, path: str, body: bytes | str | None = None,
         connection: http.client.HTTPConnection | None = None) -> tuple[int, dict]:
  """One request as curl sends it; (HTTP status, decoded JSON body)."""
  connection = connection or http.client.HTTPConnection(address, timeout=120)
  connection.request(method, path, body, {'Content-Type': 'application/json'} if body else {})
  response = connection.getresponse()
  assert response.getheader('Content-Type') == 'application/json'
  return response.status, json.loads(response.read())


def post(address: str, path: str, document: dict) -> tuple[int, dict]:
  return call(address, 'POST', path, json.dumps(document))


def b64(data: bytes) -> dict:
  return {'b64': base64.b64encode(data).decode()}


def colorize(address: str, images: list[bytes], path: str = f'{MODEL}:predict') -> list[bytes]:
  status, answer = post(address, path, {'signature_name': features.COLORIZE_IMAGE,
                                        'instances': [b64(image) for image in images]})
  assert status == 200, answer
  return [base64.b64decode(png['b64']) for png in answer['predictions']]


def assert_still_serving(server: server_lib.ModelServer) -> None:
  assert call(server.rest_address, 'GET', MODEL) == (200, AVAILABLE)
  (png,) = colorize(server.rest_address, [png_bytes(16, 16)])
  assert Image.open(io.BytesIO(png)).size == (16, 16)


@pytest.mark.slow
def test_status_as_tf_serving_renders_it(server):
  assert call(server.rest_address, 'GET', MODEL) == (200, AVAILABLE)
  assert call(server.rest_address, 'GET', f'{MODEL}/versions/1') == (200, AVAILABLE)


@pytest.mark.slow
def test_metadata_is_the_signature_def_map_of_grpc(server):
  status, answer = call(server.rest_address, 'GET', f'{MODEL}/versions/1/metadata')
  assert status == 200
  assert answer['model_spec'] == {'name': features.MODEL_NAME, 'signature_name': '',
                                  'version': '1'}
  colorize_def = answer['metadata']['signature_def']['signature_def'][features.COLORIZE_IMAGE]
  assert colorize_def['inputs'][features.IMAGE_BYTES_KEY]['dtype'] == 'DT_STRING'
  assert list(colorize_def['outputs']) == [features.COLORIZED_PNG_KEY]
  assert colorize_def['method_name'] == 'tensorflow/serving/predict'

  request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=['signature_def'])
  request.model_spec.name = features.MODEL_NAME
  expected = get_model_metadata_pb2.SignatureDefMap()
  stubs(server.address)[0].GetModelMetadata(request, timeout=10).metadata['signature_def'].Unpack(
      expected)
  assert json_format.ParseDict(answer['metadata']['signature_def'],
                               get_model_metadata_pb2.SignatureDefMap()) == expected
  assert call(server.rest_address, 'GET', f'{MODEL}/metadata')[1] == answer


@pytest.mark.slow
def test_predict_row_and_columnar_formats(server):
  images = [png_bytes(97, 61), png_bytes(300, 20, 'L')]
  pngs = colorize(server.rest_address, images, f'{MODEL}/versions/1:predict')
  assert [Image.open(io.BytesIO(png)).size for png in pngs] == [(97, 61), (300, 20)]

  status, answer = post(server.rest_address, f'{MODEL}:predict', {
      'signature_name': features.COLORIZE_IMAGE,
      'inputs': {features.IMAGE_BYTES_KEY: [b64(image) for image in images]}})
  assert status == 200
  assert [base64.b64decode(png['b64']) for png in answer['outputs']] == pngs

  lightness = np.full([2, 224, 224, 1], 50, np.float32)
  status, answer = post(server.rest_address, f'{MODEL}:predict', {'instances': lightness.tolist()})
  assert status == 200 and np.array(answer['predictions']).shape == (2, 224, 224, 2)
  status, answer = post(server.rest_address, f'{MODEL}:predict',
                        {'inputs': {features.L_KEY: lightness[:1].tolist()}})
  assert status == 200 and np.array(answer['outputs']).shape == (1, 224, 224, 2)


@pytest.mark.slow
def test_rest_and_grpc_predictions_agree(server):
  image = png_bytes(64, 48)
  predict = stubs(server.address)[0]
  grpc_png = predict.Predict(colorize_request([image]), timeout=60).outputs[
      features.COLORIZED_PNG_KEY].string_val[0]
  assert colorize(server.rest_address, [image]) == [grpc_png]

  lightness = np.random.default_rng(0).integers(0, 100, [1, 224, 224, 1]).astype(np.float32)
  grpc_ab = tf.make_ndarray(predict.Predict(lightness_request(lightness), timeout=60).outputs[
      features.AB_KEY])
  status, answer = post(server.rest_address, f'{MODEL}:predict', {'instances': lightness.tolist()})
  assert status == 200
  np.testing.assert_array_equal(np.array(answer['predictions'], np.float32), grpc_ab)


def _colorize_doc(instances) -> str:
  return json.dumps({'signature_name': features.COLORIZE_IMAGE, 'instances': instances})


def _lightness_doc(shape: list[int], value=0.0) -> str:
  return json.dumps({'instances': np.full(shape, value).tolist()})


PREDICT = f'{MODEL}:predict'
GOOD_IMAGE = b64(png_bytes(8, 8))
BAD_REQUESTS = {  # method, path, body, HTTP status, part of the error
    'malformed JSON': ('POST', PREDICT, '{"instances": [', 400, 'JSON Parse error'),
    'JSON not an object': ('POST', PREDICT, '[1, 2]', 400, 'Is not object'),
    'empty body': ('POST', PREDICT, None, 400, 'The document is empty'),
    'deeply nested JSON': ('POST', PREDICT, '[' * 100_000, 400, 'JSON Parse error'),
    'no instances or inputs': ('POST', PREDICT, '{}', 400, "Missing 'inputs' or 'instances' key"),
    'instances and inputs': ('POST', PREDICT, '{"instances": [1], "inputs": [1]}', 400,
                             'only one of'),
    'empty instances': ('POST', PREDICT, '{"instances": []}', 400, 'non-empty list'),
    'signature name not a string': ('POST', PREDICT, '{"signature_name": 1, "instances": [1]}',
                                    400, "'signature_name' key must be a string"),
    'wrong shape': ('POST', PREDICT, _lightness_doc([1, 10, 10, 1]), 400,
                    "input 'L': shape [1, 10, 10, 1] does not match"),
    'ragged lists': ('POST', PREDICT, json.dumps({'instances': [[1.0], [1.0, 2.0]]}), 400,
                     'nested lists of different lengths'),
    'wrong dtype': ('POST', PREDICT, json.dumps({'instances': [[[['dark']]]]}), 400,
                    "input 'L': JSON string values are not of expected type: float32"),
    'number for a string input': ('POST', PREDICT, _colorize_doc([5]), 400,
                                  'is not of expected type: string'),
    'bad base64': ('POST', PREDICT, _colorize_doc([{'b64': '!!'}]), 400, 'Unable to base64'),
    'undecodable image': ('POST', PREDICT, _colorize_doc([GOOD_IMAGE, b64(b'not an image')]), 400,
                          "input 'image_bytes' of signature 'colorize_image'"),
    'unknown signature': ('POST', PREDICT, '{"signature_name": "nope", "instances": [1]}', 400,
                          'Serving signature key "nope" not found.'),
    'extra input': ('POST', PREDICT, json.dumps({
        'signature_name': features.COLORIZE_IMAGE,
        'inputs': {features.IMAGE_BYTES_KEY: [GOOD_IMAGE], 'extra': [1]}}), 400,
        'Sent extra: {extra}'),
    'missing input': ('POST', PREDICT, _colorize_doc([{'other': GOOD_IMAGE}]), 400,
                      'Missing but required: {image_bytes}'),
    'instances of mixed keys': ('POST', PREDICT, _colorize_doc(
        [{features.IMAGE_BYTES_KEY: GOOD_IMAGE}, {'other': GOOD_IMAGE}]), 400,
        "element: 1 of 'instances'"),
    'unknown model': ('POST', '/v1/models/nope:predict', _colorize_doc([GOOD_IMAGE]), 404,
                      'Servable not found for request: Latest(nope)'),
    'unknown version': ('POST', f'{MODEL}/versions/7:predict', _colorize_doc([GOOD_IMAGE]), 404,
                        'Specific(colorizer, 7)'),
    'version label': ('POST', f'{MODEL}/labels/stable:predict', _colorize_doc([GOOD_IMAGE]), 400,
                      'Unrecognized servable version label: stable'),
    'status of unknown model': ('GET', '/v1/models/nope', None, 404,
                                'Could not find any versions of model nope'),
    'status of unknown version': ('GET', f'{MODEL}/versions/7', None, 404,
                                  'Could not find version 7 of model colorizer'),
    'metadata of unknown version': ('GET', f'{MODEL}/versions/7/metadata', None, 404,
                                    'Specific(colorizer, 7)'),
    'no model name': ('GET', '/v1/models', None, 400, 'Missing model name in request.'),
    'predict with GET': ('GET', PREDICT, None, 400, f'Malformed request: GET {PREDICT}'),
    'unknown /v1 route': ('POST', f'{MODEL}:classify', '{}', 400, 'Malformed request'),
    'route outside /v1': ('GET', '/v2/models/colorizer', None, 404, 'Not found'),
    'body over the limit': ('POST', PREDICT, ' ' * (MAX_MESSAGE_BYTES + 1), 413, 'larger than max'),
}


@pytest.mark.slow
@pytest.mark.parametrize('case', BAD_REQUESTS)
def test_bad_request_gets_tf_serving_error_and_server_carries_on(server, case):
  method, path, body, status, detail = BAD_REQUESTS[case]
  got_status, answer = call(server.rest_address, method, path, body)
  assert (got_status, list(answer)) == (status, ['error']), answer
  assert detail in answer['error']
  assert_still_serving(server)


@pytest.mark.slow
def test_one_connection_serves_several_requests(server):
  connection = http.client.HTTPConnection(server.rest_address, timeout=60)
  assert call(server.rest_address, 'GET', MODEL, connection=connection) == (200, AVAILABLE)
  assert call(server.rest_address, 'POST', PREDICT, '{', connection=connection)[0] == 400
  assert call(server.rest_address, 'GET', f'{MODEL}/metadata', connection=connection)[0] == 200


def test_string_outputs_are_text_or_b64_and_batches_become_rows():
  outputs = {'name': np.array([b'caf\xc3\xa9', b'x'], object),
             'png': np.array([b'\x89PNG\r\n', b'y'], object),
             'raw_bytes': np.array([b'text', b'z'], object),
             'score': np.array([[0.5], [1.0]], np.float32)}
  row, column = rest_json.json_outputs(outputs, False), rest_json.json_outputs(outputs, True)
  assert row == {'predictions': [
      {'name': 'café', 'png': b64(b'\x89PNG\r\n'), 'raw_bytes': b64(b'text'), 'score': [0.5]},
      {'name': 'x', 'png': b64(b'y'), 'raw_bytes': b64(b'z'), 'score': [1.0]}]}
  assert column['outputs']['score'] == [[0.5], [1.0]]
  assert rest_json.json_outputs({'score': outputs['score']}, True) == {'outputs': [[0.5], [1.0]]}
  with pytest.raises(requests.RequestError, match='batch dimension'):
    rest_json.json_outputs({'a': np.zeros([2]), 'b': np.zeros([3])}, False)


@pytest.mark.slow
def test_serve_answers_rest_on_its_port_and_stops_on_signal(small_export, tmp_path):
  shutil.copytree(small_export, tmp_path / '3')
  port, rest_port = free_port(), free_port()
  process = subprocess.Popen([COLORIZATION, 'serve', '--model-base-path', str(tmp_path),
                              '--port', str(port), '--rest-port', str(rest_port)],
                             stdout=subprocess.PIPE, text=True)
  try:
    assert f'127.0.0.1:{rest_port} (REST API)' in process.stdout.readline()
    status, answer = call(f'127.0.0.1:{rest_port}', 'GET', MODEL)
    assert (status, answer['model_version_status'][0]['version']) == (200, '3')
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
  finally:
    process.kill()


@pytest.mark.parametrize('method', ['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'FOO'])
def test_every_method_is_answered_in_json_as_tf_serving(server, method):
  status, answer = call(server.rest_address, method, PREDICT, '{}')
  assert (status, answer) == (400, {'error': f'Malformed request: {method} {PREDICT}'})


def test_head_gets_a_status_without_a_body(server):
  connection = http.client.HTTPConnection(server.rest_address, timeout=30)
  connection.request('HEAD', MODEL)
  response = connection.getresponse()
  assert (response.status, response.read()) == (400, b'')
  assert call(server.rest_address, 'GET', MODEL, connection=connection) == (200, AVAILABLE)


def test_a_stalled_body_is_answered_and_dropped_quickly(server, monkeypatch, capfd):
  monkeypatch.setattr(server.rest_server, 'body_seconds', 0.5)
  host, port = server.rest_address.split(':')
  with socket.create_connection((host, int(port)), timeout=10) as connection:
    connection.sendall(f'POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n'
                       '{"instances": '.encode())
    start = time.monotonic()
    answer = b''
    while chunk := connection.recv(65536):  # the server closes the connection after answering
      answer += chunk
  assert time.monotonic() - start < 5
  head, body = answer.split(b'\r\n\r\n', 1)
  assert head.startswith(b'HTTP/1.1 408 ') and 'stalled' in json.loads(body)['error']
  with socket.create_connection((host, int(port)), timeout=10) as connection:
    connection.sendall(f'POST {PREDICT} HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{{'.encode())
  time.sleep(1.0)  # the handler sees the short body, answers a closed socket
  assert 'Traceback' not in capfd.readouterr().err
  assert_still_serving(server)
