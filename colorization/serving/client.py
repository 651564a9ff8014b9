"""`colorization colorize`: colorize image files through the TF Serving API, or a SavedModel in-process.

Reads the images found (inputs.py), sends them in batches to a predictor (predictors.py), writes
the results without ever overwriting an input (outputs.py) and reports progress, skipped files and
damaged JPEGs that were still colorized, each by its name (progress.py): what the JPEG's structure
shows (jpeg_structure.py) and, with a SavedModel in this process, libjpeg's own warnings. The gRPC
path never imports TensorFlow.
"""
from typing import Iterator

from colorization.serving import jpeg_structure, orientation, outputs
from colorization.serving.inputs import FORMATS, IMAGE_MAGIC, find_images
from colorization.serving.predictors import (CLASS_SIGNATURE_NAME, FORMAT_SIGNATURES, ImageError,
                                             ModelUnavailable, Predict, grpc_predictor,
                                             saved_model_predictor)
from colorization.serving.progress import Progress

REQUEST_BYTES = 16 * 1024 * 1024         # encoded images per request, well below server limits


def readable_image(data: bytes) -> bytes:
  """The bytes to send for a file's contents: checked to be an image, turned upright (EXIF)."""
  if not data.startswith(IMAGE_MAGIC):
    raise ImageError(f'not a {FORMATS} image')
  try:
    return orientation.upright(data)
  except orientation.OrientationError as e:
    raise ImageError(str(e)) from None


def damage(problems: list[str], result: bytes) -> list[str]:
  """What to warn of for a photo that came back: the decoder's warnings where it ran in this
  process (result.decode_warnings) and its structure's problems found before sending, each once
  (a problem that only details a decoder's warning, as '... segment: 5 of 9 restart intervals)'
  does '... segment)', is left out)."""
  decoded = list(getattr(result, 'decode_warnings', None) or ())
  return decoded + [problem for problem in dict.fromkeys(problems)
                    if not any(problem.startswith(warning.rstrip(')')) for warning in decoded)]


def refusal(error: ImageError, problems: list[str]) -> str:
  """Why a photo was skipped: the model's refusal, and what its structure showed."""
  return '; '.join([str(error).rstrip('.'), *problems])


def predict_each(predict: Predict, images: list[bytes]) -> list[bytes | ImageError]:
  """A PNG per image, or the error that image alone raised: a refused batch is retried one by one."""
  try:
    pngs = predict(images)
  except ImageError as e:
    if len(images) == 1:
      return [e]
    return [result for image in images for result in predict_each(predict, [image])]
  if len(pngs) != len(images):
    raise ModelUnavailable(f'{len(pngs)} results came back for {len(images)} images')
  return pngs


def _batches(images: list[tuple[str, str]], batch_size: int, progress: Progress
             ) -> Iterator[list[tuple[str, str, bytes, list[str]]]]:
  """(path, output, bytes to send, structural problems) of readable images, grouped by count and
  by encoded bytes; unreadable ones reported and skipped."""
  batch, size = [], 0
  for path, output in images:
    try:
      with open(path, 'rb') as f:
        data = f.read()
    except OSError as e:
      progress.error(path, e.strerror or str(e))
      progress.advance(0, 1)
      continue
    problems = jpeg_structure.problems(data)
    try:
      data = readable_image(data)
    except ImageError as e:
      progress.error(path, refusal(e, problems))
      progress.advance(0, 1)
      continue
    if batch and (len(batch) == batch_size or size + len(data) > REQUEST_BYTES):
      yield batch
      batch, size = [], 0
    batch.append((path, output, data, problems))
    size += len(data)
  if batch:
    yield batch


def _colorize_batch(predict: Predict, batch: list[tuple[str, str, bytes, list[str]]],
                    overwrite: bool, progress: Progress, classes: list[str]) -> None:
  """Writes the batch's PNGs; the images the model refuses are named and skipped, damaged ones
  named in a warning. A class-aware model's predictions are added to classes as
  '<output>: class (probability)'."""
  results = predict_each(predict, [data for _, _, data, _ in batch])
  for (path, output, _, problems), png in zip(batch, results):
    if isinstance(png, ImageError):
      progress.error(path, refusal(png, problems))
      progress.advance(0, 1)
      continue
    try:
      outputs.write_output(output, png, overwrite)
    except FileExistsError:
      progress.error(path, f'{output} appeared meanwhile; --overwrite replaces it')
      progress.advance(0, 1)
      continue
    warnings = damage(problems, png)
    if warnings:
      progress.warning(path, warnings)
    if getattr(png, 'class_name', None) is not None:
      classes.append(f'{output}: {png.class_name} ({png.class_probability:.2f})')
    progress.advance(1, 0)


def colorize_paths(inputs: list[str], output_dir: str, *, server: str | None = None,
                   saved_model: str | None = None, model_name: str, batch_size: int = 8,
                   overwrite: bool = False, allow_output_inside_input: bool = False,
                   output_format: str = 'png', class_name: str | None = None) -> int:
  """Colorizes every image found into output_dir as PNG or JPEG (output_format: a key of
  FORMAT_SIGNATURES); returns 0, or 1 if any file was not colorized (a damaged JPEG colorized
  as far as it decodes is named in a warning, and counts as colorized). Never overwrites an input,
  nor an existing file unless overwrite (outputs.py).
  class_name: colour every image as this class (a class-aware model, PNG only); a class-aware
  model's predicted class and probability are printed per image.

  Raises ValueError when nothing can be done (no image found, output folder inside an input
  folder) and ModelUnavailable when the model cannot be reached or answers wrongly (the CLI
  prints either as one line).
  """
  if (server is None) == (saved_model is None):
    raise ValueError('give exactly one of a server address or a SavedModel directory')
  if batch_size < 1:
    raise ValueError(f'the batch size must be at least 1, not {batch_size}')
  if class_name is not None and output_format != 'png':
    raise ValueError(f'--class colours as PNG only ({CLASS_SIGNATURE_NAME}), not {output_format}')
  found = find_images(inputs, skip_folder=output_dir)
  outputs.check_output_folder(output_dir, found.folders, allow_output_inside_input)
  planned, refused = outputs.plan_outputs(found.images, output_dir, overwrite,
                                          '.' + output_format)
  progress = Progress(len(found.images) + len(found.problems))
  for path, reason in found.problems + refused:
    progress.error(path, reason)
    progress.advance(0, 1)
  if not found.images:
    if progress.interactive:  # end the bar the error lines redrew; otherwise the error is one line
      progress.finish()
    raise ValueError(f'no {FORMATS} image in {" ".join(inputs)}')
  predict = None
  if planned:
    signature_name = (FORMAT_SIGNATURES[output_format] if class_name is None
                      else CLASS_SIGNATURE_NAME)
    predict = (grpc_predictor(server, model_name, signature_name, class_name) if server
               else saved_model_predictor(saved_model, signature_name, class_name))
  classes = []
  try:
    for batch in _batches(planned, batch_size, progress):
      _colorize_batch(predict, batch, overwrite, progress, classes)
  finally:
    progress.finish()
  if classes:
    print('Predicted class (probability)' + (f', coloured as {class_name}:' if class_name else ':'))
    print('\n'.join(classes))
  succeeded = progress.done - progress.failed
  print(f'Colorized {succeeded} of {progress.total} images into {output_dir}'
        + (f'; {progress.failed} failed' if progress.failed else ''))
  return 1 if progress.failed else 0
