"""LatestPushedModel (the Evaluator's baseline without a resolver) and the Evaluator that accepts its
empty first-run output: the executors on their own (fast), then two real pipeline runs (slow)."""
import os
import subprocess

import pytest

from conftest import COLORIZATION
from colorization.components import evaluator, latest_pushed_model

TINY_RUN_FLAGS = ['--epochs', '1', '--batch-size', '4']


def write_version(serving_dir, name: str, complete: bool = True) -> str:
  version_dir = serving_dir / name
  (version_dir / 'variables').mkdir(parents=True)
  (version_dir / 'variables' / 'variables.index').write_bytes(b'index ' + name.encode())
  if complete:
    (version_dir / 'saved_model.pb').write_bytes(b'graph ' + name.encode())
  return str(version_dir)


def run_executor(serving_dir, output_uri):
  from tfx.types import standard_artifacts
  model = standard_artifacts.Model()
  model.uri = str(output_uri)
  latest_pushed_model.Executor().Do(
      {}, {latest_pushed_model.MODEL_KEY: [model]},
      {latest_pushed_model.SERVING_DIR_KEY: str(serving_dir)})
  return model


def test_newest_is_the_highest_complete_numeric_version(tmp_path):
  serving_dir = tmp_path / 'serving'
  write_version(serving_dir, '9')
  newest = write_version(serving_dir, '10')
  write_version(serving_dir, '11', complete=False)  # half copied: not a model yet
  (serving_dir / '12.tmp').mkdir()
  assert latest_pushed_model.newest_version(str(serving_dir)) == newest


def test_the_newest_version_is_copied_in_the_trainer_layout(tmp_path):
  from tfx.utils import path_utils
  serving_dir = tmp_path / 'serving'
  write_version(serving_dir, '1700000000')
  newest = write_version(serving_dir, '1700000100')
  model = run_executor(serving_dir, tmp_path / 'output')
  copy = path_utils.serving_model_path(model.uri)  # where the Evaluator looks
  assert copy == str(tmp_path / 'output' / 'Format-Serving')
  assert open(os.path.join(copy, 'saved_model.pb'), 'rb').read() == b'graph 1700000100'
  assert os.path.isfile(os.path.join(copy, 'variables', 'variables.index'))
  assert model.get_string_custom_property(latest_pushed_model.PUSHED_MODEL) == newest
  assert not model.has_custom_property(latest_pushed_model.NOTHING_PUSHED)
  assert evaluator.usable_baselines([model]) == [model]


@pytest.mark.parametrize('pushed', [None, 'empty', 'incomplete'])
def test_nothing_pushed_gives_an_empty_model_the_evaluator_drops(tmp_path, pushed):
  serving_dir = tmp_path / 'serving'
  if pushed == 'empty':
    serving_dir.mkdir()
  elif pushed == 'incomplete':
    write_version(serving_dir, '5', complete=False)
  model = run_executor(serving_dir, tmp_path / 'output')
  assert model.get_int_custom_property(latest_pushed_model.NOTHING_PUSHED) == 1
  assert not os.path.exists(tmp_path / 'output' / 'Format-Serving')
  assert evaluator.usable_baselines([model]) == []


def test_on_kubeflow_the_mark_survives_the_trip_to_the_evaluator(tmp_path):
  """KFP passes the artifact between steps as a RuntimeArtifact (properties in JSON metadata)."""
  from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as kfp_utils
  from tfx.types import standard_artifacts

  def through_kfp(model):
    runtime_artifact = kfp_utils.to_runtime_artifact(model, {})
    runtime_artifact.type.schema_title = 'tfx.Model'
    return kfp_utils._parse_raw_artifact(runtime_artifact, {})  # what the Evaluator's pod reads

  empty = through_kfp(run_executor(tmp_path / 'serving', tmp_path / 'empty'))
  write_version(tmp_path / 'serving', '1700000000')
  found = through_kfp(run_executor(tmp_path / 'serving', tmp_path / 'found'))
  resolved = standard_artifacts.Model()  # from the resolver: no LatestPushedModel properties
  assert evaluator.usable_baselines([resolved, empty, found]) == [resolved, found]


# --- two runs without the resolver --------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.timeout(1800)  # two pipeline runs, each allowed the 900 s of one
def test_second_run_is_compared_against_the_first_runs_pushed_model(demo_data_root, tmp_path):
  """Runs 1 and 2 with resolve_blessed_model=False; run 2 trains one more step, so it retrains
  while ExampleGen and Transform come from the cache."""
  import tensorflow_model_analysis as tfma
  from test_pipeline import executions_by_node, only_output, open_store, pipeline_runs
  home = str(tmp_path / 'home')
  # Lite0, the smaller encoder: the baseline's wiring is under test, not the default encoder.
  env = dict(os.environ, COLORIZATION_RESOLVE_BLESSED_MODEL='false',
             COLORIZATION_ENCODER='efficientnet-lite0')
  for steps in ('2', '3'):
    result = subprocess.run([COLORIZATION, 'run', '--data-root', demo_data_root, '--home', home,
                             '--train-steps', steps, *TINY_RUN_FLAGS],
                            capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'latest_blessed_model_resolver' not in result.stdout

  store = open_store(home)
  first, second = (executions_by_node(store, run) for run in pipeline_runs(store))
  first_push = only_output(store, first, 'Pusher', 'PushedModel')
  assert first_push.custom_properties['pushed'].int_value == 1
  pushed_dir = first_push.custom_properties['pushed_destination'].string_value

  # Run 1: nothing pushed before it, so no baseline and no comparison.
  empty = only_output(store, first, 'LatestPushedModel', 'Model')
  assert empty.custom_properties[latest_pushed_model.NOTHING_PUSHED].int_value == 1
  first_blessing = only_output(store, first, 'Evaluator', 'ModelBlessing')
  assert 'baseline_model_id' not in first_blessing.custom_properties

  # Run 2: the baseline is a copy of run 1's pushed model, and TFMA compared against it.
  baseline = only_output(store, second, 'LatestPushedModel', 'Model')
  assert baseline.custom_properties[latest_pushed_model.PUSHED_MODEL].string_value == pushed_dir
  with open(os.path.join(pushed_dir, 'saved_model.pb'), 'rb') as pushed, open(
      os.path.join(baseline.uri, 'Format-Serving', 'saved_model.pb'), 'rb') as copied:
    assert pushed.read() == copied.read()
  second_blessing = only_output(store, second, 'Evaluator', 'ModelBlessing')
  assert second_blessing.custom_properties['baseline_model_id'].int_value == baseline.id

  def compared_metrics(node_executions) -> set:
    evaluation = only_output(store, node_executions, 'Evaluator', 'ModelEvaluation')
    return {kv.key.name for record in tfma.load_metrics(evaluation.uri)
            for kv in record.metric_keys_and_values if kv.key.is_diff}
  assert compared_metrics(first) == set()
  assert {'psnr', 'auc'} <= compared_metrics(second)
