"""What a JPEG's structure alone tells of damage, in pure Python and without decoding its pixels.

The client checks each file before sending it, so the warnings name the file even when the photo
is decoded elsewhere (a model server prints libjpeg's lines to its own stderr, without a name).
The walk reads the markers as libjpeg does: bytes that are not a marker where one is due
(libjpeg's "N extraneous bytes before marker 0xXX"), a file that ends before its end-of-image
marker (truncated), and the restart markers of each scan (out of order, or fewer restart
intervals than the frame needs: the scan ends early). Damage inside the compressed data itself
(a scan cut short without restart markers, junk after its last block) shows only to a decoder.
"""
import math
import re

JPEG_START = b'\xff\xd8'
_END_OF_IMAGE = 0xD9
START_OF_SCAN = 0xDA
_RESTART_INTERVAL = 0xDD
_RESTARTS = range(0xD0, 0xD8)                    # RST0..7, inside a scan's data
STANDALONE = {0x01, *_RESTARTS}                  # markers without a length field (TEM, RSTn)
# Start of frame, baseline to lossless (not DHT 0xC4, JPG 0xC8, DAC 0xCC).
_START_OF_FRAME = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# A marker inside entropy-coded data: 0xFF then a byte other than 0x00 (stuffing) or 0xFF (fill).
_SCAN_MARKER = re.compile(rb'\xff[^\x00\xff]')
TRUNCATED = 'premature end of JPEG file (truncated: no end-of-image marker)'


class _Truncated(Exception):
  """The data ends where a marker or segment is due."""


def _next_marker(data: bytes, position: int) -> tuple[int, int, int]:
  """(marker, position after it, bytes discarded before it), skipping as libjpeg's next_marker:
  fill 0xFFs are free, anything else (stuffed 0xFF 0x00 pairs too) is counted."""
  discarded = 0
  while True:
    start = data.find(b'\xff', position)
    if start < 0:
      raise _Truncated
    discarded += start - position
    position = start + 1
    while position < len(data) and data[position] == 0xFF:
      position += 1
    if position >= len(data):
      raise _Truncated
    marker = data[position]
    position += 1
    if marker:
      return marker, position, discarded
    discarded += 2


def _frame(payload: bytes) -> tuple[int, int, dict[int, tuple[int, int]]] | None:
  """(height, width, component id -> (horizontal, vertical) sampling) of a start-of-frame."""
  if len(payload) < 6:
    return None
  height, width = int.from_bytes(payload[1:3], 'big'), int.from_bytes(payload[3:5], 'big')
  components = {payload[6 + 3 * i]: (payload[7 + 3 * i] >> 4, payload[7 + 3 * i] & 15)
                for i in range(payload[5]) if 8 + 3 * i <= len(payload)}
  return height, width, components


def _scan_mcus(frame, scan_header: bytes) -> int | None:
  """MCUs in a scan of these components (None when the frame does not say: no SOF, DNL height)."""
  if frame is None or not scan_header:
    return None
  height, width, components = frame
  ids = list(scan_header[1:1 + 2 * scan_header[0]:2])
  if not height or not width or not components or any(i not in components for i in ids):
    return None
  h_max = max(h for h, _ in components.values()) or 1
  v_max = max(v for _, v in components.values()) or 1
  if len(ids) == 1:  # non-interleaved: one block per MCU, over the component's own size
    h, v = components[ids[0]]
    return (math.ceil(math.ceil(width * h / h_max) / 8)
            * math.ceil(math.ceil(height * v / v_max) / 8))
  return math.ceil(width / (8 * h_max)) * math.ceil(height / (8 * v_max))


def _scan(data: bytes, position: int, mcus: int | None, restart_interval: int,
          problems: list[str]) -> int:
  """Walks a scan's entropy-coded data from position; returns where the marker ending it starts."""
  expected, intervals, out_of_order = 0, 1, False
  while True:
    found = _SCAN_MARKER.search(data, position)
    if found is None:
      raise _Truncated
    marker = data[found.end() - 1]
    if marker not in _RESTARTS:
      break
    if not restart_interval:
      problems.append(f'corrupt JPEG data (restart marker 0x{marker:02x} in a scan without '
                      'restart intervals)')
    elif marker != 0xD0 + expected and not out_of_order:  # the first of a scan: the rest follow it
      out_of_order = True
      problems.append(f'corrupt JPEG data (found marker 0x{marker:02x} instead of RST{expected})')
    expected = (marker - 0xD0 + 1) % 8
    intervals += 1
    position = found.end()
  if restart_interval and mcus is not None:
    needed = math.ceil(mcus / restart_interval)
    if intervals < needed:
      problems.append('corrupt JPEG data (premature end of data segment: '
                      f'{intervals} of {needed} restart intervals)')
    elif intervals > needed:
      problems.append(f'corrupt JPEG data ({intervals} restart intervals where the frame has '
                      f'{needed})')
  return found.start()


def problems(data: bytes) -> list[str]:
  """What the JPEG's structure says is damaged, phrased as libjpeg's warnings where they agree;
  [] for an intact structure or for bytes that are not a JPEG."""
  if not data.startswith(JPEG_START):
    return []
  found: list[str] = []
  frame, restart_interval, position = None, 0, len(JPEG_START)
  try:
    while True:
      marker, position, discarded = _next_marker(data, position)
      if discarded:
        found.append(f'corrupt JPEG data ({discarded} extraneous bytes before marker '
                     f'0x{marker:02x})')
      if marker == _END_OF_IMAGE:
        return found
      if marker in STANDALONE:
        continue
      if position + 2 > len(data):
        raise _Truncated
      end = position + int.from_bytes(data[position:position + 2], 'big')
      if end > len(data):
        raise _Truncated
      payload, position = data[position + 2:end], end
      if marker in _START_OF_FRAME:
        frame = _frame(payload)
      elif marker == _RESTART_INTERVAL:
        restart_interval = int.from_bytes(payload[:2], 'big')
      elif marker == START_OF_SCAN:
        position = _scan(data, position, _scan_mcus(frame, payload), restart_interval, found)
  except _Truncated:
    return found + [TRUNCATED]
