"""Transform benchmark: the real TFX Transform executor against a bare tf.data loop, in one process.

    python -m bench.transform_throughput --data-root DIR [--images N] [--skip-variants] [--keep]

The executor runs models.preprocessing.preprocessing_fn with the pipeline's splits, Beam arguments
and statistics setting on the raw tf.Examples our ExampleGen writes; the bare loop does the same
per-image work (decode, resize, Lab, ab histogram, Lab PNG) with the models.preprocessing
functions on the same JPEG files. Both run again on a third of the images, to split the
executor's cost into a fixed part and a cost per image. Profiling rows (skipped with
--skip-variants) locate the overhead: the executor with the other statistics setting, with
materialize=False, tft_beam.AnalyzeAndTransformDataset in memory, and the gzip of the transformed
records on its own.

The ratio printed last is bare seconds / executor seconds on the same images in the same run, i.e.
the executor's throughput as a fraction of bare TensorFlow's, printed with its target
(TRANSFORM_TARGET) and whether it is met; the ratios matter more than the absolute numbers on a
busy machine. Nothing is written outside a temporary directory (removed unless --keep).
"""
import argparse
import os
import time
import zlib

from bench import pipeline_inputs
from bench.pipeline_inputs import SPLITS, log

TRANSFORM_TARGET = 0.5


def bare_preprocessing(paths: list[str], batch_size: int = 32) -> float:
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


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  pipeline_inputs.add_common_arguments(parser)
  args = parser.parse_args(argv)
  files = pipeline_inputs.select_files_or_exit(parser, args.data_root, args.images)
  with pipeline_inputs.work_directory(args.keep) as work:
    return _run(args, files, work)


def _run(args: argparse.Namespace, files: list[tuple[str, str]], work: str) -> int:
  pipeline_inputs.quiet_tensorflow()
  small_count = max(10, len(files) // 3)
  raw_dir, small_dir = os.path.join(work, 'raw_examples'), os.path.join(work, 'raw_examples_small')
  paths, skipped = pipeline_inputs.write_raw_examples(args.data_root, files, raw_dir)
  small_paths, _ = pipeline_inputs.write_raw_examples(args.data_root, files[:small_count],
                                                      small_dir)
  pipeline_inputs.describe_run(args.data_root, paths, skipped)
  all_paths = [p for split in SPLITS for p in paths[split]]
  small_all = [p for split in SPLITS for p in small_paths[split]]
  n, n_train, n_small = len(all_paths), len(paths['train']), len(small_all)
  rows = []   # (name, seconds, images, note)

  # End to end on n images, and the marginal cost per image from a run on n_small.
  bare_times = [bare_preprocessing(all_paths) for _ in range(2)]
  bare_small = min(bare_preprocessing(small_all) for _ in range(2))
  log(f'bare tf.data preprocessing: cold {bare_times[0]:.2f} s, warm {bare_times[1]:.2f} s, '
      f'{n_small} images {bare_small:.2f} s')
  bare = min(bare_times)
  rows.append(('bare tf.data decode+resize+Lab+histogram+PNG', bare, n, 'warm pass'))
  rows.append(('  bare tf.data, first (cold) pass', bare_times[0], n, 'tracing'))
  no_stats = pipeline_inputs.pipeline_disables_statistics()
  executor, uris = pipeline_inputs.transform_executor(raw_dir, os.path.join(work, 'transform'),
                                                      no_stats)
  log(f'Transform executor (pipeline settings): {executor:.1f} s')
  rows.append(('TFX Transform executor (as in the pipeline)', executor, n,
               f'analyze {n_train} + transform {n}, statistics {"off" if no_stats else "on"}, '
               'gzip output'))
  executor_small, _ = pipeline_inputs.transform_executor(
      small_dir, os.path.join(work, 'transform_small'), no_stats)
  log(f'Transform executor on {n_small} images: {executor_small:.1f} s')
  rows.append((f'  same on {n_small} images', executor_small, n_small, ''))
  if not args.skip_variants:
    seconds, _ = pipeline_inputs.transform_executor(
        raw_dir, os.path.join(work, 'transform_stats'), not no_stats)
    log(f'Transform executor, statistics {"on" if no_stats else "off"}: {seconds:.1f} s')
    rows.append((f'  same, disable_statistics={not no_stats}', seconds, n, 'profiling'))
    seconds, _ = pipeline_inputs.transform_executor(
        raw_dir, os.path.join(work, 'transform_analyze_only'), True, materialize=False)
    log(f'Transform executor, materialize=False + disable_statistics: {seconds:.1f} s')
    rows.append(('  same, materialize=False (analysis + graph only)', seconds, n,
                 f'profiling: analyze {n_train}, nothing written per example'))
    seconds = tft_beam_in_memory(raw_dir, work)
    log(f'tft_beam in memory: {seconds:.1f} s')
    rows.append(('  tft_beam.AnalyzeAndTransformDataset in memory', seconds, n,
                 f'analyze {n} + transform {n}, no I/O'))
    seconds, count, raw_bytes, gz_bytes = gzip_cost(uris['transformed_examples'])
    rows.append(('  gzip of the transformed records alone', seconds, count,
                 f'{raw_bytes / count / 1e3:.0f} KB -> {gz_bytes / count / 1e3:.0f} KB '
                 'per example'))

  pipeline_inputs.print_rows('Transform', rows)
  bare_extra, executor_extra = bare - bare_small, executor - executor_small
  extra_images = n - n_small
  if extra_images > 0 and bare_extra > 0 and executor_extra > 0:
    print(f'Transform marginal cost per extra image ({n_small} -> {n} images): bare '
          f'{1e3 * bare_extra / extra_images:.1f} ms, executor '
          f'{1e3 * executor_extra / extra_images:.1f} ms '
          f'(ratio {bare_extra / executor_extra:.3f}); '
          f'executor fixed cost ~{executor - executor_extra / extra_images * n:.1f} s')
  pipeline_inputs.print_ratio('Transform', bare / executor, TRANSFORM_TARGET)
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
