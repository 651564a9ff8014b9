"""experiments/decoding_sweep.py: temperature and gain sweeps over the shared pipeline run's model."""
import pytest

from experiments import decoding_sweep
from colorization.pipeline import config as config_lib

pytestmark = pytest.mark.slow


@pytest.fixture(scope='session')
def scores(pipeline_home) -> dict:
  config = config_lib.from_env(home=pipeline_home)
  return decoding_sweep.score_decodings(config, 'eval', (0.38, 1.0), (0.0, 1.0, 2.0))


def test_every_decoding_and_slice_is_scored(scores):
  assert set(scores) == {(t, g) for t in (0.38, 1.0) for g in (0.0, 1.0, 2.0)}
  for slices in scores.values():
    assert 'overall' in slices and len(slices) >= 2
    for values in slices.values():
      assert set(values) == {'psnr', 'gray_psnr', 'auc', 'delta_colorfulness',
                             'colorfulness_ratio'}


def test_zero_gain_is_the_gray_baseline(scores):
  for t in (0.38, 1.0):
    for values in scores[t, 0.0].values():
      assert values['psnr'] == pytest.approx(values['gray_psnr'], abs=1e-3)
      assert values['colorfulness_ratio'] == pytest.approx(0.0, abs=1e-3)


def test_gain_scales_colourfulness(scores):
  for t in (0.38, 1.0):
    for name, values in scores[t, 1.0].items():
      doubled = scores[t, 2.0][name]['colorfulness_ratio']
      assert values['colorfulness_ratio'] > 0
      assert doubled > 1.5 * values['colorfulness_ratio'], (t, name)
