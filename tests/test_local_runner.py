"""pipeline/local_runner.py: the console's progress lines, stderr sent to the run's log, and (slow)
the TFX CLI path: `tfx pipeline create` / `tfx run create` with the local engine.

pipeline/local_runner.py reads its settings from COLORIZATION_* variables (the CLI passes no
arguments); the CLI stores the pipeline path in $LOCAL_HOME/<name>/pipeline_args.json and re-runs
`python <that path>`, so the test runs both commands from directories other than the project.
"""
import io
import json
import logging
import os
import re
import subprocess
import sys

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from colorization.pipeline import local_runner

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


def _record(message: str, name: str = 'absl') -> logging.LogRecord:
  return logging.LogRecord(name, logging.INFO, __file__, 1, message, None, None)


def test_progress_prints_components_their_long_parts_and_the_trainers_lines_only():
  stream = io.StringIO()
  progress = local_runner._Progress('colorization.progress', stream=stream)
  for record in [_record('Component Transform is running.'),
                 _record("udf_utils.get_fn {'preprocessing_fn': 'x'} 'preprocessing_fn'"),
                 _record('Feature image has a shape dim {'),
                 _record('Component Transform is finished.'),
                 _record('Component Trainer is running.'),
                 _record("udf_utils.get_fn {'run_fn': 'x'} 'run_fn'"),
                 _record('Trainer: step 340/1500 (frozen encoder)  loss 3.910', 'colorization.progress'),
                 _record('Component Trainer is finished.'),
                 _record('Component Evaluator is running.'),
                 _record('Using /home/pipeline_root/Trainer/model/7/Format-Serving as  model.'),
                 _record('Evaluating model.'),
                 _record('Using /home/pipeline_root/Trainer/model/7/Format-Serving as  model.'),
                 _record('Trainer: step 1/2 (from another logger)', 'tensorflow')]:
    progress.emit(record)
  lines = [line.split('] ', 1)[1] for line in stream.getvalue().splitlines()]
  assert lines[0] == 'Transform running ...'
  assert lines[1] == 'Transform: analyzing the training split, transforming every split ...'
  assert lines[2].startswith('Transform done in ')
  assert lines[3:] == ['Trainer running ...',
                       'Trainer: step 340/1500 (frozen encoder)  loss 3.910',
                       lines[5], 'Evaluator running ...',
                       'Evaluator: loading the trained model ...',
                       'Evaluator: computing metrics on the test split ...']
  assert lines[5].startswith('Trainer done in ')


def test_stderr_goes_to_the_log_while_the_pipeline_runs(tmp_path, capfd):
  log_path = str(tmp_path / 'run.log')
  with open(log_path, 'w') as f:
    f.write('first line\n')
  warning = ('W0000 00:00:1796668865.308337 2406 op_level_cost_estimator.cc:699] Error in '
             'PredictCost() for the op: op: "CropAndResize"\n')
  with local_runner.stderr_to(log_path):
    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are '
                b'written to STDERR\n')
    os.write(2, warning.encode())
    print('a Python warning', file=sys.stderr)
    print('progress line')
  print('after the run', file=sys.stderr)
  console = capfd.readouterr()
  assert console.out == 'progress line\n'
  assert console.err == 'after the run\n'
  with open(log_path) as f:
    assert f.read() == ('first line\nWARNING: All log messages before absl::InitializeLog() is '
                        'called are written to STDERR\n' + warning + 'a Python warning\n')


def test_the_run_log_gets_tensorflows_native_errors_and_the_console_nothing(tmp_path):
  """TensorFlow reads TF_CPP_MIN_LOG_LEVEL once, when it is imported; this version logs harmless
  CUDA-plugin registration errors then, the witness here. No level set, as a user's shell."""
  code = ('from colorization.pipeline import config, local_runner\n'
          f'with local_runner.run_log(config.PipelineConfig(home={str(tmp_path)!r})) as log_path:\n'
          '  import tensorflow\n'
          'print(log_path)\n')
  environment = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
  result = subprocess.run([sys.executable, '-c', code], env=environment, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0 and result.stderr == '', result.stderr
  log_path = result.stdout.strip()
  assert os.path.dirname(log_path) == str(tmp_path / 'logs')
  with open(log_path) as f:
    native = [line for line in f if re.match(r'\S+ \S+: [IWEF] ', line)]
  assert native and all(': E ' in line for line in native), native  # errors only (level 2)


@pytest.mark.slow
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
