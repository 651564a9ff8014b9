"""The `colorize` client: finding images, batching, bad files, never overwriting, and end to end."""
import io
import os
import re
import socket
import subprocess

import numpy as np
import pytest
from PIL import Image

from colorization.models import features
from colorization.serving import client, inputs, predictors
from tests.conftest import CLASSES, COLORIZATION


def write_image(path, width: int, height: int, mode: str = 'RGB') -> str:
  """A smooth colour gradient with a little noise, like a photo, saved by its suffix."""
  y, x = np.mgrid[0:height, 0:width]
  rgb = np.stack([x * 255 / max(width - 1, 1), y * 255 / max(height - 1, 1),
                  (x + y) * 127 / max(width + height, 1) + 64], -1)
  rgb += np.random.default_rng(width * height).normal(0, 6, rgb.shape)
  image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).convert(mode)
  os.makedirs(os.path.dirname(str(path)), exist_ok=True)
  image.save(str(path), quality=95) if str(path).endswith('.jpg') else image.save(str(path))
  return str(path)


def test_find_images_files_folders_globs(tmp_path):
  for name in ['a.jpg', 'a.png', 'sub/b.JPG', 'sub/deeper/c.gif', 'other/a.jpg']:
    write_image(tmp_path / 'photos' / name, 4, 4)
  (tmp_path / 'photos' / 'notes.txt').write_text('not an image')
  write_image(tmp_path / 'photos' / 'scan.tif', 4, 4)
  (tmp_path / 'photos' / '.DS_Store').write_bytes(b'hidden files are not inputs')
  photos = str(tmp_path / 'photos')
  found = inputs.find_images([
      photos, os.path.join(photos, 'a.jpg'), os.path.join(photos, 'other', '*.jpg'),
      str(tmp_path / 'missing.jpg'), str(tmp_path / 'none-*.png')], skip_folder=f'{photos}/other')
  assert [(os.path.relpath(path, photos), name) for path, name in found.images] == [
      ('a.jpg', 'a.jpg'), ('a.png', 'a.png'), ('sub/b.JPG', 'sub/b.JPG'),
      ('sub/deeper/c.gif', 'sub/deeper/c.gif'), ('other/a.jpg', 'a.jpg')]
  assert found.problems == [(str(tmp_path / 'photos/notes.txt'), 'not a JPEG, PNG, GIF or BMP '
                             'file (by its suffix)'),
                            (str(tmp_path / 'photos/scan.tif'), 'not a JPEG, PNG, GIF or BMP '
                             'file (by its suffix)'),
                            (str(tmp_path / 'missing.jpg'), 'no such file or folder'),
                            (str(tmp_path / 'none-*.png'), 'matches nothing')]
  assert found.folders == [photos]


class FakeServer:
  """Stands in for grpc_predictor: records batch sizes, refuses any batch holding a bad image."""

  def __init__(self):
    self.batches, self.signatures = [], []

  def predictor(self, address: str, model_name: str, signature_name: str = predictors.SIGNATURE_NAME,
                class_name: str | None = None) -> predictors.Predict:
    self.signatures.append(signature_name)

    def predict(images: list[bytes]) -> list[bytes]:
      self.batches.append(len(images))
      if any(b'truncated' in image for image in images):
        raise predictors.ImageError('Invalid JPEG data')
      return [b'png:' + image[:4] for image in images]
    return predict


def test_batches_and_bad_files_are_reported_by_name_and_skipped(tmp_path, monkeypatch, capsys):
  fake = FakeServer()
  monkeypatch.setattr(client, 'grpc_predictor', fake.predictor)
  inputs = [write_image(tmp_path / f'in/{i}.png', 8, 8) for i in range(5)]
  (tmp_path / 'in' / 'text.jpg').write_text('a text file named .jpg')
  (tmp_path / 'in' / 'truncated.jpg').write_bytes(b'\xff\xd8\xff truncated')
  code = client.colorize_paths([str(tmp_path / 'in')], str(tmp_path / 'out'), server='fake:1',
                               model_name=features.MODEL_NAME, batch_size=2)
  assert code == 1
  assert sorted(os.listdir(tmp_path / 'out')) == [f'{i}.png' for i in range(5)]
  assert fake.batches == [2, 2, 2, 1, 1]  # the batch with the truncated JPEG, retried one by one
  err = capsys.readouterr().err
  assert f'skipped {tmp_path}/in/text.jpg: not a JPEG, PNG, GIF or BMP image' in err
  assert f'skipped {tmp_path}/in/truncated.jpg: Invalid JPEG data' in err
  assert '7/7 images, 2 failed' in err


def test_requests_are_split_by_bytes(tmp_path, monkeypatch):
  fake = FakeServer()
  monkeypatch.setattr(client, 'grpc_predictor', fake.predictor)
  inputs = [write_image(tmp_path / f'{i}.png', 32, 32) for i in range(4)]
  monkeypatch.setattr(client, 'REQUEST_BYTES', 2 * os.path.getsize(inputs[0]) + 1)
  assert client.colorize_paths(inputs, str(tmp_path / 'out'), server='fake:1',
                               model_name=features.MODEL_NAME, batch_size=32) == 0
  assert fake.batches == [2, 2]


def test_format_jpg_asks_the_jpeg_signature_and_writes_jpg_files(tmp_path, monkeypatch):
  fake = FakeServer()
  monkeypatch.setattr(client, 'grpc_predictor', fake.predictor)
  for name in ('a.png', 'b.jpg', 'sub/c.gif'):
    write_image(tmp_path / 'in' / name, 8, 8)
  assert client.colorize_paths([str(tmp_path / 'in')], str(tmp_path / 'out'), server='fake:1',
                               model_name=features.MODEL_NAME, output_format='jpg') == 0
  assert fake.signatures == [features.COLORIZE_IMAGE_JPEG]
  written = sorted(os.path.relpath(os.path.join(folder, name), tmp_path / 'out')
                   for folder, _, names in os.walk(tmp_path / 'out') for name in names)
  assert written == ['a.jpg', 'b.jpg', 'sub/c.jpg']


def test_unreachable_server_raises_the_address(tmp_path, monkeypatch):
  monkeypatch.setattr(predictors, 'CONNECT_SECONDS', 0.5)
  write_image(tmp_path / 'a.png', 4, 4)
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  with pytest.raises(predictors.ModelUnavailable,
                     match=f'^cannot reach a model server at 127.0.0.1:{port}$'):
    client.colorize_paths([str(tmp_path / 'a.png')], str(tmp_path / 'out'),
                          server=f'127.0.0.1:{port}', model_name=features.MODEL_NAME)


def lightness(rgb: np.ndarray) -> np.ndarray:
  """CIE L* (D65) of uint8 sRGB, in numpy: an independent check of the graph's Lab math."""
  c = rgb.astype(np.float64) / 255
  linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
  y = linear @ np.array([0.2126729, 0.7151522, 0.0721750])
  f = np.where(y > (6 / 29) ** 3, np.cbrt(y), y / (3 * (6 / 29) ** 2) + 4 / 29)
  return 116 * f - 16


def wait_until_serving(address: str, process: subprocess.Popen) -> None:
  apis = predictors.serving_apis()
  channel = apis.grpc.insecure_channel(address)
  apis.grpc.channel_ready_future(channel).result(timeout=300)
  assert process.poll() is None


@pytest.mark.slow
def test_end_to_end_pipeline_model_served_and_colorized(pushed_model_dir, tmp_path):
  """Pushed model -> `colorization serve` -> `colorize --server` (and `--saved-model`) -> PNGs."""
  sizes = {'small.png': (97, 61, 'RGB'), 'large.jpg': (1024, 768, 'RGB'),
           'gray.jpg': (640, 480, 'L')}
  inputs = {name: write_image(tmp_path / 'in' / name, *size) for name, size in sizes.items()}
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  server = subprocess.Popen([COLORIZATION, 'serve', '--model-base-path',
                             os.path.dirname(pushed_model_dir), '--port', str(port),
                             '--rest-port', '0'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    wait_until_serving(f'127.0.0.1:{port}', server)
    result = subprocess.run([COLORIZATION, 'colorize', str(tmp_path / 'in'), '-o',
                             str(tmp_path / 'out'), '--server', f'127.0.0.1:{port}',
                             '--batch-size', '2'], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    in_process = subprocess.run([COLORIZATION, 'colorize', str(tmp_path / 'in'), '-o',
                                 str(tmp_path / 'in_process'), '--saved-model', pushed_model_dir],
                                capture_output=True, text=True, timeout=600)
    assert in_process.returncode == 0, in_process.stderr

    (tmp_path / 'in' / 'broken.jpg').write_bytes(open(inputs['large.jpg'], 'rb').read()[:600])
    again = subprocess.run([COLORIZATION, 'colorize', str(tmp_path / 'in' / '*.jpg'), '-o',
                            str(tmp_path / 'again'), '--server', f'127.0.0.1:{port}'],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 1
    assert f'skipped {tmp_path}/in/broken.jpg' in again.stderr
    assert sorted(os.listdir(tmp_path / 'again')) == ['gray.png', 'large.png']
  finally:
    server.terminate()
    server.wait(timeout=60)

  for name, (width, height, _) in sizes.items():
    source = Image.open(inputs[name]).convert('RGB')
    output = Image.open(tmp_path / 'out' / (os.path.splitext(name)[0] + '.png'))
    assert output.size == (width, height) and output.mode == 'RGB'
    difference = np.abs(lightness(np.asarray(output)) - lightness(np.asarray(source)))
    assert difference.mean() < 1 and np.percentile(difference, 99) < 2, name
    same_signature = Image.open(tmp_path / 'in_process' / (os.path.splitext(name)[0] + '.png'))
    assert np.abs(np.asarray(same_signature, int) - np.asarray(output, int)).max() <= 1, name


def cut_scan(jpeg: bytes) -> bytes:
  """The JPEG with the second half of its image data gone, its end-of-image marker kept: libjpeg
  decodes it with 'Corrupt JPEG data: premature end of data segment' on fd 2."""
  scan = jpeg.index(b'\xff\xda')
  return jpeg[:scan + (len(jpeg) - scan) // 2] + b'\xff\xd9'


def padded(jpeg: bytes) -> bytes:
  """The JPEG with junk bytes before its end-of-image marker: libjpeg decodes it with 'Corrupt
  JPEG data: N extraneous bytes before marker 0xd9'."""
  return jpeg[:-2] + b'\x00' * 12 + jpeg[-2:]


def warning_lines(err: str) -> list[str]:
  return [line for line in err.splitlines() if ': warning: ' in line]


def test_in_process_path_names_each_damaged_jpeg_in_one_line(small_export, tmp_path, capfd):
  """--saved-model: libjpeg's unnamed lines on fd 2 become one warning per file, naming it."""
  photos = tmp_path / 'in'
  jpeg = open(write_image(photos / 'good.jpg', 64, 48), 'rb').read()
  (photos / 'cut.jpg').write_bytes(cut_scan(jpeg))
  (photos / 'padded.jpg').write_bytes(padded(jpeg))
  code = client.colorize_paths([str(photos)], str(tmp_path / 'out'), saved_model=small_export,
                               model_name=features.MODEL_NAME, batch_size=3)
  err = capfd.readouterr().err
  assert code == 0, err
  assert sorted(os.listdir(tmp_path / 'out')) == ['cut.png', 'good.png', 'padded.png']
  cut, pad = warning_lines(err)
  assert cut == (f'colorization colorize: warning: {photos}/cut.jpg: corrupt JPEG data (premature '
                 'end of data segment); colorized what decodes')
  assert re.fullmatch(f'colorization colorize: warning: {re.escape(str(photos))}/padded.jpg: '
                      r'corrupt JPEG data \(\d+ extraneous bytes before marker 0xd9\); '
                      'colorized what decodes', pad), pad
  assert 'Corrupt JPEG data' not in err   # libjpeg's own lines do not also reach the console


def test_server_path_names_what_the_structure_shows(tmp_path, monkeypatch, capsys):
  """--server: the server decodes, so the client names what the JPEG's structure shows."""
  photos = tmp_path / 'in'
  write_image(photos / 'restarts.jpg', 64, 48)
  buffer = io.BytesIO()
  Image.open(photos / 'restarts.jpg').save(buffer, 'JPEG', restart_marker_blocks=2)
  jpeg = buffer.getvalue()
  third = jpeg.index(b'\xff\xd3')
  (photos / 'swapped.jpg').write_bytes(jpeg[:third] + b'\xff\xd5' + jpeg[third + 2:])
  (photos / 'truncated.jpg').write_bytes(jpeg[:len(jpeg) // 2])

  def predictor(address: str, model_name: str, *args) -> predictors.Predict:
    def predict(images: list[bytes]) -> list[bytes]:   # refuses truncated JPEGs as the graph does
      if any(not image.endswith(b'\xff\xd9') for image in images):
        raise predictors.ImageError('jpeg::Uncompress failed. Invalid JPEG data or crop window.')
      return [b'png' for _ in images]
    return predict
  monkeypatch.setattr(client, 'grpc_predictor', predictor)
  assert client.colorize_paths([str(photos)], str(tmp_path / 'out'), server='fake:1',
                               model_name=features.MODEL_NAME) == 1
  err = capsys.readouterr().err
  assert warning_lines(err) == [f'colorization colorize: warning: {photos}/swapped.jpg: corrupt '
                                'JPEG data (found marker 0xd5 instead of RST3); colorized what '
                                'decodes']
  assert (f'colorization colorize: skipped {photos}/truncated.jpg: jpeg::Uncompress failed. '
          'Invalid JPEG data or crop window; premature end of JPEG file (truncated: no '
          'end-of-image marker)') in err.splitlines()
  assert sorted(os.listdir(tmp_path / 'out')) == ['restarts.png', 'swapped.png']


def colorize_with_fake(inputs: list, output_dir, monkeypatch, **flags) -> int:
  monkeypatch.setattr(client, 'grpc_predictor', FakeServer().predictor)
  return client.colorize_paths([str(path) for path in inputs], str(output_dir), server='fake:1',
                               model_name=features.MODEL_NAME, **flags)


def test_output_folder_that_is_an_input_folder_is_refused_and_nothing_changes(tmp_path,
                                                                              monkeypatch):
  """The audit's `colorize d -o d`: it replaced a.png by a.jpg's colorization and b.png in place."""
  photos = {name: write_image(tmp_path / 'd' / name, 8, 8) for name in ['a.jpg', 'a.png', 'b.png']}
  before = {name: open(path, 'rb').read() for name, path in photos.items()}
  for output in [tmp_path / 'd', tmp_path / 'd' / 'out']:
    with pytest.raises(ValueError, match='--allow-output-inside-input'):
      colorize_with_fake([tmp_path / 'd'], output, monkeypatch)
  assert {name: open(path, 'rb').read() for name, path in photos.items()} == before
  assert sorted(os.listdir(tmp_path / 'd')) == ['a.jpg', 'a.png', 'b.png']


def test_inputs_and_existing_files_are_never_overwritten_and_clashes_are_named(tmp_path,
                                                                             monkeypatch, capsys):
  photos = {name: write_image(tmp_path / 'd' / name, 8, 8)
            for name in ['a.jpg', 'a.png', 'b.png', 'c.jpg', 'c.gif']}
  before = {name: open(path, 'rb').read() for name, path in photos.items()}
  code = colorize_with_fake([tmp_path / 'd'], tmp_path / 'd', monkeypatch,
                            allow_output_inside_input=True)
  err = capsys.readouterr().err
  assert code == 1
  assert {name: open(path, 'rb').read() for name, path in photos.items()} == before
  assert f'skipped {tmp_path}/d/a.jpg: its output {tmp_path}/d/a.png is an input' in err
  assert f'skipped {tmp_path}/d/c.jpg: its output {tmp_path}/d/c.png is already ' \
         f'{tmp_path}/d/c.gif\'s; rename one' in err
  assert (tmp_path / 'd' / 'c.png').read_bytes().startswith(b'png:')  # c.gif's, written once

  out = tmp_path / 'out'
  assert colorize_with_fake([tmp_path / 'd' / 'b.png'], out, monkeypatch) == 0
  (out / 'b.png').write_bytes(b'edited by hand')
  assert colorize_with_fake([tmp_path / 'd' / 'b.png'], out, monkeypatch) == 1
  assert (out / 'b.png').read_bytes() == b'edited by hand'
  assert f'{out}/b.png exists; --overwrite replaces it' in capsys.readouterr().err
  assert colorize_with_fake([tmp_path / 'd' / 'b.png'], out, monkeypatch, overwrite=True) == 0
  assert (out / 'b.png').read_bytes().startswith(b'png:')
  assert os.listdir(out) == ['b.png']


def test_empty_input_folder_is_one_error_line_and_a_failure(tmp_path, capsys):
  from colorization.cli import main
  (tmp_path / 'empty').mkdir()
  code = main.main(['colorize', str(tmp_path / 'empty'), '-o', str(tmp_path / 'out'),
                    '--server', '127.0.0.1:1'])
  err = capsys.readouterr().err.strip().splitlines()
  assert code == 2 and len(err) == 1
  assert err[0] == f'colorization colorize: error: no JPEG, PNG, GIF or BMP image in ' \
                    f'{tmp_path}/empty'
  assert not (tmp_path / 'out').exists()


@pytest.fixture(scope='module')
def class_aware_server(class_aware_export_dir, tmp_path_factory):
  """The local TF Serving server on a tiny class-aware model."""
  import shutil
  from colorization.serving import server as server_lib
  base = tmp_path_factory.mktemp('class_aware_base')
  shutil.copytree(class_aware_export_dir, base / '1')
  server = server_lib.ModelServer(str(base), features.MODEL_NAME, '127.0.0.1', 0)
  server.start()
  yield server.address
  server.stop()


def test_class_aware_model_prints_the_predicted_class_and_a_forced_class_recolours(
    class_aware_server, class_aware_export_dir, tmp_path, capsys):
  photos = [write_image(tmp_path / 'in' / f'{i}.png', 40, 30) for i in range(2)]
  colorized = {}
  for forced in (None, 'face', 'landscape'):
    out = tmp_path / f'out-{forced}'
    assert client.colorize_paths(photos, str(out), server=class_aware_server,
                                 model_name=features.MODEL_NAME, class_name=forced) == 0
    lines = capsys.readouterr().out.splitlines()
    predicted = [line.split() for line in lines if line.startswith(str(out))]
    assert sorted(path for path, _, _ in predicted) == [f'{out}/0.png:', f'{out}/1.png:'], lines
    assert all(name in CLASSES and 0 < float(p.strip('()')) <= 1 for _, name, p in predicted)
    assert (f'coloured as {forced}:' in lines[-4]) == (forced is not None), lines
    colorized[forced] = (out / '0.png').read_bytes()
  assert len(set(colorized.values())) == 3
  in_process = tmp_path / 'in_process'
  assert client.colorize_paths(photos[:1], str(in_process), saved_model=class_aware_export_dir,
                               model_name=features.MODEL_NAME, class_name='face') == 0
  assert (in_process / '0.png').read_bytes() == colorized['face']
  assert client.colorize_paths(photos[:1], str(tmp_path / 'dragon'), server=class_aware_server,
                               model_name=features.MODEL_NAME, class_name='dragon') == 1
  assert 'one of: animal, face, landscape' in capsys.readouterr().err
