"""Loading a version as TF Serving does: TF Serving's warm-up file is replayed before serving."""
import logging
import shutil

import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from colorization.models import features
from colorization.serving import servable as servable_lib
from tests.test_server import colorize_request, png_bytes



def write_warmup(version_dir, requests: list[predict_pb2.PredictRequest]) -> None:
  """TF Serving's format: a TFRecord of PredictionLog protos holding the requests."""
  path = version_dir / servable_lib.WARMUP_FILE
  path.parent.mkdir(exist_ok=True)
  with tf.io.TFRecordWriter(str(path)) as writer:
    for request in requests:
      writer.write(prediction_log_pb2.PredictionLog(
          predict_log=prediction_log_pb2.PredictLog(request=request)).SerializeToString())


@pytest.fixture
def version_dir(small_export, tmp_path):
  shutil.copytree(small_export, tmp_path / '1')
  return tmp_path / '1'


def test_warmup_requests_are_replayed_at_load(version_dir, caplog):
  write_warmup(version_dir, [colorize_request([png_bytes(20, 10)])] * 2)
  with caplog.at_level(logging.INFO, 'colorization.serve'):
    servable = servable_lib.Servable.load(str(version_dir), 1)
  assert 'warmed up version 1 with 2 requests' in caplog.text
  assert servable.runs(features.COLORIZE_IMAGE) and not servable.runs(servable_lib.INIT_OP_KEY)


def test_a_failing_warmup_request_fails_the_load(version_dir):
  write_warmup(version_dir, [colorize_request([png_bytes(8, 8)]),
                             colorize_request([b'not an image'])])
  with pytest.raises(Exception, match="input 'image_bytes' of signature 'colorize_image'"):
    servable_lib.Servable.load(str(version_dir), 1)


def test_more_warmup_records_than_tf_serving_allows_fail_the_load(version_dir, monkeypatch):
  monkeypatch.setattr(servable_lib, 'MAX_WARMUP_RECORDS', 2)
  write_warmup(version_dir, [colorize_request([b'never run'])] * 3)
  with pytest.raises(ValueError, match=r'Number of warmup records exceeds the maximum \(2\)'):
    servable_lib.Servable.load(str(version_dir), 1)
