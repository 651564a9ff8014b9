"""TF Serving's warm-up file: requests the server replays when it loads a version, so the first
real request does not pay for the graph's first run."""
import os

import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from colorization.models import features

WARMUP_FILE = os.path.join('assets.extra', 'tf_serving_warmup_requests')  # TF Serving's own path
WARMUP_IMAGE_SIZE = (48, 64)  # height, width of the generated photo the colorize requests send


def _request(signature_name: str, input_key: str,
             value: tf.Tensor) -> prediction_log_pb2.PredictionLog:
  request = predict_pb2.PredictRequest(
      model_spec=model_pb2.ModelSpec(name=features.MODEL_NAME, signature_name=signature_name))
  request.inputs[input_key].CopyFrom(tf.make_tensor_proto(value))
  return prediction_log_pb2.PredictionLog(
      predict_log=prediction_log_pb2.PredictLog(request=request))


def warmup_requests() -> list[prediction_log_pb2.PredictionLog]:
  """One Predict request per signature a client calls: colorize_image and colorize_image_jpeg with
  a small generated JPEG, serving_default with a flat mid-grey L."""
  height, width = WARMUP_IMAGE_SIZE
  x, y = tf.meshgrid(tf.linspace(0.0, 255.0, width), tf.linspace(0.0, 255.0, height))
  jpeg = tf.io.encode_jpeg(tf.cast(tf.stack([x, y, 255.0 - x], -1), tf.uint8))[None]
  size = features.IMAGE_SIZE
  return [
      _request(features.COLORIZE_IMAGE, features.IMAGE_BYTES_KEY, jpeg),
      _request(features.COLORIZE_IMAGE_JPEG, features.IMAGE_BYTES_KEY, jpeg),
      _request(features.SERVING_DEFAULT, features.L_KEY, tf.fill([1, size, size, 1], 50.0)),
  ]


def write_warmup_file(serving_model_dir: str) -> str:
  """Writes warmup_requests() as TF Serving's warm-up file of this SavedModel; returns its path."""
  path = os.path.join(serving_model_dir, WARMUP_FILE)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.TFRecordWriter(path) as writer:
    for log in warmup_requests():
      writer.write(log.SerializeToString())
  return path
