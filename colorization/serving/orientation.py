"""EXIF orientation, applied by clients: the served graph (tf.io.decode_image) ignores EXIF.

A phone photo is often stored sideways with an Orientation tag saying how to turn it for display.
`upright` reads that tag from the JPEG's APP1 Exif segment in pure Python and, when the photo must
be turned, returns the turned pixels as PNG (lossless), so the server colorizes what the user sees.
"""
import io
import struct

from colorization.serving.jpeg_structure import JPEG_START, STANDALONE, START_OF_SCAN

EXIF_HEADER = b'Exif\x00\x00'
ORIENTATION_TAG = 0x0112
UPRIGHT = 1
_APP1 = 0xE1
_PNG_COMPRESS_LEVEL = 1  # photos barely compress: a fast level costs little size


class OrientationError(ValueError):
  """The photo's EXIF asks for a turn but its pixels cannot be read."""


def _exif_segment(data: bytes) -> bytes | None:
  """The TIFF payload of a JPEG's first APP1 Exif segment, if any before the scan data."""
  position = len(JPEG_START)
  while position + 4 <= len(data):
    if data[position] != 0xFF:
      return None
    marker = data[position + 1]
    if marker == 0xFF:            # fill byte before a marker
      position += 1
      continue
    if marker in STANDALONE:
      position += 2
      continue
    if marker == START_OF_SCAN:
      return None
    (length,) = struct.unpack('>H', data[position + 2:position + 4])
    segment = data[position + 4:position + 2 + length]
    if marker == _APP1 and segment.startswith(EXIF_HEADER):
      return segment[len(EXIF_HEADER):]
    position += 2 + length
  return None


def exif_orientation(data: bytes) -> int:
  """The EXIF Orientation (1..8) of JPEG bytes; 1 (upright) without a readable tag or for non-JPEGs."""
  if not data.startswith(JPEG_START):
    return UPRIGHT
  tiff = _exif_segment(data)
  if not tiff or tiff[:4] not in (b'II*\x00', b'MM\x00*'):
    return UPRIGHT
  order = '<' if tiff[:2] == b'II' else '>'
  try:
    (first_directory,) = struct.unpack(order + 'I', tiff[4:8])
    (entries,) = struct.unpack(order + 'H', tiff[first_directory:first_directory + 2])
    for i in range(entries):
      start = first_directory + 2 + 12 * i
      tag, kind, count = struct.unpack(order + 'HHI', tiff[start:start + 8])
      if tag == ORIENTATION_TAG and kind == 3 and count == 1:   # one SHORT, stored in place
        (value,) = struct.unpack(order + 'H', tiff[start + 8:start + 10])
        return value if 1 <= value <= 8 else UPRIGHT
  except struct.error:  # a truncated directory: no usable tag
    return UPRIGHT
  return UPRIGHT


def upright(data: bytes) -> bytes:
  """Encoded image bytes as displayed: unchanged when upright, else the turned pixels as PNG."""
  orientation = exif_orientation(data)
  if orientation == UPRIGHT:
    return data
  from PIL import Image  # only for turned photos; the gRPC client otherwise stays light
  turns = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
           4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
           6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_90}
  try:
    with Image.open(io.BytesIO(data)) as image:
      turned = image.transpose(turns[orientation])
  except (OSError, SyntaxError, ValueError) as e:
    raise OrientationError(f'EXIF orientation {orientation}, but the pixels are unreadable ({e})'
                           ) from None
  if turned.mode not in ('L', 'RGB'):
    turned = turned.convert('RGB')
  buffer = io.BytesIO()
  turned.save(buffer, 'PNG', compress_level=_PNG_COMPRESS_LEVEL)
  return buffer.getvalue()
