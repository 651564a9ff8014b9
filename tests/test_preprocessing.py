"""The compact transformed form: Lab quantized into a PNG and decoded by one function."""
import numpy as np
import tensorflow as tf

from colorization.models import ab_bins, features, lab, preprocessing

SIZE = features.IMAGE_SIZE


def photo_like_lab(count: int) -> tf.Tensor:
  """Lab of smooth random colour fields (every value in the sRGB gamut)."""
  rng = np.random.default_rng(7)
  coarse = rng.uniform(0.0, 1.0, (count, 8, 8, 3)).astype(np.float32)
  rgb = tf.image.resize(coarse, [SIZE, SIZE]) + rng.normal(0, 0.02, (count, SIZE, SIZE, 3))
  return lab.srgb_to_lab(tf.clip_by_value(rgb, 0.0, 1.0))


def test_lab_round_trips_through_the_png_within_half_a_quantization_step():
  image_lab = photo_like_lab(3)
  lab_png = preprocessing.encode_lab(image_lab)
  assert lab_png.shape == (3,) and lab_png.dtype == tf.string
  lightness, ab = preprocessing.decode_lab(lab_png)
  assert lightness.shape == (3, SIZE, SIZE, 1) and ab.shape == (3, SIZE, SIZE, 2)
  l_error = np.abs(lightness.numpy() - image_lab.numpy()[..., :1])
  ab_error = np.abs(ab.numpy() - image_lab.numpy()[..., 1:])
  assert l_error.max() <= 0.5 / 2.55 + 1e-4 and ab_error.max() <= 0.5 + 1e-4
  assert l_error.mean() > 0.01                       # it is quantized, not stored as floats


def test_png_is_a_fraction_of_the_float_tensors():
  lab_png = preprocessing.encode_lab(photo_like_lab(2)).numpy()
  float_bytes = SIZE * SIZE * 3 * 4
  assert max(len(png) for png in lab_png) < float_bytes / 4


def test_values_outside_the_byte_range_are_clipped_not_wrapped():
  extreme = tf.constant(np.tile([[[[100.0, 140.0, -140.0]]]], [1, SIZE, SIZE, 1]), tf.float32)
  lightness, ab = preprocessing.decode_lab(preprocessing.encode_lab(extreme))
  np.testing.assert_allclose(lightness.numpy(), 100.0)
  np.testing.assert_allclose(ab.numpy()[..., 0], 127.0)
  np.testing.assert_allclose(ab.numpy()[..., 1], -128.0)


def test_decoded_features_swap_the_png_for_l_and_ab_and_keep_the_rest():
  image_lab = photo_like_lab(2)
  transformed = {features.LAB_PNG_KEY: preprocessing.encode_lab(image_lab),
                 features.LABEL_KEY: tf.constant([[b'face'], [b'animal']])}
  decoded = preprocessing.decoded_features(transformed)
  assert set(decoded) == {features.L_KEY, features.AB_KEY, features.LABEL_KEY}
  np.testing.assert_allclose(decoded[features.AB_KEY].numpy(), image_lab.numpy()[..., 1:], atol=0.51)


def test_histogram_branch_counts_the_pooled_target_colours():
  rng = np.random.default_rng(3)
  coarse = rng.uniform(0.0, 1.0, (2, 6, 9, 3)).astype(np.float32)
  rgb = tf.cast(tf.image.resize(coarse, [300, 450]) * 255.0, tf.uint8)
  image_bytes = tf.stack([tf.io.encode_png(image) for image in rgb])
  cheap = preprocessing.histogram_ab(
      preprocessing.image_bytes_to_lab(image_bytes, features.PREDICTION_SIZE)).numpy()
  pooled_ab = preprocessing.pool_ab(lab.split_lab(preprocessing.image_bytes_to_lab(image_bytes))[1])
  full = ab_bins.grid_histogram(pooled_ab).numpy()
  assert cheap.shape == (2, ab_bins.GRID_BINS)
  np.testing.assert_array_equal(cheap.sum(1), features.PREDICTION_SIZE ** 2)
  total_variation = 0.5 * np.abs(cheap.sum(0) / cheap.sum() - full.sum(0) / full.sum()).sum()
  assert total_variation < 0.05
