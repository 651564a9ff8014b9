"""Colorization metrics against numpy computations of their published definitions."""
import numpy as np
import pytest
import tensorflow as tf

from colorization.models import metrics

# XYZ -> linear sRGB (IEC 61966-2-1 as tabulated by Lindbloom) and the D65 white point.
XYZ_TO_LINEAR_RGB = np.array([[3.2404542, -1.5371385, -0.4985314],
                              [-0.9692660, 1.8760108, 0.0415560],
                              [0.0556434, -0.2040259, 1.0572252]])
WHITE = np.array([0.95047, 1.0, 1.08883])
EPSILON, KAPPA = 216.0 / 24389.0, 24389.0 / 27.0

EXPECTED_NAMES = ['psnr', 'auc', 'ab_mae', 'colorfulness', 'true_colorfulness',
                  'delta_colorfulness', 'colorfulness_ratio', 'gray_psnr', 'gray_auc',
                  'gray_ab_mae', 'gray_colorfulness', 'gray_delta_colorfulness']


def np_lab_to_srgb(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
  """CIE L*a*b* (D65) -> sRGB in [0, 1], [..., 3]; out-of-gamut values clipped."""
  lightness, a, b = lightness[..., 0], ab[..., 0], ab[..., 1]
  fy = (lightness + 16.0) / 116.0
  fx, fz = fy + a / 500.0, fy - b / 200.0
  x = np.where(fx ** 3 > EPSILON, fx ** 3, (116.0 * fx - 16.0) / KAPPA)
  y = np.where(lightness > KAPPA * EPSILON, fy ** 3, lightness / KAPPA)
  z = np.where(fz ** 3 > EPSILON, fz ** 3, (116.0 * fz - 16.0) / KAPPA)
  linear = np.clip(np.stack([x, y, z], -1) * WHITE @ XYZ_TO_LINEAR_RGB.T, 0.0, 1.0)
  return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def np_psnr(rgb_true: np.ndarray, rgb_pred: np.ndarray) -> np.ndarray:
  return np.array([10.0 * np.log10(1.0 / np.mean((t - p) ** 2))
                   for t, p in zip(rgb_true, rgb_pred)])


def np_auc(ab_true: np.ndarray, ab_pred: np.ndarray) -> np.ndarray:
  """Percent area under the CDF of per-pixel ab errors, integrated numerically over 0..150."""
  thresholds = np.linspace(0.0, 150.0, 30001)
  areas = []
  for t, p in zip(ab_true, ab_pred):
    errors = np.sqrt(((t - p) ** 2).sum(-1)).ravel()
    cdf = (errors[None, :] <= thresholds[:, None]).mean(1)
    areas.append(100.0 * np.trapz(cdf, thresholds) / 150.0)
  return np.array(areas)


def np_colorfulness(rgb: np.ndarray) -> np.ndarray:
  """Hasler & Suesstrunk CF with absolute differences, as in DDColor's evaluation code."""
  values = []
  for image in 255.0 * rgb:
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    rg, yb = np.abs(r - g), np.abs(0.5 * (r + g) - b)
    values.append(np.sqrt(rg.std() ** 2 + yb.std() ** 2)
                  + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))
  return np.array(values)


@pytest.fixture(scope='module')
def batch():
  """Two 6x5 images: L in 25..85, true and predicted ab in -60..60 (some pixels out of gamut)."""
  rng = np.random.default_rng(0)
  lightness = rng.uniform(25.0, 85.0, (2, 6, 5, 1))
  ab_true = rng.uniform(-60.0, 60.0, (2, 6, 5, 2))
  ab_pred = rng.uniform(-60.0, 60.0, (2, 6, 5, 2))
  ab_pred[0, 0, 0] = [-100.0, 100.0]        # an ab error beyond AuC's 150 limit
  ab_pred[1, 0, 0] = ab_true[1, 0, 0]       # and an exact one
  return lightness, ab_true, ab_pred


def result(metric_class, lightness, ab_true, ab_pred) -> float:
  metric = metric_class()
  metric.update_state(tf.constant(ab_true, tf.float32),
                      tf.constant(np.concatenate([lightness, ab_pred], -1), tf.float32))
  return float(metric.result())


def expected_scores(lightness, ab_true, ab_pred) -> dict[str, float]:
  rgb_true, rgb_pred = np_lab_to_srgb(lightness, ab_true), np_lab_to_srgb(lightness, ab_pred)
  cf_pred, cf_true = np_colorfulness(rgb_pred).mean(), np_colorfulness(rgb_true).mean()
  return {'psnr': np_psnr(rgb_true, rgb_pred).mean(), 'auc': np_auc(ab_true, ab_pred).mean(),
          'ab_mae': np.abs(ab_true - ab_pred).mean(), 'colorfulness': cf_pred,
          'true_colorfulness': cf_true, 'delta_colorfulness': abs(cf_pred - cf_true),
          'colorfulness_ratio': cf_pred / cf_true}


TOLERANCE = {'psnr': 1e-3, 'auc': 2e-3, 'ab_mae': 1e-4, 'colorfulness': 1e-3,
             'true_colorfulness': 1e-3, 'delta_colorfulness': 1e-3,
             'colorfulness_ratio': 1e-4}
CLASSES = {'psnr': metrics.Psnr, 'auc': metrics.Auc, 'ab_mae': metrics.AbMae,
           'colorfulness': metrics.Colorfulness, 'true_colorfulness': metrics.TrueColorfulness,
           'delta_colorfulness': metrics.DeltaColorfulness,
           'colorfulness_ratio': metrics.ColorfulnessRatio}
GRAY_TWINS = {'psnr': metrics.GrayPsnr, 'auc': metrics.GrayAuc, 'ab_mae': metrics.GrayAbMae,
              'colorfulness': metrics.GrayColorfulness,
              'delta_colorfulness': metrics.GrayDeltaColorfulness}


@pytest.mark.parametrize('name', CLASSES)
def test_metric_matches_numpy(batch, name):
  expected = expected_scores(*batch)[name]
  assert result(CLASSES[name], *batch) == pytest.approx(expected, abs=TOLERANCE[name])


@pytest.mark.parametrize('name', GRAY_TWINS)
def test_gray_metric_scores_a_equal_b_equal_zero(batch, name):
  lightness, ab_true, _ = batch
  expected = expected_scores(lightness, ab_true, np.zeros_like(ab_true))[name]
  assert result(GRAY_TWINS[name], *batch) == pytest.approx(expected, abs=TOLERANCE[name])


def test_perfect_prediction(batch):
  lightness, ab_true, _ = batch
  assert result(metrics.Auc, lightness, ab_true, ab_true) == pytest.approx(100.0)
  assert result(metrics.AbMae, lightness, ab_true, ab_true) == 0.0
  assert result(metrics.DeltaColorfulness, lightness, ab_true, ab_true) == pytest.approx(0.0)
  assert result(metrics.ColorfulnessRatio, lightness, ab_true, ab_true) == pytest.approx(1.0)
  assert result(metrics.Psnr, lightness, ab_true, ab_true) > 90.0


def test_metrics_average_over_images_across_batches(batch):
  lightness, ab_true, ab_pred = batch
  metric = metrics.Psnr()
  for i in range(2):
    metric.update_state(tf.constant(ab_true[i:i + 1], tf.float32),
                        tf.constant(np.concatenate([lightness, ab_pred], -1)[i:i + 1], tf.float32))
  assert float(metric.result()) == pytest.approx(expected_scores(*batch)['psnr'], abs=0.01)


@pytest.mark.parametrize('metric_class', metrics.ALL_METRICS)
def test_summed_weights_merge_like_tfma(batch, metric_class):
  # TFMA's combiner runs each batch from reset, sums get_weights() and calls set_weights().
  lightness, ab_true, ab_pred = batch
  metric, weights = metric_class(), []
  for i in range(2):
    metric.reset_states()
    metric.update_state(tf.constant(ab_true[i:i + 1], tf.float32),
                        tf.constant(np.concatenate([lightness, ab_pred], -1)[i:i + 1], tf.float32))
    weights.append(metric.get_weights())
  metric.set_weights([a + b for a, b in zip(*weights)])
  assert float(metric.result()) == pytest.approx(result(metric_class, *batch), rel=1e-5)


def test_names_are_the_snake_case_class_names():
  assert [m().name for m in metrics.ALL_METRICS] == EXPECTED_NAMES


def test_metrics_rebuild_from_their_config():
  # TFMA re-creates each metric from {'class_name', 'config'} in its workers.
  for metric_class in metrics.ALL_METRICS:
    rebuilt = tf.keras.metrics.deserialize(
        tf.keras.metrics.serialize(metric_class()),
        custom_objects={metric_class.__name__: metric_class})
    assert type(rebuilt) is metric_class and rebuilt.name == metric_class().name
