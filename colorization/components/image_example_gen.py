"""ImageExampleGen: a FileBasedExampleGen whose executor turns DATA_ROOT/<class>/* into tf.Examples."""
import hashlib
import os
from typing import Any

import apache_beam as beam
import tensorflow as tf
from absl import logging
from google.protobuf import any_pb2, wrappers_pb2
from tfx.components import FileBasedExampleGen
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from colorization.components import image_files
from colorization.models import features

SKIPPED_FILES_REPORT = 'skipped_files.txt'
# The sources the executor runs, relative to the colorization package: ExampleGen's cache key
# (pipeline.example_gen_fingerprint) covers these, so editing another component keeps its cache.
EXECUTOR_SOURCES = ('components/image_example_gen.py', 'components/image_files.py',
                    'models/class_folders.py', 'models/features.py')


def to_example(record: image_files.ImageRecord) -> tf.train.Example:
  """An ImageRecord as the raw tf.Example the schema describes."""
  def bytes_feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

  def int_feature(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

  return tf.train.Example(features=tf.train.Features(feature={
      features.IMAGE_KEY: bytes_feature(record.image_bytes),
      features.LABEL_KEY: bytes_feature(record.label.encode()),
      features.FILENAME_KEY: bytes_feature(record.relative_path.encode()),
      features.WIDTH_KEY: int_feature(record.width),
      features.HEIGHT_KEY: int_feature(record.height),
  }))


class _ReadImage(beam.DoFn):
  """Emits a tf.Example per good file; bad files go to the 'skipped' output with the reason."""

  def __init__(self, data_root: str):
    self._data_root = data_root
    self._skipped = beam.metrics.Metrics.counter('ImageExampleGen', 'skipped_files')

  def process(self, item):
    label, relative_path = item
    try:
      yield to_example(image_files.read_image(self._data_root, label, relative_path))
    except image_files.BadImage as e:
      logging.warning('ImageExampleGen skipped %s', e)
      self._skipped.inc()
      yield beam.pvalue.TaggedOutput('skipped', str(e))


@beam.ptransform_fn
def _ImagesToExample(pipeline: beam.Pipeline, exec_properties: dict[str, Any],
                     split_pattern: str) -> beam.pvalue.PCollection:
  data_root = exec_properties['input_base']
  files = sorted(image_files.list_images(data_root), key=_mixed_order)
  results = (pipeline
             | 'ListFiles' >> beam.Create(files)
             | 'ReadImages' >> beam.ParDo(_ReadImage(data_root)).with_outputs('skipped',
                                                                            main='examples'))
  report = exec_properties.get(_REPORT_URI_KEY)
  if report:
    _ = (results.skipped
         | 'CollectSkipped' >> beam.combiners.ToList()
         | 'WriteReport' >> beam.Map(_write_report, report))
  return results.examples


_REPORT_URI_KEY = '_skipped_files_report_uri'


def _mixed_order(item: tuple[str, str]) -> str:
  """A deterministic order that interleaves the classes (listing order groups them)."""
  return hashlib.sha256(item[1].encode()).hexdigest()


def _write_report(lines: list[str], uri: str) -> None:
  with tf.io.gfile.GFile(uri, 'w') as f:
    f.write(''.join(f'{line}\n' for line in sorted(lines)))
  if lines:
    logging.warning('ImageExampleGen skipped %d file(s); list in %s', len(lines), uri)


class Executor(BaseExampleGenExecutor):
  """Reads class folders of photos; writes skipped_files.txt beside the example splits."""

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    return _ImagesToExample

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    data_root = exec_properties['input_base']
    files = image_files.list_images(data_root)  # clear error before any Beam work
    report = os.path.join(output_dict['examples'][0].uri, SKIPPED_FILES_REPORT)
    super().Do(input_dict, output_dict, {**exec_properties, _REPORT_URI_KEY: report})
    with tf.io.gfile.GFile(report) as f:
      skipped = len(f.read().splitlines())
    if skipped == len(files):
      raise image_files.DataRootError(f'Data root {data_root!r} has no readable images: all '
                                      f'{skipped} files were skipped (reasons in {report}).')


def split_config(ratios: tuple[int, ...]) -> example_gen_pb2.Output:
  """Deterministic train/eval/test split by hashing the relative file name."""
  names = ('train', 'eval', 'test')
  return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
      splits=[example_gen_pb2.SplitConfig.Split(name=n, hash_buckets=r)
              for n, r in zip(names, ratios)],
      partition_feature_name=features.FILENAME_KEY))


INPUT_PATTERN = '*/*'  # every file of every class folder: the cache fingerprint covers them all


def ImageExampleGen(data_root: str, split_ratios: tuple[int, ...],
                    code_version: str) -> FileBasedExampleGen:
  """The component: FileBasedExampleGen with the image executor and a file-name hash split.

  code_version: a fingerprint of the executor's sources, carried in custom_config (unread by the
  executor) so that a code change invalidates the cached examples.
  """
  code = any_pb2.Any()
  code.Pack(wrappers_pb2.StringValue(value=code_version))
  return FileBasedExampleGen(
      input_base=data_root,
      input_config=example_gen_pb2.Input(splits=[
          example_gen_pb2.Input.Split(name='images', pattern=INPUT_PATTERN)]),
      output_config=split_config(split_ratios),
      custom_config=example_gen_pb2.CustomConfig(custom_config=code),
      custom_executor_spec=executor_spec.BeamExecutorSpec(Executor))
