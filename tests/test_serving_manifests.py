"""kubeflow/serving manifests and docs/serving.md agree with the names and ports the code uses."""
import glob
import os
import re
import shutil
import subprocess

import pytest
import yaml

from colorization.cli import main as cli
from colorization.models import features
from colorization.serving import client

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
    for entry in kustomization['resources'] + [p['path'] for p in kustomization.get('patches', [])]:
      assert os.path.exists(os.path.join(MANIFESTS, variant, entry)), entry


@pytest.mark.skipif(not shutil.which('kubectl'), reason='kubectl is not installed')
@pytest.mark.parametrize('variant', ['base', 'volume'])
def test_kustomize_renders(variant):
  rendered = subprocess.run(['kubectl', 'kustomize', os.path.join(MANIFESTS, variant)],
                            capture_output=True, text=True, timeout=60, check=True).stdout
  kinds = [d['kind'] for d in yaml.safe_load_all(rendered) if d]
  assert {'Deployment', 'Service', 'ServiceAccount'} <= set(kinds)


def test_smoke_test_checks_the_signature_and_tensors_the_client_calls():
  job = one('Job', 'smoke-test.yaml')
  (container,) = job['spec']['template']['spec']['containers']
  script = container['command'][-1]
  service = one('Service', 'base/service.yaml')['metadata']['name']
  assert f'http://{service}:{REST_PORT}/v1/models/{features.MODEL_NAME}/metadata' in script
  for name in (client.SIGNATURE_NAME, features.IMAGE_BYTES_KEY, features.COLORIZED_PNG_KEY):
    assert f'"{name}"' in script


def test_docs_docker_line_matches():
  with open(os.path.join(ROOT, 'docs', 'serving.md')) as f:
    text = f.read()
  (docker_run,) = re.findall(r'docker run .*?(?<!\\)\n', text, re.S)
  for part in ('--gpus', f'-p {GRPC_PORT}:{GRPC_PORT}', f'-p {REST_PORT}:{REST_PORT}',
               f'MODEL_NAME={features.MODEL_NAME}', f':/models/{features.MODEL_NAME}', IMAGE):
    assert part in docker_run, part
