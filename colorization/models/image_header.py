"""An encoded image's size read from its header, so an oversized image is refused before decoding.

A few KB of PNG can declare 20000 x 20000 pixels (a decompression bomb): decoding it costs minutes
and gigabytes. The formats and magic numbers are tf.io.decode_image's: JPEG (libjpeg's own header
parse, tf.image.extract_jpeg_shape), PNG (IHDR, big-endian), GIF (logical screen, little-endian)
and BMP (BITMAPINFOHEADER, little-endian; a negative height means top-down rows).
"""
import tensorflow as tf

_HEADER_BYTES = 26          # enough for every field read below
_PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
_JPEG_MAGIC = b'\xff\xd8\xff'


def _header_bytes(image_bytes: tf.Tensor) -> tf.Tensor:
  """The first _HEADER_BYTES bytes as int64 [_HEADER_BYTES], zero-padded if the input is shorter."""
  head = tf.strings.substr(tf.strings.join([tf.strings.substr(image_bytes, 0, _HEADER_BYTES),
                                            tf.constant(b'\0' * _HEADER_BYTES)]), 0, _HEADER_BYTES)
  return tf.cast(tf.io.decode_raw(head, tf.uint8), tf.int64)


def _number(header: tf.Tensor, start: int, length: int, big_endian: bool) -> tf.Tensor:
  """The unsigned integer stored in header[start:start + length]."""
  weights = [256 ** k for k in range(length)]
  if big_endian:
    weights.reverse()
  return tf.reduce_sum(header[start:start + length] * tf.constant(weights, tf.int64))


def _signed32(value: tf.Tensor) -> tf.Tensor:
  return tf.where(value >= 2 ** 31, value - 2 ** 32, value)


def image_size(image_bytes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """Scalar encoded image -> (height, width) int64 as its header declares them; (0, 0) for bytes
  of no format decode_image knows (decoding then fails with decode_image's own error)."""
  header = _header_bytes(image_bytes)

  def magic(text: bytes) -> tf.Tensor:
    return tf.equal(tf.strings.substr(image_bytes, 0, len(text)), text)

  png = tf.stack([_number(header, 20, 4, True), _number(header, 16, 4, True)])
  gif = tf.stack([_number(header, 8, 2, False), _number(header, 6, 2, False)])
  bmp = tf.stack([tf.abs(_signed32(_number(header, 22, 4, False))),
                  tf.abs(_signed32(_number(header, 18, 4, False)))])
  size = tf.where(magic(_PNG_MAGIC), png, tf.where(
      magic(b'GIF87a') | magic(b'GIF89a'), gif, tf.where(magic(b'BM'), bmp, tf.zeros([2], tf.int64))))
  size = tf.cond(magic(_JPEG_MAGIC),
                 lambda: tf.cast(tf.image.extract_jpeg_shape(image_bytes)[:2], tf.int64),
                 lambda: size)
  return size[0], size[1]


def assert_pixels_at_most(image_bytes: tf.Tensor, max_pixels: int) -> tf.Operation:
  """An op raising INVALID_ARGUMENT, naming the size and the limit, when the image's header
  declares more than max_pixels pixels; run it before decoding (tf.control_dependencies)."""
  height, width = image_size(image_bytes)
  pixels = height * width
  message = tf.strings.format(
      'image of {}x{} = {} pixels is over the limit of {} pixels (width x height from its header)',
      [width, height, pixels, max_pixels])
  return tf.debugging.Assert(pixels <= max_pixels, [message])
