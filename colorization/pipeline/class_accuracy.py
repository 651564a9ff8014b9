"""The class-aware model's class head scored on a split: its predicted class against the true label.

The Evaluator keeps scoring colours per true label; the head's accuracy is counted here, after the
run, from the model's classify_examples signature (models/signatures.py), which only class-aware
models export.
"""
import functools
import os

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from colorization.models import features

OVERALL = 'overall'
BATCH_SIZE = 32


def has_class_head(model_dir: str) -> bool:
  """Whether the SavedModel exports classify_examples (read from saved_model.pb, not loaded)."""
  saved_model = saved_model_pb2.SavedModel()
  with tf.io.gfile.GFile(os.path.join(model_dir, 'saved_model.pb'), 'rb') as f:
    saved_model.ParseFromString(f.read())
  return any(features.CLASSIFY_EXAMPLES in graph.signature_def
             for graph in saved_model.meta_graphs)


@functools.lru_cache(maxsize=4)
def class_head_accuracy(model_dir: str, examples_uri: str,
                        split: str = 'test') -> dict[str, tuple[int, int]] | None:
  """{'overall' or true class: (correctly predicted, examples)} on an ExampleGen split; None for a
  model without a class head. Cached: artifacts never change, and a run's summary asks twice."""
  if not has_class_head(model_dir):
    return None
  classify = tf.saved_model.load(model_dir).signatures[features.CLASSIFY_EXAMPLES]
  files = tf.io.gfile.glob(os.path.join(examples_uri, f'Split-{split}', '*'))
  label_spec = {features.LABEL_KEY: tf.io.FixedLenFeature([], tf.string)}
  counts = {}
  for records in tf.data.TFRecordDataset(files, compression_type='GZIP').batch(BATCH_SIZE):
    labels = tf.io.parse_example(records, label_spec)[features.LABEL_KEY].numpy()
    predicted = classify(**{features.EXAMPLES_KEY: records})[features.CLASS_NAME_KEY].numpy()
    for label, guess in zip(labels, predicted):
      for key in (OVERALL, label.decode()):
        correct, total = counts.get(key, (0, 0))
        counts[key] = (correct + int(guess == label), total + 1)
  return counts


def format_accuracy(counts: dict[str, tuple[int, int]]) -> str:
  """'87.5% (21/24; animal 8/8, face 7/8, landscape 6/8)'."""
  correct, total = counts.get(OVERALL, (0, 0))
  per_class = ', '.join(f'{name} {c}/{t}' for name, (c, t) in sorted(counts.items())
                        if name != OVERALL)
  return f'{100 * correct / max(total, 1):.1f}% ({correct}/{total}; {per_class})'
