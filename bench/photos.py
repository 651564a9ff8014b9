"""Generated test photos for the benchmarks (smooth colour gradients with a little noise)."""
import io

import numpy as np
from PIL import Image


def photo_jpeg(width: int, height: int, seed: int = 0) -> bytes:
  """A JPEG of smooth colour gradients with a little noise, roughly like a photo."""
  y, x = np.mgrid[0:height, 0:width].astype(np.float32)
  rgb = np.stack([127 + 100 * np.sin(x / (width / 7)), 127 + 100 * np.cos(y / (height / 5)),
                  255 * (x + y) / (width + height)], -1)
  rgb += np.random.default_rng(seed).normal(0, 6, rgb.shape).astype(np.float32)
  buffer = io.BytesIO()
  Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buffer, 'JPEG', quality=90)
  return buffer.getvalue()


def megapixel_jpeg(megapixels: float) -> bytes:
  """A 4:3 photo_jpeg of about this many megapixels."""
  height = int(round((megapixels * 1e6 * 3 / 4) ** 0.5))
  return photo_jpeg(int(round(height * 4 / 3)), height)
