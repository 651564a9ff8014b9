"""The exported SavedModel signatures: the whole serving path lives in the graph."""
import tensorflow as tf
import tensorflow_transform as tft

from models import ab_bins, features, lab, preprocessing


def predict_ab(model: tf.keras.Model, bins: ab_bins.AbBins, lightness: tf.Tensor) -> tf.Tensor:
  """L [N, S, S, 1] -> ab [N, S, S, 2]: annealed mean of the logits, upsampled bilinearly."""
  ab = bins.annealed_mean(model(lightness, training=False))
  return tf.image.resize(ab, tf.shape(lightness)[1:3], method='bilinear')


def colorize_rgb(model: tf.keras.Model, bins: ab_bins.AbBins, rgb: tf.Tensor) -> tf.Tensor:
  """uint8 RGB [H, W, 3] at any size -> colorized uint8 RGB [H, W, 3] keeping its own L."""
  model_l, _ = lab.split_lab(preprocessing.rgb_to_model_lab(rgb))
  ab = predict_ab(model, bins, model_l[None])[0]
  full_l, _ = lab.split_lab(lab.srgb_to_lab(tf.image.convert_image_dtype(rgb, tf.float32)))
  ab = tf.image.resize(ab, tf.shape(rgb)[:2], method='bilinear')
  return tf.image.convert_image_dtype(lab.lab_to_srgb(tf.concat([full_l, ab], -1)), tf.uint8,
                                      saturate=True)


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
    png = tf.map_fn(
        lambda b: tf.io.encode_png(colorize_rgb(model, bins, preprocessing.decode_rgb(b))),
        image_bytes, fn_output_signature=tf.string)
    return {features.COLORIZED_PNG_KEY: png}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, features.EXAMPLES_KEY)])
  def transform_features(examples):
    return tft_layer(tf.io.parse_example(examples, raw_spec))

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, features.EXAMPLES_KEY)])
  def serving_examples(examples):
    lightness = tft_layer(tf.io.parse_example(examples, raw_spec))[features.L_KEY]
    return {features.LAB_PRED_KEY: tf.concat([lightness, predict_ab(model, bins, lightness)], -1)}

  return {
      features.SERVING_DEFAULT: serving_default,
      features.COLORIZE_IMAGE: colorize_image,
      features.TRANSFORM_FEATURES: transform_features,
      features.SERVING_EXAMPLES: serving_examples,
  }
