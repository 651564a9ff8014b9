"""Image decoding and the tf.Transform preprocessing_fn; shared by Transform, training and serving."""
import tensorflow as tf
import tensorflow_transform as tft

from colorization.models import ab_bins, features, lab


def decode_rgb(image_bytes: tf.Tensor) -> tf.Tensor:
  """JPEG/PNG/BMP/GIF bytes (any mode) -> uint8 RGB [H, W, 3]; first frame of an animation."""
  image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
  image.set_shape([None, None, 3])
  return image


def rgb_to_model_lab(rgb: tf.Tensor) -> tf.Tensor:
  """uint8 RGB [..., H, W, 3] -> Lab float32 [..., IMAGE_SIZE, IMAGE_SIZE, 3] (squashed, antialiased)."""
  resized = tf.image.resize(tf.image.convert_image_dtype(rgb, tf.float32),
                            [features.IMAGE_SIZE, features.IMAGE_SIZE], antialias=True)
  return lab.srgb_to_lab(resized)


def image_bytes_to_lab(image_bytes: tf.Tensor) -> tf.Tensor:
  """Batch of encoded images [B] -> Lab [B, IMAGE_SIZE, IMAGE_SIZE, 3]."""
  return tf.map_fn(lambda b: rgb_to_model_lab(decode_rgb(b)), image_bytes,
                   fn_output_signature=tf.TensorSpec(
                       [features.IMAGE_SIZE, features.IMAGE_SIZE, 3], tf.float32))


def preprocessing_fn(inputs: dict) -> dict:
  """tf.Transform: encoded image -> L (input) and ab (target); full-pass ab histogram."""
  image_bytes = tf.reshape(inputs[features.IMAGE_KEY], [-1])
  lightness, ab = lab.split_lab(image_bytes_to_lab(image_bytes))
  pooled_ab = tf.nn.avg_pool2d(ab, features.OUTPUT_STRIDE, features.OUTPUT_STRIDE, 'VALID')
  histogram = tft.sum(ab_bins.grid_histogram(pooled_ab), reduce_instance_dims=False)
  return {
      features.L_KEY: lightness,
      features.AB_KEY: ab,
      features.LABEL_KEY: tf.reshape(inputs[features.LABEL_KEY], [-1, 1]),
      features.AB_HISTOGRAM_KEY: tf.tile(
          tf.reshape(histogram, [1, ab_bins.GRID_BINS]), [tf.shape(image_bytes)[0], 1]),
  }
