"""PipelineConfig: defaults, COLORIZATION_* variables, and flags overriding them."""
import dataclasses
import json
import os
import subprocess
import sys

import pytest

from colorization.cli import main as cli
from colorization.models import hparams
from colorization.pipeline import config as config_lib


def test_defaults():
  config = config_lib.from_env({})
  assert config == config_lib.PipelineConfig()
  assert config.data_root == '' and config.split_ratios == (8, 1, 1)
  training = config.training
  # The full budget (README), for a user's photos; the demo dataset asks for DEMO_BUDGET.
  assert (config.train_steps, training.epochs) == (1500, 5)
  assert (training.batch_size, training.encoder) == (16, 'efficientnet-lite2')
  assert config_lib.DEMO_BUDGET == {'train_steps': 40, 'epochs': 2}
  assert config.beam_args == ('--runner=DirectRunner', '--direct_num_workers=1')
  assert config.enable_cache is True and training.warm_start is False
  assert config.pipeline_root == os.path.join(config.home, 'pipeline_root')
  assert config.serving_dir == os.path.join(config.home, 'serving', 'colorizer')


def test_environment_values_are_parsed_by_type():
  config = config_lib.from_env({
      'COLORIZATION_DATA_ROOT': 'gs://bucket/photos',
      'COLORIZATION_EPOCHS': '5',
      'COLORIZATION_LEARNING_RATE': '3e-4',
      'COLORIZATION_SPLIT_RATIOS': '7/2/1',
      'COLORIZATION_ENABLE_CACHE': 'off',
      'COLORIZATION_BEAM_ARGS': "--runner=DirectRunner --job_name='two words' --a=\"b c\"",
      'UNRELATED_EPOCHS': '9',
  })
  assert config.data_root == 'gs://bucket/photos'
  assert config.training.epochs == 5 and isinstance(config.training.epochs, int)
  assert config.training.learning_rate == 3e-4
  assert isinstance(config.training.learning_rate, float)
  assert config.split_ratios == (7, 2, 1)
  assert config.enable_cache is False
  assert config.beam_args == ('--runner=DirectRunner', '--job_name=two words', '--a=b c')


@pytest.mark.parametrize('text', ['8,1,1', ' 8, 1, 1 ', '8/1/1'])
def test_split_ratio_spellings(text):
  assert config_lib.from_env({'COLORIZATION_SPLIT_RATIOS': text}).split_ratios == (8, 1, 1)


@pytest.mark.parametrize('text, value', [('1', True), ('true', True), ('Yes', True), (' ON ', True),
                                         ('0', False), ('false', False), ('No', False),
                                         ('off', False)])
def test_booleans(text, value):
  assert config_lib.from_env({'COLORIZATION_WARM_START': text}).training.warm_start is value


@pytest.mark.parametrize('variable, text', [
    ('COLORIZATION_EPOCHS', 'two'),
    ('COLORIZATION_EPOCHS', '2.5'),
    ('COLORIZATION_BATCH_SIZE', ''),
    ('COLORIZATION_LEARNING_RATE', 'fast'),
    ('COLORIZATION_SPLIT_RATIOS', '8,1,x'),
    ('COLORIZATION_SPLIT_RATIOS', '8,2'),
    ('COLORIZATION_WARM_START', 'maybe'),
    ('COLORIZATION_ENABLE_CACHE', 'flase'),
    ('COLORIZATION_BEAM_ARGS', "--job_name='unclosed"),
])
def test_bad_values_name_the_variable(variable, text):
  with pytest.raises(ValueError) as error:
    config_lib.from_env({variable: text})
  assert str(error.value).startswith(f'{variable}={text!r} is not a valid ')


def test_overrides_beat_the_environment():
  environ = {'COLORIZATION_EPOCHS': '5', 'COLORIZATION_BATCH_SIZE': '4'}
  config = config_lib.from_env(environ, epochs=7, batch_size=None)
  assert (config.training.epochs, config.training.batch_size) == (7, 4)


def test_variables_and_overrides_beat_a_base_config():
  base = config_lib.PipelineConfig().replace(**config_lib.DEMO_BUDGET)
  config = config_lib.from_env({'COLORIZATION_EPOCHS': '3'}, base=base, batch_size=8)
  assert (config.train_steps, config.training.epochs, config.training.batch_size) == (40, 3, 8)


def test_config_imports_no_tensorflow():
  # The CLI reads PipelineConfig's defaults for --help, which must stay fast.
  code = ('import sys; from colorization.pipeline import config; '
          'print("tensorflow" in sys.modules, "numpy" in sys.modules)')
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=60, check=True)
  assert result.stdout.split() == ['False', 'False']


def test_cli_flags_beat_the_environment(monkeypatch):
  monkeypatch.setenv('COLORIZATION_EPOCHS', '5')
  monkeypatch.setenv('COLORIZATION_BATCH_SIZE', '4')
  monkeypatch.setenv('COLORIZATION_WARM_START', 'yes')
  monkeypatch.setenv('COLORIZATION_BEAM_ARGS', '--runner=DataflowRunner')
  args = cli.build_parser().parse_args(['run', '--epochs', '7', '--data-root', '/photos',
                                        '--beam-arg=--runner=DirectRunner', '--beam-arg=--x=1'])
  config = cli._pipeline_config(args)
  assert (config.training.epochs, config.training.batch_size, config.data_root) == (7, 4, '/photos')
  assert config.beam_args == ('--runner=DirectRunner', '--x=1')
  assert config.training.warm_start is True


def test_beam_args_run_the_pipeline_image_unless_dependencies_are_given():
  config = config_lib.PipelineConfig(image='registry/colorization:1')
  assert config.beam_pipeline_args() == [*config.beam_args,
                                         '--sdk_container_image=registry/colorization:1']
  own = config.replace(beam_args=('--runner=DataflowRunner', '--setup_file=./setup.py'))
  assert own.beam_pipeline_args() == ['--runner=DataflowRunner', '--setup_file=./setup.py']


def test_training_config_round_trips_through_custom_config():
  config = config_lib.from_env({'COLORIZATION_SEED': '7', 'COLORIZATION_WIDTH': '48',
                                'COLORIZATION_TRAIN_CLASSES': 'face animal'})
  custom_config = json.loads(json.dumps(dict(config.training.to_custom_config(), code_version='x')))
  training = hparams.TrainingConfig.from_custom_config(custom_config)
  assert training == config.training
  assert (training.seed, training.width, training.train_classes) == (7, 48, ('face', 'animal'))
  with pytest.raises(TypeError):
    hparams.TrainingConfig.from_custom_config({'energy_match': 0.8})


def test_every_training_knob_is_declared_once():
  pipeline_fields = {field.name for field in dataclasses.fields(config_lib.PipelineConfig)}
  training_fields = {field.name for field in dataclasses.fields(hparams.TrainingConfig)}
  assert not pipeline_fields & training_fields


def test_class_aware_knobs_come_from_the_environment():
  assert not config_lib.from_env({}).training.class_aware
  training = config_lib.from_env({'COLORIZATION_CLASS_AWARE': '1',
                                   'COLORIZATION_CLASS_LOSS_WEIGHT': '0.3',
                                   'COLORIZATION_CLASS_TEACHER_FORCING': '0.25'}).training
  assert (training.class_aware, training.class_loss_weight,
          training.class_teacher_forcing) == (True, 0.3, 0.25)
  assert hparams.TrainingConfig.from_custom_config(training.to_custom_config()) == training
