"""The ab grid, soft-encoding, rebalancing, annealed mean and loss, checked against numpy."""
import numpy as np
import pytest
import tensorflow as tf

from colorization.models import ab_bins

AXIS = np.arange(-110.0, 110.1, 10.0)
CENTERS = np.array([(a, b) for a in AXIS for b in AXIS])     # a-major: index = 23 * ia + ib
IN_DISC = np.flatnonzero(np.hypot(CENTERS[:, 0], CENTERS[:, 1]) <= 60.0)


def disc_histogram(rng: np.random.Generator) -> np.ndarray:
  """Counts on the bins within 60 of the origin (the 'in-gamut' set of these tests), 0 elsewhere."""
  histogram = np.zeros(len(CENTERS))
  histogram[IN_DISC] = rng.integers(1, 1000, len(IN_DISC))
  return histogram


def numpy_soft_encoding(ab: np.ndarray, centers: np.ndarray) -> np.ndarray:
  """Dense [N, Q] encoding: Gaussian(sigma=5) weights on the 5 nearest centres, summing to 1."""
  distance2 = ((ab[:, None, :] - centers[None]) ** 2).sum(-1)
  nearest = np.argsort(distance2, axis=1)[:, :5]
  gauss = np.exp(-np.take_along_axis(distance2, nearest, 1) / (2 * 5.0 ** 2))
  dense = np.zeros_like(distance2)
  np.put_along_axis(dense, nearest, gauss / gauss.sum(1, keepdims=True), 1)
  return dense


def dense_encoding(bins: ab_bins.AbBins, ab: tf.Tensor) -> tf.Tensor:
  nearest, weights = bins.soft_encode(ab)
  return tf.reduce_sum(tf.one_hot(nearest, bins.size) * weights[..., None], axis=-2)


@pytest.fixture(scope='module')
def bins() -> ab_bins.AbBins:
  """Zhang et al.'s recipe: rebalanced (lambda 0.5), annealed mean at T = 0.38, no logit
  adjustment (the pure annealed mean the tests below check)."""
  return ab_bins.AbBins(disc_histogram(np.random.default_rng(0)), temperature=0.38,
                        rebalance_mix=ab_bins.REBALANCE_LAMBDA, logit_adjustment=0.0)


def test_defaults_are_zhangs_recipe():
  defaults = ab_bins.AbBins(disc_histogram(np.random.default_rng(0)))
  assert ab_bins.REBALANCE_LAMBDA == 0.5
  assert defaults.temperature == 0.38
  assert defaults.weights.std() > 0                                  # rebalanced


def test_grid_layout():
  assert ab_bins.GRID_BINS == 529
  np.testing.assert_array_equal(ab_bins.GRID_CENTERS, CENTERS)


def test_grid_bin_index_is_the_nearest_centre():
  ab = np.random.default_rng(1).uniform(-130.0, 130.0, (2000, 2))
  expected = ((ab[:, None, :] - CENTERS[None]) ** 2).sum(-1).argmin(1)
  np.testing.assert_array_equal(ab_bins.grid_bin_index(tf.constant(ab, tf.float32)), expected)


def test_grid_histogram_matches_numpy():
  ab = np.random.default_rng(2).uniform(-125.0, 125.0, (3, 6, 7, 2)).astype(np.float32)
  edges = np.arange(-115.0, 115.1, 10.0)
  clipped = np.clip(ab, -110.0, 110.0)
  expected = [np.histogram2d(image[..., 0].ravel(), image[..., 1].ravel(), [edges, edges])[0]
              .ravel() for image in clipped]
  histogram = ab_bins.grid_histogram(tf.constant(ab)).numpy()
  assert histogram.shape == (3, 529)
  np.testing.assert_array_equal(histogram, expected)


def test_in_gamut_bins_are_the_counted_ones(bins):
  np.testing.assert_array_equal(bins.in_gamut, IN_DISC)
  np.testing.assert_array_equal(bins.centers, CENTERS[IN_DISC])
  assert bins.size == len(IN_DISC)


def test_soft_encoding_is_gaussian_over_the_five_nearest_bins(bins):
  ab = np.random.default_rng(3).uniform(-45.0, 45.0, (500, 2))
  nearest, weights = bins.soft_encode(tf.constant(ab, tf.float32))
  assert nearest.shape == (500, 5) and weights.shape == (500, 5)
  np.testing.assert_allclose(tf.reduce_sum(weights, -1), 1.0, atol=1e-5)
  dense = np.zeros((500, bins.size))
  np.put_along_axis(dense, nearest.numpy(), weights.numpy(), 1)
  np.testing.assert_allclose(dense, numpy_soft_encoding(ab, CENTERS[IN_DISC]), atol=1e-5)
  closest = ((ab[:, None, :] - CENTERS[IN_DISC][None]) ** 2).sum(-1).argmin(1)
  np.testing.assert_array_equal(nearest[:, 0], closest)


def test_soft_encoding_uses_only_in_gamut_bins(bins):
  outside = tf.constant([[100.0, 100.0], [-110.0, 0.0]])    # far outside the disc
  nearest, _ = bins.soft_encode(outside)
  in_gamut_centres = CENTERS[IN_DISC][nearest.numpy()]
  assert np.all(np.hypot(in_gamut_centres[..., 0], in_gamut_centres[..., 1]) <= 60.0)


def test_annealed_mean_at_low_temperature_decodes_bin_centres(bins):
  rng = np.random.default_rng(4)
  centres = CENTERS[rng.choice(IN_DISC, (2, 4, 4))]
  logits = tf.math.log(dense_encoding(bins, tf.constant(centres, tf.float32)))
  decoded = bins.annealed_mean(logits, temperature=1e-3)
  assert decoded.shape == (2, 4, 4, 2)
  np.testing.assert_allclose(decoded, centres, atol=1e-3)


def test_off_centre_values_decode_to_the_nearest_centre(bins):
  rng = np.random.default_rng(5)
  centres = CENTERS[rng.choice(IN_DISC, (3, 5, 5))]
  ab = centres + rng.uniform(-4.9, 4.9, centres.shape)
  logits = tf.math.log(dense_encoding(bins, tf.constant(ab, tf.float32)))
  np.testing.assert_allclose(bins.annealed_mean(logits, temperature=1e-3), centres, atol=1e-3)


def test_annealed_mean_at_temperature_one_is_the_expected_colour(bins):
  ab = np.random.default_rng(6).uniform(-45.0, 45.0, (50, 2))
  logits = tf.math.log(dense_encoding(bins, tf.constant(ab, tf.float32)))
  expected = numpy_soft_encoding(ab, CENTERS[IN_DISC]) @ CENTERS[IN_DISC]
  np.testing.assert_allclose(bins.annealed_mean(logits, temperature=1.0), expected, atol=1e-3)


def test_annealed_mean_uses_the_bins_temperature(bins):
  assert bins.temperature == 0.38
  logits = np.random.default_rng(7).normal(0.0, 2.0, (10, bins.size))
  scaled = np.exp(logits / 0.38 - (logits / 0.38).max(1, keepdims=True))
  expected = (scaled / scaled.sum(1, keepdims=True)) @ CENTERS[IN_DISC]
  np.testing.assert_allclose(bins.annealed_mean(tf.constant(logits, tf.float32)), expected,
                             atol=1e-3)


def test_rebalance_weights_have_unit_expectation():
  histogram = disc_histogram(np.random.default_rng(8))
  weights = ab_bins.rebalance_weights(histogram)
  p = histogram[IN_DISC] / histogram.sum()
  assert weights.shape == (len(IN_DISC),)
  assert np.sum(p * weights) == pytest.approx(1.0, abs=1e-5)


def test_rebalance_weights_favour_rare_bins():
  histogram = np.zeros(len(CENTERS))
  histogram[IN_DISC] = 1.0
  peak = int(np.flatnonzero((CENTERS == (0.0, 0.0)).all(1))[0])
  histogram[peak] = 1000.0
  weights = ab_bins.rebalance_weights(histogram)
  position = {int(index): i for i, index in enumerate(IN_DISC)}
  along_a = [weights[position[peak + 23 * step]] for step in (0, 1, 2, 4)]   # a = 0, 10, 20, 40
  assert weights.argmin() == position[peak]
  assert along_a == sorted(along_a) and len(set(along_a)) == 4


def test_uniform_histogram_needs_no_rebalancing():
  histogram = np.zeros(len(CENTERS))
  histogram[IN_DISC] = 7.0
  np.testing.assert_allclose(ab_bins.rebalance_weights(histogram), 1.0, rtol=1e-5)


def test_rebalance_mix_limits():
  # w ∝ 1 / ((1 - λ) p~ + λ / Q): λ = 1 gives uniform weights; λ = 0 without smoothing 1 / (Q p).
  histogram = disc_histogram(np.random.default_rng(9))
  p = histogram[IN_DISC] / histogram.sum()
  np.testing.assert_allclose(ab_bins.rebalance_weights(histogram, mix=1.0), 1.0, rtol=1e-5)
  np.testing.assert_allclose(ab_bins.rebalance_weights(histogram, sigma=1e-3, mix=0.0),
                             1.0 / (len(IN_DISC) * p), rtol=1e-4)


def test_loss_is_the_rebalanced_cross_entropy(bins):
  rng = np.random.default_rng(10)
  ab = rng.uniform(-45.0, 45.0, (2, 3, 3, 2))
  logits = rng.normal(0.0, 1.0, (2, 3, 3, bins.size))
  target = numpy_soft_encoding(ab.reshape(-1, 2), CENTERS[IN_DISC])
  log_probs = logits.reshape(-1, bins.size) - np.log(np.exp(logits.reshape(-1, bins.size))
                                                     .sum(1, keepdims=True))
  weight = bins.weights[target.argmax(1)]
  expected = (-(target * log_probs).sum(1) * weight).reshape(2, 3, 3)
  loss = bins.loss(tf.constant(ab, tf.float32), tf.constant(logits, tf.float32))
  np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_loss_is_lower_for_a_correct_prediction(bins):
  centres = CENTERS[np.random.default_rng(11).choice(IN_DISC, (1, 4, 4))]
  distance2 = ((centres[..., None, :] - CENTERS[IN_DISC]) ** 2).sum(-1)
  correct = 5.0 * tf.one_hot(distance2.argmin(-1), bins.size)
  wrong = 5.0 * tf.one_hot(distance2.argmax(-1), bins.size)
  ab = tf.constant(centres, tf.float32)
  correct_loss, wrong_loss = bins.loss(ab, correct), bins.loss(ab, wrong)
  assert correct_loss.shape == (1, 4, 4)
  assert np.all(correct_loss.numpy() < wrong_loss.numpy())


def test_empty_histogram_is_rejected():
  with pytest.raises(ValueError, match='empty'):
    ab_bins.AbBins(np.zeros(529))


def test_rebalanced_prior_beats_other_constant_predictions():
  """On pixels drawn from a peaked (natural-looking) histogram, the rebalanced loss is lower at
  log(prior) than at log(p) or uniform logits; the prior favours rare bins more than p does."""
  rng = np.random.default_rng(7)
  radius2 = (CENTERS ** 2).sum(-1)
  bins = ab_bins.AbBins(np.where(radius2 <= 60.0 ** 2, 1e6 * np.exp(-radius2 / (2 * 15.0 ** 2)), 0),
                        rebalance_mix=ab_bins.REBALANCE_LAMBDA)
  probabilities = bins.probabilities / bins.probabilities.sum()
  ab = bins.centers[rng.choice(bins.size, 4000, p=probabilities)] + rng.normal(0, 2, (4000, 2))
  ab = tf.constant(ab.reshape(1, 40, 100, 2), tf.float32)

  def mean_loss(distribution):
    logits = tf.broadcast_to(tf.constant(np.log(distribution), tf.float32), [1, 40, 100, bins.size])
    return float(tf.reduce_mean(bins.loss(ab, logits)))

  prior = bins.rebalanced_prior
  np.testing.assert_allclose(prior.sum(), 1.0, rtol=1e-5)
  assert mean_loss(prior) < mean_loss(probabilities)
  assert mean_loss(prior) < mean_loss(np.full(bins.size, 1.0 / bins.size))
  rare, common = probabilities.argmin(), probabilities.argmax()
  assert prior[rare] / prior[common] > probabilities[rare] / probabilities[common]


def test_rebalance_mix_one_turns_rebalancing_off(bins):
  histogram = np.zeros(ab_bins.GRID_BINS)
  histogram[bins.in_gamut] = bins.probabilities
  plain = ab_bins.AbBins(histogram, rebalance_mix=1.0)
  np.testing.assert_allclose(plain.weights, 1.0, rtol=1e-5)
  np.testing.assert_allclose(plain.rebalanced_prior, plain.probabilities, rtol=1e-5)
  assert bins.weights[np.argmin(bins.probabilities)] > bins.weights[np.argmax(bins.probabilities)]


def test_confidence_is_zero_for_a_flat_guess_and_one_for_a_sure_one(bins):
  flat = tf.zeros([1, bins.size])
  sure = tf.constant(np.where(np.arange(bins.size) == 3, 50.0, -50.0)[None], tf.float32)
  np.testing.assert_allclose(bins.confidence(flat).numpy(), [0.0], atol=1e-5)
  np.testing.assert_allclose(bins.confidence(sure).numpy(), [1.0], atol=1e-4)


def test_confidence_power_pulls_flat_predictions_to_gray(bins):
  rng = np.random.default_rng(4)
  logits = tf.constant(rng.normal(0.0, 0.3, (6, bins.size)), tf.float32)
  plain = bins.annealed_mean(logits).numpy()
  faded = bins.annealed_mean(logits, confidence_power=1.0).numpy()
  scale = bins.confidence(logits).numpy()
  np.testing.assert_allclose(faded, plain * scale[:, None], rtol=1e-4, atol=1e-4)
  assert np.linalg.norm(faded) < 0.5 * np.linalg.norm(plain)


def test_full_logit_adjustment_undoes_the_rebalancing(bins):
  logits = tf.constant(np.random.default_rng(5).normal(0.0, 1.0, (4, bins.size)), tf.float32)
  adjusted = bins.annealed_mean(logits, temperature=1.0, logit_adjustment=1.0).numpy()
  p = tf.nn.softmax(logits - np.log(bins.weights)).numpy()
  np.testing.assert_allclose(adjusted, p @ bins.centers, rtol=1e-4, atol=1e-3)
  assert not np.allclose(adjusted, bins.annealed_mean(logits, temperature=1.0).numpy(), atol=0.1)
