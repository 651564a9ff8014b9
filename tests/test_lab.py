"""sRGB <-> CIE Lab (D65) against published reference values and the CIE formulas."""
import numpy as np
import pytest
import tensorflow as tf

from colorization.models import lab

# sRGB (0..1) -> Lab D65, as published by Bruce Lindbloom's CIE colour calculator / EasyRGB.
REFERENCE = [
    ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    ((1.0, 0.0, 0.0), (53.2408, 80.0925, 67.2032)),
    ((0.0, 1.0, 0.0), (87.7347, -86.1827, 83.1793)),
    ((0.0, 0.0, 1.0), (32.2970, 79.1875, -107.8602)),
    ((1.0, 1.0, 0.0), (97.1393, -21.5537, 94.4780)),
    ((0.0, 1.0, 1.0), (91.1132, -48.0875, -14.1312)),
    ((1.0, 0.0, 1.0), (60.3242, 98.2343, -60.8249)),
    ((0.5, 0.5, 0.5), (53.3889, 0.0, 0.0)),
]


def delta_e76(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
  return np.sqrt(((np.asarray(lab1, np.float64) - lab2) ** 2).sum(-1))


@pytest.mark.parametrize('rgb, expected', REFERENCE)
def test_srgb_to_lab_matches_published_values(rgb, expected):
  np.testing.assert_allclose(lab.srgb_to_lab(tf.constant(rgb)).numpy(), expected, atol=0.01)


@pytest.mark.parametrize('expected_rgb, lab_value', REFERENCE)
def test_lab_to_srgb_matches_published_values(expected_rgb, lab_value):
  np.testing.assert_allclose(lab.lab_to_srgb(tf.constant(lab_value)).numpy(), expected_rgb,
                             atol=2e-4)


def test_dark_grays_use_the_linear_segments():
  # Below 0.04045 sRGB is linear (v / 12.92); below Y = 216/24389 L* = (24389/27) Y (CIE 15:2004).
  values = np.array([0.0, 0.001, 0.01, 0.02, 0.04], np.float32)
  expected_l = 24389.0 / 27.0 * (values / 12.92)
  converted = lab.srgb_to_lab(tf.constant(np.repeat(values[:, None], 3, 1))).numpy()
  np.testing.assert_allclose(converted[:, 0], expected_l, atol=1e-3)
  np.testing.assert_allclose(converted[:, 1:], 0.0, atol=1e-3)
  back = lab.lab_to_srgb(tf.constant(converted)).numpy()
  np.testing.assert_allclose(back, np.repeat(values[:, None], 3, 1), atol=1e-5)


def test_round_trip_of_random_colours_is_within_half_a_delta_e():
  rgb = np.random.default_rng(0).uniform(0.0, 1.0, (5000, 3)).astype(np.float32)
  lab1 = lab.srgb_to_lab(tf.constant(rgb))
  lab2 = lab.srgb_to_lab(lab.lab_to_srgb(lab1))
  assert delta_e76(lab1.numpy(), lab2.numpy()).max() < 0.5


def test_gray_axis_has_no_chroma():
  gray = np.linspace(0.0, 1.0, 101, dtype=np.float32)
  converted = lab.srgb_to_lab(tf.constant(np.repeat(gray[:, None], 3, 1))).numpy()
  np.testing.assert_allclose(converted[:, 1:], 0.0, atol=0.01)
  assert np.all(np.diff(converted[:, 0]) > 0)


def test_lab_to_srgb_clips_out_of_gamut_colours():
  out_of_gamut = tf.constant([[50.0, 120.0, -120.0], [100.0, -100.0, 100.0], [0.0, 80.0, 80.0]])
  rgb = lab.lab_to_srgb(out_of_gamut).numpy()
  assert np.all(np.isfinite(rgb)) and rgb.min() >= 0.0 and rgb.max() <= 1.0


def test_fit_gamut_keeps_lightness_and_hue_of_out_of_gamut_colours():
  rng = np.random.default_rng(3)
  lab_values = np.stack([rng.uniform(1, 99, 500), rng.uniform(-110, 110, 500),
                         rng.uniform(-110, 110, 500)], -1).astype(np.float32)
  fitted = lab.fit_gamut(tf.constant(lab_values)).numpy()
  np.testing.assert_allclose(fitted[:, 0], lab_values[:, 0])
  scale = np.linalg.norm(fitted[:, 1:], axis=1) / np.linalg.norm(lab_values[:, 1:], axis=1)
  assert np.all(scale <= 1.0) and scale.min() < 0.5        # many random colours are outside
  np.testing.assert_allclose(fitted[:, 1:], lab_values[:, 1:] * scale[:, None], atol=1e-3)
  back = lab.srgb_to_lab(lab.lab_to_srgb(tf.constant(fitted))).numpy()
  assert np.abs(back[:, 0] - lab_values[:, 0]).max() < 0.5
  clipped = lab.srgb_to_lab(lab.lab_to_srgb(tf.constant(lab_values))).numpy()
  assert np.abs(clipped[:, 0] - lab_values[:, 0]).max() > 5   # what plain clipping does


def test_fit_gamut_leaves_colours_inside_the_gamut_alone():
  rgb = np.random.default_rng(4).uniform(0.0, 1.0, (300, 3)).astype(np.float32)
  inside = lab.srgb_to_lab(tf.constant(rgb))
  np.testing.assert_allclose(lab.fit_gamut(inside).numpy(), inside.numpy(), atol=1e-4)


def test_fit_gamut_scales_only_the_colours_outside():
  inside = [60.0, 10.0, -10.0]
  fitted = lab.fit_gamut(tf.constant([inside, [50.0, 120.0, -120.0], inside])).numpy()
  np.testing.assert_array_equal(fitted[[0, 2]], [inside, inside])
  assert 0.2 < np.linalg.norm(fitted[1, 1:]) / np.linalg.norm([120.0, -120.0]) < 0.9


def test_srgb8_to_lightness_is_the_l_of_srgb_to_lab():
  rgb = np.random.default_rng(5).integers(0, 256, (4, 50, 3), np.uint8)
  rgb[0, :3] = [[0, 0, 0], [255, 255, 255], [1, 2, 3]]
  expected = lab.srgb_to_lab(tf.constant(rgb / 255.0, tf.float32)).numpy()[..., :1]
  np.testing.assert_allclose(lab.srgb8_to_lightness(tf.constant(rgb)).numpy(), expected, atol=1e-3)


def test_batched_images_convert_pixel_by_pixel():
  rgb = np.random.default_rng(1).uniform(0.0, 1.0, (2, 4, 5, 3)).astype(np.float32)
  batched = lab.srgb_to_lab(tf.constant(rgb)).numpy()
  assert batched.shape == (2, 4, 5, 3)
  flat = lab.srgb_to_lab(tf.constant(rgb.reshape(-1, 3))).numpy()
  np.testing.assert_allclose(batched.reshape(-1, 3), flat, atol=1e-4)
  back = lab.lab_to_srgb(tf.constant(batched)).numpy()
  assert back.shape == (2, 4, 5, 3)
  np.testing.assert_allclose(back, rgb, atol=1e-3)


def test_split_lab_keeps_channel_axes():
  lightness, ab = lab.split_lab(tf.reshape(tf.range(2 * 3 * 3, dtype=tf.float32), [2, 3, 3]))
  assert lightness.shape == (2, 3, 1) and ab.shape == (2, 3, 2)
  np.testing.assert_array_equal(lightness.numpy()[..., 0], [[0, 3, 6], [9, 12, 15]])
  np.testing.assert_array_equal(ab.numpy()[0, 0], [1, 2])
