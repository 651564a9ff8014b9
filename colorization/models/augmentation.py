"""Input-only augmentation: degrade the lightness the network sees, never the colours it predicts.

Photos from other cameras, archives and phones differ from the training photos in tone curve,
contrast, sensor noise, JPEG compression and sharpness; the target ab stays the photo's own. Each
degradation is applied to a random half of the images, with a random strength.
"""
import tensorflow as tf

GAMMA_RANGE = (0.7, 1.4)          # L' = 100 (L / 100)^gamma, log-uniform
CONTRAST_RANGE = (0.7, 1.3)       # L' = mean + c (L - mean)
NOISE_SIGMA_MAX = 3.0             # Gaussian noise, L units
JPEG_QUALITY_RANGE = (30, 95)
SCALE_RANGE = (0.35, 1.0)         # downscale then upscale back: lost detail
APPLY_PROBABILITY = 0.5


def _chosen(batch: tf.Tensor) -> tf.Tensor:
  """[B, 1, 1, 1] float mask: 1 for a random half of the images."""
  return tf.cast(tf.random.uniform([batch, 1, 1, 1]) < APPLY_PROBABILITY, tf.float32)


def _blend(original: tf.Tensor, degraded: tf.Tensor) -> tf.Tensor:
  mask = _chosen(tf.shape(original)[0])
  return mask * degraded + (1.0 - mask) * original


def _tone(lightness: tf.Tensor) -> tf.Tensor:
  batch = tf.shape(lightness)[0]
  log_low, log_high = tf.math.log(GAMMA_RANGE[0]), tf.math.log(GAMMA_RANGE[1])
  gamma = tf.exp(tf.random.uniform([batch, 1, 1, 1], log_low, log_high))
  x = _blend(lightness, 100.0 * tf.pow(tf.clip_by_value(lightness / 100.0, 1e-6, 1.0), gamma))
  contrast = tf.random.uniform([batch, 1, 1, 1], *CONTRAST_RANGE)
  mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
  return _blend(x, mean + contrast * (x - mean))


def _resample_and_compress(image: tf.Tensor) -> tf.Tensor:
  """One L image [H, W, 1] in 0..100: maybe downscaled and back, maybe JPEG re-encoded."""
  size = tf.shape(image)[:2]
  scale = tf.random.uniform([], *SCALE_RANGE)
  small = tf.maximum(1, tf.cast(tf.cast(size, tf.float32) * scale, tf.int32))
  resampled = tf.image.resize(tf.image.resize(image, small, antialias=True), size)
  image = tf.cond(tf.random.uniform([]) < APPLY_PROBABILITY, lambda: resampled, lambda: image)
  quality = tf.random.uniform([], *JPEG_QUALITY_RANGE, dtype=tf.int32)
  compressed = 100.0 * tf.image.adjust_jpeg_quality(
      tf.clip_by_value(image / 100.0, 0.0, 1.0), quality)
  return tf.cond(tf.random.uniform([]) < APPLY_PROBABILITY, lambda: compressed, lambda: image)


def degrade_lightness(lightness: tf.Tensor) -> tf.Tensor:
  """L [B, H, W, 1] (Lab units) -> the same photos as another camera or archive might show them:
  tone curve, contrast, resolution, JPEG compression and noise, each on a random half."""
  x = _tone(lightness)
  x = tf.map_fn(_resample_and_compress, x, fn_output_signature=tf.TensorSpec(
      lightness.shape[1:], tf.float32))
  sigma = tf.random.uniform([tf.shape(x)[0], 1, 1, 1], 0.0, NOISE_SIGMA_MAX)
  x = _blend(x, x + sigma * tf.random.normal(tf.shape(x)))
  return tf.clip_by_value(x, 0.0, 100.0)
