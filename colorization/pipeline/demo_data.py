"""A small generated photo set (face / animal / landscape look-alikes) for demos and tests.

Each class has its own colour scheme tied to brightness and texture, so a colorizer can learn it.
"""
import io
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = ('face', 'animal', 'landscape')


def _noise(rng: np.random.Generator, height: int, width: int, scale: float) -> np.ndarray:
  coarse = rng.normal(0, scale, (height // 8 + 1, width // 8 + 1, 1))
  return np.kron(coarse, np.ones((8, 8, 1)))[:height, :width]


def make_image(label: str, rng: np.random.Generator, width: int = 160,
               height: int = 128) -> Image.Image:
  """One synthetic photo of the given class."""
  y = np.linspace(0, 1, height)[:, None, None]
  if label == 'landscape':
    horizon = rng.uniform(0.35, 0.65)
    sky = np.array([70, 130, 230]) * (1 - 0.4 * y) + 30
    ground = np.array([60, 140, 50]) * (0.6 + 0.4 * y)
    pixels = np.where(y < horizon, sky, ground) * np.ones((1, width, 1))
  else:
    background = rng.uniform(60, 200, 3) * np.ones((height, width, 3))
    pixels = background.copy()
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    cx, cy = rng.uniform(0.35, 0.65) * width, rng.uniform(0.35, 0.65) * height
    rx, ry = rng.uniform(0.2, 0.3) * width, rng.uniform(0.25, 0.4) * height
    colour = (225, 170, 140) if label == 'face' else (170, 100, 40)
    draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=colour)
    if label == 'animal':
      draw.ellipse([cx - rx * 0.3, cy - ry * 0.2, cx + rx * 0.3, cy + ry * 0.2], fill=(40, 30, 20))
    pixels = np.asarray(image.filter(ImageFilter.GaussianBlur(1.5)), np.float64)
  pixels = pixels + _noise(rng, height, width, 12.0)
  return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_demo_dataset(root: str, images_per_class: int = 20, seed: int = 0,
                       sizes: tuple[tuple[int, int], ...] = ((160, 128), (128, 160), (200, 150))
                       ) -> str:
  """Writes root/<class>/<class>_NNN.jpg and returns root.

  A file already holding the same bytes is left untouched, so a second run sees unchanged inputs
  (same mtimes) and the pipeline reuses its cached ExampleGen and everything after it.
  """
  rng = np.random.default_rng(seed)
  for label in CLASSES:
    os.makedirs(os.path.join(root, label), exist_ok=True)
    for i in range(images_per_class):
      width, height = sizes[i % len(sizes)]
      encoded = io.BytesIO()
      make_image(label, rng, width, height).save(encoded, format='JPEG', quality=92)
      path = os.path.join(root, label, f'{label}_{i:03d}.jpg')
      if os.path.exists(path):
        with open(path, 'rb') as existing:
          if existing.read() == encoded.getvalue():
            continue
      with open(path, 'wb') as f:
        f.write(encoded.getvalue())
  return root
