"""Small PNG charts for the results report, drawn with Pillow (no plotting library needed).

bar_chart: groups (e.g. classes) of bars, one bar per series (ours, gray, ...), values written on
the bars. line_chart: one polyline per series over a numeric x axis. Both return PNG bytes.
"""
from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 580, 290
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 16, 34, 44
LEGEND_ROW = 16                  # pixels per legend row
# Okabe-Ito (colour-blind safe). Bars: ours, the gray baseline in gray, then truth; lines: no gray.
BAR_COLOURS = ((0, 114, 178), (150, 150, 150), (0, 158, 115), (230, 159, 0), (204, 121, 167))
LINE_COLOURS = ((0, 114, 178), (213, 94, 0), (0, 158, 115), (230, 159, 0), (204, 121, 167))
TEXT, GRID, AXIS = (30, 30, 30), (225, 225, 225), (120, 120, 120)


def _font(size: int) -> ImageFont.ImageFont:
  return ImageFont.load_default(size=size)


def nice_ticks(low: float, high: float, count: int = 5, integers: bool = False) -> list[float]:
  """Round tick values (1, 2 or 5 times a power of ten apart, at least 1 for integers) covering
  [low, high]."""
  if not math.isfinite(low) or not math.isfinite(high):
    return [0.0, 1.0]
  if high <= low:
    high = low + (abs(low) or 1.0)
  raw = (high - low) / max(count - 1, 1)
  power = 10 ** math.floor(math.log10(raw))
  step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
  step = max(step, 1) if integers else step
  first = math.floor(low / step) * step
  ticks = [first]
  while ticks[-1] < high - 1e-9 * step:
    ticks.append(ticks[-1] + step)
  return [round(t, 10) for t in ticks]


def _label(value: float) -> str:
  return f'{value:.0f}' if abs(value) >= 100 or value == int(value) else f'{value:.2f}'.rstrip('0')


def _legend_rows(names: list[str], first_row_width: float) -> list[list[int]]:
  """Indices of the legend's entries per row: the first row beside the title, then full rows."""
  font, rows, width = _font(11), [[]], 0.0
  for index, name in enumerate(names):
    entry = font.getbbox(name)[2] + 22
    limit = first_row_width if len(rows) == 1 else WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    if (rows[-1] or len(rows) == 1) and width + entry > limit:
      rows.append([])
      width = 0.0
    rows[-1].append(index)
    width += entry
  return rows


class _Canvas:
  """A white image with a title, a plot area, and a y axis with grid lines from the first tick to
  the last."""

  def __init__(self, title: str, y_ticks: list[float], y_label: str, legend: list[str],
               colours: tuple):
    title_font = _font(15)
    rows = _legend_rows(legend, WIDTH - MARGIN_RIGHT - MARGIN_LEFT
                        - title_font.getbbox(title)[2] - 16)
    extra = LEGEND_ROW * (len(rows) - 1)   # a legend wider than the title's row wraps below it
    self.height = HEIGHT + extra
    self.image = Image.new('RGB', (WIDTH, self.height), 'white')
    self.draw = ImageDraw.Draw(self.image)
    self.left, self.right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    self.top, self.bottom = MARGIN_TOP + extra, self.height - MARGIN_BOTTOM
    self.y_low, self.y_high = y_ticks[0], y_ticks[-1]
    self.draw.text((self.left, 8), title, fill=TEXT, font=title_font)
    self._legend(rows, legend, colours)
    small = _font(11)
    for tick in y_ticks:
      y = self.y(tick)
      self.draw.line([(self.left, y), (self.right, y)], fill=GRID)
      self.draw.text((self.left - 6, y), _label(tick), fill=TEXT, font=small, anchor='rm')
    self.draw.line([(self.left, self.top), (self.left, self.bottom), (self.right, self.bottom)],
                   fill=AXIS)
    self.draw.text((4, self.top - 18), y_label, fill=TEXT, font=small)

  def y(self, value: float) -> float:
    share = (value - self.y_low) / (self.y_high - self.y_low)
    return self.bottom - share * (self.bottom - self.top)

  def _legend(self, rows: list[list[int]], names: list[str], colours: tuple) -> None:
    """Each row right-aligned, the first beside the title, the others below it."""
    font = _font(11)
    for row_index, row in enumerate(rows):
      x, y = self.right, 17 + LEGEND_ROW * row_index
      for index in reversed(row):
        x -= font.getbbox(names[index])[2] + 22
        self.draw.rectangle([x, y - 5, x + 10, y + 5], fill=colours[index % len(colours)])
        self.draw.text((x + 14, y), names[index], fill=TEXT, font=font, anchor='lm')

  def png(self) -> bytes:
    buffer = io.BytesIO()
    self.image.save(buffer, 'PNG')
    return buffer.getvalue()


def bar_chart(title: str, groups: list[str], series: dict[str, list[float]],
              y_label: str = '') -> bytes:
  """Grouped bars from zero: series name -> one value per group (NaN draws no bar)."""
  values = [v for vs in series.values() for v in vs if math.isfinite(v)]
  ticks = nice_ticks(min([0.0, *values]), max([0.0, *values]) * 1.1 or 1.0)
  canvas = _Canvas(title, ticks, y_label, list(series), BAR_COLOURS)
  slot = (canvas.right - canvas.left) / max(len(groups), 1)
  bar = slot * 0.8 / max(len(series), 1)
  small, zero = _font(10), canvas.y(0.0)
  for g, group in enumerate(groups):
    start = canvas.left + g * slot + slot * 0.1
    for s, vs in enumerate(series.values()):
      value = vs[g]
      if not math.isfinite(value):
        continue
      x0 = start + s * bar
      top = canvas.y(value)
      canvas.draw.rectangle([x0 + 1, min(top, zero), x0 + bar - 1, max(top, zero)],
                            fill=BAR_COLOURS[s % len(BAR_COLOURS)])
      canvas.draw.text((x0 + bar / 2, min(top, zero) - 2), f'{value:.2f}', fill=TEXT, font=small,
                       anchor='md')
    canvas.draw.text((canvas.left + (g + 0.5) * slot, canvas.bottom + 6), group, fill=TEXT,
                     font=_font(12), anchor='ma')
  return canvas.png()


def line_chart(title: str, series: dict[str, list[tuple[float, float]]], x_label: str = '',
               y_label: str = '') -> bytes:
  """One line per series of (x, y) points; a single point is drawn as a dot."""
  points = [p for ps in series.values() for p in ps if math.isfinite(p[1])]
  ys = [y for _, y in points] or [0.0, 1.0]
  xs = [x for x, _ in points] or [0.0, 1.0]
  span = (max(ys) - min(ys)) or abs(max(ys)) or 1.0
  canvas = _Canvas(title, nice_ticks(min(ys) - 0.05 * span, max(ys) + 0.05 * span), y_label,
                   list(series), LINE_COLOURS)
  x_ticks = nice_ticks(min(xs), max(xs), count=6, integers=all(x == int(x) for x in xs))
  x_low, x_high = x_ticks[0], x_ticks[-1]

  inset = 8  # points on the first or last tick stay clear of the frame

  def x_of(value: float) -> float:
    share = (value - x_low) / (x_high - x_low)
    return canvas.left + inset + share * (canvas.right - canvas.left - 2 * inset)

  small = _font(11)
  for tick in x_ticks:
    canvas.draw.line([(x_of(tick), canvas.bottom), (x_of(tick), canvas.bottom + 4)], fill=AXIS)
    canvas.draw.text((x_of(tick), canvas.bottom + 6), _label(tick), fill=TEXT, font=small,
                     anchor='ma')
  canvas.draw.text(((canvas.left + canvas.right) / 2, canvas.height - 6), x_label, fill=TEXT, font=small,
                   anchor='md')
  for s, ps in enumerate(series.values()):
    colour = LINE_COLOURS[s % len(LINE_COLOURS)]
    xy = [(x_of(x), canvas.y(y)) for x, y in sorted(ps) if math.isfinite(y)]
    if len(xy) > 1:
      canvas.draw.line(xy, fill=colour, width=2)
    if len(xy) <= 40:
      for x, y in xy:
        canvas.draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
  return canvas.png()
