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


def _document(psnr_by_photo: dict[str, float], gray: float = 20.0) -> dict:
  """An evaluation document as evaluate.py writes it, for photos '<class>/<n>.jpg'."""
  photos = [{'path': path, 'label': path.split('/')[0], 'width': 8, 'height': 8,
             'scores': {'psnr': value, 'gray_psnr': gray, 'auc': 90.0, 'gray_auc': 88.0}}
            for path, value in psnr_by_photo.items()]
  classes = {}
  for label in sorted({p['label'] for p in photos}):
    values = [p['scores']['psnr'] for p in photos if p['label'] == label]
    classes[label] = {'psnr': sum(values) / len(values), 'gray_psnr': gray,
                      'psnr_gap': sum(values) / len(values) - gray, 'psnr_gap_se': 0.1,
                      'auc': 90.0, 'gray_auc': 88.0, 'auc_gap': 2.0, 'auc_gap_se': 0.2,
                      'delta_colorfulness': 3.0, 'true_colorfulness': 30.0}
  return {'classes': classes, 'photos': photos}


def test_matrix_rows_are_models_then_gray():
  documents = {name: _document({'animal/1.jpg': 21.0 + i, 'face/1.jpg': 22.0 + i})
               for i, name in enumerate(['animal', 'face', experiment.ALL])}
  text = experiment.matrix_markdown(documents, ['animal', 'face'])
  psnr = text.split('#### PSNR')[1].split('####')[0].strip().splitlines()
  assert [row.split('|')[1].strip() for row in psnr[4:]] == ['animal', 'face', 'all', 'gray (a=b=0)']
  assert '| 23.00 (+3.00 ± 0.10) |' in psnr[6]          # all, on animal
  assert psnr[7].split('|')[2].strip() == '20.00'       # gray
  assert '#### ΔCF' in text and '#### AuC' in text


def test_the_specialist_is_compared_photo_by_photo():
  specialist = _document({f'face/{i}.jpg': 25.0 + (i % 2) for i in range(10)})
  combined = _document({f'face/{i}.jpg': 24.0 + (i % 2) for i in range(10)} | {'face/x.jpg': 0.0})
  face = experiment.paired_differences(specialist, combined)['face']
  assert (face['psnr_difference'], face['psnr_difference_se'], face['photos']) == (
      pytest.approx(1.0), pytest.approx(0.0), 10)
  lines = experiment.verdicts({'face': specialist, experiment.ALL: combined}, ['face'])
  assert lines[0].startswith('- **face** (10 photos)') and 'PSNR +1.00 ± 0.00 (better)' in lines[0]


def test_noise_makes_no_verdict():
  rng = __import__('numpy').random.default_rng(0)
  noise = {f'animal/{i}.jpg': float(v) for i, v in enumerate(rng.normal(0.0, 1.0, 40))}
  specialist = _document({k: 22.0 + v for k, v in noise.items()})
  combined = _document({k: 22.0 for k in noise})
  line = experiment.verdicts({'animal': specialist, experiment.ALL: combined}, ['animal'])[0]
  assert 'PSNR' in line and '(no different)' in line.split(';')[0]


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
  # The smaller encoder: what is under test is the study's machinery (four pipelines, the cache,
  # the scoring), not the default encoder, which the end-to-end tests of the client and runner use.
  knobs = dict(COLORIZATION_TRAIN_STEPS='2', COLORIZATION_EPOCHS='1', COLORIZATION_BATCH_SIZE='4',
               COLORIZATION_ENCODER='efficientnet-lite0')
  result = _experiment('--data-root', str(data_root), '--home', home, '--ood-root', str(data_root),
                       **knobs)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  assert 'experiment.md' in result.stdout
  # Restarted: every model comes back from the cache and every evaluation from its file.
  again = _experiment('--data-root', str(data_root), '--home', home, '--ood-root', str(data_root),
                      **knobs)
  assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
  lines = again.stdout.splitlines()
  trainers = [i for i, line in enumerate(lines) if line.endswith('Trainer running ...')]
  assert len(trainers) == len(CLASSES) + 1
  assert all('reused the cached result' in lines[i + 1] for i in trainers), again.stdout[-3000:]
  assert 'scoring model' not in again.stdout
  return home


def _markdown(home: str) -> str:
  with open(os.path.join(home, 'experiment', 'reports', 'experiment.md')) as f:
    return f.read()


@pytest.mark.slow
def test_both_datasets_have_every_matrix(experiment_home):
  text = _markdown(experiment_home)
  for dataset in experiment.DATASET_TITLES.values():
    section = text.split(f'## {dataset}\n')[1].split('\n## ')[0]
    for title in ('PSNR (dB)', 'AuC (%)', 'ΔCF'):
      table = section.split(f'#### {title}')[1].split('\n\n')[1]
      rows = {line.split('|')[1].strip() for line in table.splitlines()[2:]}
      assert rows == {*CLASSES, 'all', 'gray (a=b=0)'}
    assert section.count('specialist minus combined') == len(CLASSES)


@pytest.mark.slow
def test_numbers_come_from_the_evaluations(experiment_home):
  import json
  text = _markdown(experiment_home)
  for dataset, title in experiment.DATASET_TITLES.items():
    section = text.split(f'## {title}\n')[1]
    psnr_rows = section.split('#### PSNR')[1].split('\n\n')[1].splitlines()
    for model in (*CLASSES, 'all'):
      with open(os.path.join(experiment_home, 'experiment', 'evaluations',
                             f'{model}-{dataset}.json')) as f:
        document = json.load(f)
      row = next(line for line in psnr_rows if line.startswith(f'| {model} |'))
      reported = [float(cell.split('(')[0]) for cell in row.strip('|').split('|')[1:]]
      assert reported == pytest.approx(
          [round(document['classes'][c]['psnr'], 2) for c in CLASSES], abs=0.006)


def test_skip_training_needs_trained_models(tmp_path, demo_data_root):
  result = _experiment('--data-root', demo_data_root, '--home', str(tmp_path), '--skip-training')
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  assert result.stderr.splitlines()[-1].startswith('experiment: error: ')
