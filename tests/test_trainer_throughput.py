"""bench.trainer_throughput: its timing helpers and flags on generated tensors."""
import numpy as np
import pytest
import tensorflow as tf

from bench import trainer_throughput


def batches(count: int, batch_size: int = 4) -> tf.data.Dataset:
  """`count` batches of (L, ab) whose values are their row numbers."""
  rows = np.arange(count * batch_size, dtype=np.float32)
  return tf.data.Dataset.from_tensor_slices(
      (rows[:, None, None, None] * np.ones([1, 8, 8, 1], np.float32),
       rows[:, None, None, None] * np.ones([1, 4, 4, 2], np.float32))).batch(batch_size)


def test_in_memory_tensors_keeps_the_first_rows_in_order():
  lightness, ab = trainer_throughput.in_memory_tensors(batches(5), 10)
  assert lightness.shape == (10, 8, 8, 1) and ab.shape == (10, 4, 4, 2)
  np.testing.assert_array_equal(lightness[:, 0, 0, 0], np.arange(10))
  np.testing.assert_array_equal(ab[:, 0, 0, 1], np.arange(10))


def test_time_input_pipeline_reads_one_batch_then_the_steps():
  first, seconds = trainer_throughput.time_input_pipeline(batches(4), 3)
  assert first >= 0 and seconds >= 0
  with pytest.raises(StopIteration):   # 1 + 4 batches: one more than there are
    trainer_throughput.time_input_pipeline(batches(4), 4)


def test_step_timer_records_every_training_step():
  model = tf.keras.Sequential([tf.keras.Input([3]), tf.keras.layers.Dense(1)])
  model.compile('sgd', 'mse')
  timer = trainer_throughput.step_timer()
  model.fit(np.zeros([12, 3]), np.zeros([12, 1]), batch_size=4, verbose=0, callbacks=[timer])
  assert len(timer.steps) == 3 and all(step > 0 for step in timer.steps)


def test_one_training_step_is_refused_as_a_flag_error(capsys):
  with pytest.raises(SystemExit) as exit_info:
    trainer_throughput.main(['--data-root', 'unused', '--train-steps', '1'])
  assert exit_info.value.code == 2
  assert '--train-steps must be at least 2' in capsys.readouterr().err
