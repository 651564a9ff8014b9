"""Image decoding and the tf.Transform preprocessing_fn; shared by Transform, training and serving."""
import tensorflow as tf
import tensorflow_transform as tft

from colorization.models import ab_bins, features, lab

_LAB_TO_BYTE_SCALE = tf.constant([2.55, 1.0, 1.0])
_LAB_TO_BYTE_OFFSET = tf.constant([0.0, 128.0, 128.0])


def decode_rgb(image_bytes: tf.Tensor) -> tf.Tensor:
  """JPEG/PNG/BMP/GIF bytes (any mode) -> uint8 RGB [H, W, 3]; first frame of an animation."""
  image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
  image.set_shape([None, None, 3])
  return image


def rgb_to_model_lab(rgb: tf.Tensor, size: int = features.IMAGE_SIZE) -> tf.Tensor:
  """uint8 RGB [..., H, W, 3] -> Lab float32 [..., size, size, 3] (squashed, antialiased)."""
  resized = tf.image.resize(tf.image.convert_image_dtype(rgb, tf.float32), [size, size],
                            antialias=True)
  return lab.srgb_to_lab(resized)


def image_bytes_to_lab(image_bytes: tf.Tensor, size: int = features.IMAGE_SIZE) -> tf.Tensor:
  """Batch of encoded images [B] -> Lab [B, size, size, 3]."""
  return tf.map_fn(lambda b: rgb_to_model_lab(decode_rgb(b), size), image_bytes,
                   fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))


def histogram_ab(image_lab: tf.Tensor) -> tf.Tensor:
  """Lab at PREDICTION_SIZE [B, S, S, 3] -> its ab grid counts [B, GRID_BINS]: what the analyzer
  sums, from photos resized straight to the network's output size (how close that is to counting
  pool_ab of the 224² Lab: docs/results.md, "Transformed storage")."""
  return ab_bins.grid_histogram(lab.split_lab(image_lab)[1])


def pool_ab(ab: tf.Tensor) -> tf.Tensor:
  """ab [B, S, S, 2] -> its mean over OUTPUT_STRIDE² blocks: the training target at the network's
  output resolution."""
  return tf.nn.avg_pool2d(ab, features.OUTPUT_STRIDE, features.OUTPUT_STRIDE, 'VALID')


def encode_lab(image_lab: tf.Tensor) -> tf.Tensor:
  """Lab [B, S, S, 3] -> PNG [B] of uint8 (L * 2.55, a + 128, b + 128): the compact transformed
  form (steps of 0.39 L and 1 ab unit; the sRGB gamut's a and b lie within -128..127). zlib level 1:
  a sixth of the default level's time for 68 KB instead of 57 KB per 224² image."""
  quantized = tf.cast(tf.round(tf.clip_by_value(
      image_lab * _LAB_TO_BYTE_SCALE + _LAB_TO_BYTE_OFFSET, 0.0, 255.0)), tf.uint8)
  return tf.map_fn(lambda image: tf.io.encode_png(image, compression=1), quantized,
                   fn_output_signature=tf.string)


def decode_lab(lab_png: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """encode_lab's PNG [B] -> (L [B, S, S, 1], ab [B, S, S, 2]) float32 in Lab units: how the
  Trainer's input pipeline and the transform_features signature read the transformed images."""
  size = features.IMAGE_SIZE
  quantized = tf.map_fn(lambda png: tf.io.decode_png(png, channels=3), tf.reshape(lab_png, [-1]),
                        fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))
  image_lab = (tf.cast(quantized, tf.float32) - _LAB_TO_BYTE_OFFSET) / _LAB_TO_BYTE_SCALE
  return lab.split_lab(image_lab)


def decoded_features(transformed: dict) -> dict:
  """Transform's output with the Lab PNG replaced by float L and ab (features.L_KEY, AB_KEY)."""
  decoded = {k: v for k, v in transformed.items() if k != features.LAB_PNG_KEY}
  decoded[features.L_KEY], decoded[features.AB_KEY] = decode_lab(transformed[features.LAB_PNG_KEY])
  return decoded


def class_names(tft_output: tft.TFTransformOutput) -> list[str]:
  """The training split's classes (preprocessing_fn's label vocabulary), sorted by name."""
  return sorted(name.decode() if isinstance(name, bytes) else name
                for name in tft_output.vocabulary_by_name(features.CLASS_VOCABULARY))


def preprocessing_fn(inputs: dict) -> dict:
  """tf.Transform: encoded image -> Lab PNG (L input, ab target); full-pass ab histogram and label
  vocabulary. The histogram's branch decodes at the output size, so the analysis pass never
  builds 224² Lab."""
  image_bytes = tf.reshape(inputs[features.IMAGE_KEY], [-1])
  histogram = tft.sum(histogram_ab(image_bytes_to_lab(image_bytes, features.PREDICTION_SIZE)),
                      reduce_instance_dims=False)
  label = tf.reshape(inputs[features.LABEL_KEY], [-1, 1])
  tft.vocabulary(label, vocab_filename=features.CLASS_VOCABULARY)  # the class-aware model's classes
  return {
      features.LAB_PNG_KEY: encode_lab(image_bytes_to_lab(image_bytes)),
      features.LABEL_KEY: label,
      features.AB_HISTOGRAM_KEY: tf.tile(
          tf.reshape(histogram, [1, ab_bins.GRID_BINS]), [tf.shape(image_bytes)[0], 1]),
  }
