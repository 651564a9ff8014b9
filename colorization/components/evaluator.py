"""Evaluator: TFX's Evaluator, for which an empty baseline from LatestPushedModel means no baseline.

On a first run without a resolver nothing has been pushed, but KFP still hands the Evaluator one
(empty) baseline artifact. Dropping it makes TFMA evaluate the candidate alone: change thresholds
are skipped and blessing rests on the value floors, as TFX does when no baseline is resolved.
"""
from typing import Any

from absl import logging
from tfx import types
from tfx.components import Evaluator as TfxEvaluator
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs

from colorization.components import latest_pushed_model


def usable_baselines(baselines: list[types.Artifact]) -> list[types.Artifact]:
  """The baseline artifacts that hold a model (all but those marked NOTHING_PUSHED)."""
  return [model for model in baselines
          if not model.get_custom_property(latest_pushed_model.NOTHING_PUSHED)]


class Executor(evaluator_executor.Executor):
  """TFX's Evaluator executor, run without the baselines that hold no model."""

  def Do(self, input_dict: dict[str, list[types.Artifact]],
         output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
    key = standard_component_specs.BASELINE_MODEL_KEY
    baselines = usable_baselines(input_dict.get(key, []))
    if len(baselines) < len(input_dict.get(key, [])):
      logging.info('Evaluator: nothing pushed yet, evaluating without a baseline')
    super().Do({**input_dict, key: baselines}, output_dict, exec_properties)


class Evaluator(TfxEvaluator):
  """tfx.components.Evaluator with the executor above (same inputs, outputs and node id)."""
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
