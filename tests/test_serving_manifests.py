"""kubeflow/serving manifests and docs/serving.md agree with the names and ports the code uses;
the batching and monitoring files parse as TF Serving's BatchingParameters and MonitoringConfig."""
import glob
import os
import re
import shutil
import subprocess

import pytest
import yaml
from google.protobuf import text_format

import tf_serving_config_protos

from colorization.cli import main as cli
from colorization.models import features
from colorization.serving import predictors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFESTS = os.path.join(ROOT, 'colorization', 'kubeflow', 'serving')
IMAGE = 'tensorflow/serving:2.16.1-gpu'
GRPC_PORT, REST_PORT = 8500, 8501


def documents(relative_path: str) -> list[dict]:
  with open(os.path.join(MANIFESTS, relative_path)) as f:
    return [document for document in yaml.safe_load_all(f) if document]


def one(kind: str, relative_path: str) -> dict:
  (document,) = [d for d in documents(relative_path) if d['kind'] == kind]
  return document


def serving_container(deployment: dict) -> dict:
  (container,) = deployment['spec']['template']['spec']['containers']
  return container


def test_every_manifest_parses():
  paths = glob.glob(os.path.join(MANIFESTS, '**', '*.yaml'), recursive=True)
  assert len(paths) >= 7
  for path in paths:
    assert all('kind' in d and 'apiVersion' in d
               for d in documents(os.path.relpath(path, MANIFESTS))), path


def test_cli_defaults_are_the_served_model_and_port():
  args = cli.build_parser().parse_args(['serve', '--model-base-path', 'x'])
  assert (args.model_name, args.port) == (features.MODEL_NAME, GRPC_PORT)


def test_deployment_runs_tf_serving_on_a_gpu_with_the_model_name_and_ports():
  deployment = one('Deployment', 'base/deployment.yaml')
  container = serving_container(deployment)
  assert container['image'] == IMAGE
  assert container['resources']['limits']['nvidia.com/gpu'] == 1
  assert {f'--port={GRPC_PORT}', f'--rest_api_port={REST_PORT}',
          f'--model_name={features.MODEL_NAME}'} <= set(container['args'])
  ports = {p['name']: p['containerPort'] for p in container['ports']}
  assert ports == {'grpc': GRPC_PORT, 'http': REST_PORT}
  for probe in ('startupProbe', 'readinessProbe'):
    assert container[probe]['httpGet'] == {'path': f'/v1/models/{features.MODEL_NAME}',
                                           'port': 'http'}
  env = {e['name']: e['value'] for e in container['env']}
  assert '--model_base_path=$(MODEL_BASE_PATH)' in container['args']
  assert env['MODEL_BASE_PATH'].endswith(f'/serving/{features.MODEL_NAME}')
  labels = deployment['spec']['template']['metadata']['labels']
  assert deployment['spec']['selector']['matchLabels'] == labels
  assert (deployment['spec']['template']['spec']['serviceAccountName']
          == one('ServiceAccount', 'base/serviceaccount.yaml')['metadata']['name'])


def test_service_exposes_grpc_and_rest_of_the_deployment():
  service = one('Service', 'base/service.yaml')
  deployment = one('Deployment', 'base/deployment.yaml')
  assert service['spec']['selector'] == deployment['spec']['template']['metadata']['labels']
  assert {p['name']: (p['port'], p['targetPort']) for p in service['spec']['ports']} == {
      'grpc': (GRPC_PORT, 'grpc'), 'http': (REST_PORT, 'http')}


def test_volume_variant_mounts_the_claim_at_the_base_path():
  claim = one('PersistentVolumeClaim', 'volume/claim.yaml')
  patch = one('Deployment', 'volume/mount-claim.yaml')
  container = serving_container(patch)
  (volume,) = patch['spec']['template']['spec']['volumes']
  assert volume['persistentVolumeClaim']['claimName'] == claim['metadata']['name']
  (mount,) = container['volumeMounts']
  env = {e['name']: e['value'] for e in container['env']}
  assert env['MODEL_BASE_PATH'] == f"{mount['mountPath']}/{features.MODEL_NAME}"
  assert container['name'] == serving_container(one('Deployment', 'base/deployment.yaml'))['name']


def test_kustomizations_list_existing_files():
  for variant in ('base', 'volume'):
    kustomization = one('Kustomization', f'{variant}/kustomization.yaml')
    generated = [f for g in kustomization.get('configMapGenerator', []) for f in g['files']]
    for entry in (kustomization['resources'] + generated
                  + [p['path'] for p in kustomization.get('patches', [])]):
      assert os.path.exists(os.path.join(MANIFESTS, variant, entry)), entry


# --- batching, monitoring, autoscaling -----------------------------------------------------------

def config_files() -> dict[str, str]:
  """Flag -> the ConfigMap file it names, checked to be mounted where the flag points."""
  container = serving_container(one('Deployment', 'base/deployment.yaml'))
  volumes = {v['name']: v for v in one('Deployment', 'base/deployment.yaml')['spec']['template'][
      'spec']['volumes']}
  (generator,) = one('Kustomization', 'base/kustomization.yaml')['configMapGenerator']
  files = {}
  for flag in ('--batching_parameters_file', '--monitoring_config_file'):
    (path,) = [a.split('=', 1)[1] for a in container['args'] if a.startswith(flag + '=')]
    (mount,) = [m for m in container['volumeMounts'] if m['mountPath'] == os.path.dirname(path)]
    assert volumes[mount['name']]['configMap']['name'] == generator['name'], flag
    assert os.path.basename(path) in generator['files'], flag
    files[flag] = os.path.join(MANIFESTS, 'base', os.path.basename(path))
  return files


def parse(path: str, message_class):
  with open(path) as f:
    return text_format.Parse(f.read(), message_class())


def test_batching_is_on_with_parameters_tf_serving_parses():
  container = serving_container(one('Deployment', 'base/deployment.yaml'))
  assert '--enable_batching=true' in container['args']
  batching = parse(config_files()['--batching_parameters_file'],
                   tf_serving_config_protos.BatchingParameters)
  for field in ('max_batch_size', 'batch_timeout_micros', 'num_batch_threads',
                'max_enqueued_batches'):
    assert batching.HasField(field), field
  max_batch_size = batching.max_batch_size.value
  assert 1 < max_batch_size <= 64
  assert 0 < batching.batch_timeout_micros.value <= 10_000  # at most 10 ms added per request
  assert 1 <= batching.num_batch_threads.value and 1 <= batching.max_enqueued_batches.value
  # TF Serving refuses a request holding more images than a batch; the client's default fits.
  args = cli.build_parser().parse_args(['colorize', 'in', '-o', 'out', '--server', 'host:8500'])
  assert args.batch_size <= max_batch_size
  sizes = list(batching.allowed_batch_sizes)
  assert not sizes or (sizes == sorted(set(sizes)) and sizes[-1] == max_batch_size)


def test_prometheus_metrics_are_exported_and_scraped_on_the_rest_port():
  monitoring = parse(config_files()['--monitoring_config_file'],
                     tf_serving_config_protos.MonitoringConfig)
  assert monitoring.prometheus_config.enable
  path = monitoring.prometheus_config.path
  assert path == '/monitoring/prometheus/metrics'
  pod = one('Deployment', 'base/deployment.yaml')['spec']['template']['metadata']
  service = one('Service', 'base/service.yaml')['metadata']
  for annotations in (pod['annotations'], service['annotations']):
    assert annotations == {'prometheus.io/scrape': 'true', 'prometheus.io/port': str(REST_PORT),
                           'prometheus.io/path': path}


def test_the_autoscaler_scales_the_deployment_on_cpu():
  hpa = one('HorizontalPodAutoscaler', 'base/horizontalpodautoscaler.yaml')
  deployment = one('Deployment', 'base/deployment.yaml')
  assert hpa['apiVersion'] == 'autoscaling/v2'
  assert hpa['spec']['scaleTargetRef'] == {'apiVersion': deployment['apiVersion'],
                                           'kind': 'Deployment',
                                           'name': deployment['metadata']['name']}
  assert 1 <= hpa['spec']['minReplicas'] < hpa['spec']['maxReplicas']
  (metric,) = hpa['spec']['metrics']
  assert metric['resource']['name'] == 'cpu' and metric['resource']['target']['type'] == 'Utilization'
  assert 'cpu' in serving_container(deployment)['resources']['requests']  # Utilization needs it
  assert 'replicas' not in deployment['spec']  # the autoscaler owns the count
  assert 'horizontalpodautoscaler.yaml' in one('Kustomization', 'base/kustomization.yaml')['resources']


def test_the_volume_variant_serves_from_one_pod_without_the_autoscaler():
  patch = one('HorizontalPodAutoscaler', 'volume/no-autoscaling.yaml')
  hpa = one('HorizontalPodAutoscaler', 'base/horizontalpodautoscaler.yaml')
  assert patch['$patch'] == 'delete' and patch['metadata']['name'] == hpa['metadata']['name']
  patches = [p['path'] for p in one('Kustomization', 'volume/kustomization.yaml')['patches']]
  assert 'no-autoscaling.yaml' in patches


@pytest.mark.skipif(not shutil.which('kubectl'), reason='kubectl is not installed')
@pytest.mark.parametrize('variant', ['base', 'volume'])
def test_kustomize_renders(variant):
  rendered = subprocess.run(['kubectl', 'kustomize', os.path.join(MANIFESTS, variant)],
                            capture_output=True, text=True, timeout=60, check=True).stdout
  kinds = [d['kind'] for d in yaml.safe_load_all(rendered) if d]
  assert {'Deployment', 'Service', 'ServiceAccount', 'ConfigMap'} <= set(kinds)
  assert ('HorizontalPodAutoscaler' in kinds) == (variant == 'base')


def test_smoke_test_checks_the_signature_and_tensors_the_client_calls():
  job = one('Job', 'smoke-test.yaml')
  (container,) = job['spec']['template']['spec']['containers']
  script = container['command'][-1]
  service = one('Service', 'base/service.yaml')['metadata']['name']
  assert f'http://{service}:{REST_PORT}/v1/models/{features.MODEL_NAME}/metadata' in script
  for name in (predictors.SIGNATURE_NAME, features.IMAGE_BYTES_KEY, features.COLORIZED_PNG_KEY):
    assert f'"{name}"' in script


def test_docs_docker_line_matches():
  with open(os.path.join(ROOT, 'docs', 'serving.md')) as f:
    text = f.read()
  (docker_run,) = re.findall(r'docker run .*?(?<!\\)\n', text, re.S)
  for part in ('--gpus', f'-p {GRPC_PORT}:{GRPC_PORT}', f'-p {REST_PORT}:{REST_PORT}',
               f'MODEL_NAME={features.MODEL_NAME}', f':/models/{features.MODEL_NAME}', IMAGE):
    assert part in docker_run, part
