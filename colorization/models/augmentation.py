"""Input-only augmentation: degrade the lightness the network sees, never the colours it predicts.

Photos from other cameras, archives and phones differ from the training photos in tone curve,
contrast, sensor noise, JPEG compression and sharpness; the target ab stays the photo's own. Each
degradation is applied to a random share of the images (`share`, TrainingConfig's
lightness_augmentation), with a random strength.
"""
import tensorflow as tf

GAMMA_RANGE = (0.7, 1.4)          # L' = 100 (L / 100)^gamma, log-uniform
CONTRAST_RANGE = (0.7, 1.3)       # L' = mean + c (L - mean)
NOISE_SIGMA_MAX = 3.0             # Gaussian noise, L units
JPEG_QUALITY_RANGE = (30, 95)
SCALE_RANGE = (0.35, 1.0)         # downscale then upscale back: lost detail


def _blend(original: tf.Tensor, degraded: tf.Tensor, share: float) -> tf.Tensor:
  """Degraded for a random `share` of the images of the batch, original for the rest."""
  chosen = tf.random.uniform([tf.shape(original)[0], 1, 1, 1]) < share
  mask = tf.cast(chosen, tf.float32)
  return mask * degraded + (1.0 - mask) * original


def _tone(lightness: tf.Tensor, share: float) -> tf.Tensor:
  batch = tf.shape(lightness)[0]
  log_low, log_high = tf.math.log(GAMMA_RANGE[0]), tf.math.log(GAMMA_RANGE[1])
  gamma = tf.exp(tf.random.uniform([batch, 1, 1, 1], log_low, log_high))
  x = _blend(lightness, 100.0 * tf.pow(tf.clip_by_value(lightness / 100.0, 1e-6, 1.0), gamma),
             share)
  contrast = tf.random.uniform([batch, 1, 1, 1], *CONTRAST_RANGE)
  mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
  return _blend(x, mean + contrast * (x - mean), share)


def _resample_and_compress(image: tf.Tensor, share: float) -> tf.Tensor:
  """One L image [H, W, 1] in 0..100: maybe downscaled and back, maybe JPEG re-encoded."""
  size = tf.shape(image)[:2]
  scale = tf.random.uniform([], *SCALE_RANGE)
  small = tf.maximum(1, tf.cast(tf.cast(size, tf.float32) * scale, tf.int32))
  resampled = tf.image.resize(tf.image.resize(image, small, antialias=True), size)
  image = tf.cond(tf.random.uniform([]) < share, lambda: resampled, lambda: image)
  quality = tf.random.uniform([], *JPEG_QUALITY_RANGE, dtype=tf.int32)
  compressed = 100.0 * tf.image.adjust_jpeg_quality(
      tf.clip_by_value(image / 100.0, 0.0, 1.0), quality)
  return tf.cond(tf.random.uniform([]) < share, lambda: compressed, lambda: image)


def degrade_lightness(lightness: tf.Tensor, share: float) -> tf.Tensor:
  """L [B, H, W, 1] (Lab units) -> the same photos as another camera or archive might show them:
  tone curve, contrast, resolution, JPEG compression and noise, each on a random `share` of them."""
  if not 0.0 <= share <= 1.0:
    raise ValueError(f'lightness_augmentation must be a share between 0 and 1, not {share}')
  x = _tone(lightness, share)
  x = tf.map_fn(lambda image: _resample_and_compress(image, share), x,
                fn_output_signature=tf.TensorSpec(lightness.shape[1:], tf.float32))
  sigma = tf.random.uniform([tf.shape(x)[0], 1, 1, 1], 0.0, NOISE_SIGMA_MAX)
  x = _blend(x, x + sigma * tf.random.normal(tf.shape(x)), share)
  return tf.clip_by_value(x, 0.0, 100.0)
