"""experiments/decoding_sweep.py: temperature and gain sweeps over the shared pipeline run's model."""
import pytest

from experiments import decoding_sweep
from colorization.pipeline import config as config_lib

pytestmark = pytest.mark.slow


@pytest.fixture(scope='session')
def scores(pipeline_home) -> dict:
  config = config_lib.from_env(home=pipeline_home)
  return decoding_sweep.score_decodings(config, 'eval', tuple(
      decoding_sweep.Decoding(t, g) for t in (0.38, 1.0) for g in (0.0, 1.0, 2.0)))


def test_every_decoding_and_slice_is_scored(scores):
  assert set(scores) == {decoding_sweep.Decoding(t, g) for t in (0.38, 1.0) for g in (0.0, 1.0, 2.0)}
  for slices in scores.values():
    assert 'overall' in slices and len(slices) >= 2
    for values in slices.values():
      assert set(values) == {'psnr', 'gray_psnr', 'auc', 'delta_colorfulness',
                             'colorfulness_ratio'}


def test_zero_gain_is_the_gray_baseline(scores):
  for t in (0.38, 1.0):
    for values in scores[decoding_sweep.Decoding(t, 0.0)].values():
      assert values['psnr'] == pytest.approx(values['gray_psnr'], abs=1e-3)
      assert values['colorfulness_ratio'] == pytest.approx(0.0, abs=1e-3)


def test_gain_scales_colourfulness(scores):
  for t in (0.38, 1.0):
    for name, values in scores[decoding_sweep.Decoding(t, 1.0)].items():
      doubled = scores[decoding_sweep.Decoding(t, 2.0)][name]['colorfulness_ratio']
      assert values['colorfulness_ratio'] > 0
      assert doubled > 1.5 * values['colorfulness_ratio'], (t, name)


def test_a_photo_folder_scores_like_its_split(pipeline_home, demo_data_root):
  config = config_lib.from_env(home=pipeline_home)
  decoding = decoding_sweep.Decoding(0.38)
  folder = decoding_sweep.score_decodings(config, decodings=(decoding,), data_root=demo_data_root)
  assert set(folder[decoding]) == {'overall', 'animal', 'face', 'landscape'}
  for values in folder[decoding].values():
    assert 0 < values['gray_psnr'] < 60 and values['colorfulness_ratio'] > 0


def test_the_fallback_and_the_adjustment_change_the_decoding(scores, pipeline_home):
  config = config_lib.from_env(home=pipeline_home)
  levers = (decoding_sweep.Decoding(0.38), decoding_sweep.Decoding(0.38, power=2.0),
            decoding_sweep.Decoding(0.38, alpha=1.0))
  swept = decoding_sweep.score_decodings(config, 'eval', levers)
  ratio = {d: swept[d]['overall']['colorfulness_ratio'] for d in levers}
  assert ratio[levers[1]] < ratio[levers[0]]                    # flat guesses fade to gray
  assert ratio[levers[2]] != pytest.approx(ratio[levers[0]], rel=1e-3)
