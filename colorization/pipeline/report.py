"""The results report, <home>/reports/index.html: one self-contained page (images as data: URIs)
with the run's model and settings, images per class, the metrics per class against gray (table,
legend, charts), the loss curves, and a gallery per class (gray input / prediction / truth)."""
from __future__ import annotations

import base64
import dataclasses
import html
import io
import math
import os

import tensorflow as tf
from PIL import Image

from colorization.models import features
from colorization.pipeline import charts, class_accuracy, results, run_details, tables
from colorization.pipeline.config import PipelineConfig

GALLERY_PER_CLASS = 6
THUMBNAIL_SIDE = 256
# (metric, gray twin shown beside it, chart title); the legend says what each means.
CHARTS = (('psnr', 'PSNR (dB), higher is better'),
          ('auc', 'AuC (%), higher is better'),
          ('colorfulness', 'Colourfulness CF, nearer truth is better'),
          ('delta_colorfulness', 'Delta CF = |CF - CF of the photos|, lower is better'))
LEGEND = (
    ('PSNR', 'peak signal-to-noise ratio of the colorized photo against the original, in dB '
             '(sRGB). Higher is better. Gray scores well on it: a dull guess costs little.'),
    ('AuC', 'area under the curve of the share of pixels whose ab colour error is within a '
            'threshold, thresholds 0 to 150, in %. Higher is better.'),
    ('CF', 'colourfulness (Hasler & Süsstrunk): how vivid the colours are. Gray has 0; nearer the '
           'photos\' own CF (truth) is better.'),
    ('ΔCF', '(dCF in the table) |CF of ours - CF of the photos|, per class. Lower is better; '
            'gray\'s ΔCF is the photos\' own CF.'),
    ('gray', 'the baseline: the grayscale input shown as is (a = b = 0).'))


@dataclasses.dataclass
class RunReport:
  """Everything the page shows, read from a finished run (collect) or built by a test."""
  metrics: dict[str, dict[str, float]]          # slice -> metric -> value (results.summarize)
  blessed: bool | None
  model_uri: str                                # the Trainer's model, which the gallery shows
  pushed_path: str | None                       # serving/<model>/<version>, or None
  serving_dir: str
  settings: list[tuple[str, str]]
  split_counts: dict[str, dict[str, int]]       # class -> split -> images
  loss_curves: dict[str, list[tuple[float, float]]]
  samples: dict[str, list[dict]]                # class -> raw examples (sample_per_class)
  predictions: list[bytes]                      # PNGs, one per sample in order
  class_accuracy: dict[str, tuple[int, int]] | None = None  # a class-aware model's head


def read_split_examples(examples_uri: str, split: str = 'test') -> list[dict]:
  """Raw examples of one ExampleGen split as dicts: image bytes, label, filename."""
  files = tf.io.gfile.glob(os.path.join(examples_uri, f'Split-{split}', '*'))
  spec = {key: tf.io.FixedLenFeature([], tf.string)
          for key in (features.IMAGE_KEY, features.LABEL_KEY, features.FILENAME_KEY)}
  rows = []
  for record in tf.data.TFRecordDataset(files, compression_type='GZIP'):
    parsed = tf.io.parse_single_example(record, spec)
    rows.append({key: value.numpy() for key, value in parsed.items()})
  return sorted(rows, key=lambda row: row[features.FILENAME_KEY])


def sample_per_class(rows: list[dict], per_class: int = GALLERY_PER_CLASS) -> dict[str, list[dict]]:
  """The first `per_class` examples of each class (rows are sorted by file name: stable)."""
  by_class: dict[str, list[dict]] = {}
  for row in rows:
    by_class.setdefault(row[features.LABEL_KEY].decode(), []).append(row)
  return {label: items[:per_class] for label, items in sorted(by_class.items())}


def colorize(model_dir: str, image_bytes: list[bytes]) -> list[bytes]:
  """PNG bytes from the exported colorize_image signature (the model sees only L)."""
  signature = tf.saved_model.load(model_dir).signatures[features.COLORIZE_IMAGE]
  output = signature(**{features.IMAGE_BYTES_KEY: tf.constant(image_bytes)})
  return [png for png in output[features.COLORIZED_PNG_KEY].numpy()]


def png_uri(png: bytes) -> str:
  return 'data:image/png;base64,' + base64.b64encode(png).decode()


def thumbnail_uri(image_bytes: bytes, gray: bool = False) -> str:
  """A data: URI of a PNG thumbnail, optionally converted to gray (what the model sees)."""
  image = Image.open(io.BytesIO(image_bytes)).convert('L' if gray else 'RGB')
  image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
  buffer = io.BytesIO()
  image.save(buffer, 'PNG')
  return png_uri(buffer.getvalue())


def gallery_html(samples: dict[str, list[dict]], columns: dict[str, list[bytes]]) -> str:
  """Per class, one row per image: gray input (file name under it), each named column of PNGs,
  then the truth."""
  parts = []
  flat = [row for rows in samples.values() for row in rows]
  index = {id(row): i for i, row in enumerate(flat)}
  header = ''.join(f'<th>{html.escape(name)}</th>' for name in ['input (gray)', *columns, 'truth'])
  for label, rows in samples.items():
    parts.append(f'<h3>{html.escape(label)}</h3><table class="gallery"><tr>{header}</tr>')
    for row in rows:
      image = row[features.IMAGE_KEY]
      name = html.escape(row[features.FILENAME_KEY].decode())
      cells = [f'<img src="{thumbnail_uri(image, gray=True)}" title="{name}">'
               f'<div class="name">{name}</div>']
      cells += [f'<img src="{thumbnail_uri(pngs[index[id(row)]])}" title="{name}">'
                for pngs in columns.values()]
      cells.append(f'<img src="{thumbnail_uri(image)}" title="{name}">')
      parts.append('<tr>' + ''.join(f'<td>{cell}</td>' for cell in cells) + '</tr>')
    parts.append('</table>')
  return ''.join(parts)


def page(title: str, body: str) -> str:
  """A standalone HTML page (inline style) around a body."""
  style = ('body{font-family:sans-serif;margin:2em;max-width:1400px}'
           'table{border-collapse:collapse;margin:0.5em 0}'
           'td,th{padding:4px 8px;border:1px solid #ccc;text-align:right}'
           'th:first-child{text-align:left}img{display:block}'
           '.gallery td{vertical-align:top}.gallery th{text-align:center}'
           '.name{font-size:12px;color:#333;text-align:left;max-width:256px;'
           'overflow-wrap:anywhere;padding-top:2px}'
           '.note{background:#fff4d6;border-left:4px solid #e6a700;padding:6px 10px}'
           '.charts{display:flex;flex-wrap:wrap;gap:12px}dt{font-weight:bold;float:left;'
           'width:4em}dd{margin-left:5em;margin-bottom:4px}'
           '.settings td{text-align:left}')
  return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
          f'<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>')


def model_html(report: RunReport) -> str:
  """Blessing, and where the pushed model is served from (or why nothing was pushed)."""
  blessed = {None: 'was not evaluated', True: 'was blessed',
             False: 'was not blessed'}[report.blessed]
  if report.pushed_path:
    base, version = os.path.split(report.pushed_path.rstrip('/'))
    pushed = (f'<p>Pushed model: version <b>{html.escape(version)}</b> in '
              f'<code>{html.escape(base)}</code>. Serve it with <code>colorization serve '
              f'--model-base-path {html.escape(base)}</code>.</p>')
  else:
    pushed = (f'<p class="note">Nothing was pushed by this run: the model {blessed}. '
              f'<code>{html.escape(report.serving_dir)}</code> keeps serving the newest earlier '
              'version, if any.</p>')
  return (f'<h2>Model</h2><p>This run\'s model {blessed}. The metrics and the gallery below are '
          f'its own, on the test split (<code>{html.escape(report.model_uri)}</code>).</p>'
          + pushed)


def settings_html(settings: list[tuple[str, str]]) -> str:
  rows = ''.join(f'<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>'
                 for name, value in settings)
  return f'<h2>Settings</h2><table class="settings">{rows}</table>'


def counts_html(split_counts: dict[str, dict[str, int]]) -> str:
  """Images per class and split, and a note naming each class with no test images."""
  header = ['class', *run_details.SPLITS]
  rows = [[label, *(str(by_split[split]) for split in run_details.SPLITS)]
          for label, by_split in split_counts.items()]
  rows.append(['all', *(str(sum(c[split] for c in split_counts.values()))
                        for split in run_details.SPLITS)])
  missing = [label for label, by_split in split_counts.items() if not by_split['test']]
  notes = ''.join(
      f'<p class="note">Class <b>{html.escape(label)}</b> has no test images: it has no metrics '
      'and no gallery below. The split hashes file names; with more photos in the class some '
      'land in test.</p>' for label in missing)
  return ('<h2>Images per class</h2>' + tables.render_table(header, rows, 'html') + notes)


def metrics_html(metrics: dict[str, dict[str, float]]) -> str:
  """The table, the legend, and a chart per metric: ours against gray (and truth for CF)."""
  if not metrics:
    return '<h2>Metrics</h2><p class="note">No evaluation found for this run.</p>'
  legend = ''.join(f'<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>'
                   for term, text in LEGEND)
  slices = sorted(metrics, key=lambda s: (s != results.OVERALL, s))
  images = []
  for metric, title in CHARTS:
    series = {'ours': [metrics[s].get(metric, math.nan) for s in slices],
              'gray': [metrics[s].get(results.gray_metric(metric), math.nan) for s in slices]}
    if metric == 'colorfulness':
      series['truth'] = [metrics[s].get('true_colorfulness', math.nan) for s in slices]
    png = charts.bar_chart(title, slices, series)
    images.append(f'<img src="{png_uri(png)}" alt="{html.escape(title)}">')
  return ('<h2>Metrics on the test split, ours against gray</h2>'
          + tables.render_table(*results.metrics_table(metrics), 'html')
          + f'<dl>{legend}</dl><div class="charts">{"".join(images)}</div>')


def class_accuracy_html(counts: dict[str, tuple[int, int]] | None) -> str:
  """A class-aware model's class head on the test split; nothing for other models."""
  if not counts:
    return ''
  return ('<h2>Class head</h2><p>Predicted class right on the test split: '
          f'{html.escape(class_accuracy.format_accuracy(counts))}</p>')


def curves_html(curves: dict[str, list[tuple[float, float]]]) -> str:
  if not curves:
    return ('<h2>Training</h2><p class="note">No loss curves found in the Trainer\'s TensorBoard '
            'logs.</p>')
  png = charts.line_chart('Training and validation loss', curves, x_label='epoch',
                          y_label='loss')
  return f'<h2>Training</h2><img src="{png_uri(png)}" alt="loss curves">'


def render(report: RunReport) -> str:
  """The whole page."""
  tested = [label for label, rows in report.samples.items() if rows]
  gallery = ('<h2>Gallery (test split)</h2>'
             + gallery_html({label: report.samples[label] for label in tested},
                            {'prediction': report.predictions}))
  return page('Colorization results',
              model_html(report) + settings_html(report.settings)
              + counts_html(report.split_counts) + metrics_html(report.metrics)
              + class_accuracy_html(report.class_accuracy)
              + curves_html(report.loss_curves) + gallery)


def collect(config: PipelineConfig) -> RunReport:
  """Reads the newest run under the config's home (MLMD, artifacts) and colorizes the gallery."""
  store = results.open_store(config)
  examples = results.latest_output(store, config, 'FileBasedExampleGen', 'examples')
  model = results.latest_output(store, config, 'Trainer', 'model')
  if examples is None or model is None:
    raise ValueError(f'No finished pipeline run under {config.home}: run `colorization run` first.')
  model_run = results.latest_output(store, config, 'Trainer', 'model_run')
  statistics = results.latest_output(store, config, 'StatisticsGen', 'statistics')
  summary = results.summarize(config)
  test_rows = read_split_examples(examples.uri)
  samples = sample_per_class(test_rows)
  counts = run_details.split_counts(statistics.uri) if statistics else {}
  if not counts:  # no statistics: the test split's own counts
    counts = {label: {'train': 0, 'eval': 0, 'test': 0} for label in samples}
    for row in test_rows:
      counts[row[features.LABEL_KEY].decode()]['test'] += 1
  images = [row[features.IMAGE_KEY] for rows in samples.values() for row in rows]
  model_dir = os.path.join(model.uri, 'Format-Serving')
  return RunReport(
      metrics=summary.metrics, blessed=summary.blessed, model_uri=model_dir,
      pushed_path=summary.pushed_path, serving_dir=config.serving_dir,
      settings=run_details.run_settings(store, config), split_counts=counts,
      loss_curves=run_details.loss_curves(model_run.uri) if model_run else {},
      samples=samples, predictions=colorize(model_dir, images) if images else [],
      class_accuracy=summary.class_accuracy)


def write_report(config: PipelineConfig) -> str:
  """Writes <home>/reports/index.html for the newest run; returns its path."""
  text = render(collect(config))
  os.makedirs(config.reports_dir, exist_ok=True)
  path = os.path.join(config.reports_dir, 'index.html')
  with open(path, 'w') as f:
    f.write(text)
  return path
