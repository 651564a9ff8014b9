"""The network's output geometry, its prior-initialised logits and its frozen pretrained encoder."""
import numpy as np
import pytest

from colorization.models import efficientnet_lite, hparams, network


@pytest.mark.parametrize('encoder', hparams.ENCODERS)
def test_logits_are_at_quarter_resolution_and_start_from_the_prior(encoder):
  prior = np.random.default_rng(0).dirichlet(np.ones(12)).astype(np.float32)
  model = network.build_network(num_bins=12, width=4, prior=prior, encoder=encoder)
  logits = model(np.full([2, 64, 96, 1], 50.0, np.float32), training=False)
  assert logits.shape == (2, 16, 24, 12)
  bias = model.get_layer('ab_bin_logits').bias.numpy()
  np.testing.assert_allclose(bias, np.log(prior), rtol=1e-5)
  untouched = network.build_network(num_bins=12, width=4, encoder=encoder)
  np.testing.assert_array_equal(untouched.get_layer('ab_bin_logits').bias.numpy(), 0.0)


def test_pretrained_encoder_is_frozen_and_holds_the_imagenet_weights():
  model = network.build_network(num_bins=12, width=4)
  encoder = model.get_layer(network.ENCODER_LAYER)
  assert not encoder.trainable and encoder.trainable_weights == []
  assert model.trainable_weights  # the decoder trains
  reference = efficientnet_lite.build_encoder()
  efficientnet_lite.load_imagenet_weights(reference)
  np.testing.assert_array_equal(encoder.get_layer('block7_depthwise').get_weights()[0],
                                reference.get_layer('block7_depthwise').get_weights()[0])


def test_unknown_encoder_is_named():
  with pytest.raises(ValueError, match='resnet'):
    network.build_network(num_bins=12, encoder='resnet')


def test_missing_weights_file_names_the_file(tmp_path):
  missing = str(tmp_path / 'lite0.pth')
  with pytest.raises(efficientnet_lite.WeightsUnavailableError, match='lite0.pth'):
    network.build_network(num_bins=12, encoder_weights=missing)
