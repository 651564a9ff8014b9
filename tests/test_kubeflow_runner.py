"""`colorization kubeflow compile`: path checks (fast) and one real compile, validated against the
KFP pipeline-spec protobuf and against the node graph of create_pipeline() itself."""
import json
import os

import pytest
import yaml

from colorization.cli import main as cli_main
from colorization.kubeflow import runner
from colorization.pipeline import config as config_lib

IMAGE = 'registry.example.com/colorization-pipeline:test'
CONFIG = config_lib.PipelineConfig(
    home='gs://bucket/colorization', data_root='/mnt/photos/flowers',
    kubeflow_volume_claim='colorization-photos', kubeflow_volume_path='/mnt/photos',
    trainer_gpus=2, trainer_gpu_type='nvidia.com/gpu', trainer_cpu=6.0, trainer_memory_gb=24.0)


def test_the_schema_maps_to_its_copy_in_the_image():
  config = runner.kubeflow_config(CONFIG, image=IMAGE)
  assert config.schema_dir == f'{runner.IMAGE_SOURCE_DIR}/schema'
  assert config.image == IMAGE
  assert config.pipeline_root == 'gs://bucket/colorization/pipeline_root'


@pytest.mark.parametrize('changes, message', [
    (dict(home=os.path.expanduser('~/colorization')), 'is not a gs:// URI'),
    (dict(home='colorization'), 'is not a gs:// URI'),
    (dict(home='/mnt/photos/home'), 'is not a gs:// URI'),
    (dict(data_root=''), 'no data root'),
    (dict(data_root='photos'), "data root 'photos' cannot be reached"),
    (dict(data_root='/home/me/photos'), "data root '/home/me/photos' cannot be reached"),
    (dict(data_root='/mnt/photosets'), 'cannot be reached'),
    (dict(kubeflow_volume_claim=''), 'set COLORIZATION_KUBEFLOW_VOLUME_CLAIM'),
    (dict(schema_dir='/etc/schema'), "schema dir '/etc/schema' cannot be reached"),
    (dict(trainer_gpus=-1), 'trainer_gpus must be >= 0'),
])
def test_paths_the_cluster_cannot_reach_are_refused(changes, message):
  with pytest.raises(ValueError, match=message):
    runner.kubeflow_config(CONFIG.replace(**changes))


def test_object_store_data_and_schema_need_no_volume():
  config = CONFIG.replace(kubeflow_volume_claim='', data_root='gs://bucket/photos',
                          schema_dir='gs://bucket/schema')
  assert runner.kubeflow_config(config).schema_dir == 'gs://bucket/schema'


@pytest.mark.parametrize('output, message', [
    ('pipeline.txt', 'must end in .yaml'),
    ('pipeline.json', 'cannot mount the volume claim'),
])
def test_output_format_is_checked_before_compiling(output, message, tmp_path):
  with pytest.raises(ValueError, match=message):
    runner.compile_pipeline(CONFIG, output=str(tmp_path / output))


def test_cli_refuses_a_local_home_in_one_line(monkeypatch, capsys, tmp_path):
  for name in list(os.environ):
    if name.startswith(config_lib.ENV_PREFIX):
      monkeypatch.delenv(name)
  code = cli_main.main(['kubeflow', 'compile', '--home', str(tmp_path), '--data-root', '/mnt/x',
                        '--output', str(tmp_path / 'p.yaml')])
  err = capsys.readouterr().err
  assert code == 2
  assert err.count('\n') == 1 and 'is not a gs:// URI' in err and 'Traceback' not in err


@pytest.fixture(scope='module')
def compiled(tmp_path_factory) -> dict:
  """The one compile of this module: the YAML documents, the config used, and the TFX pipeline."""
  from colorization.pipeline.pipeline import create_pipeline
  path = runner.compile_pipeline(CONFIG, image=IMAGE,
                                 output=str(tmp_path_factory.mktemp('kfp') / 'pipeline.yaml'))
  with open(path) as f:
    documents = list(yaml.safe_load_all(f))
  config = runner.kubeflow_config(CONFIG, image=IMAGE)
  return dict(documents=documents, config=config, pipeline=create_pipeline(config))


@pytest.fixture(scope='module')
def spec(compiled):
  """The PipelineSpec document, parsed strictly into the KFP protobuf (unknown fields fail)."""
  from google.protobuf import json_format
  from kfp.pipeline_spec import pipeline_spec_pb2
  return json_format.ParseDict(compiled['documents'][0], pipeline_spec_pb2.PipelineSpec())


def _node_of(task_name: str, node_ids: list[str]) -> str:
  """The TFX node a KFP task comes from (a resolver compiles to '<id>-<part>' tasks)."""
  return next(i for i in node_ids if task_name == i or task_name.startswith(i + '-'))


def test_spec_is_a_kfp_2_1_pipeline_with_the_pipeline_root(spec, compiled):
  assert spec.schema_version == '2.1.0'
  assert spec.pipeline_info.name == compiled['config'].pipeline_name
  assert spec.default_pipeline_root == 'gs://bucket/colorization/pipeline_root'


def test_every_node_of_create_pipeline_is_a_task_with_its_dependencies(spec, compiled):
  nodes = {node.id: node for node in compiled['pipeline'].components}
  tasks = spec.root.dag.tasks
  assert {_node_of(name, list(nodes)) for name in tasks} == set(nodes)
  for name, task in tasks.items():
    node = nodes[_node_of(name, list(nodes))]
    depends_on = {_node_of(dep, list(nodes)) for dep in task.dependent_tasks}
    if name == node.id:  # a component: exactly its upstream nodes
      assert depends_on == {upstream.id for upstream in node.upstream_nodes}, name
    else:
      assert depends_on <= {upstream.id for upstream in node.upstream_nodes}, name
    assert task.component_ref.name in spec.components


def _containers(spec) -> dict:
  """Task name -> its executor's container (as a dict), for the tasks that run one."""
  from google.protobuf import json_format
  executors = json_format.MessageToDict(spec.deployment_spec)['executors']
  labels = {name: spec.components[task.component_ref.name].executor_label
            for name, task in spec.root.dag.tasks.items()}
  return {name: executors[label]['container'] for name, label in labels.items()
          if 'container' in executors[label]}  # the resolver parts run inside KFP


def test_only_the_trainer_asks_for_the_gpus_cpu_and_memory(spec, compiled):
  config = compiled['config']
  resources = {name: container.get('resources') for name, container in _containers(spec).items()}
  assert resources.pop('Trainer') == {
      'cpuLimit': config.trainer_cpu, 'memoryLimit': config.trainer_memory_gb,
      'accelerator': {'type': config.trainer_gpu_type, 'count': str(config.trainer_gpus)}}
  assert set(resources.values()) == {None}


def test_every_container_runs_the_given_image_with_beam_workers_on_it(spec, compiled):
  containers = _containers(spec)
  assert set(containers) == {node.id for node in compiled['pipeline'].components
                             if node.id != 'latest_blessed_model_resolver'}
  for container in containers.values():
    assert container['image'] == IMAGE
    assert f'--sdk_container_image={IMAGE}' in container['args']


def test_code_and_paths_are_those_the_image_and_cluster_see(spec, compiled):
  config = compiled['config']
  assert _containers(spec)['FileBasedExampleGen']['args'][:2] == [
      '--executor_class_path', 'colorization.components.image_example_gen.Executor']

  def constant(task: str, parameter: str) -> str:
    value = spec.root.dag.tasks[task].inputs.parameters[parameter].runtime_value.constant
    return value.string_value

  assert constant('FileBasedExampleGen', 'input_base') == config.data_root
  assert constant('ImportSchemaGen', 'schema_file') == '/pipeline/colorization/schema/schema.pbtxt'
  assert constant('Transform', 'preprocessing_fn') == 'colorization.models.preprocessing.preprocessing_fn'
  assert constant('Trainer', 'run_fn') == 'colorization.models.trainer.run_fn'
  assert config.serving_dir in constant('Pusher', 'push_destination')
  assert constant('LatestPushedModel', 'serving_dir') == config.serving_dir
  assert 'module_file' not in json.dumps(compiled['documents'][0])


def test_the_evaluators_baseline_is_the_latest_pushed_model(spec, compiled):
  """No resolver on KFP: LatestPushedModel reads the push destination after each new Trainer
  model, and the Evaluator, whose executor accepts its empty first-run output, compares to it."""
  containers = _containers(spec)
  assert 'latest_blessed_model_resolver' not in spec.root.dag.tasks
  assert containers['LatestPushedModel']['args'][:2] == [
      '--executor_class_path', 'colorization.components.latest_pushed_model.Executor']
  assert containers['Evaluator']['args'][:2] == [
      '--executor_class_path', 'colorization.components.evaluator.Executor']
  tasks = spec.root.dag.tasks
  candidate = tasks['LatestPushedModel'].inputs.artifacts['candidate'].task_output_artifact
  assert candidate.producer_task == 'Trainer'
  baseline = tasks['Evaluator'].inputs.artifacts['baseline_model'].task_output_artifact
  assert (baseline.producer_task, baseline.output_artifact_key) == ('LatestPushedModel', 'model')


def test_the_volume_claim_is_mounted_in_every_container_step(spec, compiled):
  from google.protobuf import json_format
  from kfp.pipeline_spec import pipeline_spec_pb2
  assert len(compiled['documents']) == 2
  json_format.ParseDict(compiled['documents'][1], pipeline_spec_pb2.PlatformSpec())
  mounts = compiled['documents'][1]['platforms']['kubernetes']['deploymentSpec']['executors']
  labels = {spec.components[spec.root.dag.tasks[name].component_ref.name].executor_label
            for name in _containers(spec)}
  assert mounts == {label: {'pvcMount': [{'constant': 'colorization-photos',
                                          'mountPath': '/mnt/photos'}]} for label in labels}
