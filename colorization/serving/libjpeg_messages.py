"""libjpeg's warnings, caught where TensorFlow decodes in this process, to be told with a file name.

TensorFlow's JPEG decoder lets libjpeg print a corrupt photo's warning straight to file descriptor 2
("Corrupt JPEG data: premature end of data segment"), naming no file. `captured` redirects fd 2
around a call and hands back those lines; whatever else was written there is passed on unchanged.
"""
import contextlib
import dataclasses
import os
import re
import sys
import tempfile
from typing import Iterator

# libjpeg(-turbo)'s warning texts (jerror.h, JWRN_*), as its default output_message prints them.
_WARNING = re.compile(
    r'^(Corrupt JPEG data: .+|Premature end of JPEG file|Invalid SOS parameters for sequential JPEG'
    r'|Inconsistent progression sequence for component \d+ coefficient \d+'
    r'|Unknown Adobe color transform code \d+|Warning: unknown JFIF revision number \d+\.\d+'
    r'|Application transferred too many scanlines'
    r'|Warning: thumbnail image size does not match data length \d+)$')
_CORRUPT = 'Corrupt JPEG data: '


@dataclasses.dataclass
class Captured:
  """libjpeg's warning lines written to fd 2 during the `captured` block (filled when it ends)."""
  lines: list[str] = dataclasses.field(default_factory=list)


def phrased(line: str) -> str:
  """A libjpeg warning as part of our line: 'corrupt JPEG data (premature end of data segment)'."""
  if line.startswith(_CORRUPT):
    return f'corrupt JPEG data ({line[len(_CORRUPT):]})'
  line = line.removeprefix('Warning: ')
  return line[:1].lower() + line[1:]


@contextlib.contextmanager
def captured() -> Iterator[Captured]:
  """Redirects fd 2 to a temporary file for the block; keeps libjpeg's warnings, writes the rest
  back to fd 2. Not for blocks that run beside other threads that write to stderr."""
  result = Captured()
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as file:
    os.dup2(file.fileno(), 2)
    try:
      yield result
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      file.seek(0)
      others = []
      for line in file.read().decode(errors='replace').splitlines(keepends=True):
        (result.lines if _WARNING.match(line.rstrip('\n')) else others).append(line)
      result.lines = [line.rstrip('\n') for line in result.lines]
      if others:
        os.write(2, ''.join(others).encode())
