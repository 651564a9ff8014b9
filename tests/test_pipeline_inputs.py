"""bench.pipeline_inputs: the files and raw tf.Examples both pipeline benchmarks start from."""
import argparse
import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from bench import pipeline_inputs
from colorization.models import features


def write_photos(root: str, per_class: dict[str, int]) -> str:
  """root/<class>/<class>_NN.jpg: small generated JPEGs, `per_class[class]` of each."""
  rng = np.random.default_rng(0)
  for label, count in per_class.items():
    os.makedirs(os.path.join(root, label))
    for i in range(count):
      buffer = io.BytesIO()
      Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(buffer, 'JPEG')
      with open(os.path.join(root, label, f'{label}_{i:02d}.jpg'), 'wb') as f:
        f.write(buffer.getvalue())
  return root


def test_select_files_takes_the_classes_in_turn_until_the_count(tmp_path):
  root = write_photos(str(tmp_path), {'b': 1, 'a': 3})
  assert pipeline_inputs.select_files(root, 3) == [
      ('a', 'a/a_00.jpg'), ('b', 'b/b_00.jpg'), ('a', 'a/a_01.jpg')]
  assert len(pipeline_inputs.select_files(root, 10)) == 4   # no more than there are


def test_write_raw_examples_splits_8_1_1_and_skips_unreadable_files(tmp_path):
  root = write_photos(str(tmp_path / 'photos'), {'a': 6, 'b': 5})
  with open(os.path.join(root, 'b', 'b_01.jpg'), 'w') as f:
    f.write('not a JPEG')
  files = pipeline_inputs.select_files(root, 11)
  out_dir = str(tmp_path / 'raw')
  paths, skipped = pipeline_inputs.write_raw_examples(root, files, out_dir)
  assert skipped == 1
  assert {split: len(split_paths) for split, split_paths in paths.items()} == {
      'train': 8, 'eval': 1, 'test': 1}
  for split, split_paths in paths.items():
    records = list(tf.data.TFRecordDataset(
        tf.io.gfile.glob(os.path.join(out_dir, f'Split-{split}', '*.gz')), compression_type='GZIP'))
    names = [tf.train.Example.FromString(record.numpy()).features.feature[
        features.FILENAME_KEY].bytes_list.value[0].decode() for record in records]
    assert names == [os.path.relpath(path, root) for path in split_paths]


def test_an_unusable_data_root_is_a_one_line_usage_error(tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    pipeline_inputs.select_files_or_exit(argparse.ArgumentParser(prog='bench'),
                                         str(tmp_path / 'missing'), 5)
  assert exit_info.value.code == 2
  assert f"{tmp_path / 'missing'}' is not a directory" in capsys.readouterr().err
