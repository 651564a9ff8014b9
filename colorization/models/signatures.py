"""The exported SavedModel signatures: the whole serving path lives in the graph."""
from typing import Callable

import tensorflow as tf
import tensorflow_transform as tft

from colorization.models import ab_bins, features, full_resolution, hparams, network, preprocessing

Encode = Callable[[tf.Tensor], tf.Tensor]  # uint8 RGB [H, W, 3] -> encoded image
DEFAULT_MAX_PIXELS = hparams.TrainingConfig.max_image_pixels


def predict_ab_and_class(model: tf.keras.Model, bins: ab_bins.AbBins, lightness: tf.Tensor,
                         condition: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor | None]:
  """L [N, S, S, 1] -> (ab [N, S, S, 2]: the annealed mean of the logits, upsampled bilinearly;
  class probabilities [N, C] of a class-aware model's head, else None). condition [N, C]: the
  classes a class-aware model colours for (network.build_network); None = its head's prediction.
  An empty batch gives empty results (the network's convolutions refuse one)."""
  class_aware = network.is_class_aware(model)
  classes = model.input[features.CLASS_CONDITION_KEY].shape[-1] if class_aware else 0
  if class_aware and condition is None:
    condition = tf.zeros([tf.shape(lightness)[0], classes])

  def predict() -> tuple[tf.Tensor, tf.Tensor]:
    if class_aware:
      outputs = model({features.L_KEY: lightness, features.CLASS_CONDITION_KEY: condition},
                      training=False)
      logits, class_probs = outputs[features.AB_LOGITS_KEY], outputs[features.CLASS_PROBS_KEY]
    else:
      logits, class_probs = model(lightness, training=False), tf.zeros([tf.shape(lightness)[0], 0])
    ab = tf.image.resize(bins.annealed_mean(logits), tf.shape(lightness)[1:3], method='bilinear')
    return ab, class_probs

  def empty() -> tuple[tf.Tensor, tf.Tensor]:
    return tf.zeros(tf.concat([tf.shape(lightness)[:3], [2]], 0)), tf.zeros([0, classes])

  ab, class_probs = tf.cond(tf.shape(lightness)[0] > 0, predict, empty)
  return ab, class_probs if class_aware else None


def predict_ab(model: tf.keras.Model, bins: ab_bins.AbBins, lightness: tf.Tensor) -> tf.Tensor:
  """L [N, S, S, 1] -> ab [N, S, S, 2] (a class-aware model colours for its predicted class)."""
  return predict_ab_and_class(model, bins, lightness)[0]


def images_lightness(image_bytes: tf.Tensor, max_pixels: int = DEFAULT_MAX_PIXELS) -> tf.Tensor:
  """Encoded JPEG/PNG/BMP/GIF [N] -> model-input L [N, S, S, 1], decoding one image at a time;
  an image whose header declares more than max_pixels pixels fails the request, undecoded."""
  return tf.map_fn(
      lambda b: full_resolution.model_lightness(full_resolution.decode_checked(b, max_pixels)),
      image_bytes, fn_output_signature=tf.TensorSpec(
          [features.IMAGE_SIZE, features.IMAGE_SIZE, 1], tf.float32),
      parallel_iterations=1)


def recolor_images(image_bytes: tf.Tensor, ab: tf.Tensor,
                   encode: Encode = full_resolution.encode_png) -> tf.Tensor:
  """Encoded images [N] + model-size ab [N, S, S, 2] -> encoded images [N] at full resolution
  (full_resolution.recolor)."""
  return tf.map_fn(lambda pair: encode(full_resolution.recolor(*pair)), (image_bytes, ab),
                   fn_output_signature=tf.string, parallel_iterations=1)


def colorize_images(model: tf.keras.Model, bins: ab_bins.AbBins, image_bytes: tf.Tensor,
                    encode: Encode = full_resolution.encode_png,
                    max_pixels: int = DEFAULT_MAX_PIXELS) -> tf.Tensor:
  """Encoded JPEG/PNG/BMP/GIF [N] -> colorized images [N] (PNG, or as encode encodes them), each
  at its input's full resolution; an empty batch gives an empty result.

  Images are decoded once for the model input and again for recolouring, one at a time, so only
  the one decoded image in hand is ever held at full resolution; the network sees the whole batch.
  """
  ab = predict_ab(model, bins, images_lightness(image_bytes, max_pixels))
  return recolor_images(image_bytes, ab, encode)


def colorize_signatures(model: tf.keras.Model, bins: ab_bins.AbBins, max_pixels: int) -> dict:
  """serving_default, colorize_image (PNG) and colorize_image_jpeg: the signatures clients call,
  without Transform's."""
  size = features.IMAGE_SIZE

  @tf.function(input_signature=[tf.TensorSpec([None, size, size, 1], tf.float32, features.L_KEY)])
  def serving_default(lightness):
    return {features.AB_KEY: predict_ab(model, bins, lightness)}

  def colorize_signature(output_key: str, encode: Encode):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, features.IMAGE_BYTES_KEY)])
    def colorize_image(image_bytes):
      return {output_key: colorize_images(model, bins, image_bytes, encode, max_pixels)}
    return colorize_image

  return {
      features.SERVING_DEFAULT: serving_default,
      features.COLORIZE_IMAGE: colorize_signature(features.COLORIZED_PNG_KEY,
                                                  full_resolution.encode_png),
      features.COLORIZE_IMAGE_JPEG: colorize_signature(features.COLORIZED_JPEG_KEY,
                                                       full_resolution.encode_jpeg),
  }


def make_signatures(model: tf.keras.Model, bins: ab_bins.AbBins,
                    tft_output: tft.TFTransformOutput,
                    max_pixels: int = DEFAULT_MAX_PIXELS) -> dict:
  """colorize_signatures, serving_examples (TFMA) and transform_features (and a class-aware
  model's class_aware_signatures)."""
  tft_layer = tft_output.transform_features_layer()
  raw_spec = tft_output.raw_feature_spec()
  model.tft_layer = tft_layer

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, features.EXAMPLES_KEY)])
  def transform_features(examples):
    return preprocessing.decoded_features(tft_layer(tf.io.parse_example(examples, raw_spec)))

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, features.EXAMPLES_KEY)])
  def serving_examples(examples):
    transformed = tft_layer(tf.io.parse_example(examples, raw_spec))
    lightness, _ = preprocessing.decode_lab(transformed[features.LAB_PNG_KEY])
    return {features.LAB_PRED_KEY: tf.concat([lightness, predict_ab(model, bins, lightness)], -1)}

  signatures = {
      **colorize_signatures(model, bins, max_pixels),
      features.TRANSFORM_FEATURES: transform_features,
      features.SERVING_EXAMPLES: serving_examples,
  }
  if network.is_class_aware(model):
    signatures.update(class_aware_signatures(
        model, bins, preprocessing.class_names(tft_output),
        lambda examples: transform_features(examples)[features.L_KEY], max_pixels))
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
                               names: tf.Tensor | None = None,
                               max_pixels: int = DEFAULT_MAX_PIXELS) -> dict:
  """colorize_images for a class-aware model: colours for the classes named per image (names [N];
  None or '' = the predicted class); returns the PNGs beside the head's predicted class and its
  probability (the prediction also when a class was forced)."""
  condition = None if names is None else class_condition(class_names, names)
  ab, class_probs = predict_ab_and_class(model, bins, images_lightness(image_bytes, max_pixels),
                                         condition)
  return {features.COLORIZED_PNG_KEY: recolor_images(image_bytes, ab),
          **class_outputs(class_names, class_probs)}


def class_aware_signatures(model: tf.keras.Model, bins: ab_bins.AbBins, class_names: list[str],
                           examples_lightness: Callable[[tf.Tensor], tf.Tensor],
                           max_pixels: int = DEFAULT_MAX_PIXELS) -> dict:
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
    return colorize_images_with_class(model, bins, class_names, image_bytes,
                                      max_pixels=max_pixels)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, features.IMAGE_BYTES_KEY),
                                tf.TensorSpec([None], tf.string, features.CLASS_NAME_KEY)])
  def colorize_image_with_class(image_bytes, class_name):
    return colorize_images_with_class(model, bins, class_names, image_bytes, class_name,
                                      max_pixels)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, features.EXAMPLES_KEY)])
  def classify_examples(examples):
    _, class_probs = predict_ab_and_class(model, bins, examples_lightness(examples))
    return {features.CLASS_PROBS_KEY: class_probs, **class_outputs(class_names, class_probs)}

  return {features.SERVING_DEFAULT: serving_default,
          features.COLORIZE_IMAGE: colorize_image,
          features.COLORIZE_IMAGE_WITH_CLASS: colorize_image_with_class,
          features.CLASSIFY_EXAMPLES: classify_examples}

