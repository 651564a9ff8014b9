"""The class head's accuracy on an ExampleGen split, and the run summary's line for it."""
import dataclasses
import io
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from colorization.models import features
from colorization.pipeline import class_accuracy, config as config_lib, report, results
from tests.conftest import CLASSES


def example(seed: int, label: str) -> bytes:
  pixels = np.random.default_rng(seed).integers(0, 256, (3, 3, 3), np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels).resize((48, 40), Image.BILINEAR).save(buffer, 'PNG')
  return tf.train.Example(features=tf.train.Features(feature={
      features.IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[buffer.getvalue()])),
      features.LABEL_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()])),
  })).SerializeToString()


def test_counts_what_colorize_image_predicts_against_the_true_label(class_aware_export_dir,
                                                                    tmp_path):
  labels = ['face', 'face', 'animal', 'landscape', 'animal', 'face', 'landscape']
  records = [example(seed, label) for seed, label in enumerate(labels)]
  os.makedirs(tmp_path / 'Split-test')
  with tf.io.TFRecordWriter(str(tmp_path / 'Split-test' / 'data.gz'), 'GZIP') as writer:
    for record in records:
      writer.write(record)
  counts = class_accuracy.class_head_accuracy(class_aware_export_dir, str(tmp_path))
  # The same photos through the other signature: its class_name is the same head's prediction.
  image_bytes = [tf.train.Example.FromString(r).features.feature[features.IMAGE_KEY]
                 .bytes_list.value[0] for r in records]
  colorize = tf.saved_model.load(class_aware_export_dir).signatures[features.COLORIZE_IMAGE]
  predicted = [name.decode() for name in colorize(
      **{features.IMAGE_BYTES_KEY: tf.constant(image_bytes)})[features.CLASS_NAME_KEY].numpy()]
  expected = {class_accuracy.OVERALL: (sum(p == l for p, l in zip(predicted, labels)), 7)}
  for name in CLASSES:
    expected[name] = (sum(p == l == name for p, l in zip(predicted, labels)), labels.count(name))
  assert counts == expected


def test_a_model_without_class_head_has_no_accuracy(tmp_path):
  module = tf.Module()
  module.scale = tf.Variable(2.0)
  function = tf.function(lambda x: {'y': x * module.scale},
                         input_signature=[tf.TensorSpec([None], tf.float32)])
  tf.saved_model.save(module, str(tmp_path / 'model'), signatures={'serving_default': function})
  assert not class_accuracy.has_class_head(str(tmp_path / 'model'))
  assert class_accuracy.class_head_accuracy(str(tmp_path / 'model'), str(tmp_path)) is None


def test_summary_shows_the_accuracy_overall_and_per_class(tmp_path):
  config = config_lib.PipelineConfig(home=str(tmp_path))
  counts = {'overall': (21, 24), 'face': (7, 8), 'animal': (8, 8), 'landscape': (6, 8)}
  summary = results.RunSummary({}, True, None, None, class_accuracy=counts)
  assert ('Class head accuracy on the test split: 87.5% (21/24; animal 8/8, face 7/8, '
          'landscape 6/8)') in results.format_summary(summary, config, 'log.txt').splitlines()
  without = results.RunSummary({}, True, None, None)
  assert 'Class head' not in results.format_summary(without, config, 'log.txt')


def test_report_shows_the_class_head_only_for_a_class_aware_model():
  from tests.test_report import fake_report
  plain = report.render(fake_report())
  assert 'Class head' not in plain
  aware = report.render(dataclasses.replace(
      fake_report(), class_accuracy={'overall': (2, 3), 'animal': (1, 1), 'face': (1, 2)}))
  assert 'Predicted class right on the test split: 66.7% (2/3; animal 1/1, face 1/2)' in aware
