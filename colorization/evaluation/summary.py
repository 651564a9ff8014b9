"""Per-class and overall means of the per-photo scores, each gap to gray with its bootstrap standard
error, as a table for people and as JSON for comparing evaluations photo by photo."""
import dataclasses
import json

import numpy as np

from colorization.evaluation.scoring import PhotoScore
from colorization.models import metrics
from colorization.pipeline import tables

OVERALL = 'overall'
BOOTSTRAP_DRAWS = 1000
GAPS = ('psnr', 'auc')      # scores reported as ours minus gray, with a standard error


def bootstrap_se(values: np.ndarray, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> float:
  """Standard error of the mean of `values`: the spread of the means of `draws` resamples of the
  values with replacement, drawn from a generator seeded with `seed` (0 for a single value)."""
  values = np.asarray(values, np.float64)
  indices = np.random.default_rng(seed).integers(0, len(values), (draws, len(values)))
  return float(values[indices].mean(axis=1).std())


def summarize_group(scores: list[PhotoScore], draws: int = BOOTSTRAP_DRAWS,
                    seed: int = 0) -> dict[str, float]:
  """Means over the photos of every score, the gaps to gray with their standard errors, and
  Delta CF of the means as the Evaluator's DeltaColorfulness has it."""
  names = scores[0].scores.keys()
  columns = {name: np.array([s.scores[name] for s in scores], np.float64) for name in names}
  summary: dict[str, float] = {'photos': len(scores)}
  summary.update({name: float(values.mean()) for name, values in columns.items()})
  for name in GAPS:
    gaps = columns[name] - columns[f'gray_{name}']
    summary[f'{name}_gap'] = float(gaps.mean())
    summary[f'{name}_gap_se'] = bootstrap_se(gaps, draws, seed)
  summary['delta_colorfulness'] = float(metrics.delta_colorfulness(
      summary['colorfulness'], summary['true_colorfulness']))
  return summary


def summarize(scores: list[PhotoScore], draws: int = BOOTSTRAP_DRAWS,
              seed: int = 0) -> dict[str, dict[str, float]]:
  """{class: summary} in class order, then OVERALL over every photo."""
  labels = sorted({s.label for s in scores})
  summary = {label: summarize_group([s for s in scores if s.label == label], draws, seed)
             for label in labels}
  summary[OVERALL] = summarize_group(scores, draws, seed)
  return summary


def read_photo_scores(path: str) -> dict[str, dict[str, float]]:
  """{photo path: scores} from an evaluation's JSON output."""
  try:
    with open(path) as f:
      document = json.load(f)
    return {photo['path']: photo['scores'] for photo in document['photos']}
  except (json.JSONDecodeError, KeyError, TypeError) as e:
    raise ValueError(f'{path} is not the JSON output of colorization evaluate ({e})') from None


def paired_differences(scores: list[PhotoScore], baseline: dict[str, dict[str, float]],
                       draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> dict[str, dict[str, float]]:
  """{class, then OVERALL: photos, and for PSNR and AuC the mean per-photo difference, ours minus
  the baseline's, with its bootstrap standard error} over the photos both scored. Paired, so far
  less noisy than the difference of two gaps to gray."""
  both = [s for s in scores if s.path in baseline]
  if not both:
    raise ValueError('no photo was scored by both this evaluation and the baseline')
  groups = {label: [s for s in both if s.label == label] for label in sorted({s.label for s in both})}
  groups[OVERALL] = both
  differences = {}
  for label, members in groups.items():
    row: dict[str, float] = {'photos': len(members)}
    for name in GAPS:
      values = np.array([s.scores[name] - baseline[s.path][name] for s in members])
      row[f'{name}_difference'] = float(values.mean())
      row[f'{name}_difference_se'] = bootstrap_se(values, draws, seed)
    differences[label] = row
  return differences


def format_differences(differences: dict[str, dict[str, float]]) -> str:
  """One row per class and overall: photos in both, PSNR and AuC minus the baseline +- se."""
  return tables.render_table(
      ['class', 'n', 'PSNR − baseline', 'AuC − baseline'],
      [[label, str(row['photos'])] + [f'{row[f"{name}_difference"]:+.2f} ± '
                                      f'{row[f"{name}_difference_se"]:.2f}' for name in GAPS]
       for label, row in differences.items()])


def format_table(summary: dict[str, dict[str, float]]) -> str:
  """One row per class and overall: n, PSNR and AuC ours / gray / gap +- se, CF true / ours, DCF."""
  header = ['class', 'n', 'PSNR', 'gray', 'gap ± se', 'AuC', 'gray', 'gap ± se',
            'CF true', 'CF ours', 'ΔCF']
  rows = []
  for label, row in summary.items():
    cells = [label, str(row['photos'])]
    for name in GAPS:
      cells += [f'{row[name]:.2f}', f'{row[f"gray_{name}"]:.2f}',
                f'{row[f"{name}_gap"]:+.2f} ± {row[f"{name}_gap_se"]:.2f}']
    cells += [f'{row["true_colorfulness"]:.1f}', f'{row["colorfulness"]:.1f}',
              f'{row["delta_colorfulness"]:.1f}']
    rows.append(cells)
  return tables.render_table(header, rows)


def to_json(summary: dict[str, dict[str, float]], scores: list[PhotoScore],
            skipped: list[tuple[str, str]], about: dict,
            warned: list[tuple[str, str]] = ()) -> str:
  """The evaluation as JSON: what was evaluated and how (`about`), the summary, every photo's
  scores (keyed by its path under the data root), the skipped files with their reasons and the
  damaged ones scored as far as they decode, with what was damaged."""
  document = {**about, 'classes': {k: v for k, v in summary.items() if k != OVERALL},
              OVERALL: summary[OVERALL],
              'photos': [dataclasses.asdict(score) for score in scores],
              'skipped': [{'file': name, 'reason': reason} for name, reason in skipped],
              'warned': [{'file': name, 'warning': warning} for name, warning in warned]}
  return json.dumps(document, indent=1) + '\n'
