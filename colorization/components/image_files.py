"""Finding and checking the photos under a data root: DATA_ROOT/<class>/<file>.

The data root is a local folder, a mounted volume or an object-store URI (gs://): file access
goes through tf.io.gfile.
"""
import dataclasses
import io
import os

import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from colorization.models import class_folders

MIN_SIDE = 8                      # smaller images carry no colour to learn from
MAX_PIXELS = 100_000_000          # larger ones are refused before decoding (decompression bombs)
# What tf.io.decode_image reads as-is. Not BMP: it takes palette indices for colours, fails on 1-bit.
NATIVE_FORMATS = {'JPEG', 'PNG', 'GIF'}
NATIVE_MODES = {'L', 'RGB', 'RGBA', 'P', 'LA', 'I;16', 'I;16B', 'I', '1'}


class DataRootError(ValueError):
  """The data root cannot be used at all (missing, no classes, an empty class)."""


class BadImage(ValueError):
  """One file that is not a usable image; the message says why."""


@dataclasses.dataclass
class ImageRecord:
  relative_path: str
  label: str
  image_bytes: bytes
  width: int
  height: int


def list_images(data_root: str) -> list[tuple[str, str]]:
  """(label, relative path) of every file in DATA_ROOT/<class>/, sorted; checks the layout."""
  if not tf.io.gfile.isdir(data_root):
    raise DataRootError(f'Data root {data_root!r} is not a directory.')
  found = class_folders.walk(data_root, tf.io.gfile.listdir, tf.io.gfile.isdir)
  if not found.classes:
    raise DataRootError(f'Data root {data_root!r} has no class sub-folders (expected '
                        'DATA_ROOT/<class>/<image files>).')
  with_files = {label for label, _ in found.files}
  for label in found.classes:
    if label not in with_files:
      raise DataRootError(f'Class folder {os.path.join(data_root, label)!r} is empty.')
  return found.files


def read_image(data_root: str, label: str, relative_path: str) -> ImageRecord:
  """Reads and fully decodes one file; raises BadImage naming the file and the reason."""
  path = os.path.join(data_root, relative_path)
  with tf.io.gfile.GFile(path, 'rb') as f:
    data = f.read()
  try:
    with Image.open(io.BytesIO(data)) as image:
      width, height = image.size
      if width * height > MAX_PIXELS:
        raise BadImage(f'{relative_path}: too large ({width}x{height} > {MAX_PIXELS} pixels)')
      if min(width, height) < MIN_SIDE:
        raise BadImage(f'{relative_path}: too small ({width}x{height}, minimum side {MIN_SIDE} px)')
      image.load()
      if image.format not in NATIVE_FORMATS or image.mode not in NATIVE_MODES:
        data = _to_png(image)
  except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
    raise BadImage(f'{relative_path}: not a readable image ({e})') from None
  return ImageRecord(relative_path, label, data, width, height)


def _to_png(image: Image.Image) -> bytes:
  """Re-encodes formats or modes TensorFlow does not decode faithfully (CMYK, TIFF, WebP...)."""
  buffer = io.BytesIO()
  image.convert('RGB').save(buffer, 'PNG')
  return buffer.getvalue()
