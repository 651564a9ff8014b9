"""Listing a data root and reading odd, broken or unusual image files."""
import io
import os
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from colorization.components import image_files
from colorization.models import preprocessing

HEIGHT, WIDTH = 30, 40


@pytest.fixture(scope='module')
def source() -> np.ndarray:
  """A smooth RGB picture (uint8 [HEIGHT, WIDTH, 3]) every test file is made from."""
  y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
  return np.stack([255 * x / (WIDTH - 1), 255 * y / (HEIGHT - 1), 128 + 100 * np.sin(x / 5)],
                  -1).round().astype(np.uint8)


def gray(rgb: np.ndarray) -> np.ndarray:
  return np.asarray(Image.fromarray(rgb).convert('L'))


def as_rgb(channel: np.ndarray) -> np.ndarray:
  return np.repeat(channel[..., None], 3, -1)


def png_rgb16(pixels: np.ndarray) -> bytes:
  """A 16-bit-per-channel RGB PNG (Pillow cannot write these) from uint16 [H, W, 3]."""
  def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))

  rows = b''.join(b'\0' + row.astype('>u2').tobytes() for row in pixels)
  header = struct.pack('>IIBBBBB', pixels.shape[1], pixels.shape[0], 16, 2, 0, 0, 0)
  return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', zlib.compress(rows))
          + chunk(b'IEND', b''))


def encode(image: Image.Image, format_: str, **options) -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, format_, **options)
  return buffer.getvalue()


def palette(rgb: np.ndarray) -> Image.Image:
  return Image.fromarray(rgb).quantize(colors=16)


def animated_gif(rgb: np.ndarray) -> bytes:
  first, second = palette(rgb), palette(255 - rgb)
  return encode(first, 'GIF', save_all=True, append_images=[second], duration=100, loop=0)


# File name -> (bytes from the source picture, the RGB pixels it shows). Lossless cases only.
LOSSLESS = {
    'rgb16.png': (lambda s: png_rgb16(s.astype(np.uint16) * 257), lambda s: s),
    'gray16.png': (lambda s: encode(Image.fromarray(gray(s).astype(np.uint16) * 257, 'I;16'),
                                    'PNG'), lambda s: as_rgb(gray(s))),
    'rgba.png': (lambda s: encode(Image.fromarray(np.dstack([s, s[..., :1]]), 'RGBA'), 'PNG'),
                 lambda s: s),
    'gray_alpha.png': (lambda s: encode(Image.fromarray(gray(s)).convert('LA'), 'PNG'),
                       lambda s: as_rgb(gray(s))),
    'palette.png': (lambda s: encode(palette(s), 'PNG'),
                    lambda s: np.asarray(palette(s).convert('RGB'))),
    'bilevel.png': (lambda s: encode(Image.fromarray(gray(s)).convert('1'), 'PNG'),
                    lambda s: np.asarray(Image.fromarray(gray(s)).convert('1').convert('RGB'))),
    'still.gif': (lambda s: encode(palette(s), 'GIF'),
                  lambda s: np.asarray(palette(s).convert('RGB'))),
    'animated.gif': (animated_gif, lambda s: np.asarray(palette(s).convert('RGB'))),
    'rgb.bmp': (lambda s: encode(Image.fromarray(s), 'BMP'), lambda s: s),
    'rgba.bmp': (lambda s: encode(Image.fromarray(np.dstack([s, s[..., :1]]), 'RGBA'), 'BMP'),
                 lambda s: s),
    'gray.bmp': (lambda s: encode(Image.fromarray(gray(s)), 'BMP'), lambda s: as_rgb(gray(s))),
    'palette.bmp': (lambda s: encode(palette(s), 'BMP'),
                    lambda s: np.asarray(palette(s).convert('RGB'))),
    'bilevel.bmp': (lambda s: encode(Image.fromarray(gray(s)).convert('1'), 'BMP'),
                    lambda s: np.asarray(Image.fromarray(gray(s)).convert('1').convert('RGB'))),
    'rgb.tiff': (lambda s: encode(Image.fromarray(s), 'TIFF'), lambda s: s),
    'rgb.webp': (lambda s: encode(Image.fromarray(s), 'WEBP', lossless=True), lambda s: s),
    'png_named.jpg': (lambda s: encode(Image.fromarray(s), 'PNG'), lambda s: s),
}
JPEGS = {
    'rgb.jpg': lambda s: encode(Image.fromarray(s), 'JPEG', quality=90),
    'gray.jpg': lambda s: encode(Image.fromarray(gray(s)), 'JPEG', quality=90),
    'cmyk.jpg': lambda s: encode(Image.fromarray(s).convert('CMYK'), 'JPEG', quality=90),
    'progressive.jpg': lambda s: encode(Image.fromarray(s), 'JPEG', progressive=True),
}
BAD = {
    'truncated.jpg': (lambda s: encode(Image.fromarray(s), 'JPEG')[:400], 'not a readable image'),
    'text.jpg': (lambda s: b'this is not a picture\n', 'not a readable image'),
    'empty.png': (lambda s: b'', 'not a readable image'),
    'truncated.png': (lambda s: encode(Image.fromarray(s), 'PNG')[:-200], 'not a readable image'),
    'one_pixel.png': (lambda s: encode(Image.fromarray(s[:1, :1]), 'PNG'), 'too small'),
    'thin.png': (lambda s: encode(Image.fromarray(s[:4]), 'PNG'), 'too small'),
}


def write(root, name: str, data: bytes) -> str:
  os.makedirs(root / 'cls', exist_ok=True)
  (root / 'cls' / name).write_bytes(data)
  return f'cls/{name}'


def decoded(record: image_files.ImageRecord) -> np.ndarray:
  pixels = preprocessing.decode_rgb(record.image_bytes).numpy()
  assert pixels.shape == (record.height, record.width, 3)
  return pixels


@pytest.mark.parametrize('name', LOSSLESS)
def test_lossless_files_decode_to_the_pixels_they_show(tmp_path, source, name):
  make, shows = LOSSLESS[name]
  record = image_files.read_image(str(tmp_path), 'cls', write(tmp_path, name, make(source)))
  assert (record.label, record.relative_path) == ('cls', f'cls/{name}')
  assert (record.width, record.height) == (WIDTH, HEIGHT)
  np.testing.assert_allclose(decoded(record), shows(source), atol=1)


@pytest.mark.parametrize('name', JPEGS)
def test_jpegs_decode_like_pillow(tmp_path, source, name):
  relative_path = write(tmp_path, name, JPEGS[name](source))
  record = image_files.read_image(str(tmp_path), 'cls', relative_path)
  with Image.open(tmp_path / relative_path) as image:
    reference = np.asarray(image.convert('RGB'), np.float64)
  difference = np.abs(decoded(record) - reference)
  assert difference.mean() < 1.5 and difference.max() <= 4   # TF uses the fast IDCT


def test_cmyk_jpeg_becomes_an_rgb_png(tmp_path, source):
  relative_path = write(tmp_path, 'cmyk.jpg', JPEGS['cmyk.jpg'](source))
  record = image_files.read_image(str(tmp_path), 'cls', relative_path)
  with Image.open(io.BytesIO(record.image_bytes)) as image:
    assert (image.format, image.mode, image.size) == ('PNG', 'RGB', (WIDTH, HEIGHT))


def test_native_files_are_passed_on_unchanged(tmp_path, source):
  data = JPEGS['rgb.jpg'](source)
  record = image_files.read_image(str(tmp_path), 'cls', write(tmp_path, 'rgb.jpg', data))
  assert record.image_bytes == data


@pytest.mark.parametrize('name', BAD)
def test_bad_files_are_rejected_naming_the_file(tmp_path, source, name):
  make, reason = BAD[name]
  relative_path = write(tmp_path, name, make(source))
  with pytest.raises(image_files.BadImage) as error:
    image_files.read_image(str(tmp_path), 'cls', relative_path)
  assert str(error.value).startswith(f'{relative_path}: {reason}')


def test_list_images_sorted_by_class_and_name(tmp_path):
  for path in ('b/2.jpg', 'a/y.png', 'a/x.jpg', 'a/.DS_Store', '.hidden/z.jpg', 'stray.jpg',
               'b/sub/deeper.jpg'):
    os.makedirs(os.path.dirname(tmp_path / path), exist_ok=True)
    (tmp_path / path).write_bytes(b'x')
  assert image_files.list_images(str(tmp_path)) == [
      ('a', 'a/x.jpg'), ('a', 'a/y.png'), ('b', 'b/2.jpg')]


def test_missing_data_root(tmp_path):
  missing = str(tmp_path / 'missing')
  with pytest.raises(image_files.DataRootError, match=re.escape(repr(missing))):
    image_files.list_images(missing)


def test_data_root_that_is_a_file(tmp_path):
  (tmp_path / 'photo.jpg').write_bytes(b'x')
  with pytest.raises(image_files.DataRootError, match='is not a directory'):
    image_files.list_images(str(tmp_path / 'photo.jpg'))


def test_data_root_without_class_folders(tmp_path):
  (tmp_path / 'photo.jpg').write_bytes(b'x')
  with pytest.raises(image_files.DataRootError,
                     match=re.escape(str(tmp_path)) + '.*no class sub-folders'):
    image_files.list_images(str(tmp_path))


@pytest.mark.parametrize('content', [[], ['.DS_Store'], ['nested/photo.jpg']])
def test_class_folder_without_files(tmp_path, content):
  (tmp_path / 'full').mkdir()
  (tmp_path / 'full' / 'photo.jpg').write_bytes(b'x')
  (tmp_path / 'empty').mkdir()
  for path in content:
    os.makedirs(os.path.dirname(tmp_path / 'empty' / path), exist_ok=True)
    (tmp_path / 'empty' / path).write_bytes(b'x')
  with pytest.raises(image_files.DataRootError,
                     match=re.escape(str(tmp_path / 'empty')) + '.*is empty'):
    image_files.list_images(str(tmp_path))
