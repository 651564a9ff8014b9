"""pipeline.eval_config's blessing gates, checked by TFMA's own metrics validator (fast, no run)."""
import pytest

from colorization.pipeline import config as config_lib
from colorization.pipeline import pipeline

VIVID = {'psnr': 23.0, 'auc': 89.0, 'colorfulness_ratio': 0.95}


def validate(candidate: dict, diff: dict | None = None, **config_changes) -> bool:
  """TFMA's verdict on the overall slice: candidate metric values, and diffs vs. a baseline."""
  import tensorflow_model_analysis as tfma
  from tensorflow_model_analysis.evaluators import metrics_validator
  from tensorflow_model_analysis.metrics import metric_types

  # What TFX's Evaluator does: a baseline spec when it has a baseline model; without one, change
  # thresholds are dropped (rubber stamp).
  eval_config = tfma.utils.update_eval_config_with_defaults(
      pipeline.eval_config(config_lib.PipelineConfig().replace(**config_changes)),
      has_baseline=diff is not None, rubber_stamp=True)
  name = tfma.CANDIDATE_KEY if diff is not None else ''
  metrics = {metric_types.MetricKey(name=key, model_name=name, example_weighted=False): value
             for key, value in candidate.items()}
  metrics.update({metric_types.MetricKey(name=key, model_name=name, is_diff=True,
                                         example_weighted=False): value
                  for key, value in (diff or {}).items()})
  result = metrics_validator.validate_metrics(((), metrics), eval_config)
  assert isinstance(result, tfma.ValidationResult)
  return result.validation_ok


def test_first_model_is_blessed_when_vivid():
  assert validate(VIVID)
  assert validate({**VIVID, 'colorfulness_ratio': 1.8})  # over-colourful is not washed out


@pytest.mark.parametrize('failure', [{'colorfulness_ratio': 0.4}, {'psnr': 3.0}])
def test_first_model_is_rejected_when_washed_out_or_broken(failure):
  assert not validate({**VIVID, **failure})


def test_colorfulness_floor_is_configurable():
  assert validate({**VIVID, 'colorfulness_ratio': 0.4}, min_colorfulness_ratio=0.3)


def test_no_worse_than_baseline_on_psnr_and_auc():
  assert validate(VIVID, diff={'psnr': 0.0, 'auc': 0.2})
  assert not validate(VIVID, diff={'psnr': -0.3, 'auc': 0.2})
  assert not validate(VIVID, diff={'psnr': 0.3, 'auc': -0.5})
  assert validate(VIVID, diff={'psnr': 0.3, 'auc': -0.5}, bless_tolerance_auc=1.0)
