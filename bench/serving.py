"""Serving benchmark: gRPC and REST against an in-process SavedModel call, throughput, peak memory.

    python -m bench.serving --model-base-path DIR [--repeats N]

Starts `colorization serve` on the newest version under DIR as a subprocess and drives it with the
real client code (serving.predictors); the same `colorize_image` signature is also called in this
process. Reported:
  - latency of one 224x224 JPEG, gRPC round trip / in-process call and REST round trip (JSON,
    base64, a kept-alive http.client connection) / gRPC round trip (medians, calls alternated);
  - throughput in images/s with 1, 8 and 32 images per Predict request;
  - the server's peak RSS while colorizing one 0.25, 4 and 16 megapixel JPEG, against 0.25 MP
    (peak reset through /proc/<pid>/clear_refs before each request, read from VmHWM), right
    after start and again after the other requests: memory the allocator kept from earlier
    requests is reused, so the second figure is the steady state and the first the worst case;
  - then, with the server stopped, bench.served_graph: colorize_image and colorize_image_jpeg
    against the bare sum of their parts for 0.2, 3 and 12 MP photos, and their memory per pixel.
Every figure comes from this run; ratios matter more than absolute times on a busy machine.
"""
import argparse
import base64
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from bench import served_graph  # noqa: E402
from bench.photos import megapixel_jpeg, photo_jpeg  # noqa: E402
from colorization.models import features  # noqa: E402  (after the environment: TensorFlow reads it on import)
from colorization.serving import predictors  # noqa: E402

LATENCY_TARGET = 1.3
REST_TARGET = 1.5
MEMORY_TARGET = 0.10
THROUGHPUT_IMAGES = 96
MEGAPIXELS = (0.25, 4.0, 16.0)


def newest_version(base_path: str) -> str:
  versions = [name for name in os.listdir(base_path) if name.isdigit()]
  if not versions:
    raise SystemExit(f'no numbered version under {base_path}')
  return os.path.join(base_path, max(versions, key=int))


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def rest_predictor(address: str, model_name: str):
  """Colorizes images through TF Serving's REST API: one JSON POST per call, PNGs back."""
  connection = http.client.HTTPConnection(address, timeout=120)
  path = f'/v1/models/{model_name}:predict'

  def predict(images: list[bytes]) -> list[bytes]:
    body = json.dumps({'signature_name': predictors.SIGNATURE_NAME,
                       'instances': [{'b64': base64.b64encode(i).decode()} for i in images]})
    connection.request('POST', path, body, {'Content-Type': 'application/json'})
    response = connection.getresponse()
    answer = json.loads(response.read())
    if response.status != 200:
      raise RuntimeError(f'REST predict: {response.status} {answer}')
    return [base64.b64decode(png['b64']) for png in answer['predictions']]

  return predict


def peak_rss_mb(pid: int, request) -> tuple[float, float]:
  """(RSS before, peak RSS during) one request, in MB, of process pid."""
  with open(f'/proc/{pid}/clear_refs', 'w') as f:
    f.write('5')
  before = _status_kb(pid, 'VmRSS')
  request()
  return before / 1024, _status_kb(pid, 'VmHWM') / 1024


def _status_kb(pid: int, key: str) -> int:
  with open(f'/proc/{pid}/status') as f:
    return next(int(line.split()[1]) for line in f if line.startswith(key + ':'))


def memory_spread(pid: int, remote, state: str) -> float:
  """Prints the server's peak RSS per input size; returns the largest deviation from 0.25 MP."""
  print(f'\nServer peak RSS while colorizing one JPEG, server {state}:')
  peaks = {}
  for megapixels in MEGAPIXELS:
    jpeg = megapixel_jpeg(megapixels)
    before, peaks[megapixels] = peak_rss_mb(pid, lambda: remote([jpeg]))
    print(f'  {megapixels:5.2f} MP ({len(jpeg) / 1e6:4.1f} MB JPEG): before {before:5.0f} MB, '
          f'peak {peaks[megapixels]:5.0f} MB = {peaks[megapixels] - peaks[MEGAPIXELS[0]]:+4.0f} MB, '
          f'{peaks[megapixels] / peaks[MEGAPIXELS[0]] - 1:+6.1%} vs {MEGAPIXELS[0]} MP')
  return max(abs(p / peaks[MEGAPIXELS[0]] - 1) for p in peaks.values())


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--model-base-path', required=True)
  parser.add_argument('--repeats', type=int, default=30, help='latency samples per path')
  args = parser.parse_args()

  address, rest_address = f'127.0.0.1:{free_port()}', f'127.0.0.1:{free_port()}'
  server = subprocess.Popen(
      [sys.executable, '-m', 'colorization.cli.main', 'serve', '--model-base-path', args.model_base_path,
       '--model-name', features.MODEL_NAME, '--port', address.split(':')[1],
       '--rest-port', rest_address.split(':')[1]],
      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
  try:
    print(server.stdout.readline().strip(), flush=True)
    remote = predictors.grpc_predictor(address, features.MODEL_NAME)
    rest = rest_predictor(rest_address, features.MODEL_NAME)
    local = predictors.saved_model_predictor(newest_version(args.model_base_path))

    remote([megapixel_jpeg(0.05)])
    fresh = memory_spread(server.pid, remote, 'just started')

    image = photo_jpeg(features.IMAGE_SIZE, features.IMAGE_SIZE)
    paths = {'grpc': remote, 'rest': rest, 'in-process': local}
    for _ in range(3):
      for predict in paths.values():
        predict([image])
    assert rest([image]) == remote([image]), 'REST and gRPC answers differ'
    samples = {name: [] for name in paths}
    for _ in range(args.repeats):
      for name, predict in paths.items():
        start = time.perf_counter()
        predict([image])
        samples[name].append(time.perf_counter() - start)
    grpc_ms, rest_ms, local_ms = (1000 * statistics.median(samples[k]) for k in paths)
    ratio, rest_ratio = grpc_ms / local_ms, rest_ms / grpc_ms
    print(f'\nOne {features.IMAGE_SIZE}x{features.IMAGE_SIZE} JPEG, median of {args.repeats}:')
    print(f'  gRPC round trip {grpc_ms:7.1f} ms   in-process {local_ms:7.1f} ms   '
          f'ratio {ratio:.2f} (target <= {LATENCY_TARGET})')
    print(f'  REST round trip {rest_ms:7.1f} ms   gRPC       {grpc_ms:7.1f} ms   '
          f'ratio {rest_ratio:.2f} (target <= {REST_TARGET})')

    images = [photo_jpeg(features.IMAGE_SIZE, features.IMAGE_SIZE, seed)
              for seed in range(THROUGHPUT_IMAGES)]
    print(f'\nThroughput over gRPC, {THROUGHPUT_IMAGES} images of '
          f'{features.IMAGE_SIZE}x{features.IMAGE_SIZE}:')
    for batch in (1, 8, 32):
      remote(images[:batch])
      start = time.perf_counter()
      for first in range(0, THROUGHPUT_IMAGES, batch):
        remote(images[first:first + batch])
      print(f'  batch {batch:2d}: {THROUGHPUT_IMAGES / (time.perf_counter() - start):6.1f} images/s')

    warm = memory_spread(server.pid, remote, 'after the requests above')
    print(f'\nLatency ratio {ratio:.2f} (target <= {LATENCY_TARGET}), REST/gRPC {rest_ratio:.2f} '
          f'(target <= {REST_TARGET}); peak memory spread '
          f'{fresh:.1%} just started, {warm:.1%} after use (target <= {MEMORY_TARGET:.0%})')
  finally:
    server.terminate()
    server.wait(timeout=60)
  print()
  served_graph.compare(newest_version(args.model_base_path), repeats=3)
  return 0


if __name__ == '__main__':
  sys.exit(main())
