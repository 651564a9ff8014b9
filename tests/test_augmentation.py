"""models/augmentation.py: the input L is degraded, within range and shape; colours never touched."""
import numpy as np
import tensorflow as tf

from colorization.models import augmentation


def _lightness(batch: int = 8, size: int = 32) -> tf.Tensor:
  ramp = np.linspace(5.0, 95.0, size * size, dtype=np.float32).reshape(1, size, size, 1)
  return tf.constant(np.repeat(ramp, batch, axis=0))


def test_degraded_lightness_keeps_shape_and_range():
  tf.keras.utils.set_random_seed(0)
  lightness = _lightness()
  degraded = augmentation.degrade_lightness(lightness).numpy()
  assert degraded.shape == lightness.shape
  assert degraded.min() >= 0.0 and degraded.max() <= 100.0


def test_some_images_change_and_some_stay():
  tf.keras.utils.set_random_seed(1)
  lightness = _lightness(batch=32)
  degraded = augmentation.degrade_lightness(lightness).numpy()
  change = np.abs(degraded - lightness.numpy()).mean(axis=(1, 2, 3))
  assert (change > 0.5).sum() >= 16          # most images get at least one degradation
  assert change.max() > 2.0


def test_seeded_runs_repeat():
  lightness = _lightness()
  tf.keras.utils.set_random_seed(3)
  first = augmentation.degrade_lightness(lightness).numpy()
  tf.keras.utils.set_random_seed(3)
  np.testing.assert_array_equal(first, augmentation.degrade_lightness(lightness).numpy())
