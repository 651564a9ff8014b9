"""What the Transform and Trainer benchmarks (bench.transform_throughput,
bench.trainer_throughput) both start from, built in-process as the pipeline builds it: the
ExampleGen's raw tf.Examples and the Transform executor's output; plus their shared flags and
print-out. Not an entry point."""
import argparse
import contextlib
import os
import shutil
import tempfile
import time
from typing import Iterator

# Before anything imports TensorFlow (the entry points import this module first).
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

SPLITS = ('train', 'eval', 'test')


def log(message: str) -> None:
  print(f'[{time.strftime("%H:%M:%S")}] {message}', flush=True)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
  """--data-root, --images, --skip-variants, --keep (both benchmarks take them)."""
  parser.add_argument('--data-root', required=True,
                      help='photos as DATA_ROOT/<class>/<images>; the first --images are used')
  parser.add_argument('--images', type=int, default=120, help='images to use (default 120)')
  parser.add_argument('--skip-variants', action='store_true',
                      help='only the headline comparison (no profiling variants)')
  parser.add_argument('--keep', action='store_true', help='keep the temporary directory')


@contextlib.contextmanager
def work_directory(keep: bool) -> Iterator[str]:
  """A temporary directory for everything a benchmark writes, removed at the end unless keep."""
  work = tempfile.mkdtemp(prefix='colorization-bench-')
  try:
    yield work
  finally:
    if keep:
      print(f'Kept {work}')
    else:
      shutil.rmtree(work, ignore_errors=True)


def quiet_tensorflow() -> None:
  """Warnings and errors only from absl and TensorFlow (the executors log every step at INFO)."""
  import absl.logging
  absl.logging.set_verbosity(absl.logging.WARNING)
  import tensorflow as tf
  tf.get_logger().setLevel('ERROR')


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


def select_files_or_exit(parser: argparse.ArgumentParser, data_root: str,
                        count: int) -> list[tuple[str, str]]:
  """select_files, with an unusable data root as a one-line usage error (exit status 2)."""
  from colorization.components import image_files
  try:
    return select_files(data_root, count)
  except image_files.DataRootError as error:
    parser.error(str(error))


def write_raw_examples(data_root: str, files: list[tuple[str, str]],
                       out_dir: str) -> tuple[dict[str, list[str]], int]:
  """The ExampleGen's tf.Examples (same to_example/read_image as its DoFn), split 8/1/1 by index,
  written as <out_dir>/Split-<name>/*.gz; returns ({split: [image path]}, unreadable skipped)."""
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
  return paths, skipped


def describe_run(data_root: str, paths: dict[str, list[str]], skipped: int) -> None:
  """Logs what the run measures on and how busy the machine is."""
  import tensorflow as tf
  count = sum(len(split_paths) for split_paths in paths.values())
  log(f'{count} images from {data_root} ({len(paths["train"])} train; {skipped} unreadable '
      f'skipped); tf {tf.__version__}, {os.cpu_count()} CPUs, load average '
      f'{" ".join(f"{x:.1f}" for x in os.getloadavg())}')


def pipeline_disables_statistics() -> bool:
  """The pipeline's Transform disable_statistics (not config.transform_statistics)."""
  from colorization.pipeline import config as config_lib
  return not config_lib.from_env().transform_statistics


def transform_executor(raw_dir: str, out_dir: str, disable_statistics: bool,
                       materialize: bool = True) -> tuple[float, dict[str, str]]:
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


def print_rows(title: str, rows: list[tuple[str, float, int, str]]) -> None:
  """The table of (name, seconds, images, note) rows, with images per second."""
  print()
  print(f'{"":<52}{"seconds":>9}{"images":>8}{"images/s":>10}  note')
  print(title)
  for name, seconds, images, note in rows:
    print(f'  {name:<50}{seconds:>9.2f}{images:>8}{images / seconds:>10.1f}  {note}')
  print()


def print_ratio(name: str, ratio: float, target: float) -> None:
  """The headline: throughput over the same run's bare baseline, against the target."""
  verdict = 'met' if ratio >= target else 'MISSED'
  print(f'{name} throughput / bare: {ratio:.3f} (target >= {target}: {verdict})')
