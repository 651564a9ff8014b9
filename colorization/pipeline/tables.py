"""One table renderer: rows of formatted cells as plain text, Markdown or HTML."""
import html
from collections.abc import Sequence

STYLES = ('text', 'markdown', 'html')


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], style: str = 'text') -> str:
  """The first column names the rows (left-aligned; <th> in HTML), the others are right-aligned."""
  if style == 'text':
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return '\n'.join('  '.join([row[0].ljust(widths[0])]
                               + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])])
                     for row in [header, *rows])
  if style == 'markdown':
    def row_markdown(row: Sequence[str]) -> str:
      return '| ' + ' | '.join(cell.replace('|', r'\|') for cell in row) + ' |'
    return '\n'.join([row_markdown(header), '|---|' + '---:|' * (len(header) - 1),
                      *map(row_markdown, rows)])
  if style == 'html':
    def row_html(row: Sequence[str], tag: str) -> str:
      return (f'<tr><th>{html.escape(row[0])}</th>'
              + ''.join(f'<{tag}>{html.escape(cell)}</{tag}>' for cell in row[1:]) + '</tr>')
    return f'<table>{row_html(header, "th")}{"".join(row_html(row, "td") for row in rows)}</table>'
  raise ValueError(f'unknown table style {style!r}: one of {", ".join(STYLES)}')
