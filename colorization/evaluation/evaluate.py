"""`colorization evaluate`: photos through a model's `colorize_image` (a SavedModel in this process or
a TF Serving server), scored per class against gray; a table on stdout, JSON with every photo."""
import dataclasses
import os

from colorization.evaluation import photos as photos_lib
from colorization.evaluation import scoring, summary as summary_lib
from colorization.serving import predictors, progress as progress_lib


class EvaluationError(ValueError):
  """The evaluation cannot run (bad arguments, an output file in the way, nothing scored)."""


class _Progress(progress_lib.Progress):
  """The client's progress bar, also keeping the skipped and the warned files for the JSON."""

  def __init__(self, total: int):
    super().__init__(total, verb='evaluate', outcome='scored what decodes')
    self.skipped: list[tuple[str, str]] = []
    self.warned: list[tuple[str, str]] = []

  def error(self, name: str, reason: str) -> None:
    self.skipped.append((name, reason))
    super().error(name, reason)

  def warning(self, name: str, problems: list[str]) -> None:
    self.warned.append((name, '; '.join(problems)))
    super().warning(name, problems)


@dataclasses.dataclass
class Evaluation:
  scores: list[scoring.PhotoScore]
  skipped: list[tuple[str, str]]        # (file, reason)
  warned: list[tuple[str, str]]         # (file, what was damaged): scored as far as it decodes
  summary: dict[str, dict[str, float]]  # class or summary.OVERALL -> means, gaps, se, Delta CF


def model_version_dir(path: str) -> str:
  """A SavedModel directory, or the newest numbered version in a folder of them (as pushed)."""
  if os.path.isfile(os.path.join(path, 'saved_model.pb')) or not os.path.isdir(path):
    return path
  versions = [name for name in os.listdir(path) if name.isdigit()
              and os.path.isfile(os.path.join(path, name, 'saved_model.pb'))]
  return os.path.join(path, max(versions, key=int)) if versions else path


def evaluate(photos: list[photos_lib.Photo], predict: predictors.Predict, *, batch_size: int = 8,
             draws: int = summary_lib.BOOTSTRAP_DRAWS, seed: int = 0) -> Evaluation:
  """Colorizes and scores every photo (progress on stderr); EvaluationError if none is scored."""
  if batch_size < 1:
    raise EvaluationError(f'the batch size must be at least 1, not {batch_size}')
  progress = _Progress(len(photos))
  try:
    scores = scoring.score_photos(photos, predict, batch_size, progress)
  finally:
    progress.finish()
  if not scores:
    raise EvaluationError(f'none of the {len(photos)} photos could be scored')
  return Evaluation(scores, progress.skipped, progress.warned,
                    summary_lib.summarize(scores, draws, seed))


def _photos(data_root: str | None, file_list: str | None, home: str | None,
            split: str | None) -> list[photos_lib.Photo]:
  if (data_root is None) == (home is None):
    raise EvaluationError('give the photos as either --data-root DIR or --home HOME --split NAME')
  if file_list is not None and data_root is None:
    raise EvaluationError('--file-list names photos under --data-root; give --data-root too')
  if data_root is not None:
    if split is not None:
      raise EvaluationError('--split reads a run\'s examples: give it with --home, not --data-root')
    return photos_lib.folder_photos(data_root, file_list)
  return photos_lib.split_photos(home, split or 'test')


def run(*, data_root: str | None = None, file_list: str | None = None, home: str | None = None,
        split: str | None = None, model: str | None = None, server: str | None = None,
        model_name: str, output: str | None = None, overwrite: bool = False,
        batch_size: int = 8, limit_per_class: int | None = None, baseline: str | None = None,
        draws: int = summary_lib.BOOTSTRAP_DRAWS, seed: int = 0) -> int:
  """The CLI verb: 0 if every photo was scored, 1 if some were skipped. Raises EvaluationError or
  PhotoSourceError (bad arguments, nothing to score) and predictors.ModelUnavailable."""
  if (model is None) == (server is None):
    raise EvaluationError('give exactly one of --model DIR or --server HOST:PORT')
  if output is not None and os.path.exists(output) and not overwrite:
    raise EvaluationError(f'{output} exists; choose another --output or pass --overwrite')
  baseline_scores = summary_lib.read_photo_scores(baseline) if baseline is not None else None
  photos = photos_lib.limit_per_class(_photos(data_root, file_list, home, split), limit_per_class)
  if server is not None:
    predict = predictors.grpc_predictor(server, model_name)
  else:
    model = model_version_dir(model)
    predict = predictors.saved_model_predictor(model)
  evaluation = evaluate(photos, predict, batch_size=batch_size, draws=draws, seed=seed)
  source = data_root if data_root is not None else f'{home} ({split or "test"} split)'
  print(f'{len(evaluation.scores)} photos from {source}, colorized by {server or model}; '
        f'ours against gray (a = b = 0), gap ± bootstrap standard error ({draws} resamples)')
  print(summary_lib.format_table(evaluation.summary))
  about = {'photos_from': source, 'model': server or model, 'model_name': model_name,
           'bootstrap': {'draws': draws, 'seed': seed}}
  if baseline_scores is not None:
    differences = summary_lib.paired_differences(evaluation.scores, baseline_scores, draws, seed)
    print(f'\nPer photo, ours minus the baseline {baseline} (photos scored by both), ± bootstrap '
          'standard error')
    print(summary_lib.format_differences(differences))
    about['baseline'] = {'file': baseline, 'differences': differences}
  if output is not None:
    _write_new(output, summary_lib.to_json(evaluation.summary, evaluation.scores,
                                           evaluation.skipped, about, evaluation.warned),
               overwrite)
    print(f'Wrote {output}')
  return 1 if evaluation.skipped else 0


def _write_new(path: str, text: str, overwrite: bool) -> None:
  """Writes the file; never replaces an existing one unless asked."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  try:
    with open(path, 'w' if overwrite else 'x') as f:
      f.write(text)
  except FileExistsError:
    raise EvaluationError(f'{path} exists; choose another --output or pass --overwrite') from None
