"""The quantized ab colour space: bin grid, soft-encoding, rebalancing, annealed mean.

After Zhang, Isola & Efros, "Colorful Image Colorization" (ECCV 2016), eq. 2-5:
  soft-encode Z = Gaussian(sigma=5) over the 5 nearest bins; loss = -sum_hw v(Z_hw) sum_q Z log Z^;
  v = w[argmax Z], w ∝ ((1 - lambda) * smooth(p) + lambda / Q)^-1 with E_p[w] = 1;
  annealed mean H(Z) = E[f_T(Z)], f_T(z) = exp(log z / T) / sum_q exp(log z_q / T).
Two decode-time levers, both off by default: logit adjustment (Menon et al. 2021) undoes a share
alpha of the rebalancing (logits - alpha log w), and a confidence fallback scales ab towards gray
by (1 - H(p) / log Q)^gamma where the predicted distribution p is flat (plain backgrounds).
"""
import numpy as np
import tensorflow as tf

# The knobs' defaults live with the knobs (hparams.py imports nothing heavy: the CLI's --help reads it).
from colorization.models.hparams import (DEFAULT_CONFIDENCE_POWER, DEFAULT_LOGIT_ADJUSTMENT,
                                         DEFAULT_TEMPERATURE, REBALANCE_LAMBDA)

GRID_STEP = 10.0                                     # ab units between bin centres
GRID_LIMIT = 110.0                                   # centres span [-110, 110] on a and b
GRID_SIDE = int(2 * GRID_LIMIT / GRID_STEP) + 1      # 23 centres per axis
GRID_BINS = GRID_SIDE * GRID_SIDE                    # 529 cells, of which ~300 are in gamut
NEIGHBOURS = 5
SIGMA = 5.0

_axis = np.arange(GRID_SIDE, dtype=np.float32) * GRID_STEP - GRID_LIMIT
GRID_CENTERS = np.stack(np.meshgrid(_axis, _axis, indexing='ij'), -1).reshape(-1, 2)


def grid_bin_index(ab: tf.Tensor) -> tf.Tensor:
  """Index (0..GRID_BINS-1) of the grid cell nearest to each ab pair, shape [...]."""
  cell = tf.cast(tf.round((tf.clip_by_value(ab, -GRID_LIMIT, GRID_LIMIT) + GRID_LIMIT)
                          / GRID_STEP), tf.int32)
  return cell[..., 0] * GRID_SIDE + cell[..., 1]


def grid_histogram(ab: tf.Tensor) -> tf.Tensor:
  """Counts of ab pairs per grid cell for a batch [B, H, W, 2] -> [B, GRID_BINS] float32."""
  cells = tf.reshape(grid_bin_index(ab), [tf.shape(ab)[0], -1])
  return tf.math.bincount(cells, minlength=GRID_BINS, maxlength=GRID_BINS,
                          axis=-1, dtype=tf.float32)


def rebalance_weights(probabilities: np.ndarray, sigma: float = SIGMA,
                      mix: float = REBALANCE_LAMBDA) -> np.ndarray:
  """Per-bin weights favouring rare colours; E_p[w] = 1 under the input distribution."""
  p = np.asarray(probabilities, np.float64)
  p = p / p.sum()
  distance2 = ((GRID_CENTERS[:, None, :] - GRID_CENTERS[None, :, :]) ** 2).sum(-1)
  in_gamut = np.flatnonzero(p > 0)
  kernel = np.exp(-distance2[np.ix_(in_gamut, in_gamut)] / (2 * sigma ** 2))
  smoothed = kernel @ p[in_gamut] / kernel.sum(axis=1)
  smoothed /= smoothed.sum()
  weights = 1.0 / ((1 - mix) * smoothed + mix / len(in_gamut))
  return (weights / (p[in_gamut] * weights).sum()).astype(np.float32)


class AbBins:
  """The in-gamut bins of a training-set ab histogram, and everything computed over them."""

  def __init__(self, histogram: np.ndarray, temperature: float = DEFAULT_TEMPERATURE,
               rebalance_mix: float = REBALANCE_LAMBDA,
               logit_adjustment: float = DEFAULT_LOGIT_ADJUSTMENT,
               confidence_power: float = DEFAULT_CONFIDENCE_POWER):
    histogram = np.asarray(histogram, np.float64).reshape(GRID_BINS)
    if not histogram.any():
      raise ValueError('The ab histogram is empty: no training pixels were counted.')
    self.in_gamut = np.flatnonzero(histogram > 0)
    self.centers = GRID_CENTERS[self.in_gamut]
    self.probabilities = (histogram[self.in_gamut] / histogram.sum()).astype(np.float32)
    self.weights = rebalance_weights(histogram, mix=rebalance_mix)
    self.temperature = temperature
    self.logit_adjustment = logit_adjustment
    self.confidence_power = confidence_power

  @property
  def size(self) -> int:
    return len(self.in_gamut)

  @property
  def rebalanced_prior(self) -> np.ndarray:
    """p * w, normalized: the best constant guess under the rebalanced loss (exact for one-hot
    targets; soft-encoding blurs it slightly). The network's logits start from its log."""
    prior = self.probabilities * self.weights
    return prior / prior.sum()

  def soft_encode(self, ab: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """ab [..., 2] -> (indices of the 5 nearest in-gamut bins, their Gaussian weights), [..., 5]."""
    distance2 = tf.reduce_sum(tf.square(ab[..., None, :] - self.centers), axis=-1)
    neg_distance2, nearest = tf.math.top_k(-distance2, k=min(NEIGHBOURS, self.size))
    return nearest, tf.nn.softmax(neg_distance2 / (2.0 * SIGMA ** 2), axis=-1)

  def loss(self, ab_true: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Rebalanced multinomial cross-entropy per pixel, [B, H, W] (ab_true at logits' size)."""
    nearest, target = self.soft_encode(ab_true)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    cross_entropy = -tf.reduce_sum(target * tf.gather(log_probs, nearest, batch_dims=3), -1)
    return cross_entropy * tf.gather(tf.constant(self.weights), nearest[..., 0])

  def annealed_mean(self, logits: tf.Tensor, temperature: float | None = None,
                    logit_adjustment: float | None = None,
                    confidence_power: float | None = None) -> tf.Tensor:
    """Logits [..., Q] -> ab [..., 2]: mean of the bin centres under softmax(adjusted logits / T),
    scaled towards gray where the distribution is flat (the decode-time levers; None = this
    grid's own setting)."""
    t = self.temperature if temperature is None else temperature
    alpha = self.logit_adjustment if logit_adjustment is None else logit_adjustment
    gamma = self.confidence_power if confidence_power is None else confidence_power
    if alpha:
      logits = logits - alpha * tf.math.log(tf.constant(self.weights))
    ab = tf.tensordot(tf.nn.softmax(logits / t, axis=-1), self.centers, axes=1)
    if gamma:
      ab *= tf.pow(self.confidence(logits), gamma)[..., None]
    return ab

  def confidence(self, logits: tf.Tensor) -> tf.Tensor:
    """1 - entropy / log Q of softmax(logits), [...]: 0 for a uniform guess, 1 for one bin."""
    log_p = tf.nn.log_softmax(logits, axis=-1)
    entropy = -tf.reduce_sum(tf.exp(log_p) * log_p, axis=-1)
    return tf.clip_by_value(1.0 - entropy / float(np.log(max(self.size, 2))), 0.0, 1.0)
