"""The seed's study: one model per class and one on all classes, same recipe and budget, each scored
per class on the run's test split and, with --ood-root, on photos from other sources.

Every model is a real pipeline run in one MLMD store (ExampleGen, Transform and the split are shared
through TFX's cache; the Trainer filters the training split by class). Each model is scored with
`colorization evaluate`'s code: full-resolution photos through its `colorize_image` signature, ours
against gray with a bootstrap standard error. Resumable: a finished model comes back from TFX's
cache and a finished evaluation from its JSON file. Run it from a checkout (the training knobs come
from the COLORIZATION_* variables, docs/experiment.md):
  python -m experiments.experiment --data-root DIR [--home DIR] [--ood-root DIR] [--skip-training]
"""
import argparse
import dataclasses
import json
import os
import time

from colorization.components import image_files
from colorization.evaluation import evaluate, photos as photos_lib, scoring, summary as summary_lib
from colorization.pipeline import config as config_lib
from colorization.pipeline import tables
from colorization.pipeline.config import PipelineConfig

ALL = 'all'
GRAY_ROW = 'gray (a=b=0)'
TEST, OOD = 'test', 'ood'
DATASET_TITLES = {TEST: 'test split (same sources as training)', OOD: 'other sources (--ood-root)'}
GAP_METRICS = (('psnr', 'PSNR (dB)'), ('auc', 'AuC (%)'))


@dataclasses.dataclass
class TrainedModel:
  name: str                       # a class name or ALL
  saved_model: str                # the Trainer's serving SavedModel
  minutes: float | None           # wall time of its pipeline run; None when found, not run


def experiment_config(config: PipelineConfig) -> PipelineConfig:
  """Its own pipeline name and home, so experiment models are never served."""
  return config.replace(pipeline_name=f'{config.pipeline_name}-experiment',
                        home=os.path.join(config.home, 'experiment'))


def _saved_model(model_uri: str) -> str:
  return os.path.join(model_uri, 'Format-Serving')


def train_models(config: PipelineConfig, classes: list[str]) -> list[TrainedModel]:
  """One pipeline run for all classes, then one per specialist (cached runs return at once)."""
  from colorization.pipeline import local_runner, results
  models = []
  for name in [ALL, *classes]:
    run_config = config.replace(train_classes=() if name == ALL else (name,))
    print(f'--- model {name!r}: training on {"all classes" if name == ALL else name}', flush=True)
    start = time.monotonic()
    local_runner.run(run_config)
    model = results.latest_output(results.open_store(run_config), run_config, 'Trainer', 'model')
    models.append(TrainedModel(name, _saved_model(model.uri), (time.monotonic() - start) / 60))
  return models


def find_models(config: PipelineConfig, classes: list[str]) -> list[TrainedModel]:
  """The newest finished Trainer output of each model in the experiment's store (no training)."""
  from colorization.pipeline import results
  from ml_metadata.proto import metadata_store_pb2
  store = results.open_store(config)
  context = store.get_context_by_type_and_name('node', f'{config.pipeline_name}.Trainer')
  done = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
  newest = {}
  for execution in (store.get_executions_by_context(context.id) if context else []):
    if execution.last_known_state in done:
      trained_on = results.training_config(execution).train_classes
      newest[trained_on[0] if trained_on else ALL] = execution
  models = []
  for name in [ALL, *classes]:
    if name not in newest:
      raise ValueError(f'no trained {name!r} model under {config.home}: run without '
                       '--skip-training first')
    events = store.get_events_by_execution_ids([newest[name].id])
    outputs = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT
               and e.path.steps and e.path.steps[0].key == 'model']
    models.append(TrainedModel(name, _saved_model(store.get_artifacts_by_id(outputs)[0].uri), None))
  return models


def scored(config: PipelineConfig, model: TrainedModel, dataset: str,
           photos: list[photos_lib.Photo]) -> dict:
  """The model's evaluation document on a dataset (evaluate.py's JSON), from its file if done."""
  from colorization.serving import predictors
  path = os.path.join(config.home, 'evaluations', f'{model.name}-{dataset}.json')
  if not os.path.exists(path):
    print(f'--- scoring model {model.name!r} on the {DATASET_TITLES[dataset]}', flush=True)
    result = evaluate.evaluate(photos, predictors.saved_model_predictor(model.saved_model))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
      f.write(summary_lib.to_json(result.summary, result.scores, result.skipped,
                                  {'model': model.saved_model, 'dataset': dataset}))
  with open(path) as f:
    return json.load(f)


def _class_row(document: dict, label: str) -> dict:
  return document['classes'][label]


def matrix_markdown(documents: dict[str, dict], classes: list[str]) -> str:
  """Per metric a table: rows = trained on (then gray), columns = evaluated class; each cell the
  mean and its gap to gray ± bootstrap standard error (ΔCF: the value itself)."""
  parts = []
  gray_source = next(iter(documents.values()))
  for metric, title in GAP_METRICS:
    rows = [[name] + [f'{_class_row(doc, c)[metric]:.2f} ({_class_row(doc, c)[f"{metric}_gap"]:+.2f}'
                      f' ± {_class_row(doc, c)[f"{metric}_gap_se"]:.2f})' for c in classes]
            for name, doc in documents.items()]
    rows.append([GRAY_ROW] + [f'{_class_row(gray_source, c)[f"gray_{metric}"]:.2f}'
                              for c in classes])
    parts.append(f'#### {title}: mean (gap to gray ± se)\n\n'
                 + tables.render_table(['trained on', *classes], rows, 'markdown'))
  rows = [[name] + [f'{_class_row(doc, c)["delta_colorfulness"]:.2f}' for c in classes]
          for name, doc in documents.items()]
  rows.append([GRAY_ROW] + [f'{_class_row(gray_source, c)["true_colorfulness"]:.2f}'
                            for c in classes])
  parts.append('#### ΔCF = |CF ours − CF true| (lower is better; gray: CF true)\n\n'
               + tables.render_table(['trained on', *classes], rows, 'markdown'))
  return '\n\n'.join(parts) + '\n'


def paired_differences(specialist: dict, combined: dict) -> dict[str, dict[str, float]]:
  """Per class, the specialist minus the combined model on the photos both scored (evaluate.py's
  paired differences: mean and bootstrap se of PSNR and AuC)."""
  scores = [scoring.PhotoScore(**photo) for photo in specialist['photos']]
  return summary_lib.paired_differences(
      scores, {photo['path']: photo['scores'] for photo in combined['photos']})


def verdicts(documents: dict[str, dict], classes: list[str]) -> list[str]:
  """Per class: does its specialist beat the combined model on its own class (paired, 2 se)?"""
  lines = []
  for label in classes:
    difference = paired_differences(documents[label], documents[ALL])[label]
    parts = []
    for metric, title in GAP_METRICS:
      mean, se = difference[f'{metric}_difference'], difference[f'{metric}_difference_se']
      word = 'better' if mean > 2 * se else 'worse' if mean < -2 * se else 'no different'
      parts.append(f'{title.split()[0]} {mean:+.2f} ± {se:.2f} ({word})')
    dcf = (_class_row(documents[label], label)['delta_colorfulness'],
           _class_row(documents[ALL], label)['delta_colorfulness'])
    lines.append(f'- **{label}** ({difference["photos"]} photos), specialist minus combined: '
                 f'{"; ".join(parts)}; ΔCF {dcf[0]:.2f} vs {dcf[1]:.2f}.')
  return lines


def write_report(config: PipelineConfig, models: list[TrainedModel], classes: list[str],
                 documents: dict[str, dict[str, dict]], minutes: float) -> str:
  """<home>/experiment/reports/experiment.md; returns its path."""
  lines = ['# Per-class versus combined training', '',
           f'{config.train_steps} training steps of batch {config.training.batch_size} per model '
           f'({config.training.epochs} epochs), encoder {config.training.encoder}; this command took '
           f'{minutes:.1f} min.', '']
  lines += [f'- {m.name}: `{m.saved_model}`' + (f' (trained in {m.minutes:.1f} min)'
                                                 if m.minutes is not None else '') for m in models]
  for dataset, per_model in documents.items():
    lines += ['', f'## {DATASET_TITLES[dataset]}', '', matrix_markdown(per_model, classes),
              '### Does the specialist beat the combined model on its own class?', '',
              *verdicts(per_model, classes)]
  os.makedirs(config.reports_dir, exist_ok=True)
  path = os.path.join(config.reports_dir, 'experiment.md')
  with open(path, 'w') as f:
    f.write('\n'.join(lines) + '\n')
  return path


def run_experiment(config: PipelineConfig, ood_root: str | None = None,
                   skip_training: bool = False) -> str:
  """Trains (or finds) the four models, scores them, writes the report; returns its path."""
  classes = sorted({label for label, _ in image_files.list_images(config.data_root)})
  config = experiment_config(config)
  start = time.monotonic()
  models = find_models(config, classes) if skip_training else train_models(config, classes)
  datasets = {TEST: photos_lib.split_photos(config.home, 'test', config.pipeline_name)}
  if ood_root:
    datasets[OOD] = photos_lib.folder_photos(ood_root)
  documents = {dataset: {m.name: scored(config, m, dataset, photos) for m in models}
               for dataset, photos in datasets.items()}
  return write_report(config, models, classes, documents, (time.monotonic() - start) / 60)


def main(argv: list[str] | None = None) -> None:
  """`python -m experiments.experiment`: errors the user can fix are one line, no traceback."""
  parser = argparse.ArgumentParser(prog='python -m experiments.experiment',
                                   description=__doc__.splitlines()[0],
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--data-root', required=True,
                      help='folder of class sub-folders of photos (COLORIZATION_DATA_ROOT)')
  parser.add_argument('--home', help='the outputs go under <home>/experiment (COLORIZATION_HOME)')
  parser.add_argument('--ood-root', help='also score every model on this folder of class '
                      'sub-folders of photos from other sources')
  parser.add_argument('--skip-training', action='store_true',
                      help='score the models already trained under --home instead of running '
                      'the pipelines')
  args = parser.parse_args(argv)
  try:
    config = config_lib.from_env(data_root=args.data_root, home=args.home)
    print(f'Experiment report: {run_experiment(config, args.ood_root, args.skip_training)}')
  except (OSError, ValueError) as error:
    raise SystemExit(f'experiment: error: {error}') from None


if __name__ == '__main__':
  main()
