"""Predict functions for the `colorize_image` signatures: a TF Serving model server over gRPC, or a
SavedModel in this process.

The gRPC path sends the standard PredictRequest, so it works unchanged against
`tensorflow_model_server`, and never imports TensorFlow; the SavedModel path loads it lazily.
"""
import array
import importlib
import importlib.util
import os
import sys
import types
from typing import Callable

from colorization.serving import libjpeg_messages, op_error_text
from colorization.serving.jpeg_structure import JPEG_START

SIGNATURE_NAME = 'colorize_image'       # = models.features.COLORIZE_IMAGE (serving imports no models)
# Output format -> the signature answering in it (= models.features.COLORIZE_IMAGE, _JPEG).
FORMAT_SIGNATURES = {'png': SIGNATURE_NAME, 'jpg': 'colorize_image_jpeg'}
# The image output among a signature's outputs (a class-aware model also returns its class):
# = models.features.COLORIZED_PNG_KEY, COLORIZED_JPEG_KEY.
IMAGE_OUTPUTS = ('colorized_png', 'colorized_jpeg')
CLASS_SIGNATURE_NAME = 'colorize_image_with_class'  # = features.COLORIZE_IMAGE_WITH_CLASS (PNG)
CLASS_KEY = 'class_name'                # = features.CLASS_NAME_KEY: forced in, predicted out
PROBABILITY_OUTPUT = 'class_probability'  # = features.CLASS_PROBABILITY_KEY
CONNECT_SECONDS = 10.0
REQUEST_SECONDS = 600.0


class Colorized(bytes):
  """A colorized image; from a class-aware model, with its predicted class and probability.
  decode_warnings: libjpeg's warnings while decoding its photo, phrased (libjpeg_messages), when
  the decoder ran where they could be seen (in this process); None when it could not (a server)."""
  class_name: str | None = None
  class_probability: float | None = None
  decode_warnings: tuple[str, ...] | None = None


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

  def decode_warnings(image: bytes) -> tuple[str, ...]:
    """libjpeg's warnings for one photo, decoded alone as the served graph decodes it."""
    with libjpeg_messages.captured() as caught:
      try:
        tf.io.decode_image(image, channels=3, expand_animations=False)
      except tf.errors.OpError:
        pass
    return _phrased_once(caught.lines)

  def predict(images: list[bytes]) -> list[bytes]:
    inputs = {input_name: tf.constant(images)}
    if class_name is not None:
      inputs[CLASS_KEY] = tf.constant([class_name] * len(images))
    try:
      with libjpeg_messages.captured() as caught:
        tensors = {name: value.numpy() for name, value in function(**inputs).items()}
    except (tf.errors.InvalidArgumentError, tf.errors.ResourceExhaustedError) as e:
      raise ImageError(op_error_text(e.message)) from None
    results = _results(list(tensors[output_name]), tensors.get(CLASS_KEY),
                       tensors.get(PROBABILITY_OUTPUT))
    # The lines name no photo: one JPEG in the batch owns them; among several, each JPEG is
    # decoded alone again (only in a batch that warned).
    jpegs = [i for i, image in enumerate(images) if image.startswith(JPEG_START)]
    for i, result in enumerate(results):
      result.decode_warnings = ()
      if caught.lines and i in jpegs:
        result.decode_warnings = (_phrased_once(caught.lines) if len(jpegs) == 1
                                  else decode_warnings(images[i]))
    return results

  return predict


def _phrased_once(lines: list[str]) -> tuple[str, ...]:
  """Each warning phrased, once (the served graph decodes a photo twice), in order."""
  return tuple(dict.fromkeys(libjpeg_messages.phrased(line) for line in lines))
