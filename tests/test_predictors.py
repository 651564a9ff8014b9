"""The predictors: names shared with the model, the gRPC path's start-up without TensorFlow, and
finding the image output of a signature."""
import subprocess
import sys
import time

import pytest

from colorization.models import features
from colorization.serving import predictors
from tests.conftest import COLORIZATION


def test_signature_names_agree_with_the_model():
  assert predictors.SIGNATURE_NAME == features.COLORIZE_IMAGE
  assert predictors.FORMAT_SIGNATURES == {'png': features.COLORIZE_IMAGE,
                                          'jpg': features.COLORIZE_IMAGE_JPEG}
  assert predictors.IMAGE_OUTPUTS == (features.COLORIZED_PNG_KEY, features.COLORIZED_JPEG_KEY)
  assert predictors.CLASS_SIGNATURE_NAME == features.COLORIZE_IMAGE_WITH_CLASS
  assert (predictors.CLASS_KEY, predictors.PROBABILITY_OUTPUT) == (
      features.CLASS_NAME_KEY, features.CLASS_PROBABILITY_KEY)


def test_grpc_path_starts_fast_without_tensorflow():
  code = ('import sys, time; start = time.monotonic(); '
          'from colorization.serving import client, predictors; predictors.serving_apis(); '
          'print("tensorflow" in sys.modules, time.monotonic() - start)')
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=120, check=True)
  imported, seconds = result.stdout.split()
  assert imported == 'False' and float(seconds) < 5
  start = time.monotonic()
  subprocess.run([COLORIZATION, 'colorize', '--help'], capture_output=True, check=True, timeout=60)
  assert time.monotonic() - start < 5


def test_tensorflow_still_works_after_the_serving_protos():
  code = '\n'.join([
      'from colorization.serving import predictors',
      'apis = predictors.serving_apis()',
      'import tensorflow as tf',
      'request = apis.predict_pb2.PredictRequest()',
      'request.inputs["x"].CopyFrom(tf.make_tensor_proto([b"a", b"b"]))',
      'assert list(tf.make_ndarray(request.inputs["x"])) == [b"a", b"b"]',
      'assert float(tf.reduce_sum(tf.ones([3]))) == 3.0'])
  subprocess.run([sys.executable, '-c', code], capture_output=True, timeout=300, check=True)


def test_the_image_output_is_found_beside_class_outputs():
  # A class-aware model's colorize_image also answers class_name and class_probability.
  assert predictors.image_output(['class_name', 'colorized_png', 'class_probability'],
                                 'colorize_image') == 'colorized_png'
  assert predictors.image_output(['colorized_jpeg'], 'colorize_image_jpeg') == 'colorized_jpeg'
  with pytest.raises(predictors.ModelUnavailable, match='no image output'):
    predictors.image_output(['ab'], 'serving_default')
