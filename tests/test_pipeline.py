"""End-to-end tests of the TFX pipeline: the artifacts of a real run, read from MLMD and the files.

The shared `pipeline_home` fixture (tests/conftest.py) is one `colorization run` on generated photos
plus two bad files; the caching test makes its own runs on a fresh home.
"""
import glob
import json
import math
import os
import queue
import signal
import subprocess
import threading
import time

import pytest

from conftest import BAD_FILES, COLORIZATION

pytestmark = pytest.mark.slow

PIPELINE_NAME = 'colorization'
COMPONENTS = ('FileBasedExampleGen', 'ImportSchemaGen', 'StatisticsGen', 'ExampleValidator',
              'Transform', 'latest_blessed_model_resolver', 'Trainer', 'Evaluator', 'Pusher')
CLASSES = ('face', 'animal', 'landscape')
SPLITS = ('train', 'eval', 'test')
SIGNATURES = ('serving_default', 'colorize_image', 'serving_examples', 'transform_features')
METRICS = ('psnr', 'auc', 'ab_mae', 'colorfulness', 'true_colorfulness', 'delta_colorfulness',
           'colorfulness_ratio', 'gray_psnr', 'gray_auc', 'gray_ab_mae', 'gray_colorfulness',
           'gray_delta_colorfulness')
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The caching test's own runs: as small as a complete run can be.
TINY_RUN_FLAGS = ['--train-steps', '2', '--epochs', '1', '--batch-size', '4']


# --- MLMD helpers ------------------------------------------------------------------------------

def open_store(home: str):
  from ml_metadata import metadata_store
  from ml_metadata.proto import metadata_store_pb2
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = os.path.join(home, 'metadata.sqlite')
  connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  return metadata_store.MetadataStore(connection)


def state_name(execution) -> str:
  from ml_metadata.proto import metadata_store_pb2
  return metadata_store_pb2.Execution.State.Name(execution.last_known_state)


def pipeline_runs(store) -> list:
  """The pipeline_run contexts, oldest first."""
  return sorted(store.get_contexts_by_type('pipeline_run'), key=lambda c: c.id)


def executions_by_node(store, run_context=None) -> dict:
  """node id -> executions (oldest first), of one pipeline run or of all runs."""
  if run_context is None:
    executions = store.get_executions()
  else:
    executions = store.get_executions_by_context(run_context.id)
  nodes = {}
  prefix = PIPELINE_NAME + '.'
  for execution in sorted(executions, key=lambda e: e.id):
    for context in store.get_contexts_by_execution(execution.id):
      if context.type == 'node' and context.name.startswith(prefix):
        nodes.setdefault(context.name[len(prefix):], []).append(execution)
  return nodes


def output_artifacts(store, execution, type_name: str) -> list:
  events = [e for e in store.get_events_by_execution_ids([execution.id])
            if e.type == e.OUTPUT]
  artifacts = store.get_artifacts_by_id([e.artifact_id for e in events])
  types = {t.id: t.name for t in store.get_artifact_types()}
  return [a for a in artifacts if types[a.type_id] == type_name]


def only_output(store, nodes: dict, node: str, type_name: str):
  (execution,) = nodes[node]
  (artifact,) = output_artifacts(store, execution, type_name)
  return artifact


def read_examples(split_dir: str) -> list:
  import tensorflow as tf
  files = tf.io.gfile.glob(os.path.join(split_dir, '*'))
  assert files, f'no files in {split_dir}'
  return [tf.train.Example.FromString(record.numpy())
          for record in tf.data.TFRecordDataset(files, compression_type='GZIP')]


# --- the shared run ----------------------------------------------------------------------------

@pytest.fixture(scope='module')
def store(pipeline_home):
  return open_store(pipeline_home)


@pytest.fixture(scope='module')
def nodes(store):
  return executions_by_node(store)


def test_every_component_ran_once_and_completed(store, nodes):
  assert len(pipeline_runs(store)) == 1
  assert sorted(nodes) == sorted(COMPONENTS)
  states = {node: [state_name(e) for e in executions] for node, executions in nodes.items()}
  assert states == {node: ['COMPLETE'] for node in COMPONENTS}


def test_examples_have_splits_and_schema_features(store, nodes, pipeline_data_root):
  from google.protobuf import json_format, text_format
  from tensorflow_metadata.proto.v0 import schema_pb2
  examples = only_output(store, nodes, 'FileBasedExampleGen', 'Examples')
  assert json.loads(examples.properties['split_names'].string_value) == list(SPLITS)
  with open(os.path.join(PROJECT_ROOT, 'colorization', 'schema', 'schema.pbtxt')) as f:
    schema = text_format.Parse(f.read(), schema_pb2.Schema())
  schema_features = {feature.name for feature in schema.feature}
  assert {'image', 'label', 'filename', 'width', 'height'} <= schema_features

  names_by_split = {}
  for split in SPLITS:
    records = read_examples(os.path.join(examples.uri, f'Split-{split}'))
    assert records, f'split {split} is empty'
    for record in records:
      assert set(record.features.feature) == schema_features
    names_by_split[split] = {r.features.feature['filename'].bytes_list.value[0].decode()
                             for r in records}
  all_names = set().union(*names_by_split.values())
  assert sum(map(len, names_by_split.values())) == len(all_names), 'a file is in two splits'
  good_files = {f'{label}/{name}' for label in CLASSES
                for name in os.listdir(os.path.join(pipeline_data_root, label))} - set(BAD_FILES)
  assert all_names == good_files
  test_classes = {name.split('/')[0] for name in names_by_split['test']}
  assert test_classes == set(CLASSES), 'the per-class test slices need every class in test'

  # The checked-in schema is the one the pipeline imported, and the data matched it.
  schema_artifact = only_output(store, nodes, 'ImportSchemaGen', 'Schema')
  with open(os.path.join(schema_artifact.uri, 'schema.pbtxt')) as f:
    assert text_format.Parse(f.read(), schema_pb2.Schema()) == schema
  anomalies = only_output(store, nodes, 'ExampleValidator', 'ExampleAnomalies')
  blessed = json_format.MessageToDict(anomalies.custom_properties['blessed'].struct_value)
  assert blessed == {split: 1 for split in SPLITS}, f'schema anomalies: {blessed}'


def test_bad_files_are_skipped_and_reported(store, nodes):
  examples = only_output(store, nodes, 'FileBasedExampleGen', 'Examples')
  with open(os.path.join(examples.uri, 'skipped_files.txt')) as f:
    lines = f.read().splitlines()
  assert sorted(line.split(':')[0] for line in lines) == sorted(BAD_FILES)
  assert all('not a readable image' in line for line in lines), lines


def test_transformed_examples_hold_lab_tensors(store, nodes):
  import tensorflow as tf
  from colorization.models import ab_bins, features, preprocessing
  transformed = only_output(store, nodes, 'Transform', 'Examples')
  assert json.loads(transformed.properties['split_names'].string_value) == list(SPLITS)
  (record, *_) = read_examples(os.path.join(transformed.uri, 'Split-test'))
  feature = record.features.feature
  (lab_png,) = feature[features.LAB_PNG_KEY].bytes_list.value
  lightness, ab = (t.numpy() for t in preprocessing.decode_lab(tf.constant([lab_png])))
  assert lightness.shape == (1, 224, 224, 1) and ab.shape == (1, 224, 224, 2)
  assert 0.0 <= lightness.min() and lightness.max() <= 100.0 and lightness.std() > 1.0
  assert -128.0 <= ab.min() and ab.max() <= 127.0
  histogram = feature[features.AB_HISTOGRAM_KEY].float_list.value
  assert len(histogram) == ab_bins.GRID_BINS and min(histogram) >= 0.0
  train_examples = len(read_examples(os.path.join(transformed.uri, 'Split-train')))
  assert sum(histogram) == train_examples * features.PREDICTION_SIZE ** 2   # train split only


def test_pushed_model_is_a_versioned_saved_model(store, nodes, pipeline_home, pushed_model_dir):
  import numpy as np
  import tensorflow as tf
  base = os.path.join(pipeline_home, 'serving', 'colorizer')
  (version,) = os.listdir(base)
  assert version.isdigit() and abs(int(version) - time.time()) < 24 * 3600
  assert pushed_model_dir == os.path.join(base, version)
  assert os.path.isfile(os.path.join(pushed_model_dir, 'saved_model.pb'))
  assert glob.glob(os.path.join(pushed_model_dir, 'variables', 'variables.index'))
  assert glob.glob(os.path.join(pushed_model_dir, 'variables', 'variables.data-*'))

  pushed = only_output(store, nodes, 'Pusher', 'PushedModel')
  assert pushed.custom_properties['pushed'].int_value == 1
  assert pushed.custom_properties['pushed_destination'].string_value == pushed_model_dir

  model = tf.saved_model.load(pushed_model_dir)
  assert set(SIGNATURES) <= set(model.signatures)
  outputs = model.signatures['serving_default'](L=tf.zeros([2, 224, 224, 1]))
  assert list(outputs) == ['ab']
  assert outputs['ab'].shape == (2, 224, 224, 2)
  assert np.all(np.isfinite(outputs['ab'].numpy()))


def test_evaluator_metrics_for_every_slice(store, nodes):
  import tensorflow_model_analysis as tfma
  evaluation = only_output(store, nodes, 'Evaluator', 'ModelEvaluation')
  table = {}
  for record in tfma.load_metrics(evaluation.uri):
    slice_name = '/'.join(key.bytes_value.decode() for key in record.slice_key.single_slice_keys)
    table[slice_name or 'overall'] = {
        kv.key.name: kv.value.double_value.value for kv in record.metric_keys_and_values
        if kv.value.HasField('double_value') and not kv.key.is_diff}
  assert set(table) == {'overall', *CLASSES}
  for slice_name, values in table.items():
    assert set(METRICS) <= set(values), (slice_name, sorted(values))
    assert all(math.isfinite(values[name]) for name in METRICS), (slice_name, values)
    for prefix in ('', 'gray_'):
      assert values[prefix + 'psnr'] > 5.0, (slice_name, values)
      assert 0.0 < values[prefix + 'auc'] <= 100.0, (slice_name, values)
    assert values['gray_colorfulness'] < 1e-3 < values['true_colorfulness'], (slice_name, values)


def test_model_is_blessed(store, nodes):
  blessing = only_output(store, nodes, 'Evaluator', 'ModelBlessing')
  assert blessing.custom_properties['blessed'].int_value == 1
  assert os.path.isfile(os.path.join(blessing.uri, 'BLESSED'))
  model = only_output(store, nodes, 'Trainer', 'Model')
  assert blessing.custom_properties['current_model_id'].int_value == model.id


def test_stdout_summary_lists_classes_and_pushed_path(pipeline_home, pushed_model_dir):
  with open(os.path.join(pipeline_home, 'run_stdout.txt')) as f:
    stdout = f.read()
  for component in COMPONENTS:
    assert f'] {component} running ...' in stdout
    assert f'] {component} done in ' in stdout
  rows = {line.split()[0]: line for line in stdout.splitlines() if line.strip()}
  for slice_name in ('overall', *CLASSES):
    assert slice_name in rows, stdout
    assert len([float(x) for x in rows[slice_name].replace('(', ' ').replace(')', ' ').split()[1:]
                ]) == 6
  assert 'Model: BLESSED' in stdout
  assert f'Pushed model: {pushed_model_dir}' in stdout.splitlines()


def test_tensorboard_logs_under_model_run(store, nodes):
  model_run = only_output(store, nodes, 'Trainer', 'ModelRun')
  for subdir in ('train', 'validation'):
    assert glob.glob(os.path.join(model_run.uri, subdir, 'events.out.tfevents.*')), subdir


# --- caching after an interrupted run -----------------------------------------------------------

def _start_until_trainer_runs(command: list, home: str, stderr, deadline_s: float = 600):
  """Starts a run in its own process group; returns it once the Trainer's executor has started."""
  process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                             start_new_session=True)
  lines = queue.Queue()
  threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True
                   ).start()
  seen, deadline = [], time.monotonic() + deadline_s
  while not any('Trainer running' in line for line in seen):
    try:
      seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
    except queue.Empty:
      break
    if process.poll() is not None and lines.empty():
      break
  try:
    assert any('Trainer running' in line for line in seen), f'no Trainer: {"".join(seen)}'
    # Kill it only once the Trainer's execution is registered and its executor started.
    started = os.path.join(home, 'pipeline_root', 'Trainer', '.system', 'executor_execution', '*')
    while not glob.glob(started) and time.monotonic() < deadline and process.poll() is None:
      time.sleep(0.2)
    assert glob.glob(started), 'the Trainer executor never started'
  except BaseException:
    os.killpg(process.pid, signal.SIGKILL)
    raise
  return process, ''.join(seen)


def test_rerun_after_kill_reuses_cached_results(demo_data_root, tmp_path):
  home = str(tmp_path / 'home')
  command = [COLORIZATION, 'run', '--data-root', demo_data_root, '--home', home, *TINY_RUN_FLAGS]
  with open(tmp_path / 'first_stderr.txt', 'w') as stderr:
    process, first_stdout = _start_until_trainer_runs(command, home, stderr)
    try:
      time.sleep(2)  # well inside run_fn
      assert process.poll() is None, 'the run ended before it could be interrupted'
    finally:
      os.killpg(process.pid, signal.SIGKILL)
      process.wait(timeout=60)
  assert process.returncode == -signal.SIGKILL
  assert not os.path.exists(os.path.join(home, 'serving'))
  for component in ('FileBasedExampleGen', 'StatisticsGen', 'Transform'):
    assert f'{component} done in' in first_stdout

  second = subprocess.run(command, capture_output=True, text=True, timeout=900)
  assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]

  # The progress lines say which components reused their cached result.
  cached, lines = set(), second.stdout.splitlines()
  for line, following in zip(lines, lines[1:]):
    if line.endswith(' running ...') and following.strip().endswith('reused the cached result'):
      cached.add(line.split('] ')[1][:-len(' running ...')])
  assert {'FileBasedExampleGen', 'StatisticsGen', 'Transform'} <= cached, second.stdout
  assert not cached & {'Trainer', 'Evaluator', 'Pusher'}, second.stdout

  store = open_store(home)
  first_run, second_run = pipeline_runs(store)
  interrupted = executions_by_node(store, first_run)
  assert [state_name(e) for e in interrupted['Trainer']] == ['RUNNING']  # abandoned by the kill
  assert 'Evaluator' not in interrupted and 'Pusher' not in interrupted
  states = {node: [state_name(e) for e in executions]
            for node, executions in executions_by_node(store, second_run).items()}
  for node in ('FileBasedExampleGen', 'ImportSchemaGen', 'StatisticsGen', 'ExampleValidator',
               'Transform'):
    assert states[node] == ['CACHED'], (node, states)
  for node in ('Trainer', 'Evaluator', 'Pusher'):
    assert states[node] == ['COMPLETE'], (node, states)
  # Cached nodes point at the first run's outputs instead of writing new ones.
  first_examples = only_output(store, interrupted, 'Transform', 'Examples')
  second_examples = only_output(store, executions_by_node(store, second_run), 'Transform',
                                'Examples')
  assert first_examples.id == second_examples.id

  (version,) = os.listdir(os.path.join(home, 'serving', 'colorizer'))
  assert os.path.isfile(os.path.join(home, 'serving', 'colorizer', version, 'saved_model.pb'))
  assert f'Pushed model: {os.path.join(home, "serving", "colorizer", version)}' in second.stdout
