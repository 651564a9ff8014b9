"""experiments/per_image.py: per-photo scores of the shared pipeline run's model."""
import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from experiments import decoding_sweep, per_image
from colorization.pipeline import config as config_lib
from colorization.pipeline import results


def test_bootstrap_sd_is_the_standard_error_of_the_mean():
  values = np.random.default_rng(1).normal(0.0, 2.0, 400)
  assert per_image.bootstrap_sd(values) == pytest.approx(2.0 / np.sqrt(400), rel=0.15)
  assert per_image.bootstrap_sd(np.full(30, 3.5)) == pytest.approx(0.0, abs=1e-12)


def test_groups_hold_every_photo_once():
  scores = [per_image.PhotoScore(f'{label}/{i}.jpg', label, 20.0, 20.0 + i, 30.0, 10.0 * i)
            for label in ('a', 'b') for i in range(3)]
  summary = per_image.summarize_groups(scores, lambda s: s.label)
  assert set(summary) == {'a', 'b'}
  assert summary['a']['photos'] == 3
  assert summary['a']['gap'] == pytest.approx(1.0)
  assert summary['b']['colorfulness_pred'] == pytest.approx(10.0)


def test_paired_differences_match_photos_by_file_name():
  scores = [per_image.PhotoScore(f'{label}/{i}.jpg', label, 20.0, 21.0 + i, 30.0, 20.0)
            for label in ('a', 'b') for i in range(4)]
  baseline = [dataclasses.replace(s, psnr=s.psnr - (0.5 if s.label == 'a' else -1.0))
              for s in reversed(scores)]
  paired = per_image.paired_differences(scores, baseline)
  assert paired['a']['photos'] == 4
  assert paired['a']['difference'] == pytest.approx(0.5)
  assert paired['b']['difference'] == pytest.approx(-1.0)
  assert paired['a']['difference_sd'] == pytest.approx(0.0, abs=1e-12)
  with pytest.raises(ValueError, match='different photos'):
    per_image.paired_differences(scores, baseline[1:])


def test_read_sources(tmp_path):
  manifest = tmp_path / 'manifest.csv'
  manifest.write_text('filename,label,source_repo\nface/a.jpg,face,owner/repo\n')
  assert per_image.read_sources(str(manifest)) == {'face/a.jpg': 'owner/repo'}


@pytest.mark.slow
def test_class_means_equal_the_transformed_split_scores(pipeline_home):
  # Re-decoding the raw photos must give what the Transform output gives: same preprocessing.
  config = config_lib.from_env(home=pipeline_home)
  scores = per_image.score_photos(config, 'eval')
  assert scores and sorted(s.filename for s in scores) == [s.filename for s in scores]
  temperature = results.trained_with(results.open_store(config), config).temperature
  decoding = decoding_sweep.Decoding(temperature)
  reference = decoding_sweep.score_decodings(config, 'eval', (decoding,))
  by_class = per_image.summarize_groups(scores, lambda s: s.label)
  for label, row in by_class.items():
    expected = reference[decoding][label]
    assert row['gray_psnr'] == pytest.approx(expected['gray_psnr'], abs=0.02)
    assert row['gray_psnr'] + row['gap'] == pytest.approx(expected['psnr'], abs=0.02)


def test_a_home_without_a_run_is_a_clear_error(tmp_path):
  result = subprocess.run([sys.executable, '-m', 'experiments.per_image', '--home', str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
  assert result.returncode != 0
  assert 'Traceback' not in result.stderr
  assert f'under {tmp_path}: run `colorization run` first' in result.stderr
