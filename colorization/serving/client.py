"""`colorization colorize`: colorize image files through the TF Serving API, or a SavedModel in-process.

Calls the `colorize_image` signature with the standard PredictRequest, so it works unchanged against
`tensorflow_model_server`. The gRPC path never imports TensorFlow; `--saved-model` loads it lazily.
"""
import array
import importlib
import importlib.util
import os
import sys
import time
import types
from typing import Callable, Iterator

from colorization.serving import op_error_text, orientation, outputs
from colorization.serving.inputs import FORMATS, IMAGE_MAGIC, find_images

SIGNATURE_NAME = 'colorize_image'       # = models.features.COLORIZE_IMAGE (serving imports no models)
# Output format -> the signature answering in it (= models.features.COLORIZE_IMAGE, _JPEG).
FORMAT_SIGNATURES = {'png': SIGNATURE_NAME, 'jpg': 'colorize_image_jpeg'}
# The image output among a signature's outputs (a class-aware model also returns its class):
# = models.features.COLORIZED_PNG_KEY, COLORIZED_JPEG_KEY.
IMAGE_OUTPUTS = ('colorized_png', 'colorized_jpeg')
CLASS_SIGNATURE_NAME = 'colorize_image_with_class'  # = features.COLORIZE_IMAGE_WITH_CLASS (PNG)
CLASS_KEY = 'class_name'                # = features.CLASS_NAME_KEY: forced in, predicted out
PROBABILITY_OUTPUT = 'class_probability'  # = features.CLASS_PROBABILITY_KEY
REQUEST_BYTES = 16 * 1024 * 1024         # encoded images per request, well below server limits
CONNECT_SECONDS = 10.0
REQUEST_SECONDS = 600.0



class Colorized(bytes):
  """A colorized image; from a class-aware model, with its predicted class and probability."""
  class_name: str | None = None
  class_probability: float | None = None


Predict = Callable[[list[bytes]], list[bytes]]  # the images are Colorized


def _results(images: list[bytes], classes: list[bytes] | None,
             probabilities: list[float] | None) -> list[Colorized]:
  results = [Colorized(image) for image in images]
  if classes is not None and probabilities is not None:
    for result, name, probability in zip(results, classes, probabilities):
      result.class_name, result.class_probability = name.decode(), float(probability)
  return results


def _floats(tensor) -> list[float]:
  """A float32 TensorProto's values, packed (tensor_content, little-endian) or listed."""
  if tensor.tensor_content:
    return list(array.array('f', tensor.tensor_content))
  return list(tensor.float_val)


class ImageError(Exception):
  """This image (or batch) was refused; the others can still be colorized."""


class ModelUnavailable(Exception):
  """No image can be colorized: the server or model cannot be used."""


def serving_apis() -> types.SimpleNamespace:
  """grpc and the TF Serving API modules, without running tensorflow/__init__ (about 15 s here).

  The generated protos import tensorflow.core.*; if TensorFlow is not loaded yet, they are loaded
  through a bare `tensorflow` namespace module that is removed again, so a later
  `import tensorflow` still runs the real package (which reuses the same proto modules).
  """
  names = {'types_pb2': 'tensorflow.core.framework.types_pb2',
           'get_model_metadata_pb2': 'tensorflow_serving.apis.get_model_metadata_pb2',
           'predict_pb2': 'tensorflow_serving.apis.predict_pb2',
           'prediction_service_pb2_grpc': 'tensorflow_serving.apis.prediction_service_pb2_grpc'}
  namespace = None
  if 'tensorflow' not in sys.modules:
    namespace = types.ModuleType('tensorflow')
    namespace.__path__ = list(importlib.util.find_spec('tensorflow').submodule_search_locations)
    sys.modules['tensorflow'] = namespace
  try:
    modules = {key: importlib.import_module(name) for key, name in names.items()}
  finally:
    if namespace is not None:
      del sys.modules['tensorflow']
  import grpc
  return types.SimpleNamespace(grpc=grpc, **modules)


def image_output(output_names, signature_name: str) -> str:
  """The name of the signature's image output (ModelUnavailable if it has none)."""
  names = [name for name in output_names if name in IMAGE_OUTPUTS]
  if len(names) != 1:
    raise ModelUnavailable(f'the {signature_name!r} signature has no image output '
                           f'({", ".join(IMAGE_OUTPUTS)}); its outputs: {", ".join(output_names)}')
  return names[0]


def grpc_predictor(address: str, model_name: str, signature_name: str = SIGNATURE_NAME,
                   class_name: str | None = None) -> Predict:
  """Colorized images (PNG; JPEG from colorize_image_jpeg) for image bytes, by Predict calls to a
  TF Serving model server; class_name: the class to colour as (colorize_image_with_class)."""
  apis = serving_apis()
  grpc = apis.grpc
  channel = grpc.insecure_channel(address, options=[('grpc.max_receive_message_length', -1),
                                                    ('grpc.max_send_message_length', -1)])
  try:
    grpc.channel_ready_future(channel).result(timeout=CONNECT_SECONDS)
  except grpc.FutureTimeoutError:
    raise ModelUnavailable(f'cannot reach a model server at {address}') from None
  stub = apis.prediction_service_pb2_grpc.PredictionServiceStub(channel)
  request = apis.get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=['signature_def'])
  request.model_spec.name = model_name
  try:
    metadata = stub.GetModelMetadata(request, timeout=CONNECT_SECONDS)
  except grpc.RpcError as e:
    raise ModelUnavailable(f'{address}: {e.details()}') from None
  signatures = apis.get_model_metadata_pb2.SignatureDefMap()
  metadata.metadata['signature_def'].Unpack(signatures)
  if signature_name not in signatures.signature_def:
    raise ModelUnavailable(f'model {model_name!r} at {address} has no {signature_name!r} signature')
  signature = signatures.signature_def[signature_name]
  (input_name,) = set(signature.inputs) - {CLASS_KEY}
  output_name = image_output(signature.outputs, signature_name)

  def predict(images: list[bytes]) -> list[bytes]:
    request = apis.predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    inputs = {input_name: images} if class_name is None else {
        input_name: images, CLASS_KEY: [class_name.encode()] * len(images)}
    for name, values in inputs.items():
      tensor = request.inputs[name]
      tensor.dtype = apis.types_pb2.DT_STRING
      tensor.tensor_shape.dim.add().size = len(values)
      tensor.string_val.extend(values)
    try:
      response = stub.Predict(request, timeout=REQUEST_SECONDS)
    except grpc.RpcError as e:
      if e.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED):
        raise ImageError(e.details()) from None
      raise ModelUnavailable(f'{address}: {e.code().name}: {e.details()}') from None
    tensors = response.outputs
    return _results(list(tensors[output_name].string_val),
                    list(tensors[CLASS_KEY].string_val) if CLASS_KEY in tensors else None,
                    _floats(tensors[PROBABILITY_OUTPUT]) if PROBABILITY_OUTPUT in tensors else None)

  return predict


def saved_model_predictor(path: str, signature_name: str = SIGNATURE_NAME,
                          class_name: str | None = None) -> Predict:
  """Colorized images for image bytes, by calling the SavedModel's signature in this process."""
  if not os.path.isfile(os.path.join(path, 'saved_model.pb')):
    raise FileNotFoundError(f'no saved_model.pb in {path}; give a version directory such as '
                            f'<home>/serving/colorizer/<version>')
  import tensorflow as tf
  loaded = tf.saved_model.load(path)
  if signature_name not in loaded.signatures:
    raise ModelUnavailable(f'the SavedModel in {path} has no {signature_name!r} signature')
  function = loaded.signatures[signature_name]
  (input_name,) = set(function.structured_input_signature[1]) - {CLASS_KEY}
  output_name = image_output(function.structured_outputs, signature_name)

  def predict(images: list[bytes]) -> list[bytes]:
    inputs = {input_name: tf.constant(images)}
    if class_name is not None:
      inputs[CLASS_KEY] = tf.constant([class_name] * len(images))
    try:
      tensors = {name: value.numpy() for name, value in function(**inputs).items()}
      return _results(list(tensors[output_name]), tensors.get(CLASS_KEY),
                      tensors.get(PROBABILITY_OUTPUT))
    except (tf.errors.InvalidArgumentError, tf.errors.ResourceExhaustedError) as e:
      raise ImageError(op_error_text(e.message)) from None

  return predict


class Progress:
  """A one-line progress bar on stderr (redrawn in place on a terminal) with error lines above."""

  def __init__(self, total: int, verb: str = 'colorize'):
    self.total, self.done, self.failed, self.verb = total, 0, 0, verb
    self.stream = sys.stderr
    self.interactive = self.stream.isatty()
    self.start = time.monotonic()

  def advance(self, succeeded: int, failed: int) -> None:
    self.done += succeeded + failed
    self.failed += failed
    if self.interactive:
      self._draw('\r')

  def error(self, name: str, reason: str) -> None:
    self.stream.write(('\r\033[K' if self.interactive else '')
                      + f'colorization {self.verb}: skipped {name}: {reason}\n')
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


def readable_image(data: bytes) -> bytes:
  """The bytes to send for a file's contents: checked to be an image, turned upright (EXIF)."""
  if not data.startswith(IMAGE_MAGIC):
    raise ImageError(f'not a {FORMATS} image')
  try:
    return orientation.upright(data)
  except orientation.OrientationError as e:
    raise ImageError(str(e)) from None


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
             ) -> Iterator[list[tuple[str, str, bytes]]]:
  """(path, output, bytes) of readable images, grouped by count and by encoded bytes; unreadable
  ones reported and skipped."""
  batch, size = [], 0
  for path, output in images:
    try:
      with open(path, 'rb') as f:
        data = f.read()
    except OSError as e:
      progress.error(path, e.strerror or str(e))
      progress.advance(0, 1)
      continue
    try:
      data = readable_image(data)
    except ImageError as e:
      progress.error(path, str(e))
      progress.advance(0, 1)
      continue
    if batch and (len(batch) == batch_size or size + len(data) > REQUEST_BYTES):
      yield batch
      batch, size = [], 0
    batch.append((path, output, data))
    size += len(data)
  if batch:
    yield batch


def _colorize_batch(predict: Predict, batch: list[tuple[str, str, bytes]], overwrite: bool,
                    progress: Progress, classes: list[str]) -> None:
  """Writes the batch's PNGs; the images the model refuses are named and skipped. A class-aware
  model's predictions are added to classes as '<output>: class (probability)'."""
  for (path, output, _), png in zip(batch, predict_each(predict, [data for _, _, data in batch])):
    if isinstance(png, ImageError):
      progress.error(path, str(png))
      progress.advance(0, 1)
      continue
    try:
      outputs.write_output(output, png, overwrite)
    except FileExistsError:
      progress.error(path, f'{output} appeared meanwhile; --overwrite replaces it')
      progress.advance(0, 1)
      continue
    if getattr(png, 'class_name', None) is not None:
      classes.append(f'{output}: {png.class_name} ({png.class_probability:.2f})')
    progress.advance(1, 0)


def colorize_paths(inputs: list[str], output_dir: str, *, server: str | None = None,
                   saved_model: str | None = None, model_name: str, batch_size: int = 8,
                   overwrite: bool = False, allow_output_inside_input: bool = False,
                   output_format: str = 'png', class_name: str | None = None) -> int:
  """Colorizes every image found into output_dir as PNG or JPEG (output_format: a key of
  FORMAT_SIGNATURES); returns 0, or 1 if any file was not colorized. Never overwrites an input, nor an existing file unless overwrite (outputs.py).
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
