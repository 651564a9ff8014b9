"""Encoder-decoder colorization network predicting a distribution over ab bins.

Encoder: ImageNet-trained EfficientNet-Lite0 or -Lite2 on the gray image (L with a = b = 0, as
sRGB), or a small one trained from scratch. Decoder: U-Net skips (Ronneberger et al. 2015) and a
global path fused at 1/16 (Iizuka, Simo-Serra & Ishikawa 2016: y = ReLU(W [local; global] + b));
logits at 1/4 resolution as in Zhang et al. 2016.
"""
import numpy as np
import tensorflow as tf

from colorization.models import efficientnet_lite, features, hparams, lab

keras = tf.keras


def encoder_layer_name(encoder: str) -> str:
  """The name of the pretrained encoder's sub-model in build_network(encoder=encoder)."""
  return efficientnet_lite.model_name(encoder)


def _conv(x: tf.Tensor, filters: int, strides: int = 1, dilation: int = 1,
          kernel: int = 3) -> tf.Tensor:
  x = keras.layers.Conv2D(filters, kernel, strides=strides, dilation_rate=dilation,
                          padding='same', use_bias=False)(x)
  return keras.layers.ReLU()(keras.layers.BatchNormalization()(x))


def _gray_rgb(lightness: tf.Tensor) -> tf.Tensor:
  """L [B, H, W, 1] -> the gray sRGB image of that lightness, normalized as the encoder expects."""
  lab_gray = tf.concat([lightness, tf.zeros_like(lightness), tf.zeros_like(lightness)], -1)
  return (lab.lab_to_srgb(lab_gray) * 255.0 - 127.0) / 128.0


def _pretrained_features(lightness: tf.Tensor, width: int, variant: str, weights_path: str):
  encoder = efficientnet_lite.build_encoder(variant)
  efficientnet_lite.load_imagenet_weights(encoder, weights_path, variant)
  encoder.trainable = False
  # training=False: BatchNorm stays in inference mode, also when the encoder is fine-tuned.
  _, skip4, skip8, skip16, head = encoder(keras.layers.Lambda(_gray_rgb)(lightness),
                                          training=False)
  coarse = keras.layers.UpSampling2D(interpolation='bilinear')(_conv(head, 8 * width, kernel=1))
  return skip4, skip8, _conv(keras.layers.Concatenate()([skip16, coarse]), 8 * width), head


def _scratch_features(lightness: tf.Tensor, width: int):
  x = keras.layers.Rescaling(1 / 50.0, offset=-1.0)(lightness)
  x = _conv(_conv(x, width, strides=2), width)                  # 1/2
  skip4 = x = _conv(_conv(x, 2 * width, strides=2), 2 * width)  # 1/4
  skip8 = x = _conv(_conv(x, 4 * width, strides=2), 4 * width)  # 1/8
  x = _conv(_conv(x, 8 * width, strides=2), 8 * width)          # 1/16
  x = _conv(_conv(x, 8 * width, dilation=2), 8 * width, dilation=2)
  return skip4, skip8, x, _conv(x, 8 * width, strides=2)        # global path from 1/32


def _given_or_predicted(tensors: list[tf.Tensor]) -> tf.Tensor:
  """Per image: the caller's class probabilities, or the head's (no gradient) if the row is 0."""
  given, predicted = tensors
  is_given = tf.reduce_sum(given, axis=-1, keepdims=True) > 0
  return tf.where(is_given, given, tf.stop_gradient(predicted))


def _film(x: tf.Tensor, condition: tf.Tensor, channels: int) -> tf.Tensor:
  """FiLM (Perez et al. 2018): x * (1 + W p) + V p per channel; W = V = 0 at the start."""
  scale = keras.layers.Dense(channels, use_bias=False, kernel_initializer='zeros',
                             name='film_scale')(condition)
  shift = keras.layers.Dense(channels, use_bias=False, kernel_initializer='zeros',
                             name='film_shift')(condition)
  return keras.layers.Lambda(
      lambda t: t[0] * (1.0 + t[1][:, None, None, :]) + t[2][:, None, None, :])([x, scale, shift])


def build_network(num_bins: int, width: int = 32, prior: np.ndarray | None = None,
                  encoder: str = hparams.DEFAULT_ENCODER, encoder_weights: str = '',
                  num_classes: int = 0) -> keras.Model:
  """L [B, H, W, 1] (Lab units) -> ab-bin logits [B, H/4, W/4, num_bins]; H, W multiples of 32.

  prior: bin probabilities [num_bins] the logits start from (their log is the initial bias), so
  training begins at the colour distribution instead of a uniform guess. The pretrained encoder
  starts frozen (encoder_layer_name(encoder)); encoder_weights: its .pth file ('' = the package's).
  Skip channel counts follow the encoder (Lite2's are wider); the decoder adapts to them.
  num_classes > 0 builds the class-aware network: inputs {L, class_condition [B, C]}, outputs
  {ab_bin_logits, class_probs [B, C]} (features.py keys); a softmax head on the pooled encoder
  features predicts the class and FiLM conditions the fusion layer on the caller's class
  probabilities, or on the head's where the caller's row is all zero.
  """
  if encoder not in hparams.ENCODERS:
    raise ValueError(f'encoder {encoder!r} is not one of {", ".join(hparams.ENCODERS)}')
  lightness = keras.Input([None, None, 1], name=features.L_KEY)
  if encoder in hparams.PRETRAINED_ENCODERS:
    skip4, skip8, x, context = _pretrained_features(lightness, width, encoder, encoder_weights)
  else:
    skip4, skip8, x, context = _scratch_features(lightness, width)
  context = keras.layers.GlobalAveragePooling2D()(context)
  if num_classes:
    class_probs = keras.layers.Dense(num_classes, activation='softmax',
                                     name=features.CLASS_PROBS_KEY)(context)
    given = keras.Input([num_classes], name=features.CLASS_CONDITION_KEY)
    condition = keras.layers.Lambda(_given_or_predicted)([given, class_probs])
  context = keras.layers.Dense(4 * width, activation='relu')(context)
  context = keras.layers.Lambda(lambda t: tf.ones_like(t[0][..., :1]) * t[1][:, None, None, :])(
      [x, context])
  x = _conv(keras.layers.Concatenate()([x, context]), 8 * width)  # fusion layer, 1/16
  if num_classes:
    x = _film(x, condition, 8 * width)
  x = keras.layers.UpSampling2D(interpolation='bilinear')(x)
  x = _conv(keras.layers.Concatenate()([x, skip8]), 4 * width)
  x = keras.layers.UpSampling2D(interpolation='bilinear')(x)
  x = _conv(keras.layers.Concatenate()([x, skip4]), 2 * width)
  x = _conv(x, 2 * width)
  bias = 'zeros' if prior is None else keras.initializers.Constant(np.log(np.maximum(prior, 1e-8)))
  logits = keras.layers.Conv2D(num_bins, 1, bias_initializer=bias, name=features.AB_LOGITS_KEY)(x)
  if num_classes:
    return keras.Model({features.L_KEY: lightness, features.CLASS_CONDITION_KEY: given},
                       {features.AB_LOGITS_KEY: logits, features.CLASS_PROBS_KEY: class_probs},
                       name='colorizer')
  return keras.Model(lightness, logits, name='colorizer')


def is_class_aware(model: keras.Model) -> bool:
  """Whether build_network built the model with a class head (num_classes > 0)."""
  return isinstance(model.input, dict)
