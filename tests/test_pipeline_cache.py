"""The cache key of Transform and Trainer covers the model code (pipeline.models_fingerprint)."""
import json
import shutil

from pipeline import config as config_lib
from pipeline import pipeline


def test_fingerprint_changes_with_any_model_source(tmp_path):
  copy = tmp_path / 'models'
  shutil.copytree(pipeline.MODELS_DIR, copy, ignore=shutil.ignore_patterns('__pycache__'))
  original = pipeline.models_fingerprint(str(copy))
  assert original == pipeline.models_fingerprint()
  network = copy / 'network.py'
  network.write_text(network.read_text() + '\n# edited\n')
  assert pipeline.models_fingerprint(str(copy)) != original
  network.rename(copy / 'network_renamed.py')
  assert pipeline.models_fingerprint(str(copy)) != original


def test_transform_and_trainer_carry_the_fingerprint(tmp_path):
  config = config_lib.PipelineConfig(data_root=str(tmp_path), home=str(tmp_path / 'home'))
  nodes = {node.id: node for node in pipeline.create_pipeline(config).components}
  fingerprint = pipeline.models_fingerprint()
  for node_id in ('Transform', 'Trainer'):
    custom_config = json.loads(nodes[node_id].exec_properties['custom_config'])
    assert custom_config['code_version'] == fingerprint, node_id
  assert json.loads(nodes['Trainer'].exec_properties['custom_config'])['seed'] == config.seed
