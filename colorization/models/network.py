"""Encoder-decoder colorization network predicting a distribution over ab bins.

U-Net style skips (Ronneberger et al. 2015) plus a global-context path fused into the bottleneck
(Iizuka, Simo-Serra & Ishikawa, SIGGRAPH 2016: y = ReLU(W [local; global] + b)); logits at 1/4
resolution as in Zhang et al. 2016.
"""
import numpy as np
import tensorflow as tf

from colorization.models import features

keras = tf.keras


def _conv(x: tf.Tensor, filters: int, strides: int = 1, dilation: int = 1) -> tf.Tensor:
  x = keras.layers.Conv2D(filters, 3, strides=strides, dilation_rate=dilation, padding='same',
                          use_bias=False)(x)
  return keras.layers.ReLU()(keras.layers.BatchNormalization()(x))


def build_network(num_bins: int, width: int = 32, prior: np.ndarray | None = None) -> keras.Model:
  """L [B, H, W, 1] (Lab units) -> ab-bin logits [B, H/4, W/4, num_bins]; H, W multiples of 16.

  prior: bin probabilities [num_bins] the logits start from (their log is the initial bias), so
  training begins at the colour distribution instead of a uniform guess.
  """
  lightness = keras.Input([None, None, 1], name=features.L_KEY)
  x = keras.layers.Rescaling(1 / 50.0, offset=-1.0)(lightness)
  x = _conv(_conv(x, width, strides=2), width)                 # 1/2
  skip4 = x = _conv(_conv(x, 2 * width, strides=2), 2 * width)  # 1/4
  skip8 = x = _conv(_conv(x, 4 * width, strides=2), 4 * width)  # 1/8
  x = _conv(_conv(x, 8 * width, strides=2), 8 * width)         # 1/16
  x = _conv(_conv(x, 8 * width, dilation=2), 8 * width, dilation=2)
  context = _conv(x, 8 * width, strides=2)                     # global path, 1/32
  context = keras.layers.GlobalAveragePooling2D()(context)
  context = keras.layers.Dense(4 * width, activation='relu')(context)
  context = keras.layers.Lambda(lambda t: tf.ones_like(t[0][..., :1]) * t[1][:, None, None, :])(
      [x, context])
  x = _conv(keras.layers.Concatenate()([x, context]), 8 * width)  # fusion layer
  x = keras.layers.UpSampling2D(interpolation='bilinear')(x)
  x = _conv(keras.layers.Concatenate()([x, skip8]), 4 * width)
  x = keras.layers.UpSampling2D(interpolation='bilinear')(x)
  x = _conv(keras.layers.Concatenate()([x, skip4]), 2 * width)
  x = _conv(x, 2 * width)
  bias = 'zeros' if prior is None else keras.initializers.Constant(np.log(np.maximum(prior, 1e-8)))
  logits = keras.layers.Conv2D(num_bins, 1, bias_initializer=bias, name='ab_bin_logits')(x)
  return keras.Model(lightness, logits, name='colorizer')
