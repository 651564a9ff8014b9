"""The cache keys of ExampleGen, Transform and Trainer cover their code (source_fingerprint)."""
import json
import shutil

from google.protobuf import json_format, wrappers_pb2
from tfx.proto import example_gen_pb2

from colorization.models import features
from colorization.pipeline import config as config_lib
from colorization.pipeline import pipeline


def test_fingerprint_changes_with_any_model_source(tmp_path):
  copy = tmp_path / 'models'
  shutil.copytree(pipeline.MODELS_DIR, copy, ignore=shutil.ignore_patterns('__pycache__'))
  original = pipeline.source_fingerprint(str(copy))
  assert original == pipeline.source_fingerprint(pipeline.MODELS_DIR)
  network = copy / 'network.py'
  network.write_text(network.read_text() + '\n# edited\n')
  assert pipeline.source_fingerprint(str(copy)) != original
  network.rename(copy / 'network_renamed.py')
  assert pipeline.source_fingerprint(str(copy)) != original


def test_fingerprint_of_files_and_directories(tmp_path):
  (tmp_path / 'a.py').write_text('a = 1\n')
  (tmp_path / 'b.py').write_text('b = 2\n')
  both = pipeline.source_fingerprint(str(tmp_path))
  assert both == pipeline.source_fingerprint(str(tmp_path / 'b.py'), str(tmp_path / 'a.py'))
  assert both != pipeline.source_fingerprint(str(tmp_path / 'a.py'))


def test_components_carry_the_fingerprint_of_their_code(tmp_path):
  config = config_lib.PipelineConfig(data_root=str(tmp_path), home=str(tmp_path / 'home'))
  nodes = {node.id: node for node in pipeline.create_pipeline(config).components}
  models = pipeline.source_fingerprint(pipeline.MODELS_DIR)
  for node_id in ('Transform', 'Trainer'):
    custom_config = json.loads(nodes[node_id].exec_properties['custom_config'])
    assert custom_config['code_version'] == models, node_id
  assert json.loads(nodes['Trainer'].exec_properties['custom_config'])['seed'] == config.training.seed

  example_gen_config = json_format.Parse(
      nodes['FileBasedExampleGen'].exec_properties['custom_config'], example_gen_pb2.CustomConfig())
  code = wrappers_pb2.StringValue()
  assert example_gen_config.custom_config.Unpack(code)
  assert code.value == pipeline.source_fingerprint(pipeline.COMPONENTS_DIR, features.__file__)
  assert code.value != models
