"""Colorization metrics: per-image scores, and their means as vectorised tf-keras metrics for TFMA.

The Evaluator averages the per-image scores (IMAGE_SCORES) over 224x224 Lab from the transformed
examples; `colorization evaluate` applies the same functions to full-resolution photos.

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


def psnr_score(lightness: tf.Tensor, ab_true: tf.Tensor, ab_pred: tf.Tensor) -> tf.Tensor:
  """Per-image PSNR of the predicted sRGB against the true sRGB, both with the true L, -> [B]."""
  return psnr(_rgb(lightness, ab_true), _rgb(lightness, ab_pred))


def auc_score(lightness: tf.Tensor, ab_true: tf.Tensor, ab_pred: tf.Tensor) -> tf.Tensor:
  """Per-image AuC of the ab error (lightness unused: the per-image scores share one signature)."""
  return ab_auc(ab_true, ab_pred)


def ab_mae_score(lightness: tf.Tensor, ab_true: tf.Tensor, ab_pred: tf.Tensor) -> tf.Tensor:
  """Per-image mean absolute ab error, -> [B]."""
  return tf.reduce_mean(tf.abs(ab_true - ab_pred), axis=[1, 2, 3])


def colorfulness_score(lightness: tf.Tensor, ab_true: tf.Tensor, ab_pred: tf.Tensor) -> tf.Tensor:
  """Per-image colorfulness of the prediction, -> [B]."""
  return colorfulness(_rgb(lightness, ab_pred))


def true_colorfulness_score(lightness: tf.Tensor, ab_true: tf.Tensor,
                            ab_pred: tf.Tensor) -> tf.Tensor:
  """Per-image colorfulness of the truth, -> [B]."""
  return colorfulness(_rgb(lightness, ab_true))


# Per-image scores of (L [B, H, W, 1], true ab, predicted ab [B, H, W, 2]) at any H and W, by
# metric name: the Evaluator's metrics below average them over a slice, and
# colorization.evaluation scores full-resolution photos with the same functions.
IMAGE_SCORES = {'psnr': psnr_score, 'auc': auc_score, 'ab_mae': ab_mae_score,
                'colorfulness': colorfulness_score, 'true_colorfulness': true_colorfulness_score}


def delta_colorfulness(mean_predicted: tf.Tensor, mean_true: tf.Tensor) -> tf.Tensor:
  """Delta CF of a set of images from its mean colourfulness of prediction and of truth."""
  return tf.abs(mean_predicted - mean_true)


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
  score = staticmethod(psnr_score)


class Auc(_ImageMean):
  score = staticmethod(auc_score)


class AbMae(_ImageMean):
  score = staticmethod(ab_mae_score)


class Colorfulness(_ImageMean):
  score = staticmethod(colorfulness_score)


class TrueColorfulness(_ImageMean):
  score = staticmethod(true_colorfulness_score)


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
    return delta_colorfulness(self.predicted.result(), self.true.result())

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
