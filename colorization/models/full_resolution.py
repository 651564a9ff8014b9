"""The full-resolution half of colorize_image: the photo decoded (after its header passed the pixel
limit), shrunk to the model input in row strips, and recoloured in row strips with the predicted
ab, then encoded as PNG or JPEG. Only one strip of floats exists at a time beside the decoded image.
"""
import tensorflow as tf

from colorization.models import features, image_header, lab, preprocessing

# Colorized PNGs at zlib level 1: about 8x faster than the default level 6 on photos, whose noise
# barely compresses (docs/serving.md, "Output formats", gives the size cost).
PNG_COMPRESSION = 1
JPEG_QUALITY = 95
STRIP_PIXELS = 1 << 18  # full-resolution pixels handled per step: bounds the float intermediates


def _strips(height: tf.Tensor, width: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """(rows per strip, number of strips) covering an image of height x width."""
  rows = tf.maximum(1, STRIP_PIXELS // width)
  return rows, (height + rows - 1) // rows


def model_lightness(rgb: tf.Tensor) -> tf.Tensor:
  """uint8 RGB [H, W, 3] -> model-input L [S, S, 1], reading the image in row strips.

  Each strip is shrunk to the model width, then preprocessing shrinks the [H, S] result to the
  model height: the separable form of its antialiased resize, equal up to float rounding.
  """
  height, width = tf.shape(rgb)[0], tf.shape(rgb)[1]
  rows, count = _strips(height, width)

  def shrink_strip(i, narrow):
    strip = tf.image.convert_image_dtype(rgb[i * rows:(i + 1) * rows], tf.float32)
    return i + 1, narrow.write(i, tf.image.resize(
        strip, [tf.shape(strip)[0], features.IMAGE_SIZE], antialias=True))

  narrow = tf.TensorArray(tf.float32, size=count, infer_shape=False,
                          element_shape=[None, features.IMAGE_SIZE, 3])
  _, narrow = tf.while_loop(lambda i, _: i < count, shrink_strip, [0, narrow],
                            parallel_iterations=1)
  model_l, _ = lab.split_lab(preprocessing.rgb_to_model_lab(narrow.concat()))
  return model_l


def recolor(image_bytes: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
  """Encoded image + model-size ab [S, S, 2] -> uint8 RGB at full resolution keeping its own L.

  Works in row strips and writes each back into the decoded image: each strip's ab is sampled
  bilinearly from the S x S map with crop_and_resize on the half-pixel grid of tf.image.resize
  (the edge-padded map stands in for its clamping at the borders), so beyond the decoded image
  only one strip of floats exists at a time.
  """
  # Decoded only once ab exists, so a batch holds one full-size image at a time; DeepCopy is
  # stateful, so grappler can neither fold nor share this decode: its buffer is ours to overwrite.
  with tf.control_dependencies([ab]):
    rgb = preprocessing.decode_rgb(tf.raw_ops.DeepCopy(x=image_bytes))
  height, width = tf.shape(rgb)[0], tf.shape(rgb)[1]
  rows, count = _strips(height, width)
  size = features.IMAGE_SIZE
  padded = tf.pad(ab, [[1, 1], [1, 1], [0, 0]], mode='SYMMETRIC')[None]
  scale_y = size / tf.cast(height, tf.float32)
  scale_x = size / tf.cast(width, tf.float32)
  # crop_and_resize samples row r of box [y1, y2] at y1 * (size + 1) + r * (y2 - y1) * (size + 1)
  # / (rows - 1); tf.image.resize samples output row y at (y + 0.5) * scale - 0.5 (+1 padding).
  x1 = (0.5 * scale_x + 0.5) / (size + 1)
  x2 = x1 + scale_x * tf.cast(width - 1, tf.float32) / (size + 1)

  def recolor_strip(i, image):
    top = i * rows
    strip = image[top:top + rows]
    strip_rows = tf.shape(strip)[0]
    y1 = ((tf.cast(top, tf.float32) + 0.5) * scale_y + 0.5) / (size + 1)
    y2 = y1 + scale_y * tf.cast(strip_rows - 1, tf.float32) / (size + 1)
    strip_ab = tf.image.crop_and_resize(padded, [[y1, x1, y2, x2]], [0], [strip_rows, width])[0]
    strip_lab = lab.fit_gamut(tf.concat([lab.srgb8_to_lightness(strip), strip_ab], -1))
    colored = tf.image.convert_image_dtype(lab.lab_to_srgb(strip_lab), tf.uint8, saturate=True)
    return i + 1, tf.raw_ops.InplaceUpdate(x=image, i=top + tf.range(strip_rows), v=colored)

  _, colorized = tf.while_loop(lambda i, _: i < count, recolor_strip, [0, rgb],
                               parallel_iterations=1)
  return colorized


def encode_png(rgb: tf.Tensor) -> tf.Tensor:
  """uint8 RGB -> PNG at zlib level PNG_COMPRESSION."""
  return tf.io.encode_png(rgb, compression=PNG_COMPRESSION)


def encode_jpeg(rgb: tf.Tensor) -> tf.Tensor:
  """uint8 RGB -> JPEG at JPEG_QUALITY."""
  return tf.io.encode_jpeg(rgb, quality=JPEG_QUALITY)


def decode_checked(image_bytes: tf.Tensor, max_pixels: int) -> tf.Tensor:
  """decode_rgb, after refusing (INVALID_ARGUMENT) an image whose header declares more than
  max_pixels pixels."""
  with tf.control_dependencies([image_header.assert_pixels_at_most(image_bytes, max_pixels)]):
    return preprocessing.decode_rgb(tf.identity(image_bytes))
