"""Runs the pipeline on this machine with LocalDagRunner.

`tfx pipeline create --engine=local --pipeline_path=colorization/pipeline/local_runner.py` and
`tfx run create --engine=local --pipeline_name=colorization` execute this file; settings come from
COLORIZATION_* environment variables (the TFX CLI passes no arguments).
"""
import logging
import os
import sys
import time

if __name__ == '__main__':  # run as a file by the TFX CLI: make the package importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

from colorization.pipeline import config as config_lib  # noqa: E402


class _Progress(logging.Handler):
  """Prints one line as each component starts and finishes, with the elapsed time."""

  def __init__(self, stream=sys.stdout):
    super().__init__(logging.INFO)
    self._stream = stream
    self._start = time.monotonic()
    self._component_start = self._start

  def emit(self, record: logging.LogRecord) -> None:
    message = record.getMessage()
    now = time.monotonic()
    if message.startswith('Component ') and message.endswith(' is running.'):
      self._component_start = now
      self._print(f'{message[10:-12]} running ...', now)
    elif message.startswith('Component ') and message.endswith(' is finished.'):
      self._print(f'{message[10:-13]} done in {now - self._component_start:.1f} s', now)
    elif message.startswith('A cached execution'):
      self._print('  reused the cached result', now)

  def _print(self, text: str, now: float) -> None:
    print(f'[{now - self._start:7.1f} s] {text}', file=self._stream, flush=True)


def run(config: config_lib.PipelineConfig, progress: bool = True) -> str:
  """Runs the whole pipeline; returns the path of the log file (all outputs under config.home)."""
  from absl import logging as absl_logging
  from tfx import v1 as tfx
  from colorization.models import efficientnet_lite, hparams
  from colorization.pipeline.pipeline import create_pipeline

  if config.training.encoder == hparams.PRETRAINED_ENCODER:  # fail before any component runs
    efficientnet_lite.resolve_weights_path(config.training.encoder_weights)
  absl_verbosity = absl_logging.get_verbosity()
  absl_logging.set_verbosity(absl_logging.INFO)  # TF restores this level after muting itself
  os.makedirs(config.logs_dir, exist_ok=True)
  log_path = os.path.join(config.logs_dir, time.strftime('run-%Y%m%d-%H%M%S.log'))
  file_handler = logging.FileHandler(log_path)
  file_handler.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s'))
  root, tf_logger = logging.getLogger(), logging.getLogger('tensorflow')
  saved = root.handlers[:], root.level, tf_logger.handlers[:]
  root.handlers = [file_handler] + ([_Progress()] if progress else [])  # console: progress only
  tf_logger.handlers = [file_handler]
  root.setLevel(logging.INFO)
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
  return log_path


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
