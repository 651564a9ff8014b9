"""The results report: metric table and a per-class gallery (gray input / prediction / truth)."""
import base64
import html
import io
import os

import tensorflow as tf
from PIL import Image

from colorization.models import features
from colorization.pipeline import results, tables
from colorization.pipeline.config import PipelineConfig

GALLERY_PER_CLASS = 6
THUMBNAIL_SIDE = 256


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


def thumbnail_uri(image_bytes: bytes, gray: bool = False) -> str:
  """A data: URI of a PNG thumbnail, optionally converted to gray (what the model sees)."""
  image = Image.open(io.BytesIO(image_bytes)).convert('L' if gray else 'RGB')
  image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
  buffer = io.BytesIO()
  image.save(buffer, 'PNG')
  return 'data:image/png;base64,' + base64.b64encode(buffer.getvalue()).decode()


def gallery_html(samples: dict[str, list[dict]], columns: dict[str, list[bytes]]) -> str:
  """Per class, one row per image: gray input, each named column of PNGs, then the truth."""
  parts = []
  flat = [row for rows in samples.values() for row in rows]
  index = {id(row): i for i, row in enumerate(flat)}
  header = ''.join(f'<th>{html.escape(name)}</th>' for name in ['input (gray)', *columns, 'truth'])
  for label, rows in samples.items():
    parts.append(f'<h2>{html.escape(label)}</h2><table><tr>{header}</tr>')
    for row in rows:
      image = row[features.IMAGE_KEY]
      cells = [thumbnail_uri(image, gray=True)]
      cells += [thumbnail_uri(pngs[index[id(row)]]) for pngs in columns.values()]
      cells.append(thumbnail_uri(image))
      title = html.escape(row[features.FILENAME_KEY].decode())
      parts.append('<tr>' + ''.join(f'<td><img src="{c}" title="{title}"></td>' for c in cells)
                   + '</tr>')
    parts.append('</table>')
  return ''.join(parts)


def page(title: str, body: str) -> str:
  """A standalone HTML page (inline style) around a body."""
  style = ('body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}'
           'td,th{padding:4px 8px;border:1px solid #ccc;text-align:right}img{display:block}')
  return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
          f'<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>')


def write_report(config: PipelineConfig) -> str:
  """Writes <home>/reports/index.html for the latest evaluated model; returns its path."""
  store = results.open_store(config)
  examples = results.latest_output(store, config, 'FileBasedExampleGen', 'examples')
  model = results.latest_output(store, config, 'Trainer', 'model')
  if examples is None or model is None:
    raise ValueError(f'No finished pipeline run under {config.home}: run `colorization run` first.')
  summary = results.summarize(config)
  samples = sample_per_class(read_split_examples(examples.uri))
  images = [row[features.IMAGE_KEY] for rows in samples.values() for row in rows]
  predictions = colorize(os.path.join(model.uri, 'Format-Serving'), images)
  blessed = {None: 'not evaluated', True: 'blessed', False: 'not blessed'}[summary.blessed]
  body = (f'<p>Model {html.escape(model.uri)} ({blessed}); metrics on the test split.</p>'
          + tables.render_table(*results.metrics_table(summary.metrics), 'html')
          + gallery_html(samples, {'prediction': predictions}))
  os.makedirs(config.reports_dir, exist_ok=True)
  path = os.path.join(config.reports_dir, 'index.html')
  with open(path, 'w') as f:
    f.write(page('Colorization results', body))
  return path
