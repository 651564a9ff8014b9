"""The seed's experiment: one model per class and one on all classes, same recipe and budget.

Every model is a real pipeline run in the same MLMD store (ExampleGen, Transform and the split are
shared through the cache; the Trainer filters the training split by class), evaluated by the
Evaluator on every class's test split. Run it from a checkout (the training knobs come from the
COLORIZATION_* variables, docs/experiment.md):
  python -m experiments.experiment --data-root DIR [--home DIR]
"""
import argparse
import dataclasses
import html
import os
import time

from colorization.components import image_files
from colorization.pipeline import config as config_lib
from colorization.pipeline import local_runner, report, results, tables
from colorization.pipeline.config import PipelineConfig

ALL = 'all'
TABLE_METRICS = (('psnr', 'PSNR (dB)', True), ('auc', 'AuC (%)', True),
                 ('colorfulness', 'CF', None), ('delta_colorfulness', 'ΔCF', False))
GRAY_ROW = 'gray (a=b=0)'


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


def matrix_table(outcomes: list[ModelResult], classes: list[str],
                 metric: str) -> tuple[list[str], list[list[str]]]:
  """Header and rows for tables.render_table: rows = trained on, columns = evaluated on, then
  the gray baseline row."""
  gray = outcomes[0].metrics
  rows = [[o.name] + [f'{o.metrics[c][metric]:.2f}' for c in classes] for o in outcomes]
  rows.append([GRAY_ROW] + [f'{gray[c][results.gray_metric(metric)]:.2f}' for c in classes])
  return ['trained on', *classes], rows


def matrix_markdown(outcomes: list[ModelResult], classes: list[str]) -> str:
  """One Markdown table per metric, under a ### heading."""
  return '\n'.join(f'### {title}\n\n'
                   + tables.render_table(*matrix_table(outcomes, classes, metric), 'markdown')
                   + '\n' for metric, title, _ in TABLE_METRICS)


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
  series.append(('gray', [outcomes[0].metrics[c][results.gray_metric(metric)]
                          for c in classes]))
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
            f'{config.training.batch_size} per model; total time {seconds / 60:.1f} min.', '',
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
  matrices = ''.join(f'<h3>{html.escape(title)}</h3>'
                     + tables.render_table(*matrix_table(outcomes, classes, metric), 'html')
                     for metric, title, _ in TABLE_METRICS)
  verdicts = ''.join(f'<li>{html.escape(v[2:])}</li>' for v in specialist_verdicts(outcomes,
                                                                                   classes))
  html_path = os.path.join(config.reports_dir, 'experiment.html')
  with open(html_path, 'w') as f:
    f.write(report.page('Per-class versus combined training',
                        matrices + charts + f'<h2>Does the specialist win?</h2><ul>{verdicts}</ul>'
                        + report.gallery_html(samples, columns)))
  return markdown_path, html_path


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


def main(argv: list[str] | None = None) -> None:
  """`python -m experiments.experiment`: errors the user can fix are one line, no traceback."""
  parser = argparse.ArgumentParser(prog='python -m experiments.experiment',
                                   description=__doc__.splitlines()[0])
  parser.add_argument('--data-root', required=True,
                      help='folder of class sub-folders of photos (COLORIZATION_DATA_ROOT)')
  parser.add_argument('--home', help='the outputs go under <home>/experiment (COLORIZATION_HOME)')
  args = parser.parse_args(argv)
  try:
    print(run_experiment(config_lib.from_env(data_root=args.data_root, home=args.home)))
  except (OSError, ValueError) as error:
    raise SystemExit(f'experiment: error: {error}') from None


if __name__ == '__main__':
  main()
