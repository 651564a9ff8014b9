"""Scores decodings of a trained network without retraining: the annealed-mean T, the logit
adjustment alpha and the confidence fallback gamma (models/ab_bins.py), and a chroma gain g.

The trained logits do not depend on them, so the run's network is rebuilt through the trainer with
the knobs the run trained with (read from MLMD), loaded with its saved weights, and decoded at each
candidate. It scores a run's split (eval; never choose on test) or any folder of class sub-folders
of photos (--data-root: photos from other sources, resized to the model's input as Transform does):
  python -m experiments.decoding_sweep --home DIR [--split eval | --data-root DIR] [--model URI]
      [--temperatures T ...] [--alphas A ...] [--powers G ...] [--gains g ...]
"""
import argparse
import dataclasses
import itertools
import os
from typing import Iterable, Iterator, NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from ml_metadata.proto import metadata_store_pb2

from colorization.components import image_files
from colorization.models import ab_bins, features, metrics, network, preprocessing, trainer
from colorization.models.hparams import TrainingConfig
from colorization.pipeline import config as config_lib
from colorization.pipeline import results, tables

CANDIDATES = (0.2, 0.3, 0.38, 0.5, 0.7, 1.0)
BATCH = 16


class Decoding(NamedTuple):
  temperature: float
  gain: float = 1.0
  alpha: float = 0.0              # logit adjustment
  power: float = 0.0              # confidence fallback


METRICS = (metrics.Psnr, metrics.GrayPsnr, metrics.Auc, metrics.DeltaColorfulness,
           metrics.ColorfulnessRatio)


@dataclasses.dataclass
class TrainedRun:
  """The latest run's Transform output and its network, rebuilt from the saved weights."""
  tft_output: tft.TFTransformOutput
  transformed_uri: str
  bins: ab_bins.AbBins                        # with the run's temperature
  network: tf.keras.Model

  def logits(self, lightness: tf.Tensor) -> tf.Tensor:
    """The network's ab-bin logits for L [B, H, W, 1]. A class-aware network colours each photo
    for the class its head predicts (an all-zero condition), as colorize_image serves it."""
    if not network.is_class_aware(self.network):
      return self.network(lightness, training=False)
    classes = self.network.input[features.CLASS_CONDITION_KEY].shape[-1]
    condition = tf.zeros([tf.shape(lightness)[0], classes])
    return self.network({features.L_KEY: lightness, features.CLASS_CONDITION_KEY: condition},
                        training=False)[features.AB_LOGITS_KEY]


def _trainer_execution(store, config: config_lib.PipelineConfig, model_uri: str | None):
  """The Trainer execution that wrote model_uri (None: the newest finished one)."""
  if not model_uri:
    return results.latest_execution(store, config, 'Trainer')
  artifacts = [a for a in store.get_artifacts_by_uri(model_uri.rstrip('/'))]
  events = store.get_events_by_artifact_ids([a.id for a in artifacts])
  ids = [e.execution_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
  if not ids:
    raise ValueError(f'No Trainer under {config.home} wrote {model_uri}.')
  return store.get_executions_by_id(ids[:1])[0]


def load_trained_run(config: config_lib.PipelineConfig, model_uri: str | None = None) -> TrainedRun:
  """The newest Transform output under config.home and the Trainer's network (the newest, or the
  one that wrote model_uri), built as the Trainer built it from the TrainingConfig it recorded."""
  store = results.open_store(config)
  transform_graph = results.latest_output(store, config, 'Transform', 'transform_graph')
  transformed = results.latest_output(store, config, 'Transform', 'transformed_examples')
  model = results.latest_output(store, config, 'Trainer', 'model')
  if transform_graph is None or transformed is None or model is None:
    raise ValueError(f'No trained model under {config.home}: run `colorization run` first.')
  execution = _trainer_execution(store, config, model_uri)
  training = results.training_config(execution)
  tft_output = tft.TFTransformOutput(transform_graph.uri)
  bins = trainer.make_bins(training, tft_output,
                           [os.path.join(transformed.uri, 'Split-train', '*')])
  class_names = preprocessing.class_names(tft_output) if training.class_aware else []
  net = rebuild_network(training, bins, class_names,
                        os.path.join(model_uri or model.uri, trainer.WARM_START_FILE))
  return TrainedRun(tft_output, transformed.uri, bins, net)


def rebuild_network(training: TrainingConfig, bins: ab_bins.AbBins, class_names: list[str],
                    weights_path: str) -> tf.keras.Model:
  """The network as the Trainer built it (class-aware: a head over class_names, the run's
  training labels), with the weights it saved at weights_path."""
  net = trainer.build_model(training, bins, total_steps=1, num_classes=len(class_names))
  net.set_weights(trainer.read_weights(weights_path))
  return net


def split_batches(run: TrainedRun, split: str) -> Iterator[dict]:
  """Batches of a run's transformed split: L, ab and label."""
  spec = run.tft_output.transformed_feature_spec()
  files = tf.io.gfile.glob(os.path.join(run.transformed_uri, f'Split-{split}', '*'))
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP').batch(BATCH).map(
      lambda records: preprocessing.decoded_features(tf.io.parse_example(records, spec)))
  for batch in dataset:
    yield {key: batch[key] for key in (features.L_KEY, features.AB_KEY)} | {
        'labels': [label.decode() for label in batch[features.LABEL_KEY][:, 0].numpy()]}


def folder_batches(data_root: str) -> Iterator[dict]:
  """Batches of a folder of class sub-folders, read and resized as Transform reads photos;
  unreadable files are skipped with a line."""
  readable = []
  for label, relative_path in image_files.list_images(data_root):
    try:
      readable.append(image_files.read_image(data_root, label, relative_path))
    except image_files.BadImage as error:
      print(f'skipped {error}')
  for start in range(0, len(readable), BATCH):
    records = readable[start:start + BATCH]
    image_lab = preprocessing.image_bytes_to_lab(tf.constant([r.image_bytes for r in records]))
    lightness, ab = image_lab[..., :1], image_lab[..., 1:]
    yield {features.L_KEY: lightness, features.AB_KEY: ab, 'labels': [r.label for r in records]}


def score_decodings(config: config_lib.PipelineConfig, split: str = 'eval',
                    decodings: tuple[Decoding, ...] = tuple(Decoding(t) for t in CANDIDATES),
                    data_root: str | None = None, model_uri: str | None = None) -> dict:
  """{Decoding: {slice: {metric: value}}} for a trained network on a split or a photo folder."""
  run = load_trained_run(config, model_uri)
  return score_batches(run, folder_batches(data_root) if data_root else split_batches(run, split),
                       decodings)


def score_batches(run: TrainedRun, batches: Iterable[dict],
                  decodings: tuple[Decoding, ...]) -> dict:
  """{Decoding: {slice: {metric: value}}} of the run's network over batches of L, ab and labels."""
  scores = {decoding: {} for decoding in decodings}
  for batch in batches:
    logits = run.logits(batch[features.L_KEY])
    labels = np.array(batch['labels'])
    slices = {results.OVERALL: np.ones(len(labels), bool)}
    slices.update({label: labels == label for label in set(labels)})
    for decoding in decodings:
      ab = run.bins.annealed_mean(logits, decoding.temperature, decoding.alpha, decoding.power)
      ab = tf.image.resize(ab, [features.IMAGE_SIZE] * 2)
      lab_pred = tf.concat([batch[features.L_KEY], decoding.gain * ab], -1)
      for name, mask in slices.items():
        per_slice = scores[decoding].setdefault(name, [m() for m in METRICS])
        for metric in per_slice:
          metric.update_state(tf.boolean_mask(batch[features.AB_KEY], mask),
                              tf.boolean_mask(lab_pred, mask))
  return {decoding: {name: {m.name: float(m.result()) for m in values}
                     for name, values in slices.items()} for decoding, slices in scores.items()}


def main() -> None:
  """`python -m experiments.decoding_sweep`: one table row per (decoding, slice)."""
  parser = argparse.ArgumentParser(prog='python -m experiments.decoding_sweep',
                                   description=__doc__.splitlines()[0],
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--home', required=True, help='the run\'s home (COLORIZATION_HOME)')
  parser.add_argument('--split', default='eval', help='the run\'s split to score')
  parser.add_argument('--data-root', help='score this folder of class sub-folders instead')
  parser.add_argument('--model', help='a Trainer model URI under --home (default: the newest)')
  parser.add_argument('--temperatures', type=float, nargs='+', default=CANDIDATES)
  parser.add_argument('--alphas', type=float, nargs='+', default=[0.0],
                      help='logit adjustments: the share of the rebalancing undone')
  parser.add_argument('--powers', type=float, nargs='+', default=[0.0],
                      help='confidence fallbacks: ab x (1 - normalized entropy)^power')
  parser.add_argument('--gains', type=float, nargs='+', default=[1.0],
                      help='chroma gains g: the decoded ab is scaled by g before scoring')
  args = parser.parse_args()
  decodings = tuple(Decoding(t, g, a, p) for t, g, a, p in itertools.product(
      args.temperatures, args.gains, args.alphas, args.powers))
  try:
    scores = score_decodings(config_lib.from_env(home=args.home), args.split, decodings,
                             args.data_root, args.model)
  except (OSError, ValueError) as error:
    raise SystemExit(f'decoding_sweep: error: {error}') from None
  names = [m().name for m in METRICS]
  rows = [[f'{d.temperature:g}', f'{d.gain:g}', f'{d.alpha:g}', f'{d.power:g}', name,
           *(f'{values[m]:.2f}' for m in names)]
          for d, slices in scores.items() for name, values in sorted(slices.items())]
  print(tables.render_table(['T', 'g', 'alpha', 'gamma', 'slice', *names], rows))


if __name__ == '__main__':
  main()
