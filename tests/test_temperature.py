"""experiments/temperature.py: decoding sweeps over the trained model of the shared pipeline run."""
import pytest

from experiments import temperature
from colorization.pipeline import config as config_lib

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def scores(pipeline_home) -> dict:
  config = config_lib.from_env(home=pipeline_home)
  return temperature.score_temperatures(config, 'eval', (0.38, 1.0), (0.0, 1.0, 2.0), (0.0, 0.8))


def test_every_decoding_and_slice_is_scored(scores):
  assert set(scores) == {(t, k, g) for t in (0.38, 1.0) for k in (0.0, 0.8)
                         for g in (0.0, 1.0, 2.0)}
  for slices in scores.values():
    assert 'overall' in slices and len(slices) >= 2
    for values in slices.values():
      assert set(values) == {'psnr', 'gray_psnr', 'auc', 'delta_colorfulness',
                             'colorfulness_ratio'}


def test_zero_gain_is_the_gray_baseline(scores):
  for t in (0.38, 1.0):
    for values in scores[t, 0.0, 0.0].values():
      assert values['psnr'] == pytest.approx(values['gray_psnr'], abs=1e-3)
      assert values['colorfulness_ratio'] == pytest.approx(0.0, abs=1e-3)


def test_gain_scales_colourfulness(scores):
  for t in (0.38, 1.0):
    for name, values in scores[t, 0.0, 1.0].items():
      doubled = scores[t, 0.0, 2.0][name]['colorfulness_ratio']
      assert values['colorfulness_ratio'] > 0
      assert doubled > 1.5 * values['colorfulness_ratio'], (t, name)


def test_energy_match_at_temperature_one_never_washes_out(scores):
  # At T = 1 the gain is at least kappa (Jensen: E|c|^2 >= |E c|^2), so CF grows with the gain.
  for name, values in scores[1.0, 0.0, 1.0].items():
    assert scores[1.0, 0.8, 1.0][name]['colorfulness_ratio'] >= 0.8 * values['colorfulness_ratio']
