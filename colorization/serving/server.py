"""A local TF Serving: the gRPC server (PredictionService, ModelService), the REST API beside it and
the thread that polls for newly pushed versions, as `tensorflow_model_server` runs them.

Request checks and error codes follow TF Serving, so a client works unchanged against either;
signature, input and output names come from the SavedModel itself. The parts: versions.py (loading
and choosing versions), requests.py (checking and running a request), grpc_service.py, rest.py and
rest_json.py (the two APIs).
"""
import concurrent.futures
import logging
import os
import signal
import threading

import grpc
import tensorflow as tf
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from colorization.serving.grpc_service import PredictionService
from colorization.serving import rest
from colorization.serving.defaults import (LOAD_RETRY_INTERVAL_SECONDS, MAX_LOAD_RETRIES,
                                           MAX_MESSAGE_BYTES, POLL_SECONDS, REST_TIMEOUT_SECONDS)
from colorization.serving.versions import ModelVersions, version_dirs

WORKERS = 8


class ModelServer:
  """The gRPC server, the REST server beside it (if rest_port is not None; 0: any free port) and
  the thread that polls for new versions. Ports are taken before the model loads, and a port in
  use is refused (gRPC's SO_REUSEPORT would let a second server share it and answer at random)."""

  def __init__(self, model_base_path: str, model_name: str, host: str, port: int,
               poll_seconds: float = POLL_SECONDS, max_message_bytes: int = MAX_MESSAGE_BYTES,
               rest_port: int | None = None, max_load_retries: int = MAX_LOAD_RETRIES,
               load_retry_interval_seconds: float = LOAD_RETRY_INTERVAL_SECONDS,
               rest_timeout_seconds: float = REST_TIMEOUT_SECONDS):
    if not tf.io.gfile.isdir(model_base_path):
      raise FileNotFoundError(f'model base path {model_base_path} is not a directory')
    on_disk = version_dirs(model_base_path)
    if not on_disk:
      raise FileNotFoundError(
          f'no model version under {model_base_path}: expected numbered sub-directories holding '
          f'a SavedModel, e.g. {os.path.join(model_base_path, "1", "saved_model.pb")}')
    self.versions = ModelVersions(model_base_path, model_name, max_load_retries,
                                  load_retry_interval_seconds)
    self.service = PredictionService(self.versions)
    self.grpc_server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS),
        options=[('grpc.max_receive_message_length', max_message_bytes),
                 ('grpc.max_send_message_length', -1), ('grpc.so_reuseport', 0)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(self.service,
                                                                        self.grpc_server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(self.service, self.grpc_server)
    try:
      self.port = self.grpc_server.add_insecure_port(f'{host}:{port}')
    except RuntimeError:
      raise ValueError(f'cannot listen on {host}:{port}: the port is in use (another server?) '
                       f'or not available') from None
    self.address = f'{host}:{self.port}'
    self.rest_server = self.rest_address = None
    if rest_port is not None:
      try:
        self.rest_server = rest.RestServer(
            (host, rest_port), rest.RestApi(self.service, rest_timeout_seconds), max_message_bytes)
      except OSError as e:
        raise ValueError(f'cannot listen on {host}:{rest_port}: {e.strerror or e}') from None
      self.rest_address = f'{host}:{self.rest_server.server_address[1]}'
    self.versions.poll()
    if self.versions.current is None:
      self.grpc_server.stop(None)
      if self.rest_server:
        self.rest_server.server_close()
      raise RuntimeError(f'cannot load {model_name} version {max(on_disk)} from '
                         f'{on_disk[max(on_disk)]}: {self.versions.load_error(max(on_disk))}')
    self._poll_seconds = poll_seconds
    self._stopping = threading.Event()
    self._poller = threading.Thread(target=self._poll_loop, name='version-poller', daemon=True)

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


def serve(model_base_path: str, model_name: str, host: str, port: int, **options) -> int:
  """Serves until SIGINT or SIGTERM, then lets running requests finish; returns the exit code.

  options: ModelServer's keyword arguments (rest_port None: gRPC only)."""
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
  server = ModelServer(model_base_path, model_name, host, port, **options)
  stop = threading.Event()
  for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, lambda *_: stop.set())
  server.start()
  rest_text = f' and {server.rest_address} (REST API)' if server.rest_server else ''
  print(f'Serving {model_name!r} version {server.versions.current.version} on {server.address} '
        f'(TF Serving gRPC API){rest_text}; Ctrl-C stops.', flush=True)
  while not stop.wait(1.0):  # a timed wait lets the signal handler run promptly
    pass
  print('Stopping: finishing running requests.', flush=True)
  server.stop()
  return 0
