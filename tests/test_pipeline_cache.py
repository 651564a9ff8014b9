"""The cache keys of ExampleGen, Transform and Trainer cover their code (source_fingerprint)."""
import ast
import json
import os
import shutil

from google.protobuf import json_format, wrappers_pb2
from tfx.proto import example_gen_pb2

from colorization.components import image_example_gen
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
  assert code.value == pipeline.example_gen_fingerprint()
  assert code.value != models


def test_example_gen_fingerprint_covers_its_executor_code_only(tmp_path):
  for folder in ('components', 'models'):
    shutil.copytree(os.path.join(pipeline.PACKAGE_DIR, folder), tmp_path / folder,
                    ignore=shutil.ignore_patterns('__pycache__'))
  original = pipeline.example_gen_fingerprint(str(tmp_path))
  assert original == pipeline.example_gen_fingerprint()

  def edit(path: str) -> str:
    source = tmp_path / path
    text = source.read_text()
    source.write_text(text + '\n# edited\n')
    fingerprint = pipeline.example_gen_fingerprint(str(tmp_path))
    source.write_text(text)
    return fingerprint

  for unrelated in ('components/latest_pushed_model.py', 'components/evaluator.py',
                    'models/network.py'):
    assert edit(unrelated) == original, unrelated
  for executed in ('components/image_files.py', 'components/image_example_gen.py',
                   'models/class_folders.py', 'models/features.py'):
    assert edit(executed) != original, executed


def test_example_gen_sources_hold_every_module_of_ours_they_import():
  """A new import of our code into the executor's modules must join EXECUTOR_SOURCES."""
  sources = set(image_example_gen.EXECUTOR_SOURCES)
  for path in sources:
    with open(os.path.join(pipeline.PACKAGE_DIR, path)) as f:
      tree = ast.parse(f.read())
    for node in ast.walk(tree):
      if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('colorization'):
        names = [f'{node.module}.{alias.name}' for alias in node.names]
      elif isinstance(node, ast.Import):
        names = [alias.name for alias in node.names if alias.name.startswith('colorization')]
      else:
        continue
      for name in names:
        parts = name.split('.')[1:]
        module = '/'.join(parts) + '.py'
        if not os.path.exists(os.path.join(pipeline.PACKAGE_DIR, module)):
          module = '/'.join(parts[:-1]) + '.py'   # from colorization.x.module import a_name
        assert module in sources, f'{path} imports {name}'
