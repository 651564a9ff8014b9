"""pipeline.results: reading the Evaluator's metrics back; pipeline.tables: rendering them."""
import json
import os
import shlex
import sys

import pytest
import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_model_analysis.proto import metrics_for_slice_pb2

from colorization.models import hparams
from colorization.models.hparams import TrainingConfig
from colorization.pipeline import results, tables
from colorization.pipeline.config import PipelineConfig

HEADER = ['trained on', 'a<b', 'face']
ROWS = [['all', '1.00', '22.50'], ['gray | 0', '3.25', '-4.00']]


def _write_metrics(directory: str, entries: list[tuple[bytes | None, str, bool, float]]) -> None:
  """One MetricsForSlice per slice with (model_name, is_diff, psnr) keys, as TFMA writes them."""
  by_slice: dict = {}
  for slice_value, model_name, is_diff, psnr in entries:
    by_slice.setdefault(slice_value, []).append((model_name, is_diff, psnr))
  with tf.io.TFRecordWriter(os.path.join(directory, 'metrics-00000-of-00001.tfrecord')) as writer:
    for slice_value, keys in by_slice.items():
      record = metrics_for_slice_pb2.MetricsForSlice()
      if slice_value is not None:
        record.slice_key.single_slice_keys.add(column='label', bytes_value=slice_value)
      for model_name, is_diff, psnr in keys:
        entry = record.metric_keys_and_values.add()
        entry.key.name = 'psnr'
        entry.key.model_name = model_name
        entry.key.is_diff = is_diff
        entry.value.double_value.value = psnr
      writer.write(record.SerializeToString())


def test_candidate_metrics_are_read_not_the_baselines(tmp_path):
  _write_metrics(str(tmp_path), [(None, 'candidate', False, 19.0), (None, 'baseline', False, 21.0),
                                 (None, 'candidate', True, -2.0),
                                 (b'face', 'baseline', False, 23.0),
                                 (b'face', 'candidate', False, 22.5),
                                 (b'face', 'candidate', True, -0.5)])
  table = results.load_slice_metrics(str(tmp_path))
  assert table == {results.OVERALL: {'psnr': 19.0}, 'face': {'psnr': 22.5}}


def test_metrics_without_a_baseline(tmp_path):
  _write_metrics(str(tmp_path), [(None, '', False, 20.0), (b'animal', '', False, 18.0)])
  assert results.load_slice_metrics(str(tmp_path)) == {results.OVERALL: {'psnr': 20.0},
                                                      'animal': {'psnr': 18.0}}


def test_text_table_aligns_columns():
  assert tables.render_table(HEADER, ROWS, 'text').splitlines() == [
      'trained on   a<b   face',
      'all         1.00  22.50',
      'gray | 0    3.25  -4.00']


def test_markdown_table_right_aligns_values_and_escapes_pipes():
  assert tables.render_table(HEADER, ROWS, 'markdown').splitlines() == [
      '| trained on | a<b | face |', '|---|---:|---:|', '| all | 1.00 | 22.50 |',
      r'| gray \| 0 | 3.25 | -4.00 |']


def test_html_table_names_rows_in_th_and_escapes():
  assert tables.render_table(HEADER, ROWS[:1], 'html') == (
      '<table><tr><th>trained on</th><th>a&lt;b</th><th>face</th></tr>'
      '<tr><th>all</th><td>1.00</td><td>22.50</td></tr></table>')


def test_unknown_table_style():
  with pytest.raises(ValueError, match='latex'):
    tables.render_table(HEADER, ROWS, 'latex')


def test_metrics_table_puts_overall_first_and_gray_beside_ours():
  header, rows = results.metrics_table({'face': {'psnr': 22.5, 'gray_psnr': 23.0},
                                        results.OVERALL: {'psnr': 19.0}})
  assert header[:3] == ['slice', 'PSNR dB', 'PSNR dB (gray)'] and len(header) == 7
  assert [row[0] for row in rows] == [results.OVERALL, 'face']
  assert rows[1][1:3] == ['22.50', '23.00'] and rows[0][2] == 'nan'


def _store_with_trainer_runs(home: str, custom_configs: list[dict]) -> PipelineConfig:
  """An MLMD store under home holding one COMPLETE Trainer execution per custom_config."""
  config = PipelineConfig(home=home)
  os.makedirs(home, exist_ok=True)
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = config.metadata_path
  store = metadata_store.MetadataStore(connection)
  context_type = store.put_context_type(metadata_store_pb2.ContextType(name='node'))
  [context_id] = store.put_contexts([metadata_store_pb2.Context(
      type_id=context_type, name=f'{config.pipeline_name}.Trainer')])
  execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name='Trainer'))
  for custom_config in custom_configs:
    execution = metadata_store_pb2.Execution(
        type_id=execution_type, last_known_state=metadata_store_pb2.Execution.COMPLETE)
    execution.custom_properties['custom_config'].string_value = json.dumps(custom_config)
    [execution_id] = store.put_executions([execution])
    store.put_attributions_and_associations(
        [], [metadata_store_pb2.Association(context_id=context_id, execution_id=execution_id)])
  return config


def test_trained_with_reads_the_newest_trainers_knobs(tmp_path):
  first = TrainingConfig(width=48, encoder=hparams.SCRATCH_ENCODER)
  newest = TrainingConfig(width=16, temperature=0.5, train_classes=('face',))
  config = _store_with_trainer_runs(str(tmp_path), [
      first.to_custom_config(), dict(newest.to_custom_config(), code_version='abc')])
  assert results.trained_with(results.open_store(config), config) == newest


def test_trained_with_names_a_run_of_an_older_version(tmp_path):
  config = _store_with_trainer_runs(str(tmp_path), [{'width': 32, 'energy_match': 0.8}])
  with pytest.raises(ValueError, match='train again'):
    results.trained_with(results.open_store(config), config)


def test_summary_names_the_tensorboard_command_for_the_trainers_logs(tmp_path):
  home = str(tmp_path / 'my home')
  summary = results.format_summary(results.RunSummary({}, True, None, None),
                                   PipelineConfig(home=home), 'run.log')
  (line,) = [line for line in summary.splitlines() if line.startswith('TensorBoard: ')]
  assert shlex.split(line[len('TensorBoard: '):]) == [
      os.path.join(os.path.dirname(sys.executable), 'tensorboard'),
      '--logdir', os.path.join(home, 'pipeline_root', 'Trainer', 'model_run'),
      '--host', '127.0.0.1']
