"""LatestPushedModel: the newest version under the Pusher's destination, as the Evaluator's baseline.

Pusher pushes only blessed models, so without a resolver (Kubeflow: the open-source backend has no
resolver executor) the newest pushed version is the last blessed model. The output is a copy of it
in the Trainer's layout (`<uri>/Format-Serving/`), which the Evaluator (and any Model consumer)
reads; a copy inside the pipeline root is also the only place KFP accepts an output artifact. When
nothing has been pushed yet, the output is an empty Model marked NOTHING_PUSHED (KFP always
records one artifact per output), which colorization.components.evaluator treats as no baseline.

The candidate model is an input so that the step runs again for every newly trained model (a
cached result would be a stale baseline) and reads the serving directory just before evaluation.
"""
import os
from typing import Any

import tensorflow as tf
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import io_utils, path_utils

CANDIDATE_KEY = 'candidate'
MODEL_KEY = 'model'
SERVING_DIR_KEY = 'serving_dir'
NOTHING_PUSHED = 'nothing_pushed'  # custom property: 1 on the empty output of a first run
PUSHED_MODEL = 'pushed_model'      # custom property: the version directory that was copied


def newest_version(serving_dir: str) -> str | None:
  """The directory of the highest numeric version under serving_dir holding a saved_model.pb."""
  if not tf.io.gfile.isdir(serving_dir):
    return None
  names = [name.rstrip('/') for name in tf.io.gfile.listdir(serving_dir)]
  for name in sorted((n for n in names if n.isdigit()), key=int, reverse=True):
    version_dir = os.path.join(serving_dir, name)
    if tf.io.gfile.exists(os.path.join(version_dir, 'saved_model.pb')):
      return version_dir
  return None


class Executor(base_executor.BaseExecutor):
  """Copies the newest pushed version into the output Model, or marks it NOTHING_PUSHED."""

  def Do(self, input_dict: dict[str, list[types.Artifact]],
         output_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> None:
    model = artifact_utils.get_single_instance(output_dict[MODEL_KEY])
    serving_dir = exec_properties[SERVING_DIR_KEY]
    source = newest_version(serving_dir)
    if source is None:
      logging.info('LatestPushedModel: nothing pushed under %s yet: no baseline', serving_dir)
      model.set_int_custom_property(NOTHING_PUSHED, 1)
      return
    io_utils.copy_dir(source, path_utils.serving_model_dir(model.uri))
    model.set_string_custom_property(PUSHED_MODEL, source)
    logging.info('LatestPushedModel: baseline is %s', source)


class LatestPushedModelSpec(types.ComponentSpec):
  PARAMETERS = {SERVING_DIR_KEY: ExecutionParameter(type=str)}
  INPUTS = {CANDIDATE_KEY: ChannelParameter(type=standard_artifacts.Model)}
  OUTPUTS = {MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}


class LatestPushedModel(base_component.BaseComponent):
  """The newest model pushed to serving_dir, copied, for evaluating `candidate` against it."""
  SPEC_CLASS = LatestPushedModelSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self, candidate: types.BaseChannel, serving_dir: str):
    super().__init__(LatestPushedModelSpec(
        candidate=candidate, serving_dir=serving_dir,
        model=types.Channel(type=standard_artifacts.Model)))
