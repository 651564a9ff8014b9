"""Per-photo scores at full resolution: each photo against its colorization and against gray.

Both images are decoded to sRGB and converted to Lab (lab.py); the photo gives L and the true ab,
the colorized PNG the predicted ab, gray is a = b = 0 with the photo's own L. The scores are the
Evaluator's per-image functions (metrics.IMAGE_SCORES), on one photo at a time at any size.
Decoding the photo here also shows libjpeg's warnings for it, whichever process colorized it: a
damaged photo is scored as far as it decodes and named in a warning.
"""
import dataclasses
from collections.abc import Iterator

import tensorflow as tf

from colorization.evaluation.photos import Photo
from colorization.models import lab, metrics
from colorization.serving import client, jpeg_structure, libjpeg_messages, op_error_text, predictors
from colorization.serving.progress import Progress

GRAY_SCORED = ('psnr', 'auc', 'ab_mae')   # gray's colourfulness is 0 by construction


@dataclasses.dataclass
class PhotoScore:
  path: str
  label: str
  width: int
  height: int
  scores: dict[str, float]    # metrics.IMAGE_SCORES names, and gray_<name> for GRAY_SCORED


def _lab(image_bytes: tf.Tensor) -> tf.Tensor:
  """Encoded image -> Lab [1, H, W, 3], decoded as the served graph decodes (channels=3)."""
  rgb = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
  return lab.srgb_to_lab(tf.image.convert_image_dtype(rgb, tf.float32))[None]


@tf.function(input_signature=[tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.string)])
def _image_scores(photo: tf.Tensor, colorized: tf.Tensor) -> dict[str, tf.Tensor]:
  true_lab, pred_lab = _lab(photo), _lab(colorized)
  tf.debugging.assert_equal(tf.shape(true_lab), tf.shape(pred_lab),
                            message='the colorized image and the photo differ in size')
  lightness, ab_true = lab.split_lab(true_lab)
  _, ab_pred = lab.split_lab(pred_lab)
  gray = tf.zeros_like(ab_true)
  scores = {name: score(lightness, ab_true, ab_pred)[0]
            for name, score in metrics.IMAGE_SCORES.items()}
  scores.update({f'gray_{name}': metrics.IMAGE_SCORES[name](lightness, ab_true, gray)[0]
                 for name in GRAY_SCORED})
  scores['height'], scores['width'] = tf.shape(true_lab)[1], tf.shape(true_lab)[2]
  return scores


def score_photo(photo: Photo, image_bytes: bytes, colorized_png: bytes) -> PhotoScore:
  """One photo's scores from the bytes that were sent and the PNG that came back."""
  values = {name: value.numpy() for name, value in
            _image_scores(tf.constant(image_bytes), tf.constant(colorized_png)).items()}
  width, height = int(values.pop('width')), int(values.pop('height'))
  return PhotoScore(photo.path, photo.label, width, height,
                    {name: float(value) for name, value in values.items()})


def _skip(progress: Progress, photo: Photo, reason: str) -> None:
  progress.error(photo.location, reason)
  progress.advance(0, 1)


def _batches(photos: list[Photo], batch_size: int, progress: Progress
             ) -> Iterator[list[tuple[Photo, bytes, list[str]]]]:
  """Readable photos (upright, as sent) with their structural problems, grouped by count and
  bytes; the others named and skipped."""
  batch, size = [], 0
  for photo in photos:
    try:
      raw = photo.read()
    except OSError as e:
      _skip(progress, photo, e.strerror or str(e))
      continue
    problems = jpeg_structure.problems(raw)
    try:
      data = client.readable_image(raw)
    except predictors.ImageError as e:
      _skip(progress, photo, client.refusal(e, problems))
      continue
    if batch and (len(batch) == batch_size or size + len(data) > client.REQUEST_BYTES):
      yield batch
      batch, size = [], 0
    batch.append((photo, data, problems))
    size += len(data)
  if batch:
    yield batch


def score_photos(photos: list[Photo], predict: predictors.Predict, batch_size: int,
                 progress: Progress) -> list[PhotoScore]:
  """Scores of every photo the model colorizes, in order; the others named and skipped, damaged
  ones named in a warning."""
  scored = []
  for batch in _batches(photos, batch_size, progress):
    results = client.predict_each(predict, [data for _, data, _ in batch])
    for (photo, data, problems), png in zip(batch, results):
      if isinstance(png, predictors.ImageError):
        _skip(progress, photo, client.refusal(png, problems))
        continue
      try:
        with libjpeg_messages.captured() as caught:
          scored.append(score_photo(photo, data, png))
      except tf.errors.InvalidArgumentError as e:
        _skip(progress, photo, op_error_text(e.message))
        continue
      damage = client.damage([libjpeg_messages.phrased(line) for line in caught.lines] + problems,
                             png)
      if damage:
        progress.warning(photo.location, damage)
      progress.advance(1, 0)
  return scored

