"""One model version loaded as TF Serving loads it: a TF Session over the SavedModel's graph, run
with a timeout, and warmed up by replaying `assets.extra/tf_serving_warmup_requests` if present.

A Session (not tf.saved_model.load's eager functions) because its runs can be bounded:
RunOptions.timeout_in_ms cancels a run whose deadline has passed and stops its work, as TF Serving
turns a request's deadline into a session-run timeout.
"""
import dataclasses
import logging
import os

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import prediction_log_pb2

from colorization.serving.requests import run_signature

WARMUP_FILE = os.path.join('assets.extra', 'tf_serving_warmup_requests')
MAX_WARMUP_RECORDS = 1000               # TF Serving's WarmupConsts::kMaxNumRecords
INIT_OP_KEY = '__saved_model_init_op'   # in every TF2 signature_def map; not a servable signature

log = logging.getLogger('colorization.serve')
# TF 2 marks the TF 1 loader deprecated, though it is TF Serving's way (a Session): not a user's
# concern, so its warning is left out of the server's log.
tf.get_logger().addFilter(lambda record: 'saved_model.loader_impl' not in record.getMessage())


@dataclasses.dataclass
class Servable:
  """One loaded model version: the Session holding its graph and variables, and its signatures."""
  version: int
  session: tf.compat.v1.Session
  signature_defs: dict[str, meta_graph_pb2.SignatureDef]

  @classmethod
  def load(cls, path: str, version: int) -> 'Servable':
    """Loads the 'serve' MetaGraph of the SavedModel at path, then replays its warm-up requests."""
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph)
    with graph.as_default():
      meta_graph = tf.compat.v1.saved_model.loader.load(session, ['serve'], path)
    servable = cls(version, session, dict(meta_graph.signature_def))
    servable.warm_up(os.path.join(path, WARMUP_FILE))
    return servable

  def runs(self, signature_name: str) -> bool:
    """Whether the named signature can be run (the init op's entry cannot)."""
    return signature_name in self.signature_defs and signature_name != INIT_OP_KEY

  def run(self, signature_name: str, inputs: dict[str, np.ndarray], outputs: list[str],
          timeout_seconds: float | None = None) -> dict[str, np.ndarray]:
    """Runs a signature on checked inputs. Past timeout_seconds the run is cancelled (its work
    stops) and tf.errors.DeadlineExceededError raised."""
    signature = self.signature_defs[signature_name]
    options = None
    if timeout_seconds is not None:
      options = tf.compat.v1.RunOptions(timeout_in_ms=max(1, int(timeout_seconds * 1000)))
    return self.session.run({name: signature.outputs[name].name for name in outputs},
                            {signature.inputs[name].name: value for name, value in inputs.items()},
                            options=options)

  def warm_up(self, path: str) -> None:
    """Replays TF Serving's warm-up file: every Predict request in it must succeed, and it may hold
    at most MAX_WARMUP_RECORDS records, or the version does not load (as in TF Serving)."""
    if not tf.io.gfile.exists(path):
      return
    records = list(tf.data.TFRecordDataset(path).take(MAX_WARMUP_RECORDS + 1).as_numpy_iterator())
    if len(records) > MAX_WARMUP_RECORDS:
      raise ValueError(f'Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) '
                       f'at {path}')
    for number, record in enumerate(records, 1):
      entry = prediction_log_pb2.PredictionLog.FromString(record)
      if entry.WhichOneof('log_type') != 'predict_log':
        log.warning('warm-up record %d of %s is a %s: only predict_log is replayed', number, path,
                    entry.WhichOneof('log_type'))
        continue
      run_signature(self, entry.predict_log.request)
    log.info('warmed up version %d with %d requests from %s', self.version, len(records), path)
