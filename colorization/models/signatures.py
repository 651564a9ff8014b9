"""The exported SavedModel signatures: the whole serving path lives in the graph."""
from typing import Callable

import tensorflow as tf
import tensorflow_transform as tft

from colorization.models import ab_bins, features, lab, network, preprocessing


def predict_ab_and_class(model: tf.keras.Model, bins: ab_bins.AbBins, lightness: tf.Tensor,
                         condition: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor | None]:
  """L [N, S, S, 1] -> (ab [N, S, S, 2]: the annealed mean of the logits, upsampled bilinearly;
  class probabilities [N, C] of a class-aware model's head, else None). condition [N, C]: the
  classes a class-aware model colours for (network.build_network); None = its head's prediction."""
  if network.is_class_aware(model):
    if condition is None:
      condition = tf.zeros([tf.shape(lightness)[0],
                            model.input[features.CLASS_CONDITION_KEY].shape[-1]])
    outputs = model({features.L_KEY: lightness, features.CLASS_CONDITION_KEY: condition},
                    training=False)
    logits, class_probs = outputs[features.AB_LOGITS_KEY], outputs[features.CLASS_PROBS_KEY]
  else:
    logits, class_probs = model(lightness, training=False), None
  ab = tf.image.resize(bins.annealed_mean(logits), tf.shape(lightness)[1:3], method='bilinear')
  return ab, class_probs


def predict_ab(model: tf.keras.Model, bins: ab_bins.AbBins, lightness: tf.Tensor) -> tf.Tensor:
  """L [N, S, S, 1] -> ab [N, S, S, 2] (a class-aware model colours for its predicted class)."""
  return predict_ab_and_class(model, bins, lightness)[0]


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


def images_lightness(image_bytes: tf.Tensor) -> tf.Tensor:
  """Encoded JPEG/PNG/BMP/GIF [N] -> model-input L [N, S, S, 1], decoding one image at a time."""
  return tf.map_fn(lambda b: model_lightness(preprocessing.decode_rgb(b)), image_bytes,
                   fn_output_signature=tf.TensorSpec(
                       [features.IMAGE_SIZE, features.IMAGE_SIZE, 1], tf.float32),
                   parallel_iterations=1)


def recolor_pngs(image_bytes: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
  """Encoded images [N] + model-size ab [N, S, S, 2] -> PNG [N] at full resolution (recolor_png)."""
  return tf.map_fn(lambda pair: recolor_png(*pair), (image_bytes, ab),
                   fn_output_signature=tf.string, parallel_iterations=1)


def colorize_images(model: tf.keras.Model, bins: ab_bins.AbBins,
                    image_bytes: tf.Tensor) -> tf.Tensor:
  """Encoded JPEG/PNG/BMP/GIF [N] -> colorized PNG [N], each at its input's full resolution.

  Images are decoded once for the model input and again for recolouring, one at a time, so only
  the one decoded image in hand is ever held at full resolution; the network sees the whole batch.
  """
  return recolor_pngs(image_bytes, predict_ab(model, bins, images_lightness(image_bytes)))


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

  signatures = {
      features.SERVING_DEFAULT: serving_default,
      features.COLORIZE_IMAGE: colorize_image,
      features.TRANSFORM_FEATURES: transform_features,
      features.SERVING_EXAMPLES: serving_examples,
  }
  if network.is_class_aware(model):
    signatures.update(class_aware_signatures(
        model, bins, preprocessing.class_names(tft_output),
        lambda examples: transform_features(examples)[features.L_KEY]))
  return signatures


def class_condition(class_names: list[str], names: tf.Tensor) -> tf.Tensor:
  """Class names [N] -> one-hot conditions [N, C]; '' gives a zero row (the head's prediction).
  Any other name outside class_names fails the request (InvalidArgument naming the classes)."""
  matches = tf.equal(names[:, None], tf.constant(class_names)[None, :])
  known = tf.reduce_any(matches, axis=-1) | tf.equal(names, '')
  check = tf.debugging.Assert(tf.reduce_all(known), [
      f'class_name must be empty or one of: {", ".join(class_names)}; got', names])
  with tf.control_dependencies([check]):
    return tf.cast(matches, tf.float32)


def class_outputs(class_names: list[str], class_probs: tf.Tensor) -> dict:
  """Class probabilities [N, C] -> the head's most likely class name [N] and its probability [N]."""
  return {features.CLASS_NAME_KEY: tf.gather(tf.constant(class_names),
                                             tf.argmax(class_probs, axis=-1)),
          features.CLASS_PROBABILITY_KEY: tf.reduce_max(class_probs, axis=-1)}


def colorize_images_with_class(model: tf.keras.Model, bins: ab_bins.AbBins,
                               class_names: list[str], image_bytes: tf.Tensor,
                               names: tf.Tensor | None = None) -> dict:
  """colorize_images for a class-aware model: colours for the classes named per image (names [N];
  None or '' = the predicted class); returns the PNGs beside the head's predicted class and its
  probability (the prediction also when a class was forced)."""
  condition = None if names is None else class_condition(class_names, names)
  ab, class_probs = predict_ab_and_class(model, bins, images_lightness(image_bytes), condition)
  return {features.COLORIZED_PNG_KEY: recolor_pngs(image_bytes, ab),
          **class_outputs(class_names, class_probs)}


def class_aware_signatures(model: tf.keras.Model, bins: ab_bins.AbBins, class_names: list[str],
                           examples_lightness: Callable[[tf.Tensor], tf.Tensor]) -> dict:
  """A class-aware model's signatures beside make_signatures' others: serving_default and
  colorize_image also return the predicted class_name and class_probability;
  colorize_image_with_class takes image_bytes and a class_name per image ('' = predicted);
  classify_examples: serialized raw tf.Examples (examples_lightness: -> their L) -> class_name,
  class_probability and class_probs [N, C] (class_names' order)."""
  size = features.IMAGE_SIZE

  @tf.function(input_signature=[tf.TensorSpec([None, size, size, 1], tf.float32, features.L_KEY)])
  def serving_default(lightness):
    ab, class_probs = predict_ab_and_class(model, bins, lightness)
    return {features.AB_KEY: ab, **class_outputs(class_names, class_probs)}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, features.IMAGE_BYTES_KEY)])
  def colorize_image(image_bytes):
    return colorize_images_with_class(model, bins, class_names, image_bytes)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, features.IMAGE_BYTES_KEY),
                                tf.TensorSpec([None], tf.string, features.CLASS_NAME_KEY)])
  def colorize_image_with_class(image_bytes, class_name):
    return colorize_images_with_class(model, bins, class_names, image_bytes, class_name)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, features.EXAMPLES_KEY)])
  def classify_examples(examples):
    _, class_probs = predict_ab_and_class(model, bins, examples_lightness(examples))
    return {features.CLASS_PROBS_KEY: class_probs, **class_outputs(class_names, class_probs)}

  return {features.SERVING_DEFAULT: serving_default,
          features.COLORIZE_IMAGE: colorize_image,
          features.COLORIZE_IMAGE_WITH_CLASS: colorize_image_with_class,
          features.CLASSIFY_EXAMPLES: classify_examples}

