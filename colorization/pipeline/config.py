"""Every knob of the pipeline, in one dataclass filled from flags or COLORIZATION_* variables."""
from __future__ import annotations

import dataclasses
import os
import shlex

from colorization.models import features, hparams

ENV_PREFIX = 'COLORIZATION_'
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # colorization/


@dataclasses.dataclass
class PipelineConfig:
  """Paths are local directories or object-store / volume URIs (gs://, s3://, /mnt/...)."""
  data_root: str = ''
  home: str = os.path.join(os.path.expanduser('~'), 'colorization')
  pipeline_name: str = 'colorization'
  schema_dir: str = os.path.join(PACKAGE_ROOT, 'schema')
  split_ratios: tuple[int, int, int] = (8, 1, 1)       # train / eval / test hash buckets
  # Transform's own pre/post-transform statistics: off, StatisticsGen already covers the raw
  # examples and the transformed ones are Lab PNGs TFDV cannot describe.
  transform_statistics: bool = False
  # Trainer: TrainArgs / EvalArgs steps here, every other knob in models/hparams.py
  train_steps: int = 1500                               # full budget; the demo: DEMO_BUDGET
  eval_steps: int = 0                                   # 0 = the whole eval split
  training: hparams.TrainingConfig = dataclasses.field(default_factory=hparams.TrainingConfig)
  # Evaluator
  # Blessing: no worse than the last blessed model on PSNR and AuC, and never washed out (a model
  # far less colourful than the truth never becomes the baseline; gray's ratio is 0).
  bless_tolerance_db: float = 0.0                      # allowed PSNR drop vs. the last blessed model
  bless_tolerance_auc: float = 0.0                     # allowed AuC drop (points) vs. the same
  min_psnr_db: float = 5.0                             # sanity floor for the first model
  min_colorfulness_ratio: float = 0.7                  # CF_pred / CF_true floor, first model too
  # Resolve the last blessed model (baseline for the Evaluator, warm start). Open-source KFP has
  # no resolver executor, so kubeflow/runner.py turns this off: the baseline is then the newest
  # version under serving_dir (components/latest_pushed_model.py) and warm start is off.
  resolve_blessed_model: bool = True
  # Beam: one arg per item, e.g. --direct_running_mode=multi_threading or Dataflow/Flink flags.
  beam_args: tuple[str, ...] = ('--runner=DirectRunner', '--direct_num_workers=1')
  enable_cache: bool = True
  # Kubeflow (docs/kubeflow.md): the pipeline image, the Trainer's pod resources, and the
  # PersistentVolumeClaim mounted in every step at kubeflow_volume_path (the data root lives there).
  image: str = 'ghcr.io/colorization/colorization-pipeline:latest'
  trainer_gpus: int = 1
  trainer_gpu_type: str = 'nvidia.com/gpu'             # the Kubernetes resource name of the GPU
  trainer_cpu: float = 8.0                             # vCPUs
  trainer_memory_gb: float = 32.0
  kubeflow_volume_claim: str = ''
  kubeflow_volume_path: str = '/mnt/data'
  model_name: str = features.MODEL_NAME

  @property
  def pipeline_root(self) -> str:
    return os.path.join(self.home, 'pipeline_root')

  @property
  def metadata_path(self) -> str:
    return os.path.join(self.home, 'metadata.sqlite')

  @property
  def serving_dir(self) -> str:
    return os.path.join(self.home, 'serving', self.model_name)

  @property
  def logs_dir(self) -> str:
    return os.path.join(self.home, 'logs')

  @property
  def reports_dir(self) -> str:
    return os.path.join(self.home, 'reports')

  def beam_pipeline_args(self) -> list[str]:
    """beam_args, plus the pipeline image as the Beam SDK container unless a dependency flag is
    given: remote workers then run this package, and TFX does not build an sdist of itself."""
    dependency_flags = ('--sdk_container_image', '--setup_file', '--extra_package',
                        '--requirements_file', '--worker_harness_container_image')
    if any(arg.startswith(dependency_flags) for arg in self.beam_args):
      return list(self.beam_args)
    return list(self.beam_args) + [f'--sdk_container_image={self.image}']

  def replace(self, **changes) -> 'PipelineConfig':
    """A copy with the given fields (of this or of its TrainingConfig) changed; None is ignored."""
    changes = {k: v for k, v in changes.items() if v is not None}
    training = {k: changes.pop(k) for k in list(changes) if k in _TRAINING_FIELDS}
    return dataclasses.replace(self, **changes,
                               training=dataclasses.replace(self.training, **training))


# The generated demo dataset's budget (`colorization run` without a data root): a quick look at the
# pipeline end to end, not a good model.
DEMO_BUDGET = {'train_steps': 40, 'epochs': 2}

_TRAINING_FIELDS = {field.name: field for field in dataclasses.fields(hparams.TrainingConfig)}


def _parse(field: dataclasses.Field, text: str):
  kind = field.type
  if kind == 'bool':
    word = text.strip().lower()
    if word not in ('1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'):
      raise ValueError(text)
    return word in ('1', 'true', 'yes', 'on')
  if kind.startswith('tuple[int'):
    values = tuple(int(x) for x in text.replace('/', ',').split(','))
    if '...' not in kind and len(values) != kind.count('int'):
      raise ValueError(text)
    return values
  if kind.startswith('tuple[str'):
    return tuple(shlex.split(text))
  return {'int': int, 'float': float}.get(kind, str)(text)


def from_env(environ: dict | None = None, base: PipelineConfig | None = None,
             **overrides) -> PipelineConfig:
  """Defaults (`base`, else PipelineConfig()), then COLORIZATION_<FIELD> variables, then explicit
  overrides (e.g. CLI flags)."""
  environ = os.environ if environ is None else environ
  values = {}
  fields = [f for f in dataclasses.fields(PipelineConfig) if f.name != 'training']
  for field in fields + list(_TRAINING_FIELDS.values()):
    text = environ.get(ENV_PREFIX + field.name.upper())
    if text is not None:
      try:
        values[field.name] = _parse(field, text)
      except ValueError:
        raise ValueError(f'{ENV_PREFIX}{field.name.upper()}={text!r} is not a valid '
                         f'{field.type}') from None
  return (base or PipelineConfig()).replace(**values).replace(**overrides)
