"""bench.transform_throughput: its bare baseline and profiling helpers on generated data."""
import gzip
import os

import pytest
import tensorflow as tf

from bench import transform_throughput
from bench.photos import photo_jpeg


def test_bare_preprocessing_passes_every_file_through_the_preprocessing(tmp_path):
  paths = []
  for i, size in enumerate([(64, 48), (40, 80), (96, 96)]):
    paths.append(str(tmp_path / f'{i}.jpg'))
    with open(paths[-1], 'wb') as f:
      f.write(photo_jpeg(*size, seed=i))
  assert transform_throughput.bare_preprocessing(paths, batch_size=2) > 0
  with open(tmp_path / 'broken.jpg', 'w') as f:
    f.write('not a JPEG')
  with pytest.raises(tf.errors.InvalidArgumentError):   # it really decodes what it times
    transform_throughput.bare_preprocessing(paths + [str(tmp_path / 'broken.jpg')])


def test_gzip_cost_counts_and_compresses_the_records_it_reads(tmp_path):
  records = [bytes([i]) * 5000 for i in range(3)]
  os.makedirs(tmp_path / 'Split-train')
  with tf.io.TFRecordWriter(str(tmp_path / 'Split-train' / 'data.gz'), options='GZIP') as writer:
    for record in records:
      writer.write(record)
  seconds, count, raw_bytes, compressed = transform_throughput.gzip_cost(str(tmp_path), limit=2)
  assert (count, raw_bytes) == (2, 10000)
  assert seconds >= 0
  assert 0 < compressed < len(gzip.compress(records[0]) + gzip.compress(records[1]))


def test_help_says_how_to_run_it(capsys):
  with pytest.raises(SystemExit) as exit_info:
    transform_throughput.main(['--help'])
  assert exit_info.value.code == 0
  assert '--data-root' in capsys.readouterr().out
