"""sRGB <-> CIE L*a*b* (D65) in plain TensorFlow ops.

Formulas: IEC 61966-2-1 sRGB transfer curve and matrix, CIE 15:2004 L*a*b* with the
D65 white point (Xn, Yn, Zn) = (0.95047, 1.0, 1.08883), epsilon = (6/29)^3.
"""
import tensorflow as tf

_RGB_TO_XYZ = tf.constant([[0.4124564, 0.3575761, 0.1804375],
                           [0.2126729, 0.7151522, 0.0721750],
                           [0.0193339, 0.1191920, 0.9503041]], tf.float32)
_XYZ_TO_RGB = tf.linalg.inv(_RGB_TO_XYZ)
_WHITE_D65 = tf.constant([0.95047, 1.0, 1.08883], tf.float32)
_DELTA = 6.0 / 29.0
# Lab from f = (fx, fy, fz): L = 116 fy - 16, a = 500 (fx - fy), b = 200 (fy - fz), as one matrix.
_F_TO_LAB = tf.constant([[0.0, 500.0, 0.0], [116.0, -500.0, 200.0], [0.0, 0.0, -200.0]], tf.float32)
_LAB_OFFSET = tf.constant([-16.0, 0.0, 0.0], tf.float32)


def _power(x: tf.Tensor, exponent: float, floor: float) -> tf.Tensor:
  """max(x, floor) ** exponent as exp(exponent * log(.)): a third of tf.pow's time on CPU."""
  return tf.exp(exponent * tf.math.log(tf.maximum(x, floor)))


def srgb_to_lab(rgb: tf.Tensor) -> tf.Tensor:
  """sRGB in [0, 1], shape [..., 3] -> Lab (L in 0..100, a and b about -110..110)."""
  rgb = tf.clip_by_value(tf.cast(rgb, tf.float32), 0.0, 1.0)
  linear = tf.where(rgb <= 0.04045, rgb / 12.92, _power((rgb + 0.055) / 1.055, 2.4, 0.04))
  xyz = tf.tensordot(linear, tf.transpose(_RGB_TO_XYZ), axes=1) / _WHITE_D65
  f = tf.where(xyz > _DELTA ** 3, _power(xyz, 1.0 / 3.0, _DELTA ** 3),
               xyz / (3.0 * _DELTA ** 2) + 4.0 / 29.0)
  return tf.tensordot(f, _F_TO_LAB, axes=1) + _LAB_OFFSET


def _lab_to_linear_rgb(lab: tf.Tensor) -> tf.Tensor:
  """Lab [..., 3] -> linear RGB, unclipped (outside [0, 1] when out of the sRGB gamut)."""
  lightness, a, b = tf.unstack(tf.cast(lab, tf.float32), axis=-1)
  fy = (lightness + 16.0) / 116.0
  f = tf.stack([fy + a / 500.0, fy, fy - b / 200.0], axis=-1)
  xyz = tf.where(f > _DELTA, f ** 3, 3.0 * _DELTA ** 2 * (f - 4.0 / 29.0)) * _WHITE_D65
  return tf.tensordot(xyz, tf.transpose(_XYZ_TO_RGB), axes=1)


def fit_gamut(lab: tf.Tensor, steps: int = 8) -> tf.Tensor:
  """Lab [..., 3] -> the same L and hue with each pixel's chroma scaled down (bisection, to
  1 / 2^steps) until it lies in the sRGB gamut, so clipping no longer changes its lightness."""
  lightness, ab = split_lab(tf.cast(lab, tf.float32))

  def fits(scale):
    linear = _lab_to_linear_rgb(tf.concat([lightness, ab * scale], -1))
    return tf.reduce_all((linear >= -1e-4) & (linear <= 1.0 + 1e-4), -1, keepdims=True)

  low, high = tf.zeros_like(lightness), tf.ones_like(lightness)
  for _ in range(steps):
    middle = (low + high) / 2.0
    inside = fits(middle)
    low, high = tf.where(inside, middle, low), tf.where(inside, high, middle)
  scale = tf.where(fits(high), high, low)
  return tf.concat([lightness, ab * scale], -1)


def lab_to_srgb(lab: tf.Tensor) -> tf.Tensor:
  """Lab, shape [..., 3] -> sRGB in [0, 1] (out-of-gamut colours are clipped; see fit_gamut)."""
  linear = tf.clip_by_value(_lab_to_linear_rgb(lab), 0.0, 1.0)
  rgb = tf.where(linear <= 0.0031308, 12.92 * linear,
                 1.055 * _power(linear, 1.0 / 2.4, 0.0031308) - 0.055)
  return tf.clip_by_value(rgb, 0.0, 1.0)


def split_lab(lab: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """[..., 3] Lab -> (L [..., 1], ab [..., 2])."""
  return lab[..., :1], lab[..., 1:]
