"""The progress line of `colorize` and `evaluate` on stderr, with a line above it per skipped file
and per photo done despite damage."""
import sys
import time


class Progress:
  """A one-line progress bar on stderr (redrawn in place on a terminal) with error and warning
  lines above; outcome: what a warned photo still got."""

  def __init__(self, total: int, verb: str = 'colorize',
               outcome: str = 'colorized what decodes'):
    self.total, self.done, self.failed, self.verb, self.outcome = total, 0, 0, verb, outcome
    self.stream = sys.stderr
    self.interactive = self.stream.isatty()
    self.start = time.monotonic()

  def advance(self, succeeded: int, failed: int) -> None:
    self.done += succeeded + failed
    self.failed += failed
    if self.interactive:
      self._draw('\r')

  def error(self, name: str, reason: str) -> None:
    self._line(f'skipped {name}: {reason}')

  def warning(self, name: str, problems: list[str]) -> None:
    """One line naming a file that was done despite these problems (e.g. corrupt JPEG data)."""
    self._line(f'warning: {name}: {"; ".join(problems)}; {self.outcome}')

  def _line(self, text: str) -> None:
    self.stream.write(('\r\033[K' if self.interactive else '')
                      + f'colorization {self.verb}: {text}\n')
    if self.interactive:
      self._draw('')
    self.stream.flush()

  def finish(self) -> None:
    self._draw('\r' if self.interactive else '')
    self.stream.write('\n')
    self.stream.flush()

  def _draw(self, prefix: str) -> None:
    width = 30
    filled = width * self.done // max(self.total, 1)
    rate = self.done / max(time.monotonic() - self.start, 1e-9)
    self.stream.write(f'{prefix}{self.verb} [{"#" * filled}{"." * (width - filled)}] '
                      f'{self.done}/{self.total} images, {self.failed} failed, {rate:.1f} img/s')
    self.stream.flush()
