"""Compiles create_pipeline() into a Kubeflow Pipelines v2 spec with KubeflowV2DagRunner.

A `.yaml` output is a PipelineSpec (what the KFP UI and API upload), followed by a Kubernetes
platform spec when a volume is mounted; a `.json` output is a PipelineJob (Vertex AI Pipelines).
Paths are checked before TFX is imported (~34 s), so a wrong path fails at once.
"""
import json
import os
import posixpath

import yaml
from google.protobuf import message

from colorization.pipeline.config import PACKAGE_ROOT, PipelineConfig

IMAGE_SOURCE_DIR = '/pipeline/colorization'  # this package inside the image (Dockerfile WORKDIR)
# TFX writes artifacts straight to their URIs with tf.io.gfile, which reads gs:// in the image,
# and the KFP launcher only accepts object-store pipeline roots: a volume cannot be the home.
OBJECT_STORE = 'gs://'
YAML_SUFFIXES = ('.yaml', '.yml')


def _on_volume(config: PipelineConfig, path: str) -> bool:
  """Whether `path` is under the mounted volume claim (False when no claim is set)."""
  mount = posixpath.normpath(config.kubeflow_volume_path)
  return bool(config.kubeflow_volume_claim) and posixpath.isabs(path) and (
      posixpath.normpath(path) + '/').startswith(mount + '/')


def _unreachable(config: PipelineConfig, what: str, path: str) -> ValueError:
  volume = (f'under the volume claim {config.kubeflow_volume_claim!r} mounted at '
            f'{config.kubeflow_volume_path}' if config.kubeflow_volume_claim else
            'on a volume (set COLORIZATION_KUBEFLOW_VOLUME_CLAIM to mount one at '
            f'{config.kubeflow_volume_path})')
  return ValueError(f'{what} {path!r} cannot be reached from Kubeflow: use a {OBJECT_STORE} URI '
                    f'or a path {volume}')


def kubeflow_config(config: PipelineConfig, image: str | None = None) -> PipelineConfig:
  """The config as the pipeline's containers see it; ValueError naming any path they cannot use.

  The schema inside this package maps to its copy in the image (IMAGE_SOURCE_DIR). The
  blessed-model resolver is left out: the open-source KFP backend has no resolver executor (the
  Evaluator's baseline is then the newest pushed model).
  """
  config = config.replace(image=image)
  if not config.home.startswith(OBJECT_STORE):
    raise ValueError(f'home {config.home!r} is not a {OBJECT_STORE} URI: on Kubeflow the pipeline '
                     'root and the pushed models live in a bucket (--home or COLORIZATION_HOME)')
  if not config.data_root:
    raise ValueError('no data root: pass --data-root or set COLORIZATION_DATA_ROOT')
  if not (config.data_root.startswith(OBJECT_STORE) or _on_volume(config, config.data_root)):
    raise _unreachable(config, 'data root', config.data_root)
  if config.trainer_gpus < 0 or config.trainer_cpu <= 0 or config.trainer_memory_gb <= 0:
    raise ValueError('trainer_gpus must be >= 0 and trainer_cpu, trainer_memory_gb > 0')
  schema_dir = config.schema_dir
  if not (schema_dir.startswith(OBJECT_STORE) or _on_volume(config, schema_dir)):
    relative = os.path.relpath(os.path.abspath(schema_dir), PACKAGE_ROOT)
    if relative.startswith(os.pardir):
      raise _unreachable(config, 'schema dir', schema_dir)
    schema_dir = posixpath.join(IMAGE_SOURCE_DIR, *relative.split(os.sep))
  return config.replace(schema_dir=schema_dir, resolve_blessed_model=False)


def trainer_resources(config: PipelineConfig) -> message.Message:
  """The Trainer's pod request as the KFP ResourceSpec the TFX Kubeflow v2 compiler reads."""
  from kfp.pipeline_spec import pipeline_spec_pb2
  spec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec(
      cpu_limit=config.trainer_cpu, memory_limit=config.trainer_memory_gb)
  if config.trainer_gpus:
    spec.accelerator.type = config.trainer_gpu_type
    spec.accelerator.count = config.trainer_gpus
  return spec


def volume_platform_spec(config: PipelineConfig, pipeline_spec: dict) -> dict:
  """A KFP Kubernetes platform spec mounting the volume claim in every container step."""
  mount = {'constant': config.kubeflow_volume_claim, 'mountPath': config.kubeflow_volume_path}
  executors = {label: {'pvcMount': [dict(mount)]}
               for label, executor in pipeline_spec['deploymentSpec']['executors'].items()
               if 'container' in executor}
  return {'platforms': {'kubernetes': {'deploymentSpec': {'executors': executors}}}}


def compile_pipeline(config: PipelineConfig, image: str | None = None,
                     output: str = 'colorization_pipeline.yaml') -> str:
  """Writes the KFP v2 spec of create_pipeline(config) to `output`; returns its absolute path."""
  if not output.endswith((*YAML_SUFFIXES, '.json')):
    raise ValueError(f'--output {output!r} must end in .yaml (PipelineSpec) or .json (PipelineJob)')
  config = kubeflow_config(config, image)
  if config.kubeflow_volume_claim and not output.endswith(YAML_SUFFIXES):
    raise ValueError('a .json PipelineJob cannot mount the volume claim: write .yaml instead')

  from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner
  from colorization.pipeline.pipeline import create_pipeline
  runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
      kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
          default_image=config.image, use_pipeline_spec_2_1=True))  # KFP accepts schema 2.1 only
  job = runner.run(create_pipeline(config, trainer_platform_config=trainer_resources(config)),
                   write_out=False)
  spec = job['pipelineSpec']
  spec['defaultPipelineRoot'] = config.pipeline_root  # the KFP UI pre-fills new runs with it
  with open(output, 'w') as f:
    if not output.endswith(YAML_SUFFIXES):
      json.dump(job, f, indent=2, sort_keys=True)
    elif config.kubeflow_volume_claim:
      yaml.safe_dump_all([spec, volume_platform_spec(config, spec)], f, sort_keys=True)
    else:
      yaml.safe_dump(spec, f, sort_keys=True)
  return os.path.abspath(output)
