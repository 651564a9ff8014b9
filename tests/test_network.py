"""The network's output geometry and its prior-initialised logits."""
import numpy as np

from colorization.models import network


def test_logits_are_at_quarter_resolution_and_start_from_the_prior():
  prior = np.random.default_rng(0).dirichlet(np.ones(12)).astype(np.float32)
  model = network.build_network(num_bins=12, width=4, prior=prior)
  logits = model(np.full([2, 64, 48, 1], 50.0, np.float32), training=False)
  assert logits.shape == (2, 16, 12, 12)
  bias = model.get_layer('ab_bin_logits').bias.numpy()
  np.testing.assert_allclose(bias, np.log(prior), rtol=1e-5)
  untouched = network.build_network(num_bins=12, width=4)
  np.testing.assert_array_equal(untouched.get_layer('ab_bin_logits').bias.numpy(), 0.0)
