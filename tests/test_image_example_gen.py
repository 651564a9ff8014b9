"""ImageExampleGen's executor on generated class folders: examples, hash split, skipped files.

Imports TFX (about 34 s); the executor runs twice, on two overlapping file sets, in one fixture.
"""
import glob
import os
import re

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from google.protobuf import json_format
from tfx.components.example_gen import utils
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts

from colorization.components import image_example_gen, image_files
from colorization.models import features, preprocessing

CLASSES = ('animal', 'face', 'landscape')
BAD_FILES = {'face/truncated.jpg': 'not a readable image',
             'animal/notes.jpg': 'not a readable image',
             'landscape/dot.png': 'too small'}


def photo_sizes(name: str) -> tuple[int, int]:
  """(width, height) of the generated photo `name`, varied so that sizes can be checked."""
  index = int(name.rsplit('_', 1)[1].split('.')[0])
  return 10 + index % 7, 8 + index % 5


def write_photos(root: str, names: list[str], rng: np.random.Generator) -> None:
  for name in names:
    os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
    width, height = photo_sizes(name)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(os.path.join(root, name))


def write_bad_files(root: str) -> None:
  jpeg = os.path.join(root, 'face', 'face_000.jpg')
  with open(jpeg, 'rb') as f:
    head = f.read()[:200]
  with open(os.path.join(root, 'face', 'truncated.jpg'), 'wb') as f:
    f.write(head)
  with open(os.path.join(root, 'animal', 'notes.jpg'), 'w') as f:
    f.write('a text file with a photo extension\n')
  Image.new('RGB', (1, 1)).save(os.path.join(root, 'landscape', 'dot.png'))


def run_executor(data_root: str, output_uri: str) -> dict:
  """Runs the executor like the component would; returns its outputs, read back."""
  component = image_example_gen.ImageExampleGen(data_root, (8, 1, 1), code_version='test')
  examples = standard_artifacts.Examples()
  examples.uri = output_uri
  executor = image_example_gen.Executor(image_example_gen.Executor.Context(
      make_beam_pipeline_fn=lambda: beam.Pipeline(runner='DirectRunner')))
  executor.Do({}, {'examples': [examples]},
              {k: v for k, v in component.exec_properties.items() if v is not None})
  split_of, records, order = {}, {}, {}
  for split in ('train', 'eval', 'test'):
    files = sorted(glob.glob(os.path.join(output_uri, f'Split-{split}', '*.gz')))
    for record in tf.data.TFRecordDataset(files, compression_type='GZIP'):
      example = tf.train.Example.FromString(record.numpy())
      name = example.features.feature[features.FILENAME_KEY].bytes_list.value[0].decode()
      assert name not in split_of, f'{name} written twice'
      split_of[name], records[name] = split, example
      order.setdefault(split, []).append(name)
  with open(os.path.join(output_uri, image_example_gen.SKIPPED_FILES_REPORT)) as f:
    skipped = f.read().splitlines()
  return {'split_of': split_of, 'examples': records, 'skipped': skipped, 'order': order,
          'split_names': examples.split_names}


@pytest.fixture(scope='module')
def runs(tmp_path_factory) -> dict:
  """Run 'first': 300 photos + BAD_FILES. Run 'second', elsewhere: 2/3 of them and 45 new ones."""
  rng = np.random.default_rng(0)
  tmp = tmp_path_factory.mktemp('example_gen')
  first = [f'{label}/{label}_{i:03d}.{("jpg", "png")[i % 2]}' for label in CLASSES
           for i in range(100)]
  second = [name for i, name in enumerate(first) if i % 3] + [
      f'{label}/extra_{i:03d}.png' for label in CLASSES for i in range(15)]
  write_photos(str(tmp / 'first'), first, rng)
  write_bad_files(str(tmp / 'first'))
  write_photos(str(tmp / 'second'), second, rng)
  return {'first': run_executor(str(tmp / 'first'), str(tmp / 'out_first')),
          'second': run_executor(str(tmp / 'second'), str(tmp / 'out_second')),
          'first_names': first, 'second_names': second}


def test_every_good_file_becomes_one_example(runs):
  assert sorted(runs['first']['split_of']) == sorted(runs['first_names'])
  assert sorted(runs['second']['split_of']) == sorted(runs['second_names'])
  assert runs['first']['split_names'] == '["train", "eval", "test"]'


def test_examples_carry_label_size_and_decodable_image(runs):
  for name, example in runs['first']['examples'].items():
    feature = example.features.feature
    width, height = photo_sizes(name)
    assert feature[features.LABEL_KEY].bytes_list.value == [name.split('/')[0].encode()]
    assert feature[features.WIDTH_KEY].int64_list.value == [width]
    assert feature[features.HEIGHT_KEY].int64_list.value == [height]
    image = preprocessing.decode_rgb(feature[features.IMAGE_KEY].bytes_list.value[0])
    assert image.shape == (height, width, 3)


def test_split_ratios_are_close_to_80_10_10(runs):
  for run in (runs['first'], runs['second']):
    splits = list(run['split_of'].values())
    fractions = [splits.count(split) / len(splits) for split in ('train', 'eval', 'test')]
    np.testing.assert_allclose(fractions, [0.8, 0.1, 0.1], atol=0.06)


def test_split_of_a_file_does_not_depend_on_the_other_files(runs):
  first, second = runs['first']['split_of'], runs['second']['split_of']
  shared = set(first) & set(second)
  assert len(shared) == 200 and len(set(second) - set(first)) == 45
  assert {name: first[name] for name in shared} == {name: second[name] for name in shared}


def test_classes_are_interleaved_in_the_written_order(runs):
  labels = [name.split('/')[0] for name in runs['first']['order']['train']]
  longest, current = 1, 1
  for previous, label in zip(labels, labels[1:]):
    current = current + 1 if label == previous else 1
    longest = max(longest, current)
  assert len(labels) > 200 and longest < 15, labels


def test_cache_fingerprint_changes_when_a_photo_inside_a_class_folder_changes(tmp_path):
  write_photos(str(tmp_path), ['face/face_000.png', 'animal/animal_001.png'], np.random.default_rng(1))
  component = image_example_gen.ImageExampleGen(str(tmp_path), (8, 1, 1), code_version='test')
  splits = json_format.Parse(component.exec_properties['input_config'], example_gen_pb2.Input()).splits

  def fingerprint() -> str:
    return utils.calculate_splits_fingerprint_span_and_version(str(tmp_path), splits)[0]

  before = fingerprint()
  folder_mtime = os.stat(tmp_path / 'face').st_mtime
  Image.new('RGB', (40, 30), (200, 10, 10)).save(tmp_path / 'face' / 'face_000.png')
  os.utime(tmp_path / 'face', (folder_mtime, folder_mtime))
  assert fingerprint() != before


def test_skipped_files_report_lists_exactly_the_bad_files(runs):
  reasons = dict(line.split(': ', 1) for line in runs['first']['skipped'])
  assert sorted(reasons) == sorted(BAD_FILES)
  for name, reason in BAD_FILES.items():
    assert reasons[name].startswith(reason)
  assert runs['second']['skipped'] == []


def test_split_config_hashes_the_file_name():
  output = image_example_gen.split_config((6, 3, 1))
  assert output.split_config.partition_feature_name == features.FILENAME_KEY
  assert [(s.name, s.hash_buckets) for s in output.split_config.splits] == [
      ('train', 6), ('eval', 3), ('test', 1)]


def test_missing_data_root_fails_before_any_beam_work(tmp_path):
  missing = str(tmp_path / 'missing')
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / 'out')
  component = image_example_gen.ImageExampleGen(missing, (8, 1, 1), code_version='test')
  with pytest.raises(image_files.DataRootError, match='missing'):
    image_example_gen.Executor().Do({}, {'examples': [examples]}, component.exec_properties)
  assert not os.path.exists(examples.uri)


def test_data_root_without_a_readable_image_is_an_error(tmp_path):
  root = tmp_path / 'photos'
  (root / 'face').mkdir(parents=True)
  (root / 'face' / 'notes.jpg').write_text('not a photo\n')
  Image.new('RGB', (1, 1)).save(root / 'face' / 'dot.png')
  with pytest.raises(image_files.DataRootError,
                     match=re.escape(repr(str(root))) + ' has no readable images'):
    run_executor(str(root), str(tmp_path / 'out'))
