"""pipeline.report: the page holds each item a user looks for (built from a small fake run), and a
real run's report (the shared pipeline run) names the pushed version and shows its curves."""
import base64
import html
import io
import os
import re

import pytest
from PIL import Image

from colorization.models import features
from colorization.pipeline import report

METRICS = {slice_name: {'psnr': 23.5 + i, 'gray_psnr': 22.0, 'auc': 90.0, 'gray_auc': 88.5,
                        'colorfulness': 20.0, 'gray_colorfulness': 0.0, 'true_colorfulness': 30.0,
                        'delta_colorfulness': 10.0, 'gray_delta_colorfulness': 30.0}
           for i, slice_name in enumerate(('overall', 'animal', 'face'))}
SETTINGS = [('training steps', '1500'), ('epochs', '5'), ('batch size', '16'),
            ('encoder', 'efficientnet-lite0'), ('data root', 'photos/3class'),
            ('trained', '2026-12-07 18:00 UTC'),
            ('code version', 'colorization 0.2.0, models fingerprint 7d6c5da66caf')]


def _png(colour: tuple[int, int, int]) -> bytes:
  buffer = io.BytesIO()
  Image.new('RGB', (48, 32), colour).save(buffer, 'PNG')
  return buffer.getvalue()


def _example(label: str, name: str) -> dict:
  return {features.IMAGE_KEY: _png((200, 120, 60)), features.LABEL_KEY: label.encode(),
          features.FILENAME_KEY: f'{label}/{name}'.encode()}


def fake_report(pushed_path: str | None = 'home/serving/colorizer/1796669500',
                blessed: bool | None = True) -> report.RunReport:
  """A run of three classes where landscape has no test images (so no metrics, no gallery)."""
  samples = {'animal': [_example('animal', 'cat_01.jpg')],
             'face': [_example('face', 'face_07.jpg'), _example('face', 'face_09.jpg')]}
  return report.RunReport(
      metrics=METRICS, blessed=blessed,
      model_uri='home/pipeline_root/Trainer/model/6/Format-Serving', pushed_path=pushed_path,
      serving_dir='home/serving/colorizer', settings=SETTINGS,
      split_counts={'animal': {'train': 9, 'eval': 2, 'test': 1},
                    'face': {'train': 10, 'eval': 0, 'test': 2},
                    'landscape': {'train': 4, 'eval': 1, 'test': 0}},
      loss_curves={'train epoch_loss': [(0, 5.0), (1, 4.0), (2, 3.5)],
                   'validation epoch_loss': [(0, 5.2), (1, 4.5), (2, 4.2)]},
      samples=samples, predictions=[_png((10, 200, 10))] * 3)


def _embedded_pngs(page: str) -> dict[str, Image.Image]:
  """alt text -> decoded image of every <img> carrying an alt (the charts)."""
  found = {}
  for uri, alt in re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)">', page):
    found[html.unescape(alt)] = Image.open(io.BytesIO(base64.b64decode(uri)))
  return found


@pytest.fixture(scope='module')
def page() -> str:
  return report.render(fake_report())


def test_a_chart_per_metric_and_the_loss_curves_are_embedded_pngs(page):
  images = _embedded_pngs(page)
  for _, title in report.CHARTS:
    assert images[title].format == 'PNG' and images[title].size[0] >= 400, title
  assert images['loss curves'].format == 'PNG'


def test_legend_says_what_each_metric_means_and_which_way_is_better(page):
  legend = dict(re.findall(r'<dt>([^<]+)</dt><dd>([^<]+)</dd>', page))
  assert set(legend) >= {'PSNR', 'AuC', 'CF', 'ΔCF', 'gray'}
  assert 'Higher is better' in legend['PSNR'] and 'Higher is better' in legend['AuC']
  assert 'Lower is better' in legend['ΔCF'] and 'nearer' in legend['CF']


def test_counts_per_class_and_a_note_for_the_class_without_test_images(page):
  assert '<tr><th>landscape</th><td>4</td><td>1</td><td>0</td></tr>' in page
  assert '<tr><th>all</th><td>23</td><td>3</td><td>3</td></tr>' in page
  notes = re.findall(r'<p class="note">(.*?)</p>', page)
  assert len(notes) == 1 and 'Class <b>landscape</b> has no test images' in notes[0]


def test_settings_are_listed(page):
  for name, value in SETTINGS:
    assert f'<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>' in page


def test_pushed_model_is_named_by_serving_path_and_version(page):
  assert 'version <b>1796669500</b> in <code>home/serving/colorizer</code>' in page
  assert 'colorization serve --model-base-path home/serving/colorizer' in page


def test_nothing_pushed_is_said_plainly():
  page = report.render(fake_report(pushed_path=None, blessed=False))
  assert 'Nothing was pushed by this run: the model was not blessed.' in page
  assert 'Pushed model:' not in page


def test_gallery_shows_file_names_under_the_images(page):
  gallery = page[page.index('<h2>Gallery'):]
  assert [h for h in re.findall(r'<h3>([^<]+)</h3>', gallery)] == ['animal', 'face']
  names = re.findall(r'<div class="name">([^<]+)</div>', gallery)
  assert names == ['animal/cat_01.jpg', 'face/face_07.jpg', 'face/face_09.jpg']
  assert gallery.count('<tr><td>') == 3  # one row per photo: gray, prediction, truth


@pytest.mark.slow
def test_a_run_writes_the_report(pipeline_home, pushed_model_dir):
  with open(os.path.join(pipeline_home, 'reports', 'index.html')) as f:
    page = f.read()
  base, version = os.path.split(pushed_model_dir)
  assert f'version <b>{version}</b> in <code>{base}</code>' in page
  images = _embedded_pngs(page)
  assert set(images) == {title for _, title in report.CHARTS} | {'loss curves'}
  assert '<tr><th>training steps</th><td>6</td></tr>' in page
  assert '<div class="name">face/' in page
