"""pipeline.run_details: a run's settings from MLMD, images per class from StatisticsGen's output,
loss curves from TensorBoard event files; each from small files the test writes."""
import json
import os

import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2

from colorization.models import features
from colorization.pipeline import results, run_details
from colorization.pipeline.config import PipelineConfig


def _write_label_statistics(uri: str, split: str, counts: dict[str, int]) -> None:
  statistics = statistics_pb2.DatasetFeatureStatisticsList()
  dataset = statistics.datasets.add(num_examples=sum(counts.values()))
  dataset.features.add().path.step.append(features.FILENAME_KEY)  # not the label: ignored
  label = dataset.features.add()
  label.path.step.append(features.LABEL_KEY)
  for name, count in counts.items():
    label.string_stats.rank_histogram.buckets.add(label=name, sample_count=count)
  os.makedirs(os.path.join(uri, f'Split-{split}'))
  with open(os.path.join(uri, f'Split-{split}', 'FeatureStats.pb'), 'wb') as f:
    f.write(statistics.SerializeToString())


def test_split_counts_fill_missing_splits_with_zero(tmp_path):
  _write_label_statistics(str(tmp_path), 'train', {'face': 10, 'landscape': 4, 'animal': 9})
  _write_label_statistics(str(tmp_path), 'test', {'face': 2, 'animal': 1})
  assert run_details.split_counts(str(tmp_path)) == {
      'animal': {'train': 9, 'eval': 0, 'test': 1},
      'face': {'train': 10, 'eval': 0, 'test': 2},
      'landscape': {'train': 4, 'eval': 0, 'test': 0}}


def test_loss_curves_read_every_run_and_only_per_epoch_losses(tmp_path):
  for run, values in (('train', [5.0, 4.0, 3.5]), ('validation', [5.2, 4.6])):
    with tf.summary.create_file_writer(str(tmp_path / run)).as_default():
      for step, value in enumerate(values):
        tf.summary.scalar('epoch_loss', value, step=step)
        tf.summary.scalar('epoch_learning_rate', 1e-3, step=step)
        tf.summary.scalar('evaluation_loss_vs_iterations', value, step=100 * step)
  with tf.summary.create_file_writer(str(tmp_path / 'validation')).as_default():
    tf.summary.scalar('epoch_loss', 4.4, step=1)  # a second writer logs step 1 again: last wins
  curves = run_details.loss_curves(str(tmp_path))
  assert list(curves) == ['train epoch_loss', 'validation epoch_loss']
  assert [(step, round(value, 4)) for step, value in curves['train epoch_loss']] == [
      (0, 5.0), (1, 4.0), (2, 3.5)]
  assert [round(value, 4) for _, value in curves['validation epoch_loss']] == [5.2, 4.4]


def _store(config: PipelineConfig) -> metadata_store.MetadataStore:
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = config.metadata_path
  store = metadata_store.MetadataStore(connection)
  store.put_context_type(metadata_store_pb2.ContextType(name='node'))
  return store


def _node_execution(store, config: PipelineConfig, node_id: str, properties: dict) -> None:
  """One COMPLETE execution of a node, as the TFX orchestrator records it (context per node)."""
  [context_id] = store.put_contexts([metadata_store_pb2.Context(
      type_id=store.get_context_type('node').id, name=f'{config.pipeline_name}.{node_id}')])
  execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name=node_id))
  execution = metadata_store_pb2.Execution(
      type_id=execution_type, last_known_state=metadata_store_pb2.Execution.COMPLETE)
  for key, value in properties.items():
    execution.custom_properties[key].string_value = value
  [execution_id] = store.put_executions([execution])
  store.put_attributions_and_associations(
      [], [metadata_store_pb2.Association(context_id=context_id, execution_id=execution_id)])


def test_run_settings_name_steps_knobs_data_and_code(tmp_path):
  config = PipelineConfig(home=str(tmp_path))
  store = _store(config)
  _node_execution(store, config, 'FileBasedExampleGen', {'input_base': 'photos/3class'})
  _node_execution(store, config, 'Trainer', {
      'train_args': json.dumps({'num_steps': 1500, 'splits': ['train']}),
      'custom_config': json.dumps({'epochs': 5, 'batch_size': 16, 'encoder': 'from-scratch',
                                   'learning_rate': 0.001, 'seed': 3,
                                   'code_version': '7d6c5da66caf8ded9ba4'})})
  settings = dict(run_details.run_settings(results.open_store(config), config))
  assert settings['training steps'] == '1500' and settings['epochs'] == '5'
  assert settings['batch size'] == '16' and settings['encoder'] == 'from-scratch'
  assert settings['data root'] == 'photos/3class' and settings['home'] == str(tmp_path)
  assert settings['trained'].endswith(' UTC') and settings['trained'][:2] == '20'
  assert settings['code version'] == (f'colorization {run_details.package_version()}, '
                                      'models fingerprint 7d6c5da66caf')


def test_run_settings_of_an_empty_store_say_unknown(tmp_path):
  config = PipelineConfig(home=str(tmp_path))
  _store(config)
  settings = dict(run_details.run_settings(results.open_store(config), config))
  assert settings['training steps'] == settings['data root'] == settings['trained'] == 'unknown'
