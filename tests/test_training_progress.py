"""models.training_progress: the phase plan, the progress lines, the TensorBoard curves (and, slow,
a real TensorBoard server reading a pipeline run's Trainer logs)."""
import glob
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from colorization.models import hparams, training_progress
from colorization.models.hparams import TrainingConfig
from colorization.models.training_progress import FINE_TUNING, FROZEN, Phase

TENSORBOARD = os.path.join(os.path.dirname(sys.executable), 'tensorboard')


# --- the phase plan ------------------------------------------------------------------------------

def test_fine_tuning_is_split_into_epochs_as_long_as_the_frozen_ones():
  assert training_progress.plan_phases(1500, TrainingConfig(epochs=5)) == [
      Phase(FROZEN, 0, 5, 200), Phase(FINE_TUNING, 5, 2, 250)]
  assert training_progress.plan_phases(6, TrainingConfig(epochs=1)) == [
      Phase(FROZEN, 0, 1, 4), Phase(FINE_TUNING, 1, 1, 2)]


@pytest.mark.parametrize('train_steps,epochs', [(1500, 5), (40, 2), (7, 3), (1000, 1), (2, 1),
                                                (997, 4)])
def test_the_plan_keeps_the_step_count_and_numbers_epochs_on(train_steps, epochs):
  config = TrainingConfig(epochs=epochs)
  fine_tune_steps = min(round(config.fine_tune_fraction * train_steps), train_steps - 1)
  frozen_steps = max(1, (train_steps - fine_tune_steps) // epochs) * epochs
  phases = training_progress.plan_phases(train_steps, config)
  assert sum(p.steps for p in phases) == frozen_steps + fine_tune_steps
  assert [p.first_epoch for p in phases] == [0, epochs][:len(phases)]
  assert phases[0].steps == frozen_steps


def test_lite2_is_fine_tuned_like_lite0():
  config = TrainingConfig(epochs=2, encoder='efficientnet-lite2', fine_tune_fraction=1 / 3)
  phases = training_progress.plan_phases(300, config)
  assert [p.steps for p in phases] == [200, 100]


def test_a_scratch_encoder_has_no_fine_tuning_phase():
  config = TrainingConfig(epochs=2, encoder=hparams.SCRATCH_ENCODER)
  assert training_progress.plan_phases(100, config) == [Phase(FROZEN, 0, 2, 50)]


def test_durations_read_as_minutes_or_hours():
  assert training_progress.format_duration(723.4) == '12m03s'
  assert training_progress.format_duration(5) == '0m05s'
  assert training_progress.format_duration(3725) == '1h02m'


# --- progress lines ------------------------------------------------------------------------------

class FakeClock:
  def __init__(self):
    self.now = 1000.0

  def __call__(self) -> float:
    return self.now


def _fit_with_fake_clock(callback, clock, phases, seconds_per_step, first_step_s, losses):
  """Drives the callback as model.fit would, one fit per phase."""
  step = 0
  for phase in phases:
    callback.on_train_begin()
    for epoch in range(phase.first_epoch, phase.end_epoch):
      callback.on_epoch_begin(epoch)
      for batch in range(phase.steps_per_epoch):
        callback.on_train_batch_begin(batch)
        first = epoch == phase.first_epoch and batch == 0
        clock.now += first_step_s if first else seconds_per_step
        callback.on_train_batch_end(batch, {'loss': losses[step]})
        step += 1
      clock.now += 3.0  # validation
      callback.on_epoch_end(epoch, {'loss': losses[step - 1], 'val_loss': 4.5})
    callback.on_train_end()


def test_progress_lines_show_step_loss_speed_and_eta_every_interval(caplog):
  phases = [Phase(FROZEN, 0, 2, 20), Phase(FINE_TUNING, 2, 1, 20)]
  clock = FakeClock()
  callback = training_progress.ProgressLog(phases, interval_s=20.0, clock=clock)
  losses = np.linspace(5.0, 3.0, 60)
  with caplog.at_level(logging.INFO, logger=training_progress.PROGRESS_LOGGER):
    _fit_with_fake_clock(callback, clock, phases, seconds_per_step=2.0, first_step_s=30.0,
                         losses=losses)
  lines = [r.getMessage() for r in caplog.records if r.name == training_progress.PROGRESS_LOGGER]
  assert lines[0] == 'Trainer: frozen encoder: epochs 1-2 of 3, 20 steps each'
  # The first step (30 s of tracing) is reported but not timed; then 2 s/step.
  assert lines[1] == 'Trainer: step 1/60 (frozen encoder)  loss 5.000  --  ETA --'
  assert lines[2] == (f'Trainer: step 11/60 (frozen encoder)  loss {losses[10]:.3f}  2.00 s/step'
                      '  ETA 1m38s')
  assert 'Trainer: fine-tuning: epochs 3-3 of 3, 20 steps each' in lines
  assert any(line.startswith('Trainer: step ') and '(fine-tuning)' in line for line in lines)
  epochs = [line for line in lines if ' done ' in line]
  assert epochs[0] == (f'Trainer: epoch 1/3 done (frozen encoder)  loss {losses[19]:.3f}  '
                       'val_loss 4.500  1m11s')
  assert [line.split()[2] for line in epochs] == ['1/3', '2/3', '3/3']
  assert lines[-1] == 'Trainer: training done; saving the model and its signatures ...'
  assert sum('training done' in line for line in lines) == 1  # not after the first phase


class _ClockRecorder(logging.Handler):
  def __init__(self, clock):
    super().__init__()
    self.clock, self.times = clock, []

  def emit(self, record: logging.LogRecord) -> None:
    self.times.append((self.clock(), record.getMessage()))


def test_progress_lines_come_at_most_every_interval_and_never_much_later():
  phases = [Phase(FROZEN, 0, 3, 50), Phase(FINE_TUNING, 3, 2, 25)]
  clock = FakeClock()
  callback = training_progress.ProgressLog(phases, interval_s=20.0, clock=clock)
  recorder = _ClockRecorder(clock)
  logger = logging.getLogger(training_progress.PROGRESS_LOGGER)
  logger.addHandler(recorder)
  try:
    start = clock.now
    _fit_with_fake_clock(callback, clock, phases, seconds_per_step=1.5, first_step_s=1.5,
                         losses=np.full(200, 4.0))
  finally:
    logger.removeHandler(recorder)
  times = [start] + [t for t, _ in recorder.times]
  gaps = np.diff(times)
  assert gaps.max() <= 20.0 + 3.0 + 1.5  # interval + a validation + a step
  step_lines = [i + 1 for i, (_, m) in enumerate(recorder.times) if m.startswith('Trainer: step')]
  assert len(step_lines) >= 10 and all(gaps[i - 1] >= 20.0 for i in step_lines)


# --- TensorBoard curves --------------------------------------------------------------------------

def _read_scalars(directory: str) -> dict[str, dict[int, float]]:
  """tag -> {step: value} of every tf.summary scalar (and text) in a run directory's event files."""
  tags: dict = {}
  for path in sorted(glob.glob(os.path.join(directory, 'events.out.tfevents.*'))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        tensor = tf.make_ndarray(value.tensor)
        tags.setdefault(value.tag, {})[event.step] = (
            tensor.item().decode() if tensor.dtype == object else float(tensor))
  return tags


def test_two_phases_write_one_continuous_curve_with_learning_rate_and_phase(tmp_path):
  tf.keras.utils.set_random_seed(0)
  model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(3,))])
  data = tf.data.Dataset.from_tensor_slices((np.ones((8, 3), np.float32),
                                             np.zeros((8, 1), np.float32))).batch(2).repeat()
  phases = [Phase(FROZEN, 0, 2, 3), Phase(FINE_TUNING, 2, 2, 2)]
  callbacks = [training_progress.TensorBoardLog(str(tmp_path), phases)]
  for phase, learning_rate in zip(phases, (1e-2, 1e-4)):
    schedule = tf.keras.optimizers.schedules.CosineDecay(learning_rate, phase.steps, alpha=0.05)
    model.compile(optimizer=tf.keras.optimizers.Adam(schedule), loss='mse')
    model.fit(data, validation_data=data, validation_steps=1, verbose=0, callbacks=callbacks,
              **phase.fit_args())
  train, validation = _read_scalars(str(tmp_path / 'train')), _read_scalars(
      str(tmp_path / 'validation'))
  assert sorted(train['epoch_loss']) == sorted(validation['epoch_loss']) == [0, 1, 2, 3]
  assert train['epoch_phase'] == {0: 0.0, 1: 0.0, 2: 1.0, 3: 1.0}
  assert train['epoch_steps'] == {0: 3.0, 1: 6.0, 2: 8.0, 3: 10.0}
  assert set(validation) == {'epoch_loss'}
  learning_rates = train['learning_rate_vs_steps']
  assert sorted(learning_rates) == list(range(1, 11))
  assert learning_rates[1] == pytest.approx(1e-2) and learning_rates[7] == pytest.approx(1e-4)
  assert learning_rates[6] < learning_rates[1]  # cosine decay within the frozen phase
  assert train['epoch_learning_rate'][3] == pytest.approx(learning_rates[10])
  assert train['phase'] == {0: 'frozen encoder: epochs 1-2 of 4, 3 steps each',
                            2: 'fine-tuning: epochs 3-4 of 4, 2 steps each'}


# --- a real TensorBoard server on a pipeline run (slow) -----------------------------------------

def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _get_json(url: str):
  with urllib.request.urlopen(url, timeout=10) as response:
    return json.loads(response.read())


@pytest.mark.slow
def test_tensorboard_serves_every_epoch_of_both_phases(pipeline_home):
  from conftest import SMALL_RUN_FLAGS
  flags = dict(zip(SMALL_RUN_FLAGS[::2], SMALL_RUN_FLAGS[1::2]))
  phases = training_progress.plan_phases(int(flags['--train-steps']),
                                         TrainingConfig(epochs=int(flags['--epochs'])))
  assert [p.name for p in phases] == [FROZEN, FINE_TUNING]
  logdir = os.path.join(pipeline_home, 'pipeline_root', 'Trainer', 'model_run')
  (execution,) = os.listdir(logdir)
  port = _free_port()
  base = f'http://127.0.0.1:{port}/data/plugin/scalars'
  server = subprocess.Popen([TENSORBOARD, '--logdir', logdir, '--host', '127.0.0.1',
                             '--port', str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
  try:
    tags, deadline = {}, time.monotonic() + 300
    while time.monotonic() < deadline and server.poll() is None:
      try:
        tags = _get_json(f'{base}/tags')
      except (urllib.error.URLError, ConnectionError):
        pass
      if all(f'{execution}/{run}' in tags for run in ('train', 'validation')):
        break
      time.sleep(1)
    assert server.poll() is None, server.communicate()[0][-3000:]
    epochs = list(range(phases[-1].end_epoch))
    for run in ('train', 'validation'):
      assert 'epoch_loss' in tags.get(f'{execution}/{run}', {}), tags
      points = _get_json(f'{base}/scalars?run={execution}/{run}&tag=epoch_loss')
      assert [step for _, step, _ in points] == epochs, (run, points)
      assert all(np.isfinite(value) for _, _, value in points)
    phase_points = _get_json(f'{base}/scalars?run={execution}/train&tag=epoch_phase')
    assert [value for _, _, value in phase_points] == [
        float(i) for i, p in enumerate(phases) for _ in range(p.epochs)]
    assert 'learning_rate_vs_steps' in tags[f'{execution}/train']
  finally:
    server.terminate()
    try:
      server.wait(timeout=20)
    except subprocess.TimeoutExpired:
      server.kill()
      server.wait()
