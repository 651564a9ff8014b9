"""Scores annealed-mean temperatures on a split (eval by default), without retraining.

The trained logits do not depend on T, so the network is rebuilt from the run's warm-start
weights and decoded at each candidate T and energy match kappa (models/ab_bins.py), optionally
with the ab scaled by a chroma gain g (an experiment: the exported graph has no gain). Use it on
the eval split, never on test:
  python -m experiments.temperature --home DIR [--split eval] [--temperatures T ...]
      [--energy-matches kappa ...] [--chroma-exponent a] [--gains g ...]
"""
import argparse
import dataclasses
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from colorization.models import ab_bins, features, metrics, network, trainer
from colorization.pipeline import config as config_lib
from colorization.pipeline import results

CANDIDATES = (0.2, 0.3, 0.38, 0.5, 0.7, 1.0)


@dataclasses.dataclass
class TrainedRun:
  """The latest run's Transform output and its network, rebuilt from the warm-start weights."""
  tft_output: tft.TFTransformOutput
  transformed_uri: str
  bins: ab_bins.AbBins                        # with the config's decoding knobs
  network: tf.keras.Model


def load_trained_run(config: config_lib.PipelineConfig) -> TrainedRun:
  """The newest Transform and Trainer outputs under config.home (width from the config)."""
  store = results.open_store(config)
  transform_graph = results.latest_output(store, config, 'Transform', 'transform_graph')
  transformed = results.latest_output(store, config, 'Transform', 'transformed_examples')
  model = results.latest_output(store, config, 'Trainer', 'model')
  if transform_graph is None or transformed is None or model is None:
    raise ValueError(f'No trained model under {config.home}: run `colorization run` first.')
  tft_output = tft.TFTransformOutput(transform_graph.uri)
  bins = trainer.make_bins(trainer.TrainingConfig(**config.training_config()), tft_output,
                           [os.path.join(transformed.uri, 'Split-train', '*')])
  net = network.build_network(bins.size, config.width)
  net.set_weights(trainer.read_weights(os.path.join(model.uri, trainer.WARM_START_FILE)))
  return TrainedRun(tft_output, transformed.uri, bins, net)


def score_temperatures(config: config_lib.PipelineConfig, split: str = 'eval',
                       temperatures: tuple[float, ...] = CANDIDATES,
                       gains: tuple[float, ...] = (1.0,),
                       energy_matches: tuple[float, ...] = (0.0,),
                       chroma_exponent: float = ab_bins.CHROMA_EXPONENT) -> dict:
  """{(T, kappa, g): {class: {metric: value}}} for the latest trained model on the split."""
  run = load_trained_run(config)
  bins, net = run.bins, run.network  # decoded below with each candidate's explicit knobs
  spec = run.tft_output.transformed_feature_spec()
  files = tf.io.gfile.glob(os.path.join(run.transformed_uri, f'Split-{split}', '*'))
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP').batch(16).map(
      lambda records: tf.io.parse_example(records, spec))
  metric_classes = (metrics.Psnr, metrics.GrayPsnr, metrics.Auc, metrics.DeltaColorfulness,
                    metrics.ColorfulnessRatio)
  decodings = [(t, kappa, g) for t in temperatures for kappa in energy_matches for g in gains]
  scores = {decoding: {} for decoding in decodings}
  for batch in dataset:
    logits = net(batch[features.L_KEY], training=False)
    labels = batch[features.LABEL_KEY][:, 0].numpy()
    slices = {'overall': np.ones(len(labels), bool)}
    slices.update({label.decode(): labels == label for label in set(labels)})
    for t, kappa, g in decodings:
      ab = g * tf.image.resize(bins.decode(logits, t, kappa, chroma_exponent),
                               [features.IMAGE_SIZE] * 2)
      lab_pred = tf.concat([batch[features.L_KEY], ab], -1)
      for name, mask in slices.items():
        per_slice = scores[t, kappa, g].setdefault(name, [m() for m in metric_classes])
        for metric in per_slice:
          metric.update_state(tf.boolean_mask(batch[features.AB_KEY], mask),
                              tf.boolean_mask(lab_pred, mask))
  return {decoding: {name: {m.name: float(m.result()) for m in values}
              for name, values in slices.items()} for decoding, slices in scores.items()}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--home', required=True)
  parser.add_argument('--split', default='eval')
  parser.add_argument('--temperatures', type=float, nargs='+', default=CANDIDATES)
  parser.add_argument('--gains', type=float, nargs='+', default=[1.0],
                      help='chroma gains g: the decoded ab is scaled by g before scoring')
  parser.add_argument('--energy-matches', type=float, nargs='+', default=[0.0],
                      help='energy matches kappa of the decoding (0 = plain annealed mean)')
  parser.add_argument('--chroma-exponent', type=float, default=ab_bins.CHROMA_EXPONENT,
                      help='chroma contrast exponent a of the energy-matched decoding')
  args = parser.parse_args()
  try:
    scores = score_temperatures(config_lib.from_env(home=args.home), args.split,
                                tuple(args.temperatures), tuple(args.gains),
                                tuple(args.energy_matches), args.chroma_exponent)
  except ValueError as error:
    raise SystemExit(f'error: {error}') from None
  for (t, kappa, g), classes in scores.items():
    for name, values in sorted(classes.items()):
      print(f'T={t:<5} kappa={kappa:<5} g={g:<5} {name:<10} '
            + '  '.join(f'{k}={v:.2f}' for k, v in values.items()))


if __name__ == '__main__':
  main()
