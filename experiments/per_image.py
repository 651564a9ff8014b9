"""Per-photo PSNR gaps to gray on a split: each class's mean gap, its sampling noise, and (with a
manifest) the gap per source folder. Use it on the eval split to choose, on test only to explain.

The latest network (experiments/decoding_sweep.py rebuilds it) decodes each photo at the run's
annealed-mean temperature, as the exported model does, after the preprocessing Transform applies:
  python -m experiments.per_image --home DIR [--split eval] [--manifest CSV] [--baseline-home DIR]
With --baseline-home, also each class's mean per-photo PSNR difference to another run's model on
the same photos (paired, so a smaller sd than the two gaps' own).
"""
import argparse
import csv
import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from experiments import decoding_sweep
from colorization.models import features, lab, metrics, preprocessing
from colorization.pipeline import config as config_lib
from colorization.pipeline import report, results, tables

BATCH = 16
BOOTSTRAP_DRAWS = 1000


@dataclasses.dataclass
class PhotoScore:
  filename: str
  label: str
  gray_psnr: float
  psnr: float
  colorfulness_true: float
  colorfulness_pred: float


def score_photos(config: config_lib.PipelineConfig, split: str = 'eval') -> list[PhotoScore]:
  """One score per photo of the split, in file-name order."""
  run = decoding_sweep.load_trained_run(config)
  examples = results.latest_output(results.open_store(config), config, 'FileBasedExampleGen',
                                   'examples')
  rows = report.read_split_examples(examples.uri, split)
  scores = []
  for start in range(0, len(rows), BATCH):
    batch = rows[start:start + BATCH]
    lightness, ab_true = preprocessing.decode_lab(preprocessing.encode_lab(
        preprocessing.image_bytes_to_lab(tf.constant([row[features.IMAGE_KEY] for row in batch]))))
    lab_true = tf.concat([lightness, ab_true], -1)
    ab_pred = tf.image.resize(run.bins.annealed_mean(run.logits(lightness)),
                              [features.IMAGE_SIZE] * 2)
    rgb_true = lab.lab_to_srgb(lab_true)
    rgb_gray = lab.lab_to_srgb(tf.concat([lightness, tf.zeros_like(ab_true)], -1))
    rgb_pred = lab.lab_to_srgb(tf.concat([lightness, ab_pred], -1))
    columns = zip(metrics.psnr(rgb_true, rgb_gray).numpy(), metrics.psnr(rgb_true, rgb_pred).numpy(),
                  metrics.colorfulness(rgb_true).numpy(), metrics.colorfulness(rgb_pred).numpy())
    scores += [PhotoScore(row[features.FILENAME_KEY].decode(), row[features.LABEL_KEY].decode(),
                          *map(float, values)) for row, values in zip(batch, columns)]
  return scores


def bootstrap_sd(values: np.ndarray, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> float:
  """Standard deviation of the mean of `values` over bootstrap resamples of them."""
  values = np.asarray(values, np.float64)
  resamples = np.random.default_rng(seed).choice(values, (draws, len(values)))
  return float(resamples.mean(axis=1).std())


def read_sources(manifest_path: str) -> dict[str, str]:
  """filename -> source_repo from a dataset manifest (columns filename, source_repo)."""
  with open(manifest_path, newline='') as f:
    return {row['filename']: row['source_repo'] for row in csv.DictReader(f)}


def group_scores(scores: list[PhotoScore],
                 key: Callable[[PhotoScore], str]) -> list[tuple[str, list[PhotoScore]]]:
  """(group, its scores) pairs in group order."""
  groups: dict = {}
  for score in scores:
    groups.setdefault(key(score), []).append(score)
  return sorted(groups.items())


def summarize_groups(scores: list[PhotoScore], key: Callable[[PhotoScore], str]) -> dict:
  """{group: photos, gray PSNR, mean gap, its bootstrap sd, mean CF truth and prediction}."""
  summary = {}
  for group, members in group_scores(scores, key):
    gaps = np.array([s.psnr - s.gray_psnr for s in members])
    summary[group] = dict(photos=len(members),
                          gray_psnr=float(np.mean([s.gray_psnr for s in members])),
                          gap=float(gaps.mean()), gap_sd=bootstrap_sd(gaps),
                          colorfulness_true=float(np.mean([s.colorfulness_true for s in members])),
                          colorfulness_pred=float(np.mean([s.colorfulness_pred for s in members])))
  return summary


def paired_differences(scores: list[PhotoScore], baseline: list[PhotoScore]) -> dict:
  """{class: photos, mean PSNR of scores minus baseline on the same photos, its bootstrap sd}."""
  baseline_psnr = {s.filename: s.psnr for s in baseline}
  unmatched = sorted({s.filename for s in scores} ^ set(baseline_psnr))
  if unmatched:
    raise ValueError(f'the two runs scored different photos, e.g. {unmatched[0]}')
  by_class = {label: [s.psnr - baseline_psnr[s.filename] for s in members]
              for label, members in group_scores(scores, lambda s: s.label)}
  return {label: dict(photos=len(diffs), difference=float(np.mean(diffs)),
                      difference_sd=bootstrap_sd(diffs))
          for label, diffs in by_class.items()}


def main() -> None:
  """`python -m experiments.per_image`: one table row per class (and per class and source)."""
  parser = argparse.ArgumentParser(prog='python -m experiments.per_image',
                                   description=__doc__.splitlines()[0])
  parser.add_argument('--home', required=True)
  parser.add_argument('--split', default='eval')
  parser.add_argument('--manifest', help='CSV with filename and source_repo columns')
  parser.add_argument('--baseline-home', help="another run's home: paired PSNR differences to it")
  args = parser.parse_args()
  try:
    scores = score_photos(config_lib.from_env(home=args.home), args.split)
    paired = paired_differences(
        scores, score_photos(config_lib.from_env(home=args.baseline_home), args.split)
    ) if args.baseline_home else None
  except (OSError, ValueError) as error:
    raise SystemExit(f'per_image: error: {error}') from None
  keys = [lambda s: s.label]
  if args.manifest:
    sources = read_sources(args.manifest)
    keys.append(lambda s: f'{s.label} {sources.get(s.filename, "?")}')
  rows = [[group, str(row['photos']), f'{row["gray_psnr"]:.2f}', f'{row["gap"]:+.2f}',
           f'{row["gap_sd"]:.2f}', f'{row["colorfulness_true"]:.1f}',
           f'{row["colorfulness_pred"]:.1f}']
          for key in keys for group, row in summarize_groups(scores, key).items()]
  print(tables.render_table(['group', 'photos', 'gray PSNR', 'gap', 'gap sd (bootstrap)',
                             'CF truth', 'CF prediction'], rows))
  if paired:
    print(tables.render_table(
        ['class', 'photos', 'PSNR minus baseline', 'sd (bootstrap)'],
        [[label, str(row['photos']), f'{row["difference"]:+.2f}', f'{row["difference_sd"]:.2f}']
         for label, row in paired.items()]))

if __name__ == '__main__':
  main()
