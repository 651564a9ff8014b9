"""create_pipeline(): the colorization DAG, from photos on disk to a pushed SavedModel."""
import glob
import hashlib
import os

import tensorflow_model_analysis as tfma
from google.protobuf import message
from tfx import v1 as tfx
from ml_metadata.proto import metadata_store_pb2

from colorization.components import image_example_gen
from colorization.components.evaluator import Evaluator
from colorization.components.latest_pushed_model import LatestPushedModel
from colorization.models import features, metrics
from colorization.pipeline.config import PipelineConfig

PREPROCESSING_FN = 'colorization.models.preprocessing.preprocessing_fn'
RUN_FN = 'colorization.models.trainer.run_fn'
MODELS_DIR = os.path.dirname(features.__file__)
PACKAGE_DIR = os.path.dirname(MODELS_DIR)


def source_fingerprint(*paths: str) -> str:
  """SHA-256 of Python sources: files, or the *.py files of directories.

  TFX fingerprints a module_file but not code named by import path (run_fn, preprocessing_fn, a
  custom executor), so each such component carries this as an execution property: editing its
  code invalidates its cached outputs.
  """
  files = sorted(name for path in paths for name in (
      glob.glob(os.path.join(path, '*.py')) if os.path.isdir(path) else [path]))
  digest = hashlib.sha256()
  for name in files:
    with open(name, 'rb') as source:
      digest.update(os.path.basename(name).encode() + b'\0' + source.read())
  return digest.hexdigest()


def example_gen_fingerprint(package_dir: str = PACKAGE_DIR) -> str:
  """ImageExampleGen's code version: the fingerprint of the sources its executor runs."""
  return source_fingerprint(*(os.path.join(package_dir, path)
                              for path in image_example_gen.EXECUTOR_SOURCES))


def blessing_thresholds(config: PipelineConfig) -> dict[type, tfma.MetricThreshold]:
  """Metric class -> its blessing gate: PSNR and AuC no worse than the baseline, not washed out."""
  def no_worse(tolerance: float, floor: float | None = None) -> tfma.MetricThreshold:
    return tfma.MetricThreshold(
        value_threshold=None if floor is None else tfma.GenericValueThreshold(
            lower_bound={'value': floor}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={'value': -tolerance}))
  return {
      metrics.Psnr: no_worse(config.bless_tolerance_db, config.min_psnr_db),
      metrics.Auc: no_worse(config.bless_tolerance_auc),
      metrics.ColorfulnessRatio: tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
          lower_bound={'value': config.min_colorfulness_ratio})),
  }


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
  """Colorization metrics overall and per class, the blessing gates checked on every slice."""
  thresholds = blessing_thresholds(config)
  metric_configs = [
      tfma.MetricConfig(class_name=metric.__name__, module=metrics.__name__,
                        threshold=thresholds.get(metric))
      for metric in metrics.ALL_METRICS]
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(signature_name=features.SERVING_EXAMPLES,
                                  label_key=features.AB_KEY,
                                  preprocessing_function_names=[features.TRANSFORM_FEATURES])],
      slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[features.LABEL_KEY])],
      metrics_specs=[tfma.MetricsSpec(metrics=metric_configs)])


def create_pipeline(config: PipelineConfig,
                    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
                    trainer_platform_config: message.Message | None = None) -> tfx.dsl.Pipeline:
  """ExampleGen -> statistics/schema/validation -> Transform -> Trainer -> Evaluator -> Pusher.

  The Evaluator's baseline is the last blessed model: found by TFX's resolver, or with
  config.resolve_blessed_model off (Kubeflow), the newest version the Pusher wrote.

  trainer_platform_config: the Trainer's resource request for an orchestrator (Kubeflow: the KFP
  ResourceSpec kubeflow/runner.py builds from config). LocalDagRunner rejects a ResourceSpec.
  """
  code_version = source_fingerprint(MODELS_DIR)
  example_gen = image_example_gen.ImageExampleGen(
      config.data_root, config.split_ratios,
      code_version=example_gen_fingerprint())
  statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs['examples'])
  schema_gen = tfx.components.ImportSchemaGen(
      schema_file=os.path.join(config.schema_dir, 'schema.pbtxt'))
  example_validator = tfx.components.ExampleValidator(
      statistics=statistics_gen.outputs['statistics'], schema=schema_gen.outputs['schema'])

  transform = tfx.components.Transform(
      examples=example_gen.outputs['examples'], schema=schema_gen.outputs['schema'],
      preprocessing_fn=PREPROCESSING_FN,
      custom_config={'code_version': code_version},
      disable_statistics=not config.transform_statistics,
      splits_config=tfx.proto.SplitsConfig(analyze=['train'],
                                           transform=['train', 'eval', 'test']))

  latest_blessed_model = tfx.dsl.Resolver(
      strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
      model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
      model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
  ).with_id('latest_blessed_model_resolver') if config.resolve_blessed_model else None

  trainer = tfx.components.Trainer(
      run_fn=RUN_FN,
      examples=transform.outputs['transformed_examples'],
      transform_graph=transform.outputs['transform_graph'],
      base_model=(latest_blessed_model.outputs['model']
                  if latest_blessed_model and config.training.warm_start else None),
      train_args=tfx.proto.TrainArgs(splits=['train'], num_steps=config.train_steps),
      eval_args=tfx.proto.EvalArgs(splits=['eval'], num_steps=config.eval_steps or None),
      custom_config=dict(config.training.to_custom_config(), code_version=code_version))
  if trainer_platform_config is not None:
    trainer.with_platform_config(trainer_platform_config)

  # Without the resolver (Kubeflow) the newest pushed version is the last blessed model.
  latest_pushed_model = None if latest_blessed_model else LatestPushedModel(
      candidate=trainer.outputs['model'], serving_dir=config.serving_dir)
  baseline = latest_blessed_model or latest_pushed_model

  evaluator = Evaluator(
      examples=example_gen.outputs['examples'],
      example_splits=['test'],
      model=trainer.outputs['model'],
      baseline_model=baseline.outputs['model'],
      eval_config=eval_config(config))

  pusher = tfx.components.Pusher(
      model=trainer.outputs['model'],
      model_blessing=evaluator.outputs['blessing'],
      push_destination=tfx.proto.PushDestination(
          filesystem=tfx.proto.PushDestination.Filesystem(base_directory=config.serving_dir)))

  return tfx.dsl.Pipeline(
      pipeline_name=config.pipeline_name,
      pipeline_root=config.pipeline_root,
      components=[c for c in (example_gen, statistics_gen, schema_gen, example_validator,
                              transform, latest_blessed_model, trainer, latest_pushed_model,
                              evaluator, pusher) if c],
      enable_cache=config.enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=config.beam_pipeline_args())
