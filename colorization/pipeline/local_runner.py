"""Runs the pipeline on this machine with LocalDagRunner.

`tfx pipeline create --engine=local --pipeline_path=colorization/pipeline/local_runner.py` and
`tfx run create --engine=local --pipeline_name=colorization` execute this file; settings come from
COLORIZATION_* environment variables (the TFX CLI passes no arguments).
"""
import contextlib
import logging
import os
import sys
import time
from typing import Iterator

if __name__ == '__main__':  # run as a file by the TFX CLI: make the package importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

from colorization.pipeline import config as config_lib  # noqa: E402


# TensorFlow's native log level (TF_CPP_MIN_LOG_LEVEL) for a pipeline run, unless the environment
# sets one: 2 keeps ERROR lines and drops warnings and info. TensorFlow reads it once, at import,
# so run_log sets it and sends stderr to the run's log before that import.
NATIVE_LOG_LEVEL = '2'

# Messages that mark where a component's long part starts: (component, message start) -> line.
HEAVY_PARTS = {
    ('FileBasedExampleGen', 'Generating examples.'): 'reading the photos ...',
    ('Transform', 'udf_utils.get_fn'): 'analyzing the training split, transforming every split ...',
    ('Trainer', 'Training model.'): 'loading the examples and building the network ...',
    ('Evaluator', 'Using '): 'loading the trained model ...',
    ('Evaluator', 'Evaluating model.'): 'computing metrics on the test split ...',
}


class _Progress(logging.Handler):
  """Prints one line as each component starts, starts its long part and finishes, with the elapsed
  time, and every record of the progress logger (the Trainer's steps and epochs)."""

  def __init__(self, progress_logger: str, stream=sys.stdout):
    super().__init__(logging.INFO)
    self._progress_logger = progress_logger
    self._stream = stream
    self._start = time.monotonic()
    self._component_start = self._start
    self._component = ''
    self._parts_shown: set[str] = set()

  def emit(self, record: logging.LogRecord) -> None:
    message = record.getMessage()
    now = time.monotonic()
    if record.name == self._progress_logger:
      self._print(message, now)
    elif message.startswith('Component ') and message.endswith(' is running.'):
      self._component_start, self._component = now, message[10:-12]
      self._parts_shown = set()
      self._print(f'{self._component} running ...', now)
    elif message.startswith('Component ') and message.endswith(' is finished.'):
      self._print(f'{message[10:-13]} done in {now - self._component_start:.1f} s', now)
    elif message.startswith('A cached execution'):
      self._print('  reused the cached result', now)
    else:
      for (component, start), text in HEAVY_PARTS.items():
        if (component == self._component and message.startswith(start)
            and text not in self._parts_shown):  # each part once: some log lines repeat
          self._parts_shown.add(text)
          self._print(f'{component}: {text}', now)

  def _print(self, text: str, now: float) -> None:
    print(f'[{now - self._start:7.1f} s] {text}', file=self._stream, flush=True)


@contextlib.contextmanager
def stderr_to(log_path: str) -> Iterator[None]:
  """Appends whatever goes to stderr while the block runs to log_path: file descriptor 2
  (TensorFlow's native log at NATIVE_LOG_LEVEL, the absl pre-init line) and sys.stderr (Python
  warnings). The console keeps stdout, where the progress lines go."""
  sys.stderr.flush()
  saved_fd, saved_stream = os.dup(2), sys.stderr
  log = open(log_path, 'a', buffering=1)  # line-buffered; both write through O_APPEND
  os.dup2(log.fileno(), 2)
  sys.stderr = log
  try:
    yield
  finally:
    log.flush()
    sys.stderr = saved_stream
    os.dup2(saved_fd, 2)
    os.close(saved_fd)
    log.close()


def new_log_path(config: config_lib.PipelineConfig) -> str:
  """The path of a new run log, logs/run-<date>-<time>.log under the home (the folder is made)."""
  os.makedirs(config.logs_dir, exist_ok=True)
  return os.path.join(config.logs_dir, time.strftime('run-%Y%m%d-%H%M%S.log'))


@contextlib.contextmanager
def run_log(config: config_lib.PipelineConfig) -> Iterator[str]:
  """Sends stderr to a new run log (its path is yielded) while the block runs, at TensorFlow's
  NATIVE_LOG_LEVEL: enter it before TensorFlow is imported."""
  log_path = new_log_path(config)
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', NATIVE_LOG_LEVEL)
  with stderr_to(log_path):
    yield log_path


def run(config: config_lib.PipelineConfig, progress: bool = True) -> str:
  """Runs the whole pipeline; returns the path of its new log file (all outputs under
  config.home), which takes stderr (run_log) before TensorFlow is imported."""
  with run_log(config) as log_path:
    run_in_log(config, log_path, progress)
  return log_path


def run_in_log(config: config_lib.PipelineConfig, log_path: str, progress: bool = True) -> None:
  """Runs the whole pipeline inside run_log, whose file is log_path (the component logs go there
  too): for a caller that took stderr before importing TensorFlow itself, as the CLI does."""
  from absl import logging as absl_logging
  from tfx import v1 as tfx
  from colorization.models import efficientnet_lite, hparams, training_progress
  from colorization.pipeline.pipeline import create_pipeline

  if config.training.encoder in hparams.PRETRAINED_ENCODERS:  # fail before any component runs
    efficientnet_lite.resolve_weights_path(config.training.encoder_weights, config.training.encoder)
  absl_verbosity = absl_logging.get_verbosity()
  absl_logging.set_verbosity(absl_logging.INFO)  # TF restores this level after muting itself
  file_handler = logging.FileHandler(log_path)
  file_handler.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s'))
  root, tf_logger = logging.getLogger(), logging.getLogger('tensorflow')
  saved = root.handlers[:], root.level, tf_logger.handlers[:]
  console = [_Progress(training_progress.PROGRESS_LOGGER)] if progress else []
  root.handlers = [file_handler] + console  # the console shows progress only
  tf_logger.handlers = [file_handler]
  root.setLevel(logging.INFO)
  if progress:
    print(f'Details and warnings go to the log: {log_path}', flush=True)
  try:
    tfx.orchestration.LocalDagRunner().run(create_pipeline(
        config, tfx.orchestration.metadata.sqlite_metadata_connection_config(
            config.metadata_path)))
  except Exception:
    logging.getLogger(__name__).exception('Pipeline run failed')  # the traceback, in the log only
    raise
  finally:
    file_handler.close()
    root.handlers, root.level, tf_logger.handlers = saved
    absl_logging.set_verbosity(absl_verbosity)


def main() -> int:
  """The TFX CLI's entry: one clear error line and a non-zero exit when the run fails."""
  try:
    config = config_lib.from_env()
    log_path = run(config)
  except Exception as e:  # the CLI boundary; run() wrote the traceback to the log
    print(f'colorization pipeline failed: {e}', file=sys.stderr)
    return 1
  print(f'Run finished; log: {log_path}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
