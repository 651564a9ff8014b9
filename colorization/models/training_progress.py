"""The Trainer's timeline: its phases (encoder frozen, then fine-tuned) numbered as one run of
epochs, progress lines with an ETA, and one continuous TensorBoard curve per run."""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Callable

import tensorflow as tf

from colorization.models import hparams
from colorization.models.hparams import TrainingConfig

PROGRESS_LOGGER = 'colorization.progress'  # the local runner prints this logger's records
FROZEN, FINE_TUNING = 'frozen encoder', 'fine-tuning'


@dataclasses.dataclass(frozen=True)
class Phase:
  """Consecutive epochs of equal length under one compiled optimizer."""
  name: str
  first_epoch: int      # 0-based, continuing the previous phase's numbering
  epochs: int
  steps_per_epoch: int

  @property
  def steps(self) -> int:
    return self.epochs * self.steps_per_epoch

  @property
  def end_epoch(self) -> int:
    return self.first_epoch + self.epochs

  def fit_args(self) -> dict:
    """model.fit's epoch arguments for this phase."""
    return dict(initial_epoch=self.first_epoch, epochs=self.end_epoch,
                steps_per_epoch=self.steps_per_epoch)


def plan_phases(train_steps: int, config: TrainingConfig) -> list[Phase]:
  """config.epochs with the encoder frozen, then (pretrained encoder only) the last
  fine_tune_fraction of the steps with it trainable, split into epochs about as long as the frozen
  ones (a divisor of its steps, so the run's step count is unchanged)."""
  fine_tune_steps = min(round(config.fine_tune_fraction * train_steps), train_steps - 1)
  if config.encoder not in hparams.PRETRAINED_ENCODERS:
    fine_tune_steps = 0
  steps_per_epoch = max(1, (train_steps - fine_tune_steps) // config.epochs)
  frozen = Phase(FROZEN, 0, config.epochs, steps_per_epoch)
  if fine_tune_steps <= 0:
    return [frozen]
  target = fine_tune_steps / steps_per_epoch
  epochs = min((d for d in range(1, fine_tune_steps + 1) if fine_tune_steps % d == 0),
               key=lambda d: (abs(d - target), d))
  return [frozen, Phase(FINE_TUNING, frozen.end_epoch, epochs, fine_tune_steps // epochs)]


def phase_of(phases: list[Phase], epoch: int) -> Phase:
  """The phase an epoch (0-based) belongs to."""
  return next(p for p in phases if p.first_epoch <= epoch < p.end_epoch)


def describe(phase: Phase, phases: list[Phase]) -> str:
  """E.g. 'fine-tuning: epochs 6-7 of 7, 250 steps each'."""
  return (f'{phase.name}: epochs {phase.first_epoch + 1}-{phase.end_epoch} of '
          f'{phases[-1].end_epoch}, {phase.steps_per_epoch} steps each')


def format_duration(seconds: float) -> str:
  """12m03s, or 1h02m from an hour on."""
  minutes, secs = divmod(round(seconds), 60)
  return f'{minutes // 60}h{minutes % 60:02d}m' if minutes >= 60 else f'{minutes}m{secs:02d}s'


class ProgressLog(tf.keras.callbacks.Callback):
  """Logs to PROGRESS_LOGGER where each phase starts, the step, loss, seconds per step and ETA
  at most every interval_s, and each epoch's losses."""

  def __init__(self, phases: list[Phase], interval_s: float = 20.0,
               clock: Callable[[], float] = time.monotonic):
    super().__init__()
    self._phases, self._interval_s, self._clock = phases, interval_s, clock
    self._total_steps = sum(p.steps for p in phases)
    self._logger = logging.getLogger(PROGRESS_LOGGER)
    self._logger.setLevel(logging.INFO)  # shown even where the root logger only passes warnings
    self._step = 0
    self._phase = phases[0]
    self._window_steps, self._window_s = 0, 0.0  # timed steps since the last step line
    self._seconds_per_step = None

  def on_train_begin(self, logs=None) -> None:
    self._last_line = self._clock()
    self._tracing = True  # the first step of each fit also builds the step function

  def on_epoch_begin(self, epoch: int, logs=None) -> None:
    self._phase = phase_of(self._phases, epoch)
    if epoch == self._phase.first_epoch:
      self._logger.info('Trainer: %s', describe(self._phase, self._phases))
    self._epoch_start = self._clock()

  def on_train_batch_begin(self, batch: int, logs=None) -> None:
    self._batch_start = self._clock()

  def on_train_batch_end(self, batch: int, logs=None) -> None:
    now = self._clock()
    self._step += 1
    if not self._tracing:
      self._window_steps += 1
      self._window_s += now - self._batch_start
    self._tracing = False
    if now - self._last_line >= self._interval_s:
      self._log_step((logs or {}).get('loss'), now)

  def _log_step(self, loss: float | None, now: float) -> None:
    if self._window_steps:
      self._seconds_per_step = self._window_s / self._window_steps
      self._window_steps, self._window_s = 0, 0.0
    speed = eta = '--'
    if self._seconds_per_step is not None:
      speed = f'{self._seconds_per_step:.2f} s/step'
      eta = format_duration((self._total_steps - self._step) * self._seconds_per_step)
    loss_text = '--' if loss is None else f'{loss:.3f}'
    self._logger.info('Trainer: step %d/%d (%s)  loss %s  %s  ETA %s', self._step,
                      self._total_steps, self._phase.name, loss_text, speed, eta)
    self._last_line = now

  def on_train_end(self, logs=None) -> None:
    if self._step == self._total_steps:
      self._logger.info('Trainer: training done; saving the model and its signatures ...')

  def on_epoch_end(self, epoch: int, logs=None) -> None:
    logs = logs or {}
    now = self._clock()
    losses = '  '.join(f'{name} {value:.3f}' for name, value in sorted(logs.items())
                       if name.endswith('loss'))
    self._logger.info('Trainer: epoch %d/%d done (%s)  %s  %s', epoch + 1,
                      self._phases[-1].end_epoch, self._phase.name, losses,
                      format_duration(now - self._epoch_start))
    self._last_line = now


class TensorBoardLog(tf.keras.callbacks.Callback):
  """One continuous curve per run across the phases, in log_dir/train and log_dir/validation:
  every epoch's losses as epoch_<name> (step = epoch), its learning rate, phase (index in
  phases) and step count; the learning rate at every step (learning_rate_vs_steps); a text note
  where each phase starts."""

  def __init__(self, log_dir: str, phases: list[Phase]):
    super().__init__()
    self._train_dir = os.path.join(log_dir, 'train')
    self._validation_dir = os.path.join(log_dir, 'validation')
    self._phases = phases
    self._step = 0

  def on_train_begin(self, logs=None) -> None:
    self._train = tf.summary.create_file_writer(self._train_dir)
    self._validation = tf.summary.create_file_writer(self._validation_dir)

  def on_train_end(self, logs=None) -> None:
    self._train.close()
    self._validation.close()

  def _learning_rate(self) -> float:
    return float(tf.keras.backend.get_value(self.model.optimizer.learning_rate))

  def on_epoch_begin(self, epoch: int, logs=None) -> None:
    phase = phase_of(self._phases, epoch)
    if epoch == phase.first_epoch:
      with self._train.as_default():
        tf.summary.text('phase', describe(phase, self._phases), step=epoch)

  def on_train_batch_end(self, batch: int, logs=None) -> None:
    self._step += 1
    with self._train.as_default():
      tf.summary.scalar('learning_rate_vs_steps', self._learning_rate(), step=self._step)

  def on_epoch_end(self, epoch: int, logs=None) -> None:
    logs = logs or {}
    phase = phase_of(self._phases, epoch)
    with self._train.as_default():
      for name, value in logs.items():
        if not name.startswith('val_'):
          tf.summary.scalar(f'epoch_{name}', value, step=epoch)
      tf.summary.scalar('epoch_learning_rate', self._learning_rate(), step=epoch)
      tf.summary.scalar('epoch_phase', self._phases.index(phase), step=epoch)
      tf.summary.scalar('epoch_steps', self._step, step=epoch)
    with self._validation.as_default():
      for name, value in logs.items():
        if name.startswith('val_'):
          tf.summary.scalar(f'epoch_{name[4:]}', value, step=epoch)
    self._train.flush()
    self._validation.flush()


def make_callbacks(log_dir: str, phases: list[Phase]) -> list[tf.keras.callbacks.Callback]:
  """The Trainer's callbacks for every phase's fit: TensorBoard curves and progress lines."""
  return [TensorBoardLog(log_dir, phases), ProgressLog(phases)]
