"""Encoder benchmark: one training step (forward + backward + Adam) with each pretrained encoder.

    python -m bench.encoders [--steps N] [--batch-size 16] [--crop-size 192]

Builds the Trainer's compiled network (trainer.build_model: rebalanced loss, Adam) for every
encoder in hparams.PRETRAINED_ENCODERS and times train_on_batch on one batch of the Trainer's
shape (crop_size x crop_size L, ab at a quarter of that), in both phases of a run: encoder
frozen, then unfrozen for fine-tuning. Steps alternate between the encoders so that load from
other processes hits them alike. Reported: the median step time of each, its ratio to the
default encoder's, and the ratio for a whole run's Trainer's steps (the frozen phase for
1 - fine_tune_fraction of the steps, the fine-tuning phase for the rest).
"""
import argparse
import os
import statistics
import time

import numpy as np

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import tensorflow as tf  # noqa: E402  (after the environment: TensorFlow reads it on import)

from colorization.models import ab_bins, features, hparams, lab, trainer  # noqa: E402

WARMUP_STEPS = 1  # the first step traces the graph


def synthetic_batch(batch_size: int, crop_size: int, seed: int = 0) -> tuple[np.ndarray, ...]:
  """L [B, S, S, 1] and ab [B, S/4, S/4, 2] of random sRGB pixels, and their ab histogram."""
  rng = np.random.default_rng(seed)
  rgb = rng.uniform(0, 1, (batch_size, crop_size, crop_size, 3)).astype(np.float32)
  lab_image = lab.srgb_to_lab(tf.constant(rgb))
  size = crop_size // features.OUTPUT_STRIDE
  ab = tf.image.resize(lab_image[..., 1:], [size, size], method='area')
  histogram = tf.reduce_sum(ab_bins.grid_histogram(lab_image[..., 1:]), 0)
  return lab_image[..., :1].numpy(), ab.numpy(), histogram.numpy()


def time_steps(models: dict, batch: tuple[np.ndarray, np.ndarray], steps: int) -> dict:
  """Median seconds of train_on_batch per model, steps alternated between the models."""
  for model in models.values():
    for _ in range(WARMUP_STEPS):
      model.train_on_batch(*batch)
  times = {name: [] for name in models}
  for _ in range(steps):
    for name, model in models.items():
      start = time.perf_counter()
      model.train_on_batch(*batch)
      times[name].append(time.perf_counter() - start)
  return {name: statistics.median(t) for name, t in times.items()}


def print_phase(phase: str, seconds: dict, base: str) -> None:
  print(phase)
  for name, value in seconds.items():
    print(f'  {name:20s} {value:6.3f} s/step  {value / seconds[base]:.2f}x {base}')


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=5, help='timed steps per encoder and phase')
  parser.add_argument('--batch-size', type=int, default=hparams.TrainingConfig.batch_size)
  parser.add_argument('--crop-size', type=int, default=hparams.TrainingConfig.crop_size)
  args = parser.parse_args(argv)

  lightness, ab, histogram = synthetic_batch(args.batch_size, args.crop_size)
  bins = ab_bins.AbBins(histogram)
  configs = {name: hparams.TrainingConfig(encoder=name) for name in hparams.PRETRAINED_ENCODERS}
  models = {name: trainer.build_model(config, bins, total_steps=1000)
            for name, config in configs.items()}
  print(f'batch {args.batch_size} x {args.crop_size}x{args.crop_size}, {bins.size} bins, '
        f'median of {args.steps} steps each')
  base = hparams.DEFAULT_ENCODER
  frozen = time_steps(models, (lightness, ab), args.steps)
  print_phase('frozen encoder', frozen, base)
  for name, model in models.items():
    trainer.unfreeze_encoder(model, configs[name], bins, steps=1000)
  fine_tuned = time_steps(models, (lightness, ab), args.steps)
  print_phase('fine-tuning', fine_tuned, base)
  share = hparams.TrainingConfig.fine_tune_fraction
  run = {name: (1 - share) * frozen[name] + share * fine_tuned[name] for name in models}
  print_phase(f'whole Trainer ({1 - share:.2f} frozen + {share:.2f} fine-tuning)', run, base)


if __name__ == '__main__':
  main()
