"""What a finished run recorded besides its metrics, for the report: its settings (MLMD), images
per class and split (StatisticsGen) and the Trainer's loss curves (TensorBoard event files)."""
from __future__ import annotations

import datetime
import importlib.metadata
import json
import os

import tensorflow as tf
from ml_metadata import metadata_store
from tensorflow_metadata.proto.v0 import statistics_pb2

from colorization.models import features
from colorization.pipeline import results
from colorization.pipeline.config import PipelineConfig

UNKNOWN = 'unknown'
SPLITS = ('train', 'eval', 'test')


def _property(execution, name: str) -> str:
  value = execution.custom_properties.get(name) if execution is not None else None
  return value.string_value if value is not None else ''


def _utc(milliseconds: int) -> str:
  moment = datetime.datetime.fromtimestamp(milliseconds / 1000, datetime.timezone.utc)
  return moment.strftime('%Y-%m-%d %H:%M UTC')


def package_version() -> str:
  try:
    return importlib.metadata.version('colorization')
  except importlib.metadata.PackageNotFoundError:  # run from a checkout that is not installed
    return UNKNOWN


def run_settings(store: metadata_store.MetadataStore,
                 config: PipelineConfig) -> list[tuple[str, str]]:
  """(name, value) rows: what the newest Trainer ran with, on which data, when, with which code."""
  trainer = results.latest_execution(store, config, 'Trainer')
  example_gen = results.latest_execution(store, config, 'FileBasedExampleGen')
  train_args = json.loads(_property(trainer, 'train_args') or '{}')
  knobs = json.loads(_property(trainer, 'custom_config') or '{}')
  fingerprint = knobs.get('code_version', '')
  return [
      ('training steps', str(train_args.get('num_steps', UNKNOWN))),
      ('epochs', str(knobs.get('epochs', UNKNOWN))),
      ('batch size', str(knobs.get('batch_size', UNKNOWN))),
      ('encoder', str(knobs.get('encoder', UNKNOWN))),
      ('learning rate', str(knobs.get('learning_rate', UNKNOWN))),
      ('seed', str(knobs.get('seed', UNKNOWN))),
      ('data root', _property(example_gen, 'input_base') or UNKNOWN),
      ('home', config.home),
      ('trained', _utc(trainer.create_time_since_epoch) if trainer is not None else UNKNOWN),
      ('report written', _utc(int(datetime.datetime.now().timestamp() * 1000))),
      ('code version', f'colorization {package_version()}, models fingerprint '
                       f'{fingerprint[:12] or UNKNOWN}'),
  ]


def split_counts(statistics_uri: str) -> dict[str, dict[str, int]]:
  """class -> split -> number of images, from the label's histogram in each split's statistics."""
  counts: dict[str, dict[str, int]] = {}
  for split in SPLITS:
    path = os.path.join(statistics_uri, f'Split-{split}', 'FeatureStats.pb')
    if not tf.io.gfile.exists(path):
      continue
    statistics = statistics_pb2.DatasetFeatureStatisticsList()
    with tf.io.gfile.GFile(path, 'rb') as f:
      statistics.ParseFromString(f.read())
    for dataset in statistics.datasets:
      for feature in dataset.features:
        if list(feature.path.step) == [features.LABEL_KEY]:
          for bucket in feature.string_stats.rank_histogram.buckets:
            counts.setdefault(bucket.label, {})[split] = int(bucket.sample_count)
  return {label: {split: by_split.get(split, 0) for split in SPLITS}
          for label, by_split in sorted(counts.items())}


def _scalar(value) -> float:
  if value.HasField('simple_value'):
    return float(value.simple_value)
  return float(tf.make_ndarray(value.tensor).item())


def loss_curves(log_dir: str) -> dict[str, list[tuple[float, float]]]:
  """'<run> <tag>' -> (epoch, value) points of the per-epoch losses (tags epoch_*loss*, as Keras
  logs them) in the TensorBoard event files under log_dir (runs are its sub-folders: train,
  validation). Curves against steps are left out: one x axis. An epoch logged twice keeps its
  last value."""
  curves: dict[str, dict[int, float]] = {}
  for folder, _, files in sorted(tf.io.gfile.walk(log_dir)):
    run = os.path.relpath(folder, log_dir)
    for name in sorted(f for f in files if 'tfevents' in f):
      for record in tf.data.TFRecordDataset(os.path.join(folder, name)):
        event = tf.compat.v1.Event.FromString(record.numpy())
        for value in event.summary.value:
          if value.tag.startswith('epoch_') and 'loss' in value.tag:
            key = value.tag if run == '.' else f'{run} {value.tag}'
            curves.setdefault(key, {})[event.step] = _scalar(value)
  return {key: sorted(points.items()) for key, points in sorted(curves.items())}
