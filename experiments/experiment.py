"""The seed's experiment: one model per class and one on all classes, same recipe and budget.

Every model is a real pipeline run in the same MLMD store (ExampleGen, Transform and the split are
shared through the cache; the Trainer filters the training split by class), evaluated by the
Evaluator on every class's test split.
"""
import dataclasses
import html
import os
import time

from colorization.components import image_files
from colorization.pipeline import local_runner, report, results
from colorization.pipeline.config import PipelineConfig

ALL = 'all'
TABLE_METRICS = (('psnr', 'PSNR (dB)', True), ('auc', 'AuC (%)', True),
                 ('colorfulness', 'CF', None), ('delta_colorfulness', 'ΔCF', False))
GRAY_METRIC = {'psnr': 'gray_psnr', 'auc': 'gray_auc', 'colorfulness': 'gray_colorfulness',
               'delta_colorfulness': 'gray_delta_colorfulness'}


@dataclasses.dataclass
class ModelResult:
  name: str                                   # a class name or 'all'
  metrics: dict[str, dict[str, float]]        # evaluated slice -> metric -> value
  model_uri: str
  evaluation_uri: str
  seconds: float


def experiment_config(config: PipelineConfig) -> PipelineConfig:
  """Its own pipeline name and serving directory, so experiment models are never served."""
  return config.replace(pipeline_name=f'{config.pipeline_name}-experiment',
                        home=os.path.join(config.home, 'experiment'))


def train_and_evaluate(config: PipelineConfig, classes: list[str]) -> list[ModelResult]:
  """One pipeline run per specialist and one for all classes."""
  outcomes = []
  for name in [*classes, ALL]:
    run_config = config.replace(train_classes=() if name == ALL else (name,))
    print(f'--- model {name!r}: training on {"all classes" if name == ALL else name}')
    start = time.monotonic()
    local_runner.run(run_config)
    store = results.open_store(run_config)
    summary = results.summarize(run_config)
    outcomes.append(ModelResult(name, summary.metrics,
                                results.latest_output(store, run_config, 'Trainer', 'model').uri,
                                summary.evaluation_uri, time.monotonic() - start))
  return outcomes


def matrix_markdown(outcomes: list[ModelResult], classes: list[str]) -> str:
  """Per metric: rows = trained on, columns = evaluated on; plus the gray baseline row."""
  lines = []
  for metric, title, _ in TABLE_METRICS:
    lines += [f'### {title}', '', '| trained on | ' + ' | '.join(classes) + ' |',
              '|---|' + '---:|' * len(classes)]
    for outcome in outcomes:
      lines.append(f'| {outcome.name} | ' + ' | '.join(
          f'{outcome.metrics[c][metric]:.2f}' for c in classes) + ' |')
    gray = outcomes[0].metrics
    lines += ['| gray (a=b=0) | ' + ' | '.join(f'{gray[c][GRAY_METRIC[metric]]:.2f}'
                                              for c in classes) + ' |', '']
  return '\n'.join(lines)


def specialist_verdicts(outcomes: list[ModelResult], classes: list[str]) -> list[str]:
  """Per class: does the specialist beat the combined model on PSNR, AuC and ΔCF?"""
  combined = next(o for o in outcomes if o.name == ALL).metrics
  verdicts = []
  for label in classes:
    own = next(o for o in outcomes if o.name == label).metrics[label]
    wins = [title for metric, title, higher in TABLE_METRICS if higher is not None
            and (own[metric] > combined[label][metric] if higher
                 else own[metric] < combined[label][metric])]
    verdicts.append(f'- **{label}**: specialist better on {len(wins)} of 3 '
                    f'({", ".join(wins) or "none"}); PSNR {own["psnr"]:.2f} vs '
                    f'{combined[label]["psnr"]:.2f} dB, AuC {own["auc"]:.2f} vs '
                    f'{combined[label]["auc"]:.2f}, ΔCF {own["delta_colorfulness"]:.2f} vs '
                    f'{combined[label]["delta_colorfulness"]:.2f}.')
  return verdicts


def bar_chart_svg(outcomes: list[ModelResult], classes: list[str], metric: str, title: str) -> str:
  """Grouped bars: one group per evaluated class, one bar per model plus gray."""
  series = [(o.name, [o.metrics[c][metric] for c in classes]) for o in outcomes]
  series.append(('gray', [outcomes[0].metrics[c][GRAY_METRIC[metric]] for c in classes]))
  colours = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#9c9c9c']
  top = max(max(values) for _, values in series) or 1.0
  bar, gap, height = 14, 24, 160
  width = len(classes) * (len(series) * bar + gap) + 40
  parts = [f'<svg width="{width}" height="{height + 60}" xmlns="http://www.w3.org/2000/svg">',
           f'<text x="4" y="14" font-size="13">{html.escape(title)}</text>']
  for ci, label in enumerate(classes):
    x0 = 20 + ci * (len(series) * bar + gap)
    for si, (name, values) in enumerate(series):
      h = height * values[ci] / top
      parts.append(f'<rect x="{x0 + si * bar}" y="{20 + height - h:.1f}" width="{bar - 2}" '
                   f'height="{h:.1f}" fill="{colours[si % len(colours)]}">'
                   f'<title>{html.escape(name)}: {values[ci]:.2f}</title></rect>')
    parts.append(f'<text x="{x0}" y="{height + 36}" font-size="12">{html.escape(label)}</text>')
  legend = ' '.join(f'<tspan fill="{colours[i % len(colours)]}">■ {html.escape(n)}</tspan>'
                    for i, (n, _) in enumerate(series))
  parts.append(f'<text x="4" y="{height + 54}" font-size="12">{legend}</text></svg>')
  return ''.join(parts)


def write_reports(config: PipelineConfig, outcomes: list[ModelResult], classes: list[str],
                  examples_uri: str, seconds: float) -> tuple[str, str]:
  """experiment.md and experiment.html under <home>/reports; returns both paths."""
  header = [f'Data root: `{config.data_root}`; {config.train_steps} training steps of batch '
            f'{config.batch_size} per model; total time {seconds / 60:.1f} min.', '',
            'Rows: the class the model was trained on; columns: the test split it was evaluated '
            'on (the same split for every model). Values are read from each run\'s TFMA '
            'evaluation:', '']
  header += [f'- {o.name}: model `{o.model_uri}`, evaluation `{o.evaluation_uri}` '
             f'({o.seconds / 60:.1f} min)' for o in outcomes]
  body = '\n'.join(header + ['', matrix_markdown(outcomes, classes), '## Does the specialist win?',
                             ''] + specialist_verdicts(outcomes, classes)) + '\n'
  os.makedirs(config.reports_dir, exist_ok=True)
  markdown_path = os.path.join(config.reports_dir, 'experiment.md')
  with open(markdown_path, 'w') as f:
    f.write('# Per-class versus combined training\n\n' + body)

  samples = report.sample_per_class(report.read_split_examples(examples_uri), per_class=3)
  images = [row['image'] for rows in samples.values() for row in rows]
  columns = {o.name: report.colorize(os.path.join(o.model_uri, 'Format-Serving'), images)
             for o in outcomes}
  charts = ''.join(bar_chart_svg(outcomes, classes, metric, title)
                   for metric, title, _ in TABLE_METRICS)
  tables = ''.join(f'<h3>{html.escape(title)}</h3>' + _matrix_html(outcomes, classes, metric)
                   for metric, title, _ in TABLE_METRICS)
  verdicts = ''.join(f'<li>{html.escape(v[2:])}</li>' for v in specialist_verdicts(outcomes,
                                                                                   classes))
  html_path = os.path.join(config.reports_dir, 'experiment.html')
  with open(html_path, 'w') as f:
    f.write(report.page('Per-class versus combined training',
                        tables + charts + f'<h2>Does the specialist win?</h2><ul>{verdicts}</ul>'
                        + report.gallery_html(samples, columns)))
  return markdown_path, html_path


def _matrix_html(outcomes: list[ModelResult], classes: list[str], metric: str) -> str:
  head = ''.join(f'<th>{html.escape(c)}</th>' for c in classes)
  rows = [f'<tr><th>{html.escape(o.name)}</th>'
          + ''.join(f'<td>{o.metrics[c][metric]:.2f}</td>' for c in classes) + '</tr>'
          for o in outcomes]
  rows.append('<tr><th>gray</th>' + ''.join(
      f'<td>{outcomes[0].metrics[c][GRAY_METRIC[metric]]:.2f}</td>' for c in classes) + '</tr>')
  return f'<table><tr><th>trained on</th>{head}</tr>{"".join(rows)}</table>'


def run_experiment(config: PipelineConfig) -> str:
  """Trains and evaluates the four models; returns a short text naming the report files."""
  classes = sorted({label for label, _ in image_files.list_images(config.data_root)})
  config = experiment_config(config)
  start = time.monotonic()
  outcomes = train_and_evaluate(config, classes)
  examples = results.latest_output(results.open_store(config), config, 'FileBasedExampleGen',
                                   'examples')
  markdown_path, html_path = write_reports(config, outcomes, classes, examples.uri,
                                           time.monotonic() - start)
  return f'Experiment report: {markdown_path}\n                   {html_path}'
