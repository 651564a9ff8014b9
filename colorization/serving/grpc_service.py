"""TF Serving's gRPC API over one model's served versions: PredictionService and ModelService.

A Predict call runs no longer than its deadline: past it, the run is stopped, not left to finish
for a client that has gone. Methods this server lacks answer UNIMPLEMENTED, as a status.
"""
import threading

import grpc
import tensorflow as tf
from google.protobuf import any_pb2
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc)

from colorization.serving.requests import RequestError, fill_tensor_proto, refusal, run_signature
from colorization.serving.versions import ModelVersions

_NO_DEADLINE_SECONDS = 1e9
_ONLY_PREDICT = ('{} is not supported: this server answers Predict, GetModelMetadata and '
                 'GetModelStatus')


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer,
                        model_service_pb2_grpc.ModelServiceServicer):
  """Predict, GetModelMetadata and GetModelStatus over one model's served versions."""

  def __init__(self, versions: ModelVersions):
    self.versions = versions
    self._running = 0
    self._running_lock = threading.Lock()

  @property
  def running(self) -> int:
    """Calls being answered now."""
    return self._running

  def Predict(self, request: predict_pb2.PredictRequest, context) -> predict_pb2.PredictResponse:
    if not context.is_active():  # cancelled or past its deadline while queued: do no work
      context.abort(grpc.StatusCode.CANCELLED, 'the client cancelled the call or its deadline passed')
    remaining = context.time_remaining()  # about 1e10 s without a deadline
    return self._answer(context, self.predict, request,
                        remaining if remaining < _NO_DEADLINE_SECONDS else None)

  def GetModelMetadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest, context):
    return self._answer(context, self.metadata, request)

  def GetModelStatus(self, request: get_model_status_pb2.GetModelStatusRequest, context):
    return self._answer(context, self.status, request)

  def Classify(self, request, context):
    context.abort(grpc.StatusCode.UNIMPLEMENTED, _ONLY_PREDICT.format('Classify'))

  def Regress(self, request, context):
    context.abort(grpc.StatusCode.UNIMPLEMENTED, _ONLY_PREDICT.format('Regress'))

  def MultiInference(self, request, context):
    context.abort(grpc.StatusCode.UNIMPLEMENTED, _ONLY_PREDICT.format('MultiInference'))

  def HandleReloadConfigRequest(self, request, context):
    context.abort(grpc.StatusCode.UNIMPLEMENTED, 'HandleReloadConfigRequest is not supported: '
                  'this server serves the newest version under one model base path')

  def _answer(self, context, handler, *args):
    """Runs a handler; refusals and TensorFlow errors become gRPC statuses, the server carries on."""
    with self._running_lock:
      self._running += 1
    try:
      return handler(*args)
    except (RequestError, tf.errors.OpError) as e:
      context.abort(*refusal(e))
    finally:
      with self._running_lock:
        self._running -= 1

  def predict(self, request: predict_pb2.PredictRequest,
              timeout_seconds: float | None = None) -> predict_pb2.PredictResponse:
    """Predict's answer; a run past timeout_seconds is stopped (DEADLINE_EXCEEDED)."""
    servable = self.versions.servable(request.model_spec)
    signature_name, results = run_signature(servable, request, timeout_seconds)
    response = predict_pb2.PredictResponse()
    response.model_spec.name = self.versions.model_name
    response.model_spec.version.value = servable.version
    response.model_spec.signature_name = signature_name
    for name, value in results.items():
      fill_tensor_proto(response.outputs[name], value)
    return response

  def metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest
               ) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """GetModelMetadata's answer, for gRPC and REST."""
    if not request.HasField('model_spec'):
      raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, 'Missing ModelSpec')
    if not request.metadata_field:
      raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                         'GetModelMetadataRequest must specify at least one metadata_field')
    for field in request.metadata_field:
      if field != 'signature_def':
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           f'Metadata field {field} is not supported')
    servable = self.versions.servable(request.model_spec)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = self.versions.model_name
    response.model_spec.version.value = servable.version
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in servable.signature_defs.items():
      signature_map.signature_def[name].CopyFrom(signature)
    packed = any_pb2.Any()
    packed.Pack(signature_map)
    response.metadata['signature_def'].CopyFrom(packed)
    return response

  def status(self, request: get_model_status_pb2.GetModelStatusRequest
             ) -> get_model_status_pb2.GetModelStatusResponse:
    """GetModelStatus's answer, for gRPC and REST."""
    if not request.HasField('model_spec'):
      raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, 'Missing ModelSpec')
    return get_model_status_pb2.GetModelStatusResponse(
        model_version_status=self.versions.status(request.model_spec))

