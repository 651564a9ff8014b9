"""TF Serving's warm-up file: PredictionLog records for the client-facing signatures that run."""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from colorization.models import ab_bins, features, hparams, network, signatures, warmup


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory) -> str:
  """A SavedModel with the served signatures around a tiny network, and its warm-up file."""
  bins = ab_bins.AbBins(np.ones(ab_bins.GRID_BINS))
  model = network.build_network(bins.size, width=4, encoder=hparams.SCRATCH_ENCODER)
  module = tf.Module()
  module.model = model
  path = str(tmp_path_factory.mktemp('warmup_model'))
  tf.saved_model.save(module, path, signatures=signatures.colorize_signatures(
      model, bins, hparams.TrainingConfig.max_image_pixels))
  warmup.write_warmup_file(path)
  return path


def read_logs(model_dir: str) -> list[prediction_log_pb2.PredictionLog]:
  records = tf.data.TFRecordDataset(f'{model_dir}/assets.extra/tf_serving_warmup_requests')
  return [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in records]


def test_the_file_holds_a_predict_request_per_client_signature(model_dir):
  logs = read_logs(model_dir)
  assert [log.WhichOneof('log_type') for log in logs] == ['predict_log'] * 3
  requests = [log.predict_log.request for log in logs]
  assert [r.model_spec.signature_name for r in requests] == [
      features.COLORIZE_IMAGE, features.COLORIZE_IMAGE_JPEG, features.SERVING_DEFAULT]
  assert {r.model_spec.name for r in requests} == {features.MODEL_NAME}
  assert tf.io.decode_jpeg(requests[0].inputs[features.IMAGE_BYTES_KEY].string_val[0]).shape == (
      *warmup.WARMUP_IMAGE_SIZE, 3)


def test_every_request_runs_against_the_model(model_dir):
  loaded = tf.saved_model.load(model_dir)
  for log in read_logs(model_dir):
    request = log.predict_log.request
    signature = loaded.signatures[request.model_spec.signature_name]
    inputs = {key: tf.constant(tf.make_ndarray(proto)) for key, proto in request.inputs.items()}
    outputs = signature(**inputs)
    (output,) = outputs.values()
    assert output.shape[0] == 1
