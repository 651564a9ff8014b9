"""Colorization metrics as vectorised tf-keras metrics, for TFMA and for the results report.

y_true is the ab target [B, H, W, 2]; y_pred is the model's Lab [B, H, W, 3] (the input L with the
predicted ab), so RGB metrics see the true L. Each metric has a "gray" twin scoring a = b = 0.
PSNR = 10 log10(1 / MSE) on sRGB in [0, 1], per image; AuC = mean over pixels of
max(0, 1 - |ab error|_2 / 150), i.e. the area under the error CDF over thresholds 0..150
(Zhang et al. 2016); colorfulness CF = sigma_rgyb + 0.3 mu_rgyb with rg = |R - G|,
yb = |(R + G) / 2 - B| on 0..255 (Hasler & Suesstrunk 2003, absolute variant as in DDColor);
Delta CF = |CF_pred - CF_true| and the ratio CF_pred / CF_true, of slice means.
"""
import re

import tensorflow as tf

from colorization.models import lab

AUC_MAX_ERROR = 150.0


def _rgb(lightness: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
  return lab.lab_to_srgb(tf.concat([lightness, ab], -1))


def psnr(rgb_true: tf.Tensor, rgb_pred: tf.Tensor) -> tf.Tensor:
  """Per-image PSNR in dB for RGB in [0, 1], [B, H, W, 3] -> [B]."""
  mse = tf.reduce_mean(tf.square(rgb_true - rgb_pred), axis=[1, 2, 3])
  return 10.0 * tf.math.log(1.0 / tf.maximum(mse, 1e-10)) / tf.math.log(10.0)


def ab_auc(ab_true: tf.Tensor, ab_pred: tf.Tensor) -> tf.Tensor:
  """Per-image AuC (percent) of the per-pixel ab error CDF over thresholds 0..150, -> [B]."""
  error = tf.norm(ab_true - ab_pred, axis=-1)
  return 100.0 * tf.reduce_mean(tf.nn.relu(1.0 - error / AUC_MAX_ERROR), axis=[1, 2])


def colorfulness(rgb: tf.Tensor) -> tf.Tensor:
  """Per-image colorfulness CF of RGB in [0, 1], [B, H, W, 3] -> [B]."""
  r, g, b = tf.unstack(255.0 * rgb, axis=-1)
  rg, yb = tf.abs(r - g), tf.abs(0.5 * (r + g) - b)
  std = tf.sqrt(tf.math.reduce_variance(rg, [1, 2]) + tf.math.reduce_variance(yb, [1, 2]))
  mean = tf.sqrt(tf.reduce_mean(rg, [1, 2]) ** 2 + tf.reduce_mean(yb, [1, 2]) ** 2)
  return std + 0.3 * mean


def _snake_case(class_name: str) -> str:
  return re.sub(r'(?<!^)(?=[A-Z])', '_', class_name).lower()


class _ImageMean(tf.keras.metrics.Mean):
  """Mean over images of a per-image score of (L, true ab, scored ab); named like TFMA does."""
  gray = False

  def __init__(self, name: str | None = None, dtype=None, **kwargs):
    super().__init__(name=name or _snake_case(type(self).__name__), dtype=dtype, **kwargs)

  def update_state(self, y_true, y_pred, sample_weight=None):
    y_true, y_pred = tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)
    lightness, ab_pred = y_pred[..., :1], y_pred[..., 1:]
    if self.gray:
      ab_pred = tf.zeros_like(ab_pred)
    return super().update_state(self.score(lightness, y_true, ab_pred))


class Psnr(_ImageMean):

  def score(self, lightness, ab_true, ab_pred):
    return psnr(_rgb(lightness, ab_true), _rgb(lightness, ab_pred))


class Auc(_ImageMean):

  def score(self, lightness, ab_true, ab_pred):
    return ab_auc(ab_true, ab_pred)


class AbMae(_ImageMean):

  def score(self, lightness, ab_true, ab_pred):
    return tf.reduce_mean(tf.abs(ab_true - ab_pred), axis=[1, 2, 3])


class Colorfulness(_ImageMean):

  def score(self, lightness, ab_true, ab_pred):
    return colorfulness(_rgb(lightness, ab_pred))


class TrueColorfulness(_ImageMean):

  def score(self, lightness, ab_true, ab_pred):
    return colorfulness(_rgb(lightness, ab_true))


class DeltaColorfulness(tf.keras.metrics.Metric):
  """Delta CF = |mean CF(prediction) - mean CF(truth)| over the slice."""
  gray = False

  def __init__(self, name: str | None = None, dtype=None, **kwargs):
    super().__init__(name=name or _snake_case(type(self).__name__), dtype=dtype, **kwargs)
    self.predicted = Colorfulness(name='predicted')
    self.predicted.gray = self.gray
    self.true = TrueColorfulness(name='true')

  def update_state(self, y_true, y_pred, sample_weight=None):
    self.predicted.update_state(y_true, y_pred)
    self.true.update_state(y_true, y_pred)

  def result(self):
    return tf.abs(self.predicted.result() - self.true.result())

  def reset_state(self):
    self.predicted.reset_state()
    self.true.reset_state()


class ColorfulnessRatio(DeltaColorfulness):
  """mean CF(prediction) / mean CF(truth) over the slice: well below 1 means washed out."""

  def result(self):
    return self.predicted.result() / tf.maximum(self.true.result(), 1e-6)


class GrayPsnr(Psnr):
  gray = True


class GrayAuc(Auc):
  gray = True


class GrayAbMae(AbMae):
  gray = True


class GrayColorfulness(Colorfulness):
  gray = True


class GrayDeltaColorfulness(DeltaColorfulness):
  gray = True


ALL_METRICS = [Psnr, Auc, AbMae, Colorfulness, TrueColorfulness, DeltaColorfulness,
               ColorfulnessRatio, GrayPsnr, GrayAuc, GrayAbMae, GrayColorfulness,
               GrayDeltaColorfulness]
