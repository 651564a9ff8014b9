"""experiments/experiment.py: its tables, its command line, and three real pipeline runs on a tiny
generated two-class dataset."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from experiments import experiment

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _experiment(*args: str, **environ: str) -> subprocess.CompletedProcess:
  """`python -m experiments.experiment ARGS` from the checkout, with extra COLORIZATION_* knobs."""
  return subprocess.run([sys.executable, '-m', 'experiments.experiment', *args], cwd=CHECKOUT,
                        env={**os.environ, **environ}, capture_output=True, text=True,
                        timeout=1200)


def test_matrix_rows_are_models_then_gray():
  classes = ['animal', 'face']
  metrics = {c: {'psnr': 20.0 + i, 'gray_psnr': 22.0 + i} for i, c in enumerate(classes)}
  outcomes = [experiment.ModelResult(name, metrics, 'model', 'evaluation', 1.0)
              for name in ('animal', 'face', experiment.ALL)]
  header, rows = experiment.matrix_table(outcomes, classes, 'psnr')
  assert header == ['trained on', 'animal', 'face']
  assert rows[-1] == [experiment.GRAY_ROW, '22.00', '23.00']
  assert [row[0] for row in rows[:-1]] == ['animal', 'face', 'all']


def test_a_bad_data_root_is_one_line(tmp_path):
  result = _experiment('--data-root', str(tmp_path / 'missing'), '--home', str(tmp_path))
  assert result.returncode != 0
  assert 'Traceback' not in result.stderr
  assert result.stderr.splitlines()[-1].startswith('experiment: error: Data root ')


CLASSES = ('animal', 'face')  # two of the three: three pipeline runs (two specialists, all)


@pytest.fixture(scope='session')
def experiment_home(demo_data_root, tmp_path_factory) -> str:
  data_root = tmp_path_factory.mktemp('two_classes')
  for name in CLASSES:
    shutil.copytree(os.path.join(demo_data_root, name), data_root / name)
  home = str(tmp_path_factory.mktemp('experiment'))
  result = _experiment('--data-root', str(data_root), '--home', home, COLORIZATION_TRAIN_STEPS='2',
                       COLORIZATION_EPOCHS='1', COLORIZATION_BATCH_SIZE='4')
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  assert 'experiment.md' in result.stdout
  return home


def _markdown(home: str) -> str:
  with open(os.path.join(home, 'experiment', 'reports', 'experiment.md')) as f:
    return f.read()


@pytest.mark.slow
def test_matrix_is_complete(experiment_home):
  text = _markdown(experiment_home)
  for title in ('PSNR (dB)', 'AuC (%)', 'CF', 'ΔCF'):
    table = text.split(f'### {title}\n')[1].strip().split('\n\n')[0]
    rows = {line.split('|')[1].strip(): line for line in table.splitlines()[2:]}
    assert set(rows) == {*CLASSES, 'all', 'gray (a=b=0)'}
    for line in rows.values():
      cells = [c.strip() for c in line.strip('|').split('|')[1:]]
      assert len(cells) == len(CLASSES), line
      assert all(re.fullmatch(r'-?\d+\.\d\d', c) for c in cells), line
  assert text.count('specialist better on') == len(CLASSES)


@pytest.mark.slow
def test_numbers_come_from_the_evaluations(experiment_home):
  import tensorflow_model_analysis as tfma
  text = _markdown(experiment_home)
  psnr_table = text.split('### PSNR (dB)\n')[1].strip().split('\n\n')[0].splitlines()
  header = [c.strip() for c in psnr_table[0].strip('|').split('|')[1:]]
  for model, evaluation in re.findall(r'- (\w+): model `[^`]+`, evaluation `([^`]+)`', text):
    row = next(line for line in psnr_table if line.startswith(f'| {model} |'))
    reported = [float(c) for c in row.strip('|').split('|')[1:]]
    evaluated = {}
    for record in tfma.load_metrics(evaluation):
      keys = record.slice_key.single_slice_keys
      if keys:
        values = {kv.key.name: kv.value.double_value.value for kv in record.metric_keys_and_values
                  if not kv.key.is_diff and kv.key.model_name != tfma.BASELINE_KEY}
        evaluated[keys[0].bytes_value.decode()] = values['psnr']
    assert reported == pytest.approx([round(evaluated[c], 2) for c in header], abs=0.006)


@pytest.mark.slow
def test_html_report_has_charts_and_gallery(experiment_home):
  with open(os.path.join(experiment_home, 'experiment', 'reports', 'experiment.html')) as f:
    page = f.read()
  assert page.count('<svg') == len(experiment.TABLE_METRICS)
  per_image = 1 + len(CLASSES) + 1 + 1  # gray, each specialist, all, truth
  assert page.count('data:image/png;base64,') >= len(CLASSES) * per_image
