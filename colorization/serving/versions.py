"""Model versions on disk: which one to serve, loading it, and retrying a failed load.

Serves the newest numeric version under a model base path and picks up newly pushed versions,
as `tensorflow_model_server` does with its default (latest) version policy. A failed load is
retried as TF Serving retries it (--max_num_load_retries at --load_retry_interval_micros); a
version that failed every retry is tried again once its files change (a half-copied export fixed).
"""
import dataclasses
import logging
import os
import threading
import time

import grpc
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2, model_pb2, status_pb2

from colorization.serving.defaults import LOAD_RETRY_INTERVAL_SECONDS, MAX_LOAD_RETRIES
from colorization.serving.requests import RequestError
from colorization.serving.servable import Servable

_State = get_model_status_pb2.ModelVersionStatus.State
log = logging.getLogger('colorization.serve')


def version_dirs(base_path: str) -> dict[int, str]:
  """Numeric sub-directories holding a saved_model.pb, by version."""
  versions = {}
  for name in tf.io.gfile.listdir(base_path):
    name = name.rstrip('/')
    path = os.path.join(base_path, name)
    if name.isdigit() and tf.io.gfile.exists(os.path.join(path, 'saved_model.pb')):
      versions[int(name)] = path
  return versions


def files_fingerprint(path: str) -> tuple:
  """(relative path, size, mtime) of every file under a version directory: changes on any copy."""
  files = []
  for folder, _, names in tf.io.gfile.walk(path):
    for name in names:
      full = os.path.join(folder, name)
      try:
        stat = tf.io.gfile.stat(full)
      except tf.errors.NotFoundError:  # removed while listing: the next poll sees the change
        continue
      files.append((os.path.relpath(full, path), stat.length, stat.mtime_nsec))
  return tuple(sorted(files))


@dataclasses.dataclass
class _Failure:
  """Failed load attempts of one version's files (their fingerprint when the attempts began)."""
  attempts: int
  fingerprint: tuple
  retry_at: float
  latest: tuple          # fingerprint at the last poll, to retry only once a change has settled


class ModelVersions:
  """The served versions of one model: loads the newest, then retires the one it replaces."""

  def __init__(self, base_path: str, model_name: str, max_load_retries: int = MAX_LOAD_RETRIES,
               load_retry_interval_seconds: float = LOAD_RETRY_INTERVAL_SECONDS):
    self.base_path = base_path
    self.model_name = model_name
    self.max_load_retries = max_load_retries
    self.load_retry_interval_seconds = load_retry_interval_seconds
    self._lock = threading.Lock()
    self._current: Servable | None = None
    self._states: dict[int, tuple[int, str]] = {}   # version -> (state, error message)
    self._failures: dict[int, _Failure] = {}

  def poll(self) -> None:
    """Loads the newest version if it is not the one being served (availability preserving)."""
    try:
      versions = version_dirs(self.base_path)
    except tf.errors.OpError as e:
      log.warning('cannot list %s: %s', self.base_path, e.message)
      return
    if not versions:
      return
    newest = max(versions)
    current = self._current
    if current and current.version == newest:
      return
    fingerprint = files_fingerprint(versions[newest])
    if not self._due(newest, fingerprint):
      return
    self._set_state(newest, _State.LOADING)
    try:
      servable = Servable.load(versions[newest], newest)
    except Exception as e:  # a half-copied or broken export: keep serving, retry later
      self._failed(newest, fingerprint, (str(e) or type(e).__name__).strip().splitlines()[0])
      return
    self._failures.pop(newest, None)
    with self._lock:
      self._current = servable
    self._set_state(newest, _State.AVAILABLE)
    if current:
      self._set_state(current.version, _State.END)
    log.info('serving %s version %d from %s', self.model_name, newest, versions[newest])

  def load_attempts(self, version: int) -> int:
    """Failed load attempts of the version's current files (0 once it loaded)."""
    failure = self._failures.get(version)
    return failure.attempts if failure else 0

  def _due(self, version: int, fingerprint: tuple) -> bool:
    """Whether to (re)try loading: first sight, retry time reached, or files changed and settled."""
    failure = self._failures.get(version)
    if failure is None:
      return True
    if fingerprint != failure.fingerprint:
      if fingerprint != failure.latest:   # still being copied: wait until a poll sees no change
        failure.latest = fingerprint
        return False
      del self._failures[version]
      log.info('files of %s version %d changed: loading it again', self.model_name, version)
      return True
    return (failure.attempts <= self.max_load_retries
            and time.monotonic() >= failure.retry_at)

  def _failed(self, version: int, fingerprint: tuple, reason: str) -> None:
    failure = self._failures.setdefault(version, _Failure(0, fingerprint, 0.0, fingerprint))
    failure.attempts += 1
    failure.retry_at = time.monotonic() + self.load_retry_interval_seconds
    given_up = failure.attempts > self.max_load_retries
    self._set_state(version, _State.END if given_up else _State.START, reason)
    log.error('loading %s version %d failed (attempt %d of %d): %s; %s', self.model_name, version,
              failure.attempts, self.max_load_retries + 1, reason,
              'not retried until its files change' if given_up else
              f'retrying in {self.load_retry_interval_seconds:g} s')

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

