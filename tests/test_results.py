"""pipeline.results: reading the Evaluator's metrics back."""
import os

import tensorflow as tf
from tensorflow_model_analysis.proto import metrics_for_slice_pb2

from colorization.pipeline import results


def _write_metrics(directory: str, entries: list[tuple[bytes | None, str, bool, float]]) -> None:
  """One MetricsForSlice per slice with (model_name, is_diff, psnr) keys, as TFMA writes them."""
  by_slice: dict = {}
  for slice_value, model_name, is_diff, psnr in entries:
    by_slice.setdefault(slice_value, []).append((model_name, is_diff, psnr))
  with tf.io.TFRecordWriter(os.path.join(directory, 'metrics-00000-of-00001.tfrecord')) as writer:
    for slice_value, keys in by_slice.items():
      record = metrics_for_slice_pb2.MetricsForSlice()
      if slice_value is not None:
        record.slice_key.single_slice_keys.add(column='label', bytes_value=slice_value)
      for model_name, is_diff, psnr in keys:
        entry = record.metric_keys_and_values.add()
        entry.key.name = 'psnr'
        entry.key.model_name = model_name
        entry.key.is_diff = is_diff
        entry.value.double_value.value = psnr
      writer.write(record.SerializeToString())


def test_candidate_metrics_are_read_not_the_baselines(tmp_path):
  _write_metrics(str(tmp_path), [(None, 'candidate', False, 19.0), (None, 'baseline', False, 21.0),
                                 (None, 'candidate', True, -2.0),
                                 (b'face', 'baseline', False, 23.0),
                                 (b'face', 'candidate', False, 22.5),
                                 (b'face', 'candidate', True, -0.5)])
  table = results.load_slice_metrics(str(tmp_path))
  assert table == {results.OVERALL: {'psnr': 19.0}, 'face': {'psnr': 22.5}}


def test_metrics_without_a_baseline(tmp_path):
  _write_metrics(str(tmp_path), [(None, '', False, 20.0), (b'animal', '', False, 18.0)])
  assert results.load_slice_metrics(str(tmp_path)) == {results.OVERALL: {'psnr': 20.0},
                                                      'animal': {'psnr': 18.0}}
