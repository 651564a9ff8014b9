"""`colorization evaluate`: photo sources, scores shared with the Evaluator's metrics, the gray
baseline, bootstrap errors, bad files, the JSON output and the verb end to end on a small model
(conftest's small_export: the real colorize_image graph around a tiny untrained network)."""
import functools
import io
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from colorization.cli import main as cli
from colorization.evaluation import evaluate, photos as photos_lib, scoring, summary
from colorization.models import lab, metrics
from colorization.serving import predictors
from tests.test_client import cut_scan, warning_lines
from tests.test_orientation import jpeg_with_orientation


def colourful_pixels(seed: int, width: int = 40, height: int = 30) -> np.ndarray:
  """A smooth colour field that differs from seed to seed, with a little noise, like a photo."""
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[0:height, 0:width] / max(width, height)
  phases = rng.uniform(0, 2 * np.pi, 3)
  rgb = 127 + 100 * np.stack([np.sin(3 * x + phases[0]), np.sin(4 * y + phases[1]),
                              np.sin(2 * (x + y) + phases[2])], -1)
  return np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)


def encoded(pixels: np.ndarray, image_format: str = 'PNG') -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, image_format, **({'quality': 95}
                                                          if image_format == 'JPEG' else {}))
  return buffer.getvalue()


def write_photos(root, per_class: int = 3, classes=('animal', 'face')) -> str:
  for c, label in enumerate(classes):
    os.makedirs(root / label, exist_ok=True)
    for i in range(per_class):
      (root / label / f'{label}_{i}.jpg').write_bytes(
          encoded(colourful_pixels(10 * c + i), 'JPEG'))
  return str(root)


def identity(images: list[bytes]) -> list[bytes]:
  """A perfect colorizer: the photo itself, decoded as the served graph does, as PNG."""
  return [tf.io.encode_png(tf.io.decode_image(image, channels=3)).numpy() for image in images]


def grayscale(images: list[bytes]) -> list[bytes]:
  """The gray baseline as a model would send it: each photo's L with a = b = 0, as PNG."""
  pngs = []
  for image in images:
    rgb = tf.image.convert_image_dtype(tf.io.decode_image(image, channels=3), tf.float32)
    lightness, ab = lab.split_lab(lab.srgb_to_lab(rgb))
    gray = lab.lab_to_srgb(tf.concat([lightness, tf.zeros_like(ab)], -1))
    pngs.append(tf.io.encode_png(tf.image.convert_image_dtype(gray, tf.uint8)).numpy())
  return pngs


def test_folder_layout_errors(tmp_path):
  with pytest.raises(photos_lib.PhotoSourceError, match='is not a folder'):
    photos_lib.folder_photos(str(tmp_path / 'missing'))
  (tmp_path / 'loose.jpg').write_bytes(b'')
  with pytest.raises(photos_lib.PhotoSourceError, match='no class sub-folders'):
    photos_lib.folder_photos(str(tmp_path))
  (tmp_path / 'face').mkdir()
  (tmp_path / 'face' / '.hidden.jpg').write_bytes(b'')
  with pytest.raises(photos_lib.PhotoSourceError, match='no photos in the class folders'):
    photos_lib.folder_photos(str(tmp_path))


def test_file_list_and_limit_per_class(tmp_path):
  root = write_photos(tmp_path / 'photos')
  listed = tmp_path / 'test.txt'
  listed.write_text('# the test split\nface/face_2.jpg\n\nanimal/animal_1.jpg\nanimal/animal_0.jpg\n')
  found = photos_lib.folder_photos(root, str(listed))
  assert [(p.path, p.label) for p in found] == [
      ('face/face_2.jpg', 'face'), ('animal/animal_1.jpg', 'animal'),
      ('animal/animal_0.jpg', 'animal')]
  assert found[0].read() == (tmp_path / 'photos' / 'face' / 'face_2.jpg').read_bytes()
  limited = photos_lib.limit_per_class(photos_lib.folder_photos(root), 2)
  assert [p.path for p in limited] == ['animal/animal_0.jpg', 'animal/animal_1.jpg',
                                       'face/face_0.jpg', 'face/face_1.jpg']
  listed.write_text('../elsewhere/photo.jpg\n')
  with pytest.raises(photos_lib.PhotoSourceError, match='not a <class>/<photo> path'):
    photos_lib.folder_photos(root, str(listed))


def test_bootstrap_se_is_seeded_and_measures_the_spread():
  values = np.random.default_rng(1).normal(0.5, 2.0, 400)
  se = summary.bootstrap_se(values, seed=3)
  assert se == summary.bootstrap_se(values, seed=3)
  assert se != summary.bootstrap_se(values, seed=4)
  assert se == pytest.approx(values.std() / np.sqrt(len(values)), rel=0.1)
  assert summary.bootstrap_se(np.full(50, 1.5)) == 0.0
  assert summary.bootstrap_se(np.array([2.0])) == 0.0


def test_scores_are_the_evaluator_metrics_on_the_same_image():
  rgb_true, rgb_pred = colourful_pixels(1, 64, 48), colourful_pixels(2, 64, 48)
  photo = photos_lib.Photo('face/a.png', 'face', 'face/a.png')
  scored = scoring.score_photo(photo, encoded(rgb_true), encoded(rgb_pred)).scores

  def lab_of(rgb):
    return lab.srgb_to_lab(tf.image.convert_image_dtype(rgb, tf.float32))[None]
  lightness, ab_true = lab.split_lab(lab_of(rgb_true))
  _, ab_pred = lab.split_lab(lab_of(rgb_pred))
  y_pred = tf.concat([lightness, ab_pred], -1)

  def tfma(metric_class) -> float:
    metric = metric_class()
    metric.update_state(ab_true, y_pred)
    return float(metric.result())
  for name, metric_class in [('psnr', metrics.Psnr), ('auc', metrics.Auc),
                             ('ab_mae', metrics.AbMae), ('colorfulness', metrics.Colorfulness),
                             ('true_colorfulness', metrics.TrueColorfulness),
                             ('gray_psnr', metrics.GrayPsnr), ('gray_auc', metrics.GrayAuc)]:
    assert scored[name] == pytest.approx(tfma(metric_class), rel=1e-5), name
  one = summary.summarize_group([scoring.PhotoScore('face/a.png', 'face', 64, 48, scored)])
  assert one['delta_colorfulness'] == pytest.approx(tfma(metrics.DeltaColorfulness), rel=1e-4)


def test_a_perfect_model_and_a_gray_model(tmp_path):
  found = photos_lib.folder_photos(write_photos(tmp_path))
  perfect = evaluate.evaluate(found, identity, batch_size=4).summary
  gray = evaluate.evaluate(found, grayscale, batch_size=4).summary
  assert list(perfect) == ['animal', 'face', summary.OVERALL]
  assert perfect[summary.OVERALL]['photos'] == 6
  for label in perfect:
    assert perfect[label]['auc'] == pytest.approx(100.0)
    assert perfect[label]['psnr_gap'] > 20 and perfect[label]['psnr_gap_se'] > 0
    assert perfect[label]['delta_colorfulness'] == pytest.approx(0.0, abs=1e-3)
    assert perfect[label]['true_colorfulness'] > 20
    # The gray model is the baseline: no gap, up to its PNG's rounding to 8 bits.
    assert abs(gray[label]['psnr_gap']) < 0.05 and abs(gray[label]['auc_gap']) < 0.1
    assert gray[label]['colorfulness'] < 1.0


def test_evaluate_sends_and_scores_photos_upright(tmp_path):
  (tmp_path / 'face').mkdir()
  (tmp_path / 'face' / 'phone.jpg').write_bytes(jpeg_with_orientation(6))
  sent = []

  def recording(images: list[bytes]) -> list[bytes]:
    sent.extend(images)
    return identity(images)
  result = evaluate.evaluate(photos_lib.folder_photos(str(tmp_path)), recording)
  (score,) = result.scores
  width, height = Image.open(io.BytesIO(jpeg_with_orientation(None))).size
  assert Image.open(io.BytesIO(sent[0])).size == (height, width)
  assert (score.width, score.height) == (height, width)
  assert score.scores['auc'] == pytest.approx(100.0)


def decoded_elsewhere(images: list[bytes]) -> list[bytes]:
  """A server's answer: each photo as PNG, decoded by Pillow (which prints no libjpeg warnings)."""
  return [encoded(np.asarray(Image.open(io.BytesIO(image)).convert('RGB'))) for image in images]


def test_damaged_photos_are_scored_and_named_in_one_warning(tmp_path, capfd):
  """Scoring decodes each photo here: libjpeg's unnamed lines become a warning naming the photo,
  whichever process colorized it."""
  root = write_photos(tmp_path, per_class=1, classes=('face',))
  jpeg = (tmp_path / 'face' / 'face_0.jpg').read_bytes()
  (tmp_path / 'face' / 'cut.jpg').write_bytes(cut_scan(jpeg))
  result = evaluate.evaluate(photos_lib.folder_photos(root), decoded_elsewhere)
  err = capfd.readouterr().err
  assert sorted(score.path for score in result.scores) == ['face/cut.jpg', 'face/face_0.jpg']
  assert warning_lines(err) == [f'colorization evaluate: warning: {root}/face/cut.jpg: corrupt '
                                'JPEG data (premature end of data segment); scored what decodes']
  assert result.warned == [(f'{root}/face/cut.jpg',
                            'corrupt JPEG data (premature end of data segment)')]
  document = json.loads(summary.to_json(result.summary, result.scores, result.skipped, {},
                                        result.warned))
  assert document['warned'] == [{'file': f'{root}/face/cut.jpg',
                                 'warning': 'corrupt JPEG data (premature end of data segment)'}]
  assert 'Corrupt JPEG data' not in err


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
  code = cli.main(['evaluate', *args])
  captured = capsys.readouterr()
  return code, captured.out, captured.err


def test_verb_on_a_small_model(tmp_path, small_export, capsys, monkeypatch):
  # Each run loads the model the same way: load it once (the slow part of this test).
  monkeypatch.setattr(predictors, 'saved_model_predictor',
                      functools.lru_cache(predictors.saved_model_predictor))
  small_model = str(tmp_path / 'pushed')           # a folder of versions, as the Pusher writes
  shutil.copytree(small_export, os.path.join(small_model, '1'))
  root = write_photos(tmp_path / 'photos')
  (tmp_path / 'photos' / 'face' / 'phone.jpg').write_bytes(jpeg_with_orientation(6))
  jpeg = (tmp_path / 'photos' / 'face' / 'face_0.jpg').read_bytes()
  (tmp_path / 'photos' / 'face' / 'truncated.jpg').write_bytes(jpeg[:len(jpeg) // 2])
  (tmp_path / 'photos' / 'animal' / 'notes.txt').write_text('not a photo')
  output = tmp_path / 'out' / 'small.json'
  args = ['--data-root', root, '--model', small_model, '--output', str(output),
          '--batch-size', '3']
  code, out, err = run_cli(args, capsys)
  assert code == 1, err
  assert f'evaluate: skipped {root}/animal/notes.txt: not a JPEG, PNG, GIF or BMP image' in err
  assert f'evaluate: skipped {root}/face/truncated.jpg' in err
  assert '9/9 images, 2 failed' in err
  lines = out.splitlines()
  assert lines[0].startswith(f'7 photos from {root}, colorized by {small_model}/1')
  assert [line.split()[:2] for line in lines[2:5]] == [['animal', '3'], ['face', '4'],
                                                      ['overall', '7']]
  document = json.loads(output.read_text())
  assert document['overall']['photos'] == 7 and set(document['classes']) == {'animal', 'face'}
  by_path = {photo['path']: photo for photo in document['photos']}
  assert sorted(by_path) == ['animal/animal_0.jpg', 'animal/animal_1.jpg', 'animal/animal_2.jpg',
                             'face/face_0.jpg', 'face/face_1.jpg', 'face/face_2.jpg',
                             'face/phone.jpg']
  assert (by_path['face/phone.jpg']['width'], by_path['face/phone.jpg']['height']) == (32, 48)
  assert {skip['file'] for skip in document['skipped']} == {
      f'{root}/animal/notes.txt', f'{root}/face/truncated.jpg'}
  for name in ('psnr', 'gray_psnr', 'auc', 'gray_auc', 'colorfulness', 'true_colorfulness'):
    assert np.isfinite(by_path['face/face_1.jpg']['scores'][name]), name

  before = output.read_text()
  code, out, err = run_cli(args, capsys)
  assert code == 2 and out == ''
  assert err == (f'colorization evaluate: error: {output} exists; choose another --output or pass '
                 '--overwrite\n')
  assert output.read_text() == before
  output.write_text('an older evaluation')
  assert run_cli([*args, '--overwrite'], capsys)[0] == 1
  assert json.loads(output.read_text()) == json.loads(before)

  again = str(tmp_path / 'again.json')
  code, out, err = run_cli([*args[:4], '--output', again, '--baseline', str(output)], capsys)
  assert code == 1, err
  assert 'ours minus the baseline' in out
  assert out.splitlines()[-2].split() == ['overall', '7', '+0.00', '±', '0.00', '+0.00', '±', '0.00']
  assert json.loads(open(again).read())['baseline']['differences']['face']['photos'] == 4


def test_paired_differences_to_a_baseline():
  scores = [scoring.PhotoScore(f'{label}/{i}.jpg', label, 8, 8, {'psnr': 20.0 + i, 'auc': 90.0})
            for label in ('animal', 'face') for i in range(4)]
  baseline = {s.path: {'psnr': s.scores['psnr'] - (2.0 if s.path == 'face/0.jpg' else 1.0),
                       'auc': 89.5} for s in scores if s.path != 'animal/3.jpg'}
  differences = summary.paired_differences(scores, baseline)
  assert differences['animal'] == {'photos': 3, 'psnr_difference': 1.0, 'psnr_difference_se': 0.0,
                                   'auc_difference': 0.5, 'auc_difference_se': 0.0}
  assert differences['face']['psnr_difference'] == pytest.approx(1.25)
  assert differences['face']['psnr_difference_se'] > 0
  assert differences[summary.OVERALL]['photos'] == 7
  with pytest.raises(ValueError, match='no photo was scored by both'):
    summary.paired_differences(scores, {'other/x.jpg': {'psnr': 1.0, 'auc': 1.0}})


def test_missing_listed_photo_is_named_and_skipped(tmp_path, capsys):
  root = write_photos(tmp_path / 'photos', per_class=1)
  (tmp_path / 'list.txt').write_text('face/face_0.jpg\nface/gone.jpg\n')
  result = evaluate.evaluate(photos_lib.folder_photos(root, str(tmp_path / 'list.txt')), identity)
  assert [s.path for s in result.scores] == ['face/face_0.jpg']
  assert result.skipped == [(f'{root}/face/gone.jpg', 'No such file or directory')]
  assert f'skipped {root}/face/gone.jpg: No such file or directory' in capsys.readouterr().err


def test_unreachable_server_is_one_line(tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(predictors, 'CONNECT_SECONDS', 0.5)
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  code, out, err = run_cli(['--data-root', write_photos(tmp_path, per_class=1),
                            '--server', f'127.0.0.1:{port}'], capsys)
  assert code == 2
  assert err == f'colorization evaluate: error: cannot reach a model server at 127.0.0.1:{port}\n'


@pytest.mark.parametrize('layout', ['no class folders', 'empty class folder'])
def test_nothing_to_evaluate_is_one_line(tmp_path, layout, capsys):
  if layout == 'empty class folder':
    (tmp_path / 'face').mkdir()
  code, out, err = run_cli(['--data-root', str(tmp_path), '--server', '127.0.0.1:1'], capsys)
  assert code == 2 and out == ''
  assert len(err.splitlines()) == 1 and err.startswith('colorization evaluate: error: ')
  assert str(tmp_path) in err


def test_help_is_fast_without_tensorflow():
  code = ('import sys\nfrom colorization.cli import main\ntry:\n  main.main(["evaluate", "--help"])\n'
          'except SystemExit:\n  pass\n'
          'print(sorted(m for m in ("tensorflow", "tfx", "apache_beam") if m in sys.modules))')
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr
  assert '--data-root' in result.stdout and result.stdout.strip().splitlines()[-1] == '[]'


@pytest.mark.slow
def test_a_runs_test_split(pipeline_home, pushed_model_dir, capsys):
  names = photos_lib.split_file_names(pipeline_home, 'test')
  assert names and all(name.count('/') == 1 for name in names)
  code, out, err = run_cli(['--home', pipeline_home, '--model', pushed_model_dir], capsys)
  assert code == 0, err
  assert out.splitlines()[0].startswith(f'{len(names)} photos from {pipeline_home} (test split)')
