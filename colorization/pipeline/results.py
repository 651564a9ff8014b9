"""Reads a finished run from MLMD (per-slice metrics, blessing, pushed model, the Trainer's knobs)
and lays its metrics out as a table."""
import dataclasses
import json
import os
import shlex
import sys

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from colorization.models import hparams
from colorization.pipeline import class_accuracy, tables
from colorization.pipeline.config import PipelineConfig

OVERALL = 'overall'


@dataclasses.dataclass
class RunSummary:
  metrics: dict[str, dict[str, float]]     # slice ('overall' or class name) -> metric -> value
  blessed: bool | None
  pushed_path: str | None
  evaluation_uri: str | None
  # A class-aware model's class head on the test split: slice -> (correct, examples); else None.
  class_accuracy: dict[str, tuple[int, int]] | None = None


def open_store(config: PipelineConfig) -> metadata_store.MetadataStore:
  """The home's MLMD store, read-only; ValueError if no pipeline has run under the home."""
  if not os.path.exists(config.metadata_path):
    raise ValueError(f'No pipeline run under {config.home}: run `colorization run` first '
                     f'({config.metadata_path} does not exist).')
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = config.metadata_path
  connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  return metadata_store.MetadataStore(connection)


def latest_execution(store: metadata_store.MetadataStore, config: PipelineConfig,
                     node_id: str) -> metadata_store_pb2.Execution | None:
  """The newest finished (or cached) execution of a node of the config's pipeline."""
  context = store.get_context_by_type_and_name('node', f'{config.pipeline_name}.{node_id}')
  if context is None:
    return None
  done = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
  executions = [e for e in store.get_executions_by_context(context.id)
                if e.last_known_state in done]
  return max(executions, key=lambda e: e.id) if executions else None


def latest_output(store: metadata_store.MetadataStore, config: PipelineConfig, node_id: str,
                  output_key: str) -> metadata_store_pb2.Artifact | None:
  """The artifact that the newest finished (or cached) execution of a node output under a key."""
  latest = latest_execution(store, config, node_id)
  if latest is None:
    return None
  artifact_ids = [event.artifact_id for event in store.get_events_by_execution_ids([latest.id])
                  if event.type == metadata_store_pb2.Event.OUTPUT
                  and event.path.steps and event.path.steps[0].key == output_key]
  return store.get_artifacts_by_id(artifact_ids)[0] if artifact_ids else None


def trained_with(store: metadata_store.MetadataStore,
                 config: PipelineConfig) -> hparams.TrainingConfig | None:
  """The TrainingConfig the newest finished Trainer ran with (its custom_config), if any."""
  latest = latest_execution(store, config, 'Trainer')
  return None if latest is None else training_config(latest)


def training_config(trainer_execution: metadata_store_pb2.Execution) -> hparams.TrainingConfig:
  """The TrainingConfig a Trainer execution ran with (its custom_config)."""
  custom_config = json.loads(trainer_execution.custom_properties['custom_config'].string_value)
  try:
    return hparams.TrainingConfig.from_custom_config(custom_config)
  except TypeError as error:  # a run of an older version, with knobs since removed
    raise ValueError(f'A Trainer ran with knobs this version does not have ({error}): '
                     'train again.') from None


def load_slice_metrics(evaluation_uri: str) -> dict[str, dict[str, float]]:
  """The candidate model's TFMA metrics per slice: {'overall': {...}, '<class>': {...}}."""
  import tensorflow_model_analysis as tfma
  table = {}
  for record in tfma.load_metrics(evaluation_uri):
    values = {key.name: value.double_value.value
              for key, value in ((kv.key, kv.value) for kv in record.metric_keys_and_values)
              if value.HasField('double_value') and not key.is_diff
              and key.model_name != tfma.BASELINE_KEY}
    slices = [s.bytes_value.decode() if s.HasField('bytes_value') else str(s)
              for s in record.slice_key.single_slice_keys]
    table['/'.join(slices) or OVERALL] = values
  return table


def summarize(config: PipelineConfig) -> RunSummary:
  """The latest run's metrics per slice, blessing and pushed model, read from the home's MLMD."""
  store = open_store(config)
  evaluation = latest_output(store, config, 'Evaluator', 'evaluation')
  blessing = latest_output(store, config, 'Evaluator', 'blessing')
  pushed = latest_output(store, config, 'Pusher', 'pushed_model')
  pushed_path = None
  if pushed is not None and pushed.custom_properties['pushed'].int_value:
    pushed_path = pushed.custom_properties['pushed_destination'].string_value
  model = latest_output(store, config, 'Trainer', 'model')
  examples = latest_output(store, config, 'FileBasedExampleGen', 'examples')
  return RunSummary(
      metrics=load_slice_metrics(evaluation.uri) if evaluation else {},
      blessed=bool(blessing.custom_properties['blessed'].int_value) if blessing else None,
      pushed_path=pushed_path,
      evaluation_uri=evaluation.uri if evaluation else None,
      class_accuracy=class_accuracy.class_head_accuracy(
          os.path.join(model.uri, 'Format-Serving'), examples.uri) if model and examples else None)


SUMMARY_METRICS = (('psnr', 'PSNR dB'), ('auc', 'AuC %'), ('delta_colorfulness', 'dCF'))


def gray_metric(name: str) -> str:
  """The name of a metric's gray-baseline twin (models/metrics.py: GrayPsnr is gray_psnr)."""
  return f'gray_{name}'


def metrics_table(metrics: dict[str, dict[str, float]]) -> tuple[list[str], list[list[str]]]:
  """Header and rows for tables.render_table: one row per slice (overall first), each summary
  metric of ours beside the gray baseline's."""
  header = ['slice'] + [t for _, title in SUMMARY_METRICS for t in (title, f'{title} (gray)')]
  rows = [[name] + [f'{metrics[name].get(key, float("nan")):.2f}'
                    for metric, _ in SUMMARY_METRICS for key in (metric, gray_metric(metric))]
          for name in sorted(metrics, key=lambda s: (s != OVERALL, s))]
  return header, rows


def tensorboard_command(config: PipelineConfig) -> str:
  """The command that shows every Trainer run's curves (the console script beside this Python)."""
  tensorboard = os.path.join(os.path.dirname(sys.executable), 'tensorboard')
  logdir = os.path.join(config.pipeline_root, 'Trainer', 'model_run')
  return shlex.join([tensorboard, '--logdir', logdir, '--host', '127.0.0.1'])


def format_summary(summary: RunSummary, config: PipelineConfig, log_path: str) -> str:
  """What `colorization run` prints at the end: the metric table and where everything went."""
  blessed = {None: 'not evaluated', True: 'BLESSED', False: 'NOT blessed'}[summary.blessed]
  lines = ['', 'Evaluation on the test split (ours vs. gray baseline):',
           tables.render_table(*metrics_table(summary.metrics)), '']
  if summary.class_accuracy:
    lines.append('Class head accuracy on the test split: '
                 + class_accuracy.format_accuracy(summary.class_accuracy))
  lines += [f'Model: {blessed}',
            f'Pushed model: {summary.pushed_path or "not pushed (model not blessed)"}',
            f'Serving base path: {config.serving_dir}',
            f'Evaluation: {summary.evaluation_uri}',
            f'Pipeline root: {config.pipeline_root}',
            f'TensorBoard: {tensorboard_command(config)}',
            f'Log: {log_path}']
  reports = os.path.join(config.reports_dir, 'index.html')
  if os.path.exists(reports):
    lines.append(f'Report: {reports}')
  return '\n'.join(lines)
