"""experiments/decoding_sweep.py: temperature and gain sweeps over the shared pipeline run's model,
and a class-aware run's network rebuilt and scored (conftest's class_aware_network)."""
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import CLASSES  # first: tensorflow_transform (through IPython) puts a
                                    # package named `tests` on sys.path
from experiments import decoding_sweep
from colorization.models import ab_bins, features, hparams, signatures, trainer
from colorization.pipeline import config as config_lib


@pytest.fixture(scope='session')
def scores(pipeline_home) -> dict:
  config = config_lib.from_env(home=pipeline_home)
  return decoding_sweep.score_decodings(config, 'eval', tuple(
      decoding_sweep.Decoding(t, g) for t in (0.38, 1.0) for g in (0.0, 1.0, 2.0)))


@pytest.mark.slow
def test_every_decoding_and_slice_is_scored(scores):
  assert set(scores) == {decoding_sweep.Decoding(t, g) for t in (0.38, 1.0) for g in (0.0, 1.0, 2.0)}
  for slices in scores.values():
    assert 'overall' in slices and len(slices) >= 2
    for values in slices.values():
      assert set(values) == {'psnr', 'gray_psnr', 'auc', 'delta_colorfulness',
                             'colorfulness_ratio'}


@pytest.mark.slow
def test_zero_gain_is_the_gray_baseline(scores):
  for t in (0.38, 1.0):
    for values in scores[decoding_sweep.Decoding(t, 0.0)].values():
      assert values['psnr'] == pytest.approx(values['gray_psnr'], abs=1e-3)
      assert values['colorfulness_ratio'] == pytest.approx(0.0, abs=1e-3)


@pytest.mark.slow
def test_gain_scales_colourfulness(scores):
  for t in (0.38, 1.0):
    for name, values in scores[decoding_sweep.Decoding(t, 1.0)].items():
      doubled = scores[decoding_sweep.Decoding(t, 2.0)][name]['colorfulness_ratio']
      assert values['colorfulness_ratio'] > 0
      assert doubled > 1.5 * values['colorfulness_ratio'], (t, name)


@pytest.mark.slow
def test_a_photo_folder_scores_like_its_split(pipeline_home, demo_data_root):
  config = config_lib.from_env(home=pipeline_home)
  decoding = decoding_sweep.Decoding(0.38)
  folder = decoding_sweep.score_decodings(config, decodings=(decoding,), data_root=demo_data_root)
  assert set(folder[decoding]) == {'overall', 'animal', 'face', 'landscape'}
  for values in folder[decoding].values():
    assert 0 < values['gray_psnr'] < 60 and values['colorfulness_ratio'] > 0


@pytest.mark.slow
def test_the_fallback_and_the_adjustment_change_the_decoding(scores, pipeline_home):
  config = config_lib.from_env(home=pipeline_home)
  levers = (decoding_sweep.Decoding(0.38), decoding_sweep.Decoding(0.38, power=2.0),
            decoding_sweep.Decoding(0.38, alpha=1.0))
  swept = decoding_sweep.score_decodings(config, 'eval', levers)
  ratio = {d: swept[d]['overall']['colorfulness_ratio'] for d in levers}
  assert ratio[levers[1]] < ratio[levers[0]]                    # flat guesses fade to gray
  assert ratio[levers[2]] != pytest.approx(ratio[levers[0]], rel=1e-3)


def test_a_class_aware_run_is_rebuilt_and_scored_as_served(class_aware_network, tmp_path):
  """A run trained with COLORIZATION_CLASS_AWARE=1: the network has a class input and head, and
  colorize_image colours each photo for the class its head predicts."""
  training = hparams.TrainingConfig(width=4, encoder=hparams.SCRATCH_ENCODER, class_aware=True)
  bins = ab_bins.AbBins(np.ones(ab_bins.GRID_BINS))
  weights = str(tmp_path / trainer.WARM_START_FILE)
  np.savez(weights, *class_aware_network.get_weights())  # as run_fn saves them
  run = decoding_sweep.TrainedRun(None, '', bins,
                                  decoding_sweep.rebuild_network(training, bins, CLASSES, weights))
  size = features.IMAGE_SIZE
  lightness = tf.random.stateless_uniform([3, size, size, 1], [1, 2], 20.0, 80.0)
  served = signatures.predict_ab(class_aware_network, bins, lightness)
  decoding, gray = (decoding_sweep.Decoding(bins.temperature, gain) for gain in (1.0, 0.0))
  scores = decoding_sweep.score_batches(run, [{
      features.L_KEY: lightness, features.AB_KEY: served, 'labels': ['animal', 'face', 'face']}],
      (decoding, gray))
  assert set(scores[decoding]) == {'overall', 'animal', 'face'}
  # The served colours scored against themselves: PSNR at its cap (mse 1e-10) and full AuC; a
  # forced class's colours instead of the head's score 55-73 dB on this network, gray about 61.
  for name, values in scores[decoding].items():
    assert values['psnr'] > 90 and values['auc'] > 99.99, name
    assert scores[gray][name]['psnr'] < 80, name
