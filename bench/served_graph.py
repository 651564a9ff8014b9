"""colorize_image against the bare sum of its parts, and its memory, in one process.

    python -m bench.served_graph (--saved-model DIR | --random-model) [--repeats N]

For photos of 0.2, 3 and 12 megapixels, the signatures colorize_image (PNG) and colorize_image_jpeg
are timed against the same steps run bare, each on the whole image, in the same run:
  decode (decode_image), network (shrink to 224x224 with the served code, then serving_default,
  which includes the 224x224 ab), upsample (ab to the full size, bilinear), Lab (the image's L,
  the gamut fit and Lab -> sRGB as uint8, in row strips of full_resolution.STRIP_PIXELS: one call
  on the whole frame is slower, its floats leave the cache), encode (PNG at
  full_resolution.PNG_COMPRESSION or JPEG at full_resolution.JPEG_QUALITY).
Times are the best of --repeats calls. Memory: the process's peak RSS during one call over its RSS
just before (idle), per pixel of the photo. --random-model builds the served graph around the
real architecture with random weights (the same cost as a trained model) in a temporary folder.
"""
import argparse
import os
import sys
import tempfile
import time
from typing import Callable

import numpy as np

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import tensorflow as tf  # noqa: E402  (after the environment: TensorFlow reads it on import)

from bench.photos import megapixel_jpeg  # noqa: E402
from colorization.models import (  # noqa: E402
    ab_bins, features, full_resolution, hparams, lab, network, signatures)

MEGAPIXELS = (0.2, 3.0, 12.0)
RATIO_TARGET = 1.5
BYTES_PER_PIXEL_TARGET = 100


def write_random_model(path: str) -> str:
  """The served signatures around the real network with random weights, saved at path."""
  bins = ab_bins.AbBins(np.ones(ab_bins.GRID_BINS))
  model = network.build_network(bins.size)
  module = tf.Module()
  module.model = model
  tf.saved_model.save(module, path, signatures=signatures.colorize_signatures(
      model, bins, hparams.TrainingConfig.max_image_pixels))
  return path


def best_seconds(call: Callable[[], object], repeats: int) -> float:
  call()
  best = float('inf')
  for _ in range(repeats):
    start = time.perf_counter()
    call()
    best = min(best, time.perf_counter() - start)
  return best


def _status_bytes(key: str) -> int:
  with open('/proc/self/status') as f:
    return 1024 * next(int(line.split()[1]) for line in f if line.startswith(key + ':'))


def memory_over_idle(call: Callable[[], object]) -> int:
  """Peak RSS during call() minus the RSS just before it, in bytes."""
  with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')
  idle = _status_bytes('VmRSS')
  call()
  return _status_bytes('VmHWM') - idle


class BareParts:
  """Each step of colorize_image as its own call on the whole image (Lab: in strips)."""

  def __init__(self, serving_default):
    self.serving_default = serving_default
    self.decode = tf.function(lambda image: tf.io.decode_image(image, 3, expand_animations=False))
    self.shrink = tf.function(full_resolution.model_lightness)
    self.upsample = tf.function(
        lambda ab, size: tf.image.resize(ab, size, method='bilinear'))
    self.lab_strip = tf.function(lambda rgb, ab: tf.image.convert_image_dtype(lab.lab_to_srgb(
        lab.fit_gamut(tf.concat([lab.srgb8_to_lightness(rgb), ab], -1))), tf.uint8, saturate=True))
    self.encoders = {'png': tf.function(full_resolution.encode_png),
                     'jpeg': tf.function(full_resolution.encode_jpeg)}

  def times(self, image: tf.Tensor, repeats: int) -> dict:
    """Seconds per step for this encoded image."""
    rgb = self.decode(image)
    height, width = rgb.shape[0], rgb.shape[1]
    model_l = self.shrink(rgb)[None]
    ab = self.serving_default(model_l)[features.AB_KEY][0]
    full_ab = self.upsample(ab, tf.constant([height, width]))
    rows = max(1, full_resolution.STRIP_PIXELS // width)
    strips = [(rgb[top:top + rows], full_ab[top:top + rows]) for top in range(0, height, rows)]
    colored = tf.concat([self.lab_strip(*strip) for strip in strips], 0)
    times = {
        'decode': best_seconds(lambda: self.decode(image), repeats),
        'network': best_seconds(lambda: self.serving_default(self.shrink(rgb)[None]), repeats),
        'upsample': best_seconds(lambda: self.upsample(ab, tf.constant([height, width])), repeats),
        'Lab': best_seconds(lambda: [self.lab_strip(*strip) for strip in strips], repeats),
    }
    for name, encode in self.encoders.items():
      times[name] = best_seconds(lambda: encode(colored), repeats)
    return times


def compare(model_dir: str, repeats: int,
            megapixels_list: tuple[float, ...] = MEGAPIXELS) -> list[tuple[float, float, float]]:
  """Prints the table; returns (megapixels, worst time ratio, bytes per pixel) per photo."""
  loaded = tf.saved_model.load(model_dir)
  missing = {features.COLORIZE_IMAGE, features.COLORIZE_IMAGE_JPEG} - set(loaded.signatures)
  if missing:
    raise SystemExit(f'bench.served_graph: error: {model_dir} has no {" or ".join(sorted(missing))} '
                     'signature (exported by an older version: retrain, or use --random-model)')
  served = {'png': loaded.signatures[features.COLORIZE_IMAGE],
            'jpeg': loaded.signatures[features.COLORIZE_IMAGE_JPEG]}
  parts = BareParts(loaded.signatures[features.SERVING_DEFAULT])
  for colorize in served.values():
    colorize(tf.constant([megapixel_jpeg(0.05)]))
  print('colorize_image (PNG) and colorize_image_jpeg against the bare sum of their parts:')
  results = []
  for megapixels in megapixels_list:
    jpeg = megapixel_jpeg(megapixels)
    pixels = tf.io.decode_jpeg(jpeg).shape.num_elements() // 3
    batch = tf.constant([jpeg])
    memory = {name: memory_over_idle(lambda: colorize(batch)) for name, colorize in served.items()}
    bare = parts.times(tf.constant(jpeg), repeats)
    shared = sum(bare[k] for k in ('decode', 'network', 'upsample', 'Lab'))
    print(f'  {megapixels:4.1f} MP: decode {bare["decode"]:.3f} s, network {bare["network"]:.3f} s, '
          f'upsample {bare["upsample"]:.3f} s, Lab {bare["Lab"]:.3f} s, '
          f'encode PNG {bare["png"]:.3f} s / JPEG {bare["jpeg"]:.3f} s')
    worst = 0.0
    for name, colorize in served.items():
      seconds = best_seconds(lambda: colorize(batch), repeats)
      ratio = seconds / (shared + bare[name])
      worst = max(worst, ratio)
      print(f'    {name:4s}: served {seconds:.3f} s / bare sum {shared + bare[name]:.3f} s = '
            f'{ratio:.2f} (target <= {RATIO_TARGET}); memory over idle {memory[name] / 1e6:.0f} MB = '
            f'{memory[name] / pixels:.0f} B/pixel (target <= {BYTES_PER_PIXEL_TARGET})')
    results.append((megapixels, worst, max(memory.values()) / pixels))
  return results


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument('--saved-model', help='a SavedModel directory (one version)')
  source.add_argument('--random-model', action='store_true',
                      help='the real architecture with random weights')
  parser.add_argument('--repeats', type=int, default=3, help='timed calls per measure')
  parser.add_argument('--megapixels', type=float, nargs='+', default=MEGAPIXELS,
                      help='photo sizes (default: %(default)s)')
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as scratch:
    model_dir = args.saved_model or write_random_model(os.path.join(scratch, 'model'))
    compare(model_dir, args.repeats, tuple(args.megapixels))
  return 0


if __name__ == '__main__':
  sys.exit(main())
