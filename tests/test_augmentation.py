"""models/augmentation.py: the input L is degraded, within range and shape; colours never touched."""
import numpy as np
import pytest
import tensorflow as tf

from colorization.models import augmentation


def _lightness(batch: int = 8, size: int = 32) -> tf.Tensor:
  ramp = np.linspace(5.0, 95.0, size * size, dtype=np.float32).reshape(1, size, size, 1)
  return tf.constant(np.repeat(ramp, batch, axis=0))


def test_degraded_lightness_keeps_shape_and_range():
  tf.keras.utils.set_random_seed(0)
  lightness = _lightness()
  degraded = augmentation.degrade_lightness(lightness, 0.5).numpy()
  assert degraded.shape == lightness.shape
  assert degraded.min() >= 0.0 and degraded.max() <= 100.0


def test_some_images_change_and_some_stay():
  tf.keras.utils.set_random_seed(1)
  lightness = _lightness(batch=32)
  degraded = augmentation.degrade_lightness(lightness, 0.5).numpy()
  change = np.abs(degraded - lightness.numpy()).mean(axis=(1, 2, 3))
  assert (change > 0.5).sum() >= 16          # most images get at least one degradation
  assert change.max() > 2.0


def test_seeded_runs_repeat():
  lightness = _lightness()
  tf.keras.utils.set_random_seed(3)
  first = augmentation.degrade_lightness(lightness, 0.5).numpy()
  tf.keras.utils.set_random_seed(3)
  np.testing.assert_array_equal(first, augmentation.degrade_lightness(lightness, 0.5).numpy())


def _changed_share(share: float, batch: int = 64) -> float:
  """The share of images the tone degradations changed (the others stay exactly)."""
  tf.keras.utils.set_random_seed(4)
  lightness = _lightness(batch=batch)
  degraded = augmentation.degrade_lightness(lightness, share).numpy()
  return float((np.abs(degraded - lightness.numpy()).max(axis=(1, 2, 3)) > 1e-3).mean())


def test_the_share_sets_how_many_images_are_degraded():
  assert _changed_share(0.0) == 0.0
  assert _changed_share(1.0) == 1.0
  assert _changed_share(0.1) < _changed_share(0.5)


def test_a_share_outside_0_1_is_refused():
  with pytest.raises(ValueError, match='lightness_augmentation'):
    augmentation.degrade_lightness(_lightness(), 1.5)
