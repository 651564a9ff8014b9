"""The exported SavedModel signatures: the whole serving path lives in the graph."""
import tensorflow as tf
import tensorflow_transform as tft

from colorization.models import ab_bins, features, lab, preprocessing


def predict_ab(model: tf.keras.Model, bins: ab_bins.AbBins, lightness: tf.Tensor) -> tf.Tensor:
  """L [N, S, S, 1] -> ab [N, S, S, 2]: the annealed mean of the logits, upsampled bilinearly."""
  ab = bins.annealed_mean(model(lightness, training=False))
  return tf.image.resize(ab, tf.shape(lightness)[1:3], method='bilinear')


STRIP_PIXELS = 1 << 16  # full-resolution pixels handled per step: bounds the float intermediates


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


def recolor_png(image_bytes: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
  """Encoded image + model-size ab [S, S, 2] -> PNG at full resolution keeping the image's own L.

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
    strip_l, _ = lab.split_lab(lab.srgb_to_lab(tf.image.convert_image_dtype(strip, tf.float32)))
    colored = tf.image.convert_image_dtype(lab.lab_to_srgb(lab.fit_gamut(tf.concat([strip_l, strip_ab], -1))),
                                           tf.uint8, saturate=True)
    return i + 1, tf.raw_ops.InplaceUpdate(x=image, i=top + tf.range(strip_rows), v=colored)

  _, colorized = tf.while_loop(lambda i, _: i < count, recolor_strip, [0, rgb])
  return tf.io.encode_png(colorized)


def colorize_images(model: tf.keras.Model, bins: ab_bins.AbBins,
                    image_bytes: tf.Tensor) -> tf.Tensor:
  """Encoded JPEG/PNG/BMP/GIF [N] -> colorized PNG [N], each at its input's full resolution.

  Images are decoded once for the model input and again for recolouring, one at a time, so only
  the one decoded image in hand is ever held at full resolution; the network sees the whole batch.
  """
  model_l = tf.map_fn(lambda b: model_lightness(preprocessing.decode_rgb(b)), image_bytes,
                      fn_output_signature=tf.TensorSpec(
                          [features.IMAGE_SIZE, features.IMAGE_SIZE, 1], tf.float32),
                      parallel_iterations=1)
  ab = predict_ab(model, bins, model_l)
  return tf.map_fn(lambda pair: recolor_png(*pair), (image_bytes, ab),
                   fn_output_signature=tf.string, parallel_iterations=1)


def make_signatures(model: tf.keras.Model, bins: ab_bins.AbBins,
                    tft_output: tft.TFTransformOutput) -> dict:
  """serving_default, colorize_image, serving_examples (TFMA) and transform_features."""
  tft_layer = tft_output.transform_features_layer()
  raw_spec = tft_output.raw_feature_spec()
  model.tft_layer = tft_layer
  size = features.IMAGE_SIZE

  @tf.function(input_signature=[tf.TensorSpec([None, size, size, 1], tf.float32, features.L_KEY)])
  def serving_default(lightness):
    return {features.AB_KEY: predict_ab(model, bins, lightness)}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, features.IMAGE_BYTES_KEY)])
  def colorize_image(image_bytes):
    return {features.COLORIZED_PNG_KEY: colorize_images(model, bins, image_bytes)}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, features.EXAMPLES_KEY)])
  def transform_features(examples):
    return preprocessing.decoded_features(tft_layer(tf.io.parse_example(examples, raw_spec)))

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, features.EXAMPLES_KEY)])
  def serving_examples(examples):
    transformed = tft_layer(tf.io.parse_example(examples, raw_spec))
    lightness, _ = preprocessing.decode_lab(transformed[features.LAB_PNG_KEY])
    return {features.LAB_PRED_KEY: tf.concat([lightness, predict_ab(model, bins, lightness)], -1)}

  return {
      features.SERVING_DEFAULT: serving_default,
      features.COLORIZE_IMAGE: colorize_image,
      features.TRANSFORM_FEATURES: transform_features,
      features.SERVING_EXAMPLES: serving_examples,
  }
