"""Pipeline benchmark: Transform and Trainer throughput against bare TensorFlow, in one process.

    python -m bench.pipeline --data-root DIR [--images N] [--batch-size B] [--train-steps S]

Transform: the real TFX Transform executor (models.preprocessing.preprocessing_fn, the pipeline's
splits and Beam arguments) on the raw tf.Examples our ExampleGen writes, against a bare tf.data
loop doing the same decode + resize + Lab (+ ab histogram) with the models.preprocessing functions
on the same JPEG files. Run again on a third of the images to split the executor's cost into a
fixed part and a cost per image. To locate the overhead (profiling rows): the executor with
disable_statistics, with materialize=False, tft_beam.AnalyzeAndTransformDataset in memory, and
the gzip of the transformed records on its own.

Trainer: seconds per training step (data fetch included) of models.trainer's real input pipeline
(TFX data accessor over the transformed examples, shuffle, augmentation, pooling) feeding
model.fit, against model.fit of the same network on the same, already augmented tensors held in
memory. The first step of each fit (iterator start-up, shuffle buffer fill) is reported apart;
sides alternate and the best of --repeats counts, since other processes make single runs noisy.

Every figure comes from this run; the ratios matter more than the absolute numbers on a busy machine.
Nothing is written outside a temporary directory (removed unless --keep).
"""
import argparse
import json
import os
import shutil
import tempfile
import time
import zlib

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

SPLITS = ('train', 'eval', 'test')
TRANSFORM_TARGET = 0.5
TRAINER_TARGET = 0.9


def log(message: str) -> None:
  print(f'[{time.strftime("%H:%M:%S")}] {message}', flush=True)


def select_files(data_root: str, count: int) -> list[tuple[str, str]]:
  """(label, relative path): the first files of each class in turn, `count` in all."""
  from colorization.components import image_files
  by_class = {}
  for label, path in image_files.list_images(data_root):
    by_class.setdefault(label, []).append(path)
  chosen, index = [], 0
  while len(chosen) < count and any(index < len(paths) for paths in by_class.values()):
    for label in sorted(by_class):
      if index < len(by_class[label]) and len(chosen) < count:
        chosen.append((label, by_class[label][index]))
    index += 1
  return chosen


def write_raw_examples(data_root: str, files: list, out_dir: str) -> tuple[str, dict, int]:
  """The ExampleGen's tf.Examples (same to_example/read_image as its DoFn), split 8/1/1 by index,
  written as <out_dir>/Split-<name>/*.gz; returns (dir, {split: [file path]}, skipped)."""
  import tensorflow as tf
  from colorization.components import image_example_gen, image_files
  writers = {}
  paths = {split: [] for split in SPLITS}
  skipped = 0
  for i, (label, relative_path) in enumerate(files):
    split = SPLITS[0] if i % 10 < 8 else SPLITS[1 + i % 10 - 8]
    try:
      record = image_files.read_image(data_root, label, relative_path)
    except image_files.BadImage:
      skipped += 1
      continue
    if split not in writers:
      os.makedirs(os.path.join(out_dir, f'Split-{split}'))
      writers[split] = tf.io.TFRecordWriter(
          os.path.join(out_dir, f'Split-{split}', 'data_tfrecord-00000-of-00001.gz'),
          options='GZIP')
    writers[split].write(image_example_gen.to_example(record).SerializeToString())
    paths[split].append(os.path.join(data_root, relative_path))
  for writer in writers.values():
    writer.close()
  return out_dir, paths, skipped


# --- Transform -----------------------------------------------------------------------------------

def bare_preprocessing(paths: list[str], batch_size: int = 32):
  """A tf.data pass over the files doing preprocessing_fn's per-image work (decode, resize, Lab,
  histogram, the Lab PNG); returns seconds."""
  import tensorflow as tf
  from colorization.models import features, preprocessing

  def per_image(image_bytes):
    rgb = preprocessing.decode_rgb(image_bytes)
    return (preprocessing.rgb_to_model_lab(rgb),
            preprocessing.rgb_to_model_lab(rgb, features.PREDICTION_SIZE))

  def per_batch(image_lab, histogram_lab):
    return (preprocessing.encode_lab(image_lab),
            tf.reduce_sum(preprocessing.histogram_ab(histogram_lab), 0))

  dataset = (tf.data.Dataset.from_tensor_slices(paths)
             .map(tf.io.read_file, num_parallel_calls=tf.data.AUTOTUNE)
             .map(per_image, num_parallel_calls=tf.data.AUTOTUNE)
             .batch(batch_size)
             .map(per_batch)
             .prefetch(tf.data.AUTOTUNE))
  start = time.perf_counter()
  count = 0
  for lab_png, _ in dataset:
    count += int(lab_png.shape[0])
  assert count == len(paths)
  return time.perf_counter() - start


def transform_executor(raw_dir: str, out_dir: str, disable_statistics: bool,
                       materialize: bool = True) -> tuple[float, dict]:
  """The TFX Transform executor as the pipeline configures it; returns (seconds, output uris).
  materialize=False is Transform(materialize=False): analysis and the transform graph only."""
  from tfx.components.transform import executor as transform_executor_lib
  from tfx.dsl.components.base import base_beam_executor
  from tfx.proto import transform_pb2
  from tfx.types import artifact_utils, standard_artifacts
  from tfx.utils import proto_utils
  from colorization.pipeline import config as config_lib
  from colorization.pipeline.pipeline import PREPROCESSING_FN

  config = config_lib.from_env()
  examples = standard_artifacts.Examples()
  examples.uri = raw_dir
  examples.split_names = artifact_utils.encode_split_names(list(SPLITS))
  schema = standard_artifacts.Schema()
  schema.uri = config.schema_dir
  outputs = {
      'transform_graph': standard_artifacts.TransformGraph(),
      'transformed_examples': standard_artifacts.Examples(),
      'pre_transform_schema': standard_artifacts.Schema(),
      'pre_transform_stats': standard_artifacts.ExampleStatistics(),
      'post_transform_schema': standard_artifacts.Schema(),
      'post_transform_stats': standard_artifacts.ExampleStatistics(),
      'post_transform_anomalies': standard_artifacts.ExampleAnomalies(),
  }
  if not materialize:
    del outputs['transformed_examples']
  for name, artifact in outputs.items():
    artifact.uri = os.path.join(out_dir, name)
    os.makedirs(artifact.uri)
  splits_config = transform_pb2.SplitsConfig(analyze=['train'], transform=list(SPLITS))
  exec_properties = {
      'preprocessing_fn': PREPROCESSING_FN,
      'splits_config': proto_utils.proto_to_json(splits_config),
      'disable_statistics': int(disable_statistics),
      'force_tf_compat_v1': 0,
      'custom_config': 'null',
  }
  context = base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=config.beam_pipeline_args(), tmp_dir=os.path.join(out_dir, 'tmp'),
      unique_id='bench')
  executor = transform_executor_lib.Executor(context)
  start = time.perf_counter()
  executor.Do({'examples': [examples], 'schema': [schema]},
              {name: [artifact] for name, artifact in outputs.items()}, exec_properties)
  return time.perf_counter() - start, {name: a.uri for name, a in outputs.items()}


def tft_beam_in_memory(raw_dir: str, work_dir: str) -> float:
  """tft_beam.AnalyzeAndTransformDataset over every raw example, DirectRunner, no I/O; seconds."""
  import apache_beam as beam
  import tensorflow as tf
  import tensorflow_transform.beam as tft_beam
  from tfx_bsl.public import tfxio
  from tfx.utils import io_utils
  from colorization.models import preprocessing
  from colorization.pipeline import config as config_lib

  config = config_lib.from_env()
  schema = io_utils.SchemaReader().read(os.path.join(config.schema_dir, 'schema.pbtxt'))
  records = [r.numpy() for r in tf.data.TFRecordDataset(
      tf.io.gfile.glob(os.path.join(raw_dir, 'Split-*', '*')), compression_type='GZIP')]
  source = tfxio.TFExampleBeamRecord(physical_format='inmem', schema=schema,
                                     telemetry_descriptors=['bench'])
  start = time.perf_counter()
  with beam.Pipeline(argv=config.beam_pipeline_args()) as pipeline:
    with tft_beam.Context(temp_dir=os.path.join(work_dir, 'tft_tmp')):
      raw = pipeline | beam.Create(records, reshuffle=False) | source.BeamSource()
      (transformed, _), _ = ((raw, source.TensorAdapterConfig())
                             | tft_beam.AnalyzeAndTransformDataset(
                                 preprocessing.preprocessing_fn, output_record_batches=True))
      _ = (transformed | beam.Map(lambda batch_and_extra: batch_and_extra[0].num_rows)
           | beam.CombineGlobally(sum) | beam.Map(lambda n: log(f'  tft_beam transformed {n}')))
  return time.perf_counter() - start


def gzip_cost(transformed_dir: str, limit: int = 200) -> tuple[float, int, int, int]:
  """Seconds to gzip (up to `limit`) transformed records the way Beam's WriteToTFRecord('.gz')
  does (Python zlib, default level), the record count, and raw and compressed bytes."""
  import tensorflow as tf
  records = [r.numpy() for r in tf.data.TFRecordDataset(
      tf.io.gfile.glob(os.path.join(transformed_dir, 'Split-*', '*')),
      compression_type='GZIP').take(limit)]
  start = time.perf_counter()
  compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
  compressed = sum(len(compressor.compress(r)) for r in records) + len(compressor.flush())
  return time.perf_counter() - start, len(records), sum(map(len, records)), compressed


# --- Trainer -------------------------------------------------------------------------------------

def trainer_setup(transformed_uri: str, graph_uri: str, batch_size: int, train_steps: int):
  """fn_args exactly as the Trainer executor builds them, plus the run_fn pieces."""
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


def StepTimer():
  """A Keras callback recording the seconds of each training step (end to end)."""
  import tensorflow as tf

  class _StepTimer(tf.keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
      self.steps, self._last = [], time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
      now = time.perf_counter()
      self.steps.append(now - self._last)
      self._last = now

  return _StepTimer()


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


# --- main ----------------------------------------------------------------------------------------

def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data-root', required=True,
                      help='photos as DATA_ROOT/<class>/<images>; the first --images are used')
  parser.add_argument('--images', type=int, default=120, help='images to use (default 120)')
  parser.add_argument('--batch-size', type=int, default=16, help='training batch (default 16)')
  parser.add_argument('--train-steps', type=int, default=10,
                      help='timed training steps per measurement (default 10)')
  parser.add_argument('--repeats', type=int, default=3,
                      help='alternating Trainer measurements per side, best kept (default 3)')
  parser.add_argument('--skip-variants', action='store_true',
                      help='only the two headline comparisons (no profiling variants)')
  parser.add_argument('--keep', action='store_true', help='keep the temporary directory')
  args = parser.parse_args(argv)

  work = tempfile.mkdtemp(prefix='colorization-bench-')
  try:
    return _run(args, work)
  finally:
    if args.keep:
      print(f'Kept {work}')
    else:
      shutil.rmtree(work, ignore_errors=True)


def _run(args, work: str) -> int:
  import absl.logging
  absl.logging.set_verbosity(absl.logging.WARNING)
  import tensorflow as tf
  tf.get_logger().setLevel('ERROR')

  files = select_files(args.data_root, args.images)
  small_count = max(10, len(files) // 3)
  raw_dir, paths, skipped = write_raw_examples(args.data_root, files,
                                               os.path.join(work, 'raw_examples'))
  small_dir, small_paths, _ = write_raw_examples(args.data_root, files[:small_count],
                                                 os.path.join(work, 'raw_examples_small'))
  all_paths = [p for split in SPLITS for p in paths[split]]
  small_all = [p for split in SPLITS for p in small_paths[split]]
  n, n_train, n_small = len(all_paths), len(paths['train']), len(small_all)
  log(f'{n} images from {args.data_root} ({n_train} train; {skipped} unreadable skipped); '
      f'tf {tf.__version__}, {os.cpu_count()} CPUs, load average '
      f'{" ".join(f"{x:.1f}" for x in os.getloadavg())}')

  rows = []   # (section, name, seconds, images, note)

  # Transform: end to end on n images, and the marginal cost per image from a run on n_small.
  bare_times = [bare_preprocessing(all_paths) for _ in range(2)]
  bare_small = min(bare_preprocessing(small_all) for _ in range(2))
  log(f'bare tf.data preprocessing: cold {bare_times[0]:.2f} s, warm {bare_times[1]:.2f} s, '
      f'{n_small} images {bare_small:.2f} s')
  bare = min(bare_times)
  rows.append(('transform', 'bare tf.data decode+resize+Lab+histogram+PNG', bare, n, 'warm pass'))
  rows.append(('transform', '  bare tf.data, first (cold) pass', bare_times[0], n, 'tracing'))
  from colorization.pipeline import config as config_lib
  pipeline_no_stats = not config_lib.from_env().transform_statistics
  seconds, uris = transform_executor(raw_dir, os.path.join(work, 'transform'), pipeline_no_stats)
  log(f'Transform executor (pipeline settings): {seconds:.1f} s')
  rows.append(('transform', 'TFX Transform executor (as in the pipeline)', seconds, n,
               f'analyze {n_train} + transform {n}, statistics '
               f'{"off" if pipeline_no_stats else "on"}, gzip output'))
  executor_seconds = seconds
  small_seconds, _ = transform_executor(small_dir, os.path.join(work, 'transform_small'),
                                        pipeline_no_stats)
  log(f'Transform executor on {n_small} images: {small_seconds:.1f} s')
  rows.append(('transform', f'  same on {n_small} images', small_seconds, n_small, ''))
  marginal = {'bare': (bare - bare_small, n - n_small),
              'executor': (executor_seconds - small_seconds, n - n_small)}
  if not args.skip_variants:
    seconds, _ = transform_executor(raw_dir, os.path.join(work, 'transform_stats'),
                                    not pipeline_no_stats)
    log(f'Transform executor, statistics {"on" if pipeline_no_stats else "off"}: {seconds:.1f} s')
    rows.append(('transform', f'  same, disable_statistics={not pipeline_no_stats}', seconds, n,
                 'profiling'))
    seconds, _ = transform_executor(raw_dir, os.path.join(work, 'transform_analyze_only'), True,
                                    materialize=False)
    log(f'Transform executor, materialize=False + disable_statistics: {seconds:.1f} s')
    rows.append(('transform', '  same, materialize=False (analysis + graph only)', seconds, n,
                 f'profiling: analyze {n_train}, nothing written per example'))
    seconds = tft_beam_in_memory(raw_dir, work)
    log(f'tft_beam in memory: {seconds:.1f} s')
    rows.append(('transform', '  tft_beam.AnalyzeAndTransformDataset in memory', seconds, n,
                  f'analyze {n} + transform {n}, no I/O'))
    seconds, count, raw_bytes, gz_bytes = gzip_cost(uris['transformed_examples'])
    rows.append(('transform', '  gzip of the transformed records alone', seconds, count,
                 f'{raw_bytes / count / 1e3:.0f} KB -> {gz_bytes / count / 1e3:.0f} KB per example'))

  # Trainer
  fn_args, config, tft_output, bins = trainer_setup(
      uris['transformed_examples'], uris['transform_graph'], args.batch_size, args.train_steps)
  from colorization.models import trainer
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
    timer = StepTimer()
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
  trained = args.batch_size * (args.train_steps - 1)
  rows.append(('trainer', 'bare Keras fit, tensors in memory', per_step['bare'] * (
      args.train_steps - 1), trained, f'batch {args.batch_size}, {config.crop_size}px crops; '
      f'first step {min(startup["bare"]):.2f} s'))
  rows.append(('trainer', 'run_fn input pipeline + fit', per_step['real'] * (
      args.train_steps - 1), trained, 'TFX data accessor, gzip TFRecords, augment; '
      f'first step {min(startup["real"]):.2f} s'))
  if not args.skip_variants:
    rows.append(('trainer', '  raw examples + transform graph in tf.data',
                  per_step['raw'] * (args.train_steps - 1), trained,
                  'profiling: the input Transform(materialize=False) would need; '
                  f'first step {min(startup["raw"]):.2f} s'))
    first, seconds = time_input_pipeline(dataset, args.train_steps - 1)
    rows.append(('trainer', '  run_fn input pipeline alone (no model)', seconds, trained,
                 f'profiling; first batch of a new iterator {first:.2f} s'))

  print()
  print(f'{"":<52}{"seconds":>9}{"images":>8}{"images/s":>10}  note')
  for section in ('transform', 'trainer'):
    print(section.capitalize())
    for row_section, name, seconds, images, note in rows:
      if row_section == section:
        print(f'  {name:<50}{seconds:>9.2f}{images:>8}{images / seconds:>10.1f}  {note}')
  transform_ratio = bare / executor_seconds
  trainer_ratio = per_step['bare'] / per_step['real']
  print()
  (bare_extra, extra_images), (executor_extra, _) = marginal['bare'], marginal['executor']
  if bare_extra > 0 and executor_extra > 0:
    print(f'Transform marginal cost per extra image ({n_small} -> {n} images): bare '
          f'{1e3 * bare_extra / extra_images:.1f} ms, executor '
          f'{1e3 * executor_extra / extra_images:.1f} ms (ratio {bare_extra / executor_extra:.3f}); '
          f'executor fixed cost ~{executor_seconds - executor_extra / extra_images * n:.1f} s')
  for name, ratio, target in (('Transform', transform_ratio, TRANSFORM_TARGET),
                              ('Trainer', trainer_ratio, TRAINER_TARGET)):
    verdict = 'met' if ratio >= target else 'MISSED'
    print(f'{name} throughput / bare: {ratio:.3f} (target >= {target}: {verdict})')
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
