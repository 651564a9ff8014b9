"""The network's output geometry, its prior-initialised logits and its frozen pretrained encoder."""
import numpy as np
import pytest

from colorization.models import efficientnet_lite, features, hparams, network


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


@pytest.mark.parametrize('encoder', hparams.PRETRAINED_ENCODERS)
def test_pretrained_encoder_is_frozen_and_holds_the_imagenet_weights(encoder):
  model = network.build_network(num_bins=12, width=4, encoder=encoder)
  encoder_model = model.get_layer(network.encoder_layer_name(encoder))
  assert not encoder_model.trainable and encoder_model.trainable_weights == []
  assert model.trainable_weights  # the decoder trains
  reference = efficientnet_lite.build_encoder(encoder)
  efficientnet_lite.load_imagenet_weights(reference, variant=encoder)
  np.testing.assert_array_equal(encoder_model.get_layer('block7_depthwise').get_weights()[0],
                                reference.get_layer('block7_depthwise').get_weights()[0])


def test_lite2_network_predicts_a_quarter_resolution_distribution_at_the_image_size():
  model = network.build_network(num_bins=12, width=4, encoder='efficientnet-lite2')
  size = features.IMAGE_SIZE
  logits = model(np.full([2, size, size, 1], 50.0, np.float32), training=False)
  assert logits.shape == (2, features.PREDICTION_SIZE, features.PREDICTION_SIZE, 12)  # 56
  assert np.isfinite(logits.numpy()).all()


def test_unknown_encoder_is_named():
  with pytest.raises(ValueError, match='resnet'):
    network.build_network(num_bins=12, encoder='resnet')


def test_missing_weights_file_names_the_file(tmp_path):
  missing = str(tmp_path / 'lite0.pth')
  with pytest.raises(efficientnet_lite.WeightsUnavailableError, match='lite0.pth'):
    network.build_network(num_bins=12, encoder_weights=missing)


def class_aware_network(encoder: str = hparams.SCRATCH_ENCODER):
  """A tiny class-aware network over 3 classes with random (non-zero) FiLM weights."""
  model = network.build_network(num_bins=12, width=4, encoder=encoder, num_classes=3)
  rng = np.random.default_rng(5)
  for name in ('film_scale', 'film_shift'):
    layer = model.get_layer(name)
    layer.set_weights([rng.normal(0, 1, w.shape).astype(np.float32) for w in layer.get_weights()])
  return model


def gray_images(count: int = 2) -> np.ndarray:
  return np.random.default_rng(1).uniform(0, 100, (count, 64, 64, 1)).astype(np.float32)


@pytest.mark.parametrize('encoder', hparams.ENCODERS)
def test_class_head_is_a_softmax_over_the_classes(encoder):
  model = network.build_network(num_bins=12, width=4, encoder=encoder, num_classes=3)
  assert network.is_class_aware(model)
  outputs = model({features.L_KEY: gray_images(), features.CLASS_CONDITION_KEY: np.zeros([2, 3])})
  assert outputs[features.AB_LOGITS_KEY].shape == (2, 16, 16, 12)
  probs = outputs[features.CLASS_PROBS_KEY].numpy()
  assert probs.shape == (2, 3) and (probs > 0).all()
  np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_default_network_has_no_class_head():
  model = network.build_network(num_bins=12, width=4, encoder=hparams.SCRATCH_ENCODER)
  assert not network.is_class_aware(model)
  assert not [layer for layer in model.layers if layer.name.startswith('film')]


def test_forced_class_changes_the_colours_but_not_the_prediction():
  model = class_aware_network()
  run = lambda condition: model({features.L_KEY: gray_images(),
                                 features.CLASS_CONDITION_KEY: np.array(condition, np.float32)})
  face, animal = run([[1, 0, 0]] * 2), run([[0, 1, 0]] * 2)
  assert np.abs(face[features.AB_LOGITS_KEY] - animal[features.AB_LOGITS_KEY]).max() > 1e-3
  np.testing.assert_array_equal(face[features.CLASS_PROBS_KEY], animal[features.CLASS_PROBS_KEY])


def test_zero_condition_uses_the_heads_own_prediction_per_image():
  model = class_aware_network()
  predicted = model({features.L_KEY: gray_images(), features.CLASS_CONDITION_KEY: np.zeros([2, 3])})
  probs = predicted[features.CLASS_PROBS_KEY].numpy()
  given = model({features.L_KEY: gray_images(), features.CLASS_CONDITION_KEY: probs})
  np.testing.assert_allclose(given[features.AB_LOGITS_KEY], predicted[features.AB_LOGITS_KEY],
                             atol=1e-5)
  # One image forced, the other predicted: each row follows its own condition.
  mixed = model({features.L_KEY: gray_images(),
                 features.CLASS_CONDITION_KEY: np.array([[0, 0, 1], [0, 0, 0]], np.float32)})
  forced = model({features.L_KEY: gray_images(),
                  features.CLASS_CONDITION_KEY: np.array([[0, 0, 1]] * 2, np.float32)})
  np.testing.assert_allclose(mixed[features.AB_LOGITS_KEY][0], forced[features.AB_LOGITS_KEY][0],
                             atol=1e-5)
  np.testing.assert_allclose(mixed[features.AB_LOGITS_KEY][1], predicted[features.AB_LOGITS_KEY][1],
                             atol=1e-5)
