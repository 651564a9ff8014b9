"""Trainer benchmark: run_fn's real input pipeline feeding model.fit against bare fit, one process.

    python -m bench.trainer_throughput --data-root DIR [--images N] [--batch-size B]
        [--train-steps S] [--repeats R] [--skip-variants] [--keep]

The Transform executor first turns the images into the pipeline's transformed examples (not
timed here: bench.transform_throughput measures it). Then seconds per training step, data fetch
included, of models.trainer's real input pipeline (TFX data accessor over the gzipped transformed
examples, shuffle, augmentation, pooling) feeding model.fit, against model.fit of the same network
on the same, already augmented tensors held in memory. The first step of each fit (iterator
start-up, shuffle buffer fill) is reported apart; sides alternate and the best of --repeats counts,
since other processes make single runs noisy. Profiling rows (skipped with --skip-variants): raw
examples through the transform graph inside tf.data (the input Transform(materialize=False) would
need), and the input pipeline alone without a model.

The ratio printed last is bare seconds per step / real seconds per step in the same run, i.e. the
real pipeline's training throughput as a fraction of training on tensors in memory, printed with
its target (TRAINER_TARGET) and whether it is met; the ratios matter more than the absolute numbers
on a busy machine. Nothing is written outside a temporary directory (removed unless --keep).
"""
import argparse
import json
import os
import time

from bench import pipeline_inputs
from bench.pipeline_inputs import SPLITS, log

TRAINER_TARGET = 0.9


def trainer_setup(transformed_uri: str, graph_uri: str, batch_size: int, train_steps: int):
  """(fn_args, config, tft_output, bins): fn_args exactly as the Trainer executor builds them,
  plus the run_fn pieces."""
  import tensorflow_transform as tft
  from tfx.components.trainer import fn_args_utils
  from tfx.proto import trainer_pb2
  from tfx.types import artifact_utils, standard_artifacts
  from tfx.utils import proto_utils
  from colorization.models import hparams, trainer

  examples = standard_artifacts.Examples()
  examples.uri = transformed_uri
  examples.split_names = artifact_utils.encode_split_names(list(SPLITS))
  graph = standard_artifacts.TransformGraph()
  graph.uri = graph_uri
  training = hparams.TrainingConfig(batch_size=batch_size).to_custom_config()
  fn_args = fn_args_utils.get_common_fn_args(
      {'examples': [examples], 'transform_graph': [graph]},
      {'train_args': proto_utils.proto_to_json(trainer_pb2.TrainArgs(splits=['train'],
                                                                     num_steps=train_steps)),
       'eval_args': proto_utils.proto_to_json(trainer_pb2.EvalArgs(splits=['eval'])),
       'custom_config': json.dumps(training)})
  fn_args.transform_output = fn_args.transform_graph_path  # as the Trainer executor does
  config = hparams.TrainingConfig.from_custom_config(fn_args.custom_config)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  bins = trainer.make_bins(config, tft_output, fn_args.train_files)
  return fn_args, config, tft_output, bins


def raw_examples_dataset(raw_dir: str, tft_output, config):
  """The alternative to materialized Transform output: raw tf.Examples through the transform
  graph inside tf.data, then run_fn's augmentation and pooling (trainer.make_dataset's to_pair)."""
  import tensorflow as tf
  from tfx.components.util import tfxio_utils
  from tfx.types import artifact_utils, standard_artifacts
  from tfx_bsl.public import tfxio
  from colorization.models import features, preprocessing, trainer
  examples = standard_artifacts.Examples()
  examples.uri = raw_dir
  examples.split_names = artifact_utils.encode_split_names(list(SPLITS))
  factory = tfxio_utils.get_tf_dataset_factory_from_artifact([examples], ['bench'])
  dataset = factory([os.path.join(raw_dir, 'Split-train', '*')],
                    tfxio.TensorFlowDatasetOptions(batch_size=config.batch_size, shuffle=True,
                                                   num_epochs=None),
                    tft_output.raw_metadata.schema)
  tft_layer = tft_output.transform_features_layer()

  def to_pair(batch):
    lightness, ab = preprocessing.decode_lab(tft_layer(batch)[features.LAB_PNG_KEY])
    lightness, ab = trainer.augment(lightness, ab, config.crop_size)
    return lightness, preprocessing.pool_ab(ab)

  return dataset.map(to_pair, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def step_timer():
  """A Keras callback recording the seconds of each training step (end to end) in .steps."""
  import tensorflow as tf

  class StepTimer(tf.keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
      self.steps, self._last = [], time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
      now = time.perf_counter()
      self.steps.append(now - self._last)
      self._last = now

  return StepTimer()


def in_memory_tensors(dataset, rows: int):
  """`rows` (L, pooled ab) pairs drawn once from the real (augmenting) pipeline, as numpy."""
  import numpy as np
  inputs, targets = [], []
  for lightness, ab in dataset:
    inputs.append(lightness.numpy())
    targets.append(ab.numpy())
    if sum(len(x) for x in inputs) >= rows:
      break
  return np.concatenate(inputs)[:rows], np.concatenate(targets)[:rows]


def time_input_pipeline(dataset, steps: int) -> tuple[float, float]:
  """(seconds to the first batch of a new iterator, seconds for `steps` more batches)."""
  start = time.perf_counter()
  iterator = iter(dataset)
  next(iterator)
  first = time.perf_counter() - start
  start = time.perf_counter()
  for _ in range(steps):
    next(iterator)
  return first, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  pipeline_inputs.add_common_arguments(parser)
  parser.add_argument('--batch-size', type=int, default=16, help='training batch (default 16)')
  parser.add_argument('--train-steps', type=int, default=10,
                      help='timed training steps per measurement, at least 2 (default 10)')
  parser.add_argument('--repeats', type=int, default=3,
                      help='alternating measurements per side, best kept (default 3)')
  args = parser.parse_args(argv)
  if args.train_steps < 2:
    parser.error('--train-steps must be at least 2 (the first step is reported apart)')
  files = pipeline_inputs.select_files_or_exit(parser, args.data_root, args.images)
  with pipeline_inputs.work_directory(args.keep) as work:
    return _run(args, files, work)


def _run(args: argparse.Namespace, files: list[tuple[str, str]], work: str) -> int:
  pipeline_inputs.quiet_tensorflow()
  import tensorflow as tf
  from colorization.models import trainer
  raw_dir = os.path.join(work, 'raw_examples')
  paths, skipped = pipeline_inputs.write_raw_examples(args.data_root, files, raw_dir)
  pipeline_inputs.describe_run(args.data_root, paths, skipped)
  seconds, uris = pipeline_inputs.transform_executor(
      raw_dir, os.path.join(work, 'transform'), pipeline_inputs.pipeline_disables_statistics())
  log(f'Transform executor (pipeline settings, not part of the ratio): {seconds:.1f} s')

  fn_args, config, tft_output, bins = trainer_setup(
      uris['transformed_examples'], uris['transform_graph'], args.batch_size, args.train_steps)
  dataset = trainer.make_dataset(fn_args, tft_output, fn_args.train_files, config, training=True)
  x, y = in_memory_tensors(dataset, args.batch_size * args.train_steps)
  log(f'in-memory tensors: L {x.shape}, ab {y.shape}')
  x, y = tf.constant(x), tf.constant(y)
  def model():
    return trainer.build_model(config, bins, args.train_steps)
  sides = {'real': (model(), dataset), 'bare': (model(), None)}
  if not args.skip_variants:
    sides['raw'] = (model(), raw_examples_dataset(raw_dir, tft_output, config))

  def fit(side: str, steps: int) -> list[float]:
    """Seconds per training step, data fetch included; the first also starts the iterator."""
    model, data = sides[side]
    timer = step_timer()
    if data is None:
      model.fit(x[:steps * args.batch_size], y[:steps * args.batch_size],
                batch_size=args.batch_size, epochs=1, verbose=0, callbacks=[timer])
    else:
      model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
    return timer.steps

  for side in sides:
    fit(side, 2)                                                          # trace, warm up
  steady = {side: [] for side in sides}     # mean step after the first, per repeat
  startup = {side: [] for side in sides}    # first step of each fit
  for repeat in range(args.repeats):
    for side in sides:
      steps = fit(side, args.train_steps)
      startup[side].append(steps[0])
      steady[side].append(sum(steps[1:]) / len(steps[1:]))
    log(f'Trainer repeat {repeat + 1}, seconds per step after the first: ' +
        ', '.join(f'{side} {steady[side][-1]:.3f}' for side in sides))
  per_step = {side: min(values) for side, values in steady.items()}
  timed_steps = args.train_steps - 1
  trained = args.batch_size * timed_steps
  rows = [('bare Keras fit, tensors in memory', per_step['bare'] * timed_steps, trained,
           f'batch {args.batch_size}, {config.crop_size}px crops; '
           f'first step {min(startup["bare"]):.2f} s'),
          ('run_fn input pipeline + fit', per_step['real'] * timed_steps, trained,
           'TFX data accessor, gzip TFRecords, augment; '
           f'first step {min(startup["real"]):.2f} s')]
  if not args.skip_variants:
    rows.append(('  raw examples + transform graph in tf.data', per_step['raw'] * timed_steps,
                 trained, 'profiling: the input Transform(materialize=False) would need; '
                 f'first step {min(startup["raw"]):.2f} s'))
    first, seconds = time_input_pipeline(dataset, timed_steps)
    rows.append(('  run_fn input pipeline alone (no model)', seconds, trained,
                 f'profiling; first batch of a new iterator {first:.2f} s'))

  pipeline_inputs.print_rows('Trainer', rows)
  pipeline_inputs.print_ratio('Trainer', per_step['bare'] / per_step['real'], TRAINER_TARGET)
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
