"""Shared fixtures: a generated photo set and one real pipeline run reused by end-to-end tests."""
import os
import subprocess
import sys

import pytest

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

COLORIZATION = os.path.join(os.path.dirname(sys.executable), 'colorization')
SMALL_RUN_FLAGS = ['--train-steps', '6', '--epochs', '1', '--batch-size', '4']


@pytest.fixture(scope='session')
def demo_data_root(tmp_path_factory) -> str:
  from pipeline import demo_data
  return demo_data.write_demo_dataset(str(tmp_path_factory.mktemp('photos')), images_per_class=12)


@pytest.fixture(scope='session')
def pipeline_home(demo_data_root, tmp_path_factory) -> str:
  """Home directory of one complete `colorization run` on the generated photos."""
  home = str(tmp_path_factory.mktemp('home'))
  result = subprocess.run([COLORIZATION, 'run', '--data-root', demo_data_root, '--home', home,
                           *SMALL_RUN_FLAGS], capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  with open(os.path.join(home, 'run_stdout.txt'), 'w') as f:
    f.write(result.stdout)
  return home


@pytest.fixture(scope='session')
def pushed_model_dir(pipeline_home) -> str:
  """The versioned SavedModel directory the pipeline pushed."""
  base = os.path.join(pipeline_home, 'serving', 'colorizer')
  versions = sorted(os.listdir(base), key=int)
  assert versions, f'nothing pushed under {base}'
  return os.path.join(base, versions[-1])
