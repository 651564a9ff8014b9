"""The quantized ab colour space: bin grid, soft-encoding, rebalancing, annealed mean.

After Zhang, Isola & Efros, "Colorful Image Colorization" (ECCV 2016), eq. 2-5:
  soft-encode Z = Gaussian(sigma=5) over the 5 nearest bins; loss = -sum_hw v(Z_hw) sum_q Z log Z^;
  v = w[argmax Z], w ∝ ((1 - lambda) * smooth(p) + lambda / Q)^-1 with E_p[w] = 1;
  annealed mean H(Z) = E[f_T(Z)], f_T(z) = exp(log z / T) / sum_q exp(log z_q / T).
"""
import numpy as np
import tensorflow as tf

# The knobs' defaults live with the knobs (hparams.py imports nothing heavy: the CLI's --help reads it).
from colorization.models.hparams import DEFAULT_TEMPERATURE, REBALANCE_LAMBDA

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
               rebalance_mix: float = REBALANCE_LAMBDA):
    histogram = np.asarray(histogram, np.float64).reshape(GRID_BINS)
    if not histogram.any():
      raise ValueError('The ab histogram is empty: no training pixels were counted.')
    self.in_gamut = np.flatnonzero(histogram > 0)
    self.centers = GRID_CENTERS[self.in_gamut]
    self.probabilities = (histogram[self.in_gamut] / histogram.sum()).astype(np.float32)
    self.weights = rebalance_weights(histogram, mix=rebalance_mix)
    self.temperature = temperature

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

  def annealed_mean(self, logits: tf.Tensor, temperature: float | None = None) -> tf.Tensor:
    """Logits [..., Q] -> ab [..., 2]: mean of the bin centres under softmax(logits / T)."""
    t = self.temperature if temperature is None else temperature
    return tf.tensordot(tf.nn.softmax(logits / t, axis=-1), self.centers, axes=1)
