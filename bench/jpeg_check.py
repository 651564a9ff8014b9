"""What the client's damaged-JPEG checks cost per photo, against decoding the same photo.

    python -m bench.jpeg_check [--repeats N]

For JPEGs of 0.2, 3 and 12 megapixels, in one run: the structure walk every photo gets before it
is sent (serving/jpeg_structure.py), and the fd-2 capture around each in-process call
(serving/libjpeg_messages.py, once per batch), each as a ratio to decoding the photo with
TensorFlow's decoder (what the served graph does first, and what a client-side decode would add).
Times are the best of --repeats calls.
"""
import argparse
import os
import time
from typing import Callable

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import tensorflow as tf  # noqa: E402  (after the environment: TensorFlow reads it on import)

from bench.photos import megapixel_jpeg  # noqa: E402
from colorization.serving import jpeg_structure, libjpeg_messages  # noqa: E402

MEGAPIXELS = (0.2, 3.0, 12.0)


def best_seconds(call: Callable[[], object], repeats: int) -> float:
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    call()
    times.append(time.perf_counter() - start)
  return min(times)


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=20)
  args = parser.parse_args(argv)

  def capture() -> None:
    with libjpeg_messages.captured():
      pass

  print(f'{"photo":>8} {"bytes":>10} {"decode ms":>10} {"structure ms":>13} {"ratio":>6} '
        f'{"capture ms":>11} {"ratio":>6}')
  for megapixels in MEGAPIXELS:
    jpeg = megapixel_jpeg(megapixels)
    decode = best_seconds(lambda: tf.io.decode_image(jpeg, channels=3), args.repeats)
    structure = best_seconds(lambda: jpeg_structure.problems(jpeg), args.repeats)
    captured = best_seconds(capture, args.repeats)
    print(f'{megapixels:>6} MP {len(jpeg):>10} {decode * 1e3:>10.2f} {structure * 1e3:>13.2f} '
          f'{structure / decode:>6.3f} {captured * 1e3:>11.3f} {captured / decode:>6.3f}')


if __name__ == '__main__':
  main()
