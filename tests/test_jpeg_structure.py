"""The JPEG structure check: intact files pass; damage is named as libjpeg names it where both
see it."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from colorization.serving import jpeg_structure, libjpeg_messages


def photo(width: int = 96, height: int = 64, mode: str = 'RGB', **options) -> bytes:
  """A Pillow JPEG of a noisy colour gradient (options: progressive, restart markers, ...)."""
  y, x = np.mgrid[0:height, 0:width]
  rgb = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height) + 64], -1)
  rgb += np.random.default_rng(0).normal(0, 8, rgb.shape)
  buffer = io.BytesIO()
  Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).convert(mode).save(
      buffer, 'JPEG', quality=90, **options)
  return buffer.getvalue()


def libjpeg_warnings(data: bytes) -> list[str]:
  """What TensorFlow's decoder (libjpeg) warns of for these bytes, phrased as the client says it."""
  with libjpeg_messages.captured() as caught:
    tf.io.decode_image(data, channels=3, expand_animations=False)
  return [libjpeg_messages.phrased(line) for line in caught.lines]


@pytest.mark.parametrize('options', [{}, {'progressive': True}, {'subsampling': 0},
                                     {'restart_marker_blocks': 3},
                                     {'progressive': True, 'restart_marker_rows': 1}])
def test_intact_jpegs_have_no_problems(options):
  assert jpeg_structure.problems(photo(**options)) == []
  assert jpeg_structure.problems(photo(mode='L', **options)) == []


def test_not_a_jpeg_is_not_judged():
  buffer = io.BytesIO()
  Image.new('RGB', (4, 4)).save(buffer, 'PNG')
  assert jpeg_structure.problems(buffer.getvalue()) == []


@pytest.mark.parametrize('cut', [0.5, 0.99, -2])
def test_a_truncated_jpeg_is_named_truncated(cut):
  data = photo()
  end = int(len(data) * cut) if cut > 0 else len(data) + cut
  assert jpeg_structure.problems(data[:end]) == [jpeg_structure.TRUNCATED]


def test_bytes_between_segments_are_counted_as_libjpeg_counts_them():
  data = photo()
  second = data.index(b'\xff', 2)          # after APP0: the next segment's marker
  second = data.index(b'\xff', second + 2)
  damaged = data[:second] + b'junk!' + data[second:]
  problems = jpeg_structure.problems(damaged)
  marker = damaged[second + len(b'junk!') + 1]
  assert problems == [f'corrupt JPEG data (5 extraneous bytes before marker 0x{marker:02x})']
  assert libjpeg_warnings(damaged) == problems


def test_restart_markers_out_of_order_and_missing():
  data = photo(restart_marker_blocks=2)
  third = data.index(b'\xff\xd3')
  swapped = data[:third] + b'\xff\xd5' + data[third + 2:]
  assert jpeg_structure.problems(swapped) == [
      'corrupt JPEG data (found marker 0xd5 instead of RST3)']
  assert libjpeg_warnings(swapped) == jpeg_structure.problems(swapped)
  cut = data[:third] + b'\xff\xd9'          # the scan ends after four restart intervals
  (problem,) = jpeg_structure.problems(cut)
  assert problem.startswith('corrupt JPEG data (premature end of data segment: 4 of ')
  # libjpeg, cut at an interval's end, sees the next marker where RST3 is due.
  assert libjpeg_warnings(cut) == ['corrupt JPEG data (found marker 0xd9 instead of RST3)']


def test_a_restart_marker_where_no_restart_interval_is_set():
  data = photo()
  middle = len(data) // 2
  damaged = data[:middle] + b'\xff\xd3' + data[middle + 2:]
  assert jpeg_structure.problems(damaged) == [
      'corrupt JPEG data (restart marker 0xd3 in a scan without restart intervals)']
