"""TF Serving's BatchingParameters and MonitoringConfig messages, for parsing the manifests' files.

The tensorflow-serving-api wheel ships only tensorflow_serving.apis and part of .config, not
servables/tensorflow/session_bundle_config.proto nor config/monitoring_config.proto, and no
protoc is installed. These descriptors restate those two files of TF Serving (same file names,
package, message and field names, numbers and types; BatchingParameters' fields 1-7), so
text_format parses the manifests' files as tensorflow_model_server's text parser does.
"""
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED


def _file(name: str, messages: dict, dependencies: tuple = ()) -> descriptor_pb2.FileDescriptorProto:
  """messages: name -> [(field, number, type, type_name or None, label)]."""
  proto = descriptor_pb2.FileDescriptorProto(name=name, package='tensorflow.serving',
                                             syntax='proto3', dependency=list(dependencies))
  for message_name, fields in messages.items():
    message = proto.message_type.add(name=message_name)
    for field, number, kind, type_name, label in fields:
      message.field.add(name=field, number=number, type=kind, label=label,
                        json_name=''.join(w.capitalize() if i else w
                                          for i, w in enumerate(field.split('_'))),
                        **({'type_name': type_name} if type_name else {}))
  return proto


_INT64_VALUE = (_F.TYPE_MESSAGE, '.google.protobuf.Int64Value')
_SESSION_BUNDLE_CONFIG = _file(
    'tensorflow_serving/servables/tensorflow/session_bundle_config.proto',
    {'BatchingParameters': [
        ('max_batch_size', 1, *_INT64_VALUE, _OPTIONAL),
        ('batch_timeout_micros', 2, *_INT64_VALUE, _OPTIONAL),
        ('max_enqueued_batches', 3, *_INT64_VALUE, _OPTIONAL),
        ('num_batch_threads', 4, *_INT64_VALUE, _OPTIONAL),
        ('thread_pool_name', 5, _F.TYPE_MESSAGE, '.google.protobuf.StringValue', _OPTIONAL),
        ('allowed_batch_sizes', 6, _F.TYPE_INT64, None, _REPEATED),
        ('pad_variable_length_inputs', 7, _F.TYPE_BOOL, None, _OPTIONAL),
    ]},
    dependencies=('google/protobuf/wrappers.proto',))
_MONITORING_CONFIG = _file(
    'tensorflow_serving/config/monitoring_config.proto',
    {'PrometheusConfig': [('enable', 1, _F.TYPE_BOOL, None, _OPTIONAL),
                          ('path', 2, _F.TYPE_STRING, None, _OPTIONAL)],
     'MonitoringConfig': [('prometheus_config', 1, _F.TYPE_MESSAGE,
                           '.tensorflow.serving.PrometheusConfig', _OPTIONAL)]})

_pool = descriptor_pool.DescriptorPool()
_pool.Add(descriptor_pb2.FileDescriptorProto.FromString(wrappers_pb2.DESCRIPTOR.serialized_pb))
_pool.Add(_SESSION_BUNDLE_CONFIG)
_pool.Add(_MONITORING_CONFIG)
_factory = message_factory.MessageFactory(_pool)
BatchingParameters = _factory.GetPrototype(
    _pool.FindMessageTypeByName('tensorflow.serving.BatchingParameters'))
MonitoringConfig = _factory.GetPrototype(
    _pool.FindMessageTypeByName('tensorflow.serving.MonitoringConfig'))
