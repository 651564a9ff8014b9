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


def _srgb_to_linear(rgb: tf.Tensor) -> tf.Tensor:
  rgb = tf.clip_by_value(tf.cast(rgb, tf.float32), 0.0, 1.0)
  return tf.where(rgb <= 0.04045, rgb / 12.92, _power((rgb + 0.055) / 1.055, 2.4, 0.04))


_SRGB8_TO_LINEAR = _srgb_to_linear(tf.range(256, dtype=tf.float32) / 255.0)


def srgb_to_lab(rgb: tf.Tensor) -> tf.Tensor:
  """sRGB in [0, 1], shape [..., 3] -> Lab (L in 0..100, a and b about -110..110)."""
  linear = _srgb_to_linear(rgb)
  xyz = tf.tensordot(linear, tf.transpose(_RGB_TO_XYZ), axes=1) / _WHITE_D65
  f = tf.where(xyz > _DELTA ** 3, _power(xyz, 1.0 / 3.0, _DELTA ** 3),
               xyz / (3.0 * _DELTA ** 2) + 4.0 / 29.0)
  return tf.tensordot(f, _F_TO_LAB, axes=1) + _LAB_OFFSET


def srgb8_to_lightness(rgb: tf.Tensor) -> tf.Tensor:
  """uint8 sRGB [..., 3] -> L [..., 1]: srgb_to_lab's L without a and b, the transfer curve read
  from a 256-entry table (what a full-resolution image needs when only its lightness is kept)."""
  linear = tf.gather(_SRGB8_TO_LINEAR, tf.cast(rgb, tf.int32))
  y = tf.tensordot(linear, _RGB_TO_XYZ[1:2] / _WHITE_D65[1], axes=[[-1], [1]])
  fy = tf.where(y > _DELTA ** 3, _power(y, 1.0 / 3.0, _DELTA ** 3),
                y / (3.0 * _DELTA ** 2) + 4.0 / 29.0)
  return 116.0 * fy - 16.0


def _f_inverse(f: tf.Tensor) -> tf.Tensor:
  """CIE's f^-1: f^3 above DELTA, linear below (f * f * f: tf.pow is several times slower)."""
  return tf.where(f > _DELTA, f * f * f, 3.0 * _DELTA ** 2 * (f - 4.0 / 29.0))


def _lab_to_linear_rgb(lab: tf.Tensor) -> tf.Tensor:
  """Lab [..., 3] -> linear RGB, unclipped (outside [0, 1] when out of the sRGB gamut)."""
  lightness, a, b = tf.unstack(tf.cast(lab, tf.float32), axis=-1)
  fy = (lightness + 16.0) / 116.0
  f = tf.stack([fy + a / 500.0, fy, fy - b / 200.0], axis=-1)
  return tf.tensordot(_f_inverse(f) * _WHITE_D65, tf.transpose(_XYZ_TO_RGB), axes=1)


def fit_gamut(lab: tf.Tensor, steps: int = 8) -> tf.Tensor:
  """Lab [..., 3] -> the same L and hue with each pixel's chroma scaled down (bisection, to
  1 / 2^steps) until it lies in the sRGB gamut, so clipping no longer changes its lightness.

  Colours already inside are kept as they are, and only the others are bisected; L's share of the
  linear RGB is computed once, each step recomputes only a's and b's.
  """
  lightness, ab = split_lab(tf.cast(lab, tf.float32))
  fy = (lightness + 16.0) / 116.0
  y_rgb = _f_inverse(fy) * _WHITE_D65[1] * _XYZ_TO_RGB[:, 1]           # [..., 3]
  xz_to_rgb = tf.stack([_WHITE_D65[0] * _XYZ_TO_RGB[:, 0], _WHITE_D65[2] * _XYZ_TO_RGB[:, 2]])
  direction = ab * tf.constant([1.0 / 500.0, -1.0 / 200.0])            # d(fx, fz) / d(scale)

  def fits(fy, y_rgb, direction, scale):
    linear = y_rgb + tf.tensordot(_f_inverse(fy + scale * direction), xz_to_rgb, axes=1)
    return tf.reduce_all(tf.abs(linear - 0.5) <= 0.5 + 1e-4, -1, keepdims=True)

  outside = tf.where(~fits(fy, y_rgb, direction, 1.0)[..., 0])
  parts = [tf.gather_nd(t, outside) for t in (fy, y_rgb, direction)]
  low, high = tf.zeros_like(parts[0]), tf.ones_like(parts[0])
  for _ in range(steps):
    middle = (low + high) / 2.0
    inside = fits(*parts, middle)
    low, high = tf.where(inside, middle, low), tf.where(inside, high, middle)
  scale = tf.tensor_scatter_nd_update(tf.ones_like(lightness), outside,
                                      tf.where(fits(*parts, high), high, low))
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
