"""pipeline.charts: PNG bar and line charts drawn where the values say."""
import io
import math

import numpy as np
from PIL import Image

from colorization.pipeline import charts


def _pixels(png: bytes) -> np.ndarray:
  image = Image.open(io.BytesIO(png))
  assert image.format == 'PNG' and image.size == (charts.WIDTH, charts.HEIGHT)
  return np.asarray(image.convert('RGB'))


def _columns_of(pixels: np.ndarray, colour: tuple) -> np.ndarray:
  return np.flatnonzero((pixels == colour).all(-1).any(0))


def _rows_of(pixels: np.ndarray, colour: tuple) -> np.ndarray:
  return np.flatnonzero((pixels == colour).all(-1).any(1))


def test_nice_ticks_cover_the_range_in_round_steps():
  assert charts.nice_ticks(0, 25.4) == [0, 10, 20, 30]
  assert charts.nice_ticks(3.6, 5.2) == [3.5, 4.0, 4.5, 5.0, 5.5]
  assert charts.nice_ticks(0, 2, count=6, integers=True) == [0, 1, 2]
  assert charts.nice_ticks(1.0, 1.0)[0] <= 1.0 <= charts.nice_ticks(1.0, 1.0)[-1]


def test_bar_heights_follow_the_values_and_nan_draws_no_bar():
  ours, gray = charts.BAR_COLOURS[:2]
  pixels = _pixels(charts.bar_chart('t', ['a', 'b'], {'ours': [20.0, math.nan],
                                                     'gray': [10.0, 10.0]}))
  pixels = pixels[charts.MARGIN_TOP:]  # the plot, below the title and legend
  ours_columns = _columns_of(pixels, ours)
  assert ours_columns.max() < charts.WIDTH / 2  # only group a has our bar (b's value is NaN)
  bar_rows = lambda colour, x: np.flatnonzero((pixels[:, x] == colour).all(-1))
  ours_height = len(bar_rows(ours, ours_columns[len(ours_columns) // 2]))
  gray_columns = _columns_of(pixels, gray)
  first_gray = gray_columns[gray_columns < charts.WIDTH / 2]
  gray_height = len(bar_rows(gray, first_gray[len(first_gray) // 2]))
  assert abs(ours_height / gray_height - 2) < 0.1


def test_line_chart_draws_each_series_in_its_colour():
  pixels = _pixels(charts.line_chart('loss', {'train': [(0, 5.0), (1, 4.0), (2, 3.0)],
                                              'validation': [(0, 6.0), (2, 5.5)]}))
  train, validation = charts.LINE_COLOURS[:2]
  # train falls from top-left to bottom-right; validation stays above it on the right.
  right_end = pixels[charts.MARGIN_TOP:, charts.WIDTH - charts.MARGIN_RIGHT - 12:]
  train_rows, validation_rows = _rows_of(right_end, train), _rows_of(right_end, validation)
  assert train_rows.size and validation_rows.size
  assert validation_rows.mean() < train_rows.mean()


def test_a_wide_legend_wraps_below_the_title_and_the_chart_grows():
  names = [f'validation epoch_series_{i}_loss' for i in range(5)]
  png = charts.line_chart('Training and validation loss', {n: [(0, 1.0 + i), (1, 2.0)]
                                                             for i, n in enumerate(names)})
  image = Image.open(io.BytesIO(png))
  assert image.size[0] == charts.WIDTH and image.size[1] > charts.HEIGHT
  rows = charts._legend_rows(names, 100)
  assert sorted(i for row in rows for i in row) == list(range(5)) and len(rows) >= 3
  assert charts._legend_rows(['ours', 'gray'], 400) == [[0, 1]]      # fits beside the title
