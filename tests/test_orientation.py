"""EXIF orientation: read from the JPEG's APP1 segment, applied before sending, by the client."""
import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageOps

from colorization.models import features
from colorization.serving import client, orientation, predictors

WIDTH, HEIGHT = 48, 32


def photo_pixels() -> np.ndarray:
  """Four differently coloured quadrants and a gradient: every turn and flip looks different."""
  y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
  rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
  rgb[..., 0] = np.where(x < WIDTH // 2, 220, 30)
  rgb[..., 1] = np.where(y < HEIGHT // 2, 200, 40)
  rgb[..., 2] = (x * 255 // WIDTH).astype(np.uint8)
  return rgb


def exif_segment(value: int, order: str = '>') -> bytes:
  """An APP1 Exif segment whose IFD0 holds a date tag, then Orientation = value (one SHORT)."""
  mark = b'MM' if order == '>' else b'II'
  entries = [struct.pack(order + 'HHI4s', 0x0132, 2, 4, b'2026'),
             struct.pack(order + 'HHIH2x', orientation.ORIENTATION_TAG, 3, 1, value)]
  tiff = (mark + struct.pack(order + 'HI', 42, 8) + struct.pack(order + 'H', len(entries))
          + b''.join(entries) + struct.pack(order + 'I', 0))
  payload = orientation.EXIF_HEADER + tiff
  return b'\xff\xe1' + struct.pack('>H', len(payload) + 2) + payload


def jpeg_with_orientation(value: int | None, order: str = '>') -> bytes:
  """A JPEG of photo_pixels() (JFIF APP0 first, as cameras write), with the Exif segment after it."""
  buffer = io.BytesIO()
  Image.fromarray(photo_pixels()).save(buffer, 'JPEG', quality=95)
  jpeg = buffer.getvalue()
  assert jpeg[2:4] == b'\xff\xe0'                       # APP0 (JFIF)
  app0_end = 4 + struct.unpack('>H', jpeg[4:6])[0]
  return jpeg if value is None else jpeg[:app0_end] + exif_segment(value, order) + jpeg[app0_end:]


def decoded(data: bytes) -> np.ndarray:
  return np.asarray(Image.open(io.BytesIO(data)).convert('RGB'))


@pytest.mark.parametrize('order', ['>', '<'])
def test_orientation_6_comes_back_turned_clockwise(order):
  data = jpeg_with_orientation(6, order)
  assert orientation.exif_orientation(data) == 6
  turned = orientation.upright(data)
  assert turned.startswith(b'\x89PNG')
  pixels = decoded(turned)
  assert pixels.shape == (WIDTH, HEIGHT, 3)
  # Shown upright, the photo's top-left (red, green) quadrant is at the top right.
  np.testing.assert_array_equal(pixels, np.rot90(decoded(data), k=-1))
  top_right = pixels[:HEIGHT // 4, -WIDTH // 4:].reshape(-1, 3).mean(0)
  assert top_right[0] > 150 and top_right[1] > 150


@pytest.mark.parametrize('value', range(1, 9))
def test_every_orientation_agrees_with_pillow(value):
  data = jpeg_with_orientation(value)
  assert orientation.exif_orientation(data) == value
  expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert('RGB'))
  np.testing.assert_array_equal(decoded(orientation.upright(data)), expected)


def test_upright_photos_and_other_formats_are_sent_unchanged():
  for data in (jpeg_with_orientation(None), jpeg_with_orientation(1)):
    assert orientation.upright(data) is data
  buffer = io.BytesIO()
  Image.fromarray(photo_pixels()).save(buffer, 'PNG')
  png = buffer.getvalue()
  assert orientation.exif_orientation(png) == 1 and orientation.upright(png) is png


@pytest.mark.parametrize('damage', ['no directory', 'value 9', 'not exif', 'cut short'])
def test_unreadable_tags_mean_upright(damage):
  data = jpeg_with_orientation(6)
  start = data.index(orientation.EXIF_HEADER)
  if damage == 'no directory':       # IFD0 offset pointing past the segment
    data = data[:start + 10] + struct.pack('>I', 5000) + data[start + 14:]
  elif damage == 'value 9':
    data = data.replace(struct.pack('>HHIH', orientation.ORIENTATION_TAG, 3, 1, 6),
                        struct.pack('>HHIH', orientation.ORIENTATION_TAG, 3, 1, 9))
  elif damage == 'not exif':
    data = data.replace(orientation.EXIF_HEADER, b'XMP\x00\x00\x00')
  else:
    data = data[:start + 20]
  assert orientation.exif_orientation(data) == 1


def test_turned_photo_with_broken_pixels_is_refused():
  data = jpeg_with_orientation(6)
  with pytest.raises(orientation.OrientationError, match='EXIF orientation 6'):
    orientation.upright(data[:len(data) // 3])


def test_colorize_sends_the_upright_pixels(tmp_path, monkeypatch):
  sent = []

  def predictor(address: str, model_name: str, *signature_name: str) -> predictors.Predict:
    def predict(images: list[bytes]) -> list[bytes]:
      sent.extend(images)
      return images
    return predict

  monkeypatch.setattr(client, 'grpc_predictor', predictor)
  (tmp_path / 'phone.jpg').write_bytes(jpeg_with_orientation(6))
  assert client.colorize_paths([str(tmp_path / 'phone.jpg')], str(tmp_path / 'out'),
                               server='fake:1', model_name=features.MODEL_NAME) == 0
  (image,) = sent
  assert decoded(image).shape == (WIDTH, HEIGHT, 3)
  assert decoded((tmp_path / 'out' / 'phone.png').read_bytes()).shape == (WIDTH, HEIGHT, 3)
