"""Scores annealed-mean temperatures T on a run's split (eval by default), without retraining.

The trained logits do not depend on T, so the run's network is rebuilt through the trainer with
the knobs the run trained with (read from MLMD), loaded with its saved weights, and decoded at each
candidate T
(models/ab_bins.py), optionally with the ab scaled by a chroma gain g (an experiment: the
exported graph has no gain). Use it on the eval split, never on test:
  python -m experiments.decoding_sweep --home DIR [--split eval] [--temperatures T ...]
      [--gains g ...]
"""
import argparse
import dataclasses
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from colorization.models import ab_bins, features, metrics, preprocessing, trainer
from colorization.pipeline import config as config_lib
from colorization.pipeline import results, tables

CANDIDATES = (0.2, 0.3, 0.38, 0.5, 0.7, 1.0)
METRICS = (metrics.Psnr, metrics.GrayPsnr, metrics.Auc, metrics.DeltaColorfulness,
           metrics.ColorfulnessRatio)


@dataclasses.dataclass
class TrainedRun:
  """The latest run's Transform output and its network, rebuilt from the saved weights."""
  tft_output: tft.TFTransformOutput
  transformed_uri: str
  bins: ab_bins.AbBins                        # with the run's temperature
  network: tf.keras.Model


def load_trained_run(config: config_lib.PipelineConfig) -> TrainedRun:
  """The newest Transform and Trainer outputs under config.home; the network is built as the
  Trainer built it, from the TrainingConfig the run recorded (encoder, width, temperature)."""
  store = results.open_store(config)
  transform_graph = results.latest_output(store, config, 'Transform', 'transform_graph')
  transformed = results.latest_output(store, config, 'Transform', 'transformed_examples')
  model = results.latest_output(store, config, 'Trainer', 'model')
  if transform_graph is None or transformed is None or model is None:
    raise ValueError(f'No trained model under {config.home}: run `colorization run` first.')
  training = results.trained_with(store, config)
  tft_output = tft.TFTransformOutput(transform_graph.uri)
  bins = trainer.make_bins(training, tft_output,
                           [os.path.join(transformed.uri, 'Split-train', '*')])
  net = trainer.build_model(training, bins, total_steps=1)
  net.set_weights(trainer.read_weights(os.path.join(model.uri, trainer.WARM_START_FILE)))
  return TrainedRun(tft_output, transformed.uri, bins, net)


def score_decodings(config: config_lib.PipelineConfig, split: str = 'eval',
                    temperatures: tuple[float, ...] = CANDIDATES,
                    gains: tuple[float, ...] = (1.0,)) -> dict:
  """{(T, g): {slice: {metric: value}}} for the latest trained model on the split."""
  run = load_trained_run(config)
  spec = run.tft_output.transformed_feature_spec()
  files = tf.io.gfile.glob(os.path.join(run.transformed_uri, f'Split-{split}', '*'))
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP').batch(16).map(
      lambda records: preprocessing.decoded_features(tf.io.parse_example(records, spec)))
  decodings = [(t, g) for t in temperatures for g in gains]
  scores = {decoding: {} for decoding in decodings}
  for batch in dataset:
    logits = run.network(batch[features.L_KEY], training=False)
    labels = batch[features.LABEL_KEY][:, 0].numpy()
    slices = {results.OVERALL: np.ones(len(labels), bool)}
    slices.update({label.decode(): labels == label for label in set(labels)})
    for t in temperatures:
      ab = tf.image.resize(run.bins.annealed_mean(logits, t), [features.IMAGE_SIZE] * 2)
      for g in gains:
        lab_pred = tf.concat([batch[features.L_KEY], g * ab], -1)
        for name, mask in slices.items():
          per_slice = scores[t, g].setdefault(name, [m() for m in METRICS])
          for metric in per_slice:
            metric.update_state(tf.boolean_mask(batch[features.AB_KEY], mask),
                                tf.boolean_mask(lab_pred, mask))
  return {decoding: {name: {m.name: float(m.result()) for m in values}
                     for name, values in slices.items()} for decoding, slices in scores.items()}


def main() -> None:
  """`python -m experiments.decoding_sweep`: one table row per (T, g, slice)."""
  parser = argparse.ArgumentParser(prog='python -m experiments.decoding_sweep',
                                   description=__doc__.splitlines()[0])
  parser.add_argument('--home', required=True)
  parser.add_argument('--split', default='eval')
  parser.add_argument('--temperatures', type=float, nargs='+', default=CANDIDATES)
  parser.add_argument('--gains', type=float, nargs='+', default=[1.0],
                      help='chroma gains g: the decoded ab is scaled by g before scoring')
  args = parser.parse_args()
  try:
    scores = score_decodings(config_lib.from_env(home=args.home), args.split,
                             tuple(args.temperatures), tuple(args.gains))
  except (OSError, ValueError) as error:
    raise SystemExit(f'decoding_sweep: error: {error}') from None
  names = [m().name for m in METRICS]
  rows = [[f'{t:g}', f'{g:g}', name, *(f'{values[m]:.2f}' for m in names)]
          for (t, g), slices in scores.items() for name, values in sorted(slices.items())]
  print(tables.render_table(['T', 'g', 'slice', *names], rows))


if __name__ == '__main__':
  main()
