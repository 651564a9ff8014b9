"""The TFX CLI path: `tfx pipeline create` / `tfx run create` with the local engine.

pipeline/local_runner.py reads its settings from COLORIZATION_* variables (the CLI passes no
arguments); the CLI stores the pipeline path in $LOCAL_HOME/<name>/pipeline_args.json and re-runs
`python <that path>`, so the test runs both commands from directories other than the project.
"""
import json
import os
import subprocess
import sys

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

pytestmark = pytest.mark.slow

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCAL_RUNNER = os.path.join(PROJECT_ROOT, 'colorization', 'pipeline', 'local_runner.py')
TFX = os.path.join(os.path.dirname(sys.executable), 'tfx')


def _pipeline_executions(metadata_path: str) -> dict:
  """node id -> executions in MLMD."""
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = metadata_path
  connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  store = metadata_store.MetadataStore(connection)
  executions = {}
  for execution in store.get_executions():
    for context in store.get_contexts_by_execution(execution.id):
      if context.type == 'node':
        executions.setdefault(context.name.split('.', 1)[1], []).append(execution)
  return executions


def test_tfx_cli_creates_and_runs_the_pipeline(demo_data_root, tmp_path):
  home = str(tmp_path / 'colorization_home')
  local_home = str(tmp_path / 'tfx_local')
  env = dict(os.environ,
             HOME=str(tmp_path / 'user_home'),
             LOCAL_HOME=local_home,
             TF_USE_LEGACY_KERAS='1',
             COLORIZATION_DATA_ROOT=demo_data_root,
             COLORIZATION_HOME=home,
             COLORIZATION_TRAIN_STEPS='2',
             COLORIZATION_EPOCHS='1',
             COLORIZATION_BATCH_SIZE='4')
  for name in ('user_home', 'create_cwd', 'run_cwd'):
    (tmp_path / name).mkdir()

  create = subprocess.run([TFX, 'pipeline', 'create', '--engine=local',
                           f'--pipeline_path={LOCAL_RUNNER}'],
                          cwd=tmp_path / 'create_cwd', env=env, capture_output=True, text=True,
                          timeout=600)
  assert create.returncode == 0, create.stdout[-3000:] + create.stderr[-3000:]
  assert 'Pipeline "colorization" created successfully.' in create.stdout
  with open(os.path.join(local_home, 'colorization', 'pipeline_args.json')) as f:
    pipeline_args = json.load(f)
  assert pipeline_args['pipeline_dsl_path'] == LOCAL_RUNNER
  assert pipeline_args['pipeline_root'] == os.path.join(home, 'pipeline_root')
  assert not os.path.exists(os.path.join(home, 'pipeline_root')), 'create must not run it'

  run = subprocess.run([TFX, 'run', 'create', '--engine=local', '--pipeline_name=colorization'],
                       cwd=tmp_path / 'run_cwd', env=env, capture_output=True, text=True,
                       timeout=900)
  assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
  assert '] Pusher done in ' in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]

  executions = _pipeline_executions(os.path.join(home, 'metadata.sqlite'))
  states = {node: [e.last_known_state for e in runs] for node, runs in executions.items()}
  for node in ('FileBasedExampleGen', 'StatisticsGen', 'Transform', 'Trainer', 'Evaluator',
               'Pusher'):
    assert states.get(node) == [metadata_store_pb2.Execution.COMPLETE], states
  base = os.path.join(home, 'serving', 'colorizer')
  (version,) = os.listdir(base)
  assert version.isdigit()
  assert os.path.isfile(os.path.join(base, version, 'saved_model.pb'))
  assert os.path.isdir(os.path.join(base, version, 'variables'))
  # The run's settings came from the COLORIZATION_* variables.
  trainer = executions['Trainer'][0]
  assert json.loads(trainer.custom_properties['train_args'].string_value)['num_steps'] == 2
  custom_config = json.loads(trainer.custom_properties['custom_config'].string_value)
  assert (custom_config['epochs'], custom_config['batch_size']) == (1, 4)

  # A failing run: `tfx run create` exits non-zero with one clear line, the traceback in the log.
  bad_root = tmp_path / 'no_photos'
  (bad_root / 'face').mkdir(parents=True)
  (bad_root / 'face' / 'notes.jpg').write_text('not a photo')
  failed = subprocess.run([TFX, 'run', 'create', '--engine=local', '--pipeline_name=colorization'],
                          cwd=tmp_path / 'run_cwd', env=dict(env, COLORIZATION_DATA_ROOT=str(bad_root)),
                          capture_output=True, text=True, timeout=900)
  assert failed.returncode != 0, failed.stdout[-3000:] + failed.stderr[-3000:]
  assert f"Data root '{bad_root}' has no readable images" in failed.stderr, failed.stderr[-3000:]
  assert 'Traceback' not in failed.stdout + failed.stderr, failed.stderr[-3000:]
  logs = sorted(os.listdir(os.path.join(home, 'logs')))
  with open(os.path.join(home, 'logs', logs[-1])) as f:
    assert 'Traceback' in f.read()
