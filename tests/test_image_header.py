"""Image sizes read from encoded headers, before any decoding."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from colorization.models import image_header

FORMATS = ('PNG', 'JPEG', 'GIF', 'BMP')


def encoded(width: int, height: int, image_format: str) -> bytes:
  pixels = np.random.default_rng(width).integers(0, 256, (height, width, 3), np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, image_format)
  return buffer.getvalue()


@pytest.mark.parametrize('image_format', FORMATS)
def test_image_size_is_read_from_the_header(image_format):
  height, width = image_header.image_size(tf.constant(encoded(37, 21, image_format)))
  assert (int(height), int(width)) == (21, 37)


def test_image_size_of_unknown_bytes_is_zero():
  assert [int(v) for v in image_header.image_size(tf.constant(b'not an image'))] == [0, 0]


def test_a_top_down_bmp_has_its_height_positive():
  bmp = bytearray(encoded(37, 21, 'BMP'))
  bmp[22:26] = (-21 % 2 ** 32).to_bytes(4, 'little')
  assert [int(v) for v in image_header.image_size(tf.constant(bytes(bmp)))] == [21, 37]
