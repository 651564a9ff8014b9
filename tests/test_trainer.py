"""The Trainer's two phases: the pretrained encoder frozen, then fine-tuned with BN in inference."""
import numpy as np
import pytest
import tensorflow as tf

from colorization.models import ab_bins, features, hparams, network, trainer


@pytest.fixture(scope='module')
def bins() -> ab_bins.AbBins:
  histogram = np.zeros(ab_bins.GRID_BINS)
  histogram[ab_bins.grid_bin_index(tf.constant([[0.0, 0.0], [20.0, 30.0], [-30.0, 40.0],
                                                [10.0, -40.0]])).numpy()] = [50, 20, 20, 10]
  return ab_bins.AbBins(histogram)


def one_batch(seed: int) -> tuple[np.ndarray, np.ndarray]:
  rng = np.random.default_rng(seed)
  return (rng.uniform(0, 100, (4, 64, 64, 1)).astype(np.float32),
          rng.uniform(-40, 40, (4, 16, 16, 2)).astype(np.float32))


def encoder_state(model: tf.keras.Model) -> tuple[np.ndarray, np.ndarray]:
  encoder = model.get_layer(network.encoder_layer_name(hparams.DEFAULT_ENCODER))
  return (encoder.get_layer('block3_depthwise').get_weights()[0].copy(),
          encoder.get_layer('block3_bn1').moving_mean.numpy().copy())


def test_frozen_phase_trains_the_decoder_only(bins):
  config = hparams.TrainingConfig(width=4)
  model = trainer.build_model(config, bins, total_steps=2)
  kernel, mean = encoder_state(model)
  logits_kernel = model.get_layer('ab_bin_logits').kernel.numpy().copy()
  model.fit(*one_batch(0), epochs=1, verbose=0)
  np.testing.assert_array_equal(encoder_state(model)[0], kernel)
  np.testing.assert_array_equal(encoder_state(model)[1], mean)
  assert not np.array_equal(model.get_layer('ab_bin_logits').kernel.numpy(), logits_kernel)


def test_fine_tuning_trains_the_encoder_but_keeps_its_batchnorm_statistics(bins):
  config = hparams.TrainingConfig(width=4, fine_tune_learning_rate=1e-3)
  model = trainer.build_model(config, bins, total_steps=1)
  kernel, mean = encoder_state(model)
  trainer.unfreeze_encoder(model, config, bins, steps=2)
  model.fit(*one_batch(1), epochs=1, verbose=0)
  new_kernel, new_mean = encoder_state(model)
  assert not np.array_equal(new_kernel, kernel)
  np.testing.assert_array_equal(new_mean, mean)


def test_class_aware_model_trains_the_head_with_the_class_loss(bins):
  config = hparams.TrainingConfig(width=4, encoder=hparams.SCRATCH_ENCODER, class_aware=True,
                                  class_loss_weight=1.0, learning_rate=1e-2)
  with pytest.raises(ValueError, match='number of classes'):
    trainer.build_model(config, bins, total_steps=2)
  model = trainer.build_model(config, bins, total_steps=2, num_classes=3)
  lightness, ab = one_batch(2)
  head = model.get_layer(features.CLASS_PROBS_KEY).kernel.numpy().copy()
  history = model.fit({features.L_KEY: lightness, features.CLASS_CONDITION_KEY: np.zeros([4, 3])},
                      {features.AB_LOGITS_KEY: ab, features.CLASS_PROBS_KEY: np.eye(3)[[0, 1, 2, 0]]},
                      epochs=1, verbose=0)
  assert {'class_probs_loss', 'ab_bin_logits_loss'} <= set(history.history)
  assert history.history['class_probs_loss'][0] > 0
  assert not np.array_equal(model.get_layer(features.CLASS_PROBS_KEY).kernel.numpy(), head)


@pytest.mark.parametrize('teacher_forcing', [0.0, 1.0])
def test_class_aware_pairs_condition_on_the_true_class_as_often_as_asked(teacher_forcing):
  to_pair = lambda batch: (batch['L'], batch['ab'])
  pairs = trainer.class_aware_pairs(to_pair, ['animal', 'face', 'landscape'], teacher_forcing)
  labels = tf.constant([[b'face'], [b'landscape'], [b'cat']])
  inputs, targets = pairs({'L': tf.zeros([3, 8, 8, 1]), 'ab': tf.ones([3, 2, 2, 2]),
                           features.LABEL_KEY: labels})
  one_hot = [[0, 1, 0], [0, 0, 1], [0, 0, 0]]  # a label outside the classes scores no class loss
  np.testing.assert_array_equal(targets[features.CLASS_PROBS_KEY], one_hot)
  np.testing.assert_array_equal(targets[features.AB_LOGITS_KEY], 1.0)
  np.testing.assert_array_equal(inputs[features.CLASS_CONDITION_KEY],
                                np.array(one_hot) * teacher_forcing)


def test_unfreezing_lite2_makes_its_encoder_trainable(bins):
  config = hparams.TrainingConfig(width=4, encoder='efficientnet-lite2')
  model = trainer.build_model(config, bins, total_steps=1)
  encoder = model.get_layer(network.encoder_layer_name(config.encoder))
  last_block = encoder.get_layer('block20_depthwise').depthwise_kernel  # Lite2 has 21 blocks
  assert not any(w is last_block for w in model.trainable_weights)
  trainer.unfreeze_encoder(model, config, bins, steps=2)
  assert any(w is last_block for w in model.trainable_weights)
