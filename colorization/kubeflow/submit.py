"""Uploads a compiled pipeline to Kubeflow Pipelines and starts a run, through the KFP v2beta1 REST
API with the standard library (no TFX, no kfp client: the command starts in well under a second).

The pipeline is uploaded once, then as a new version on every submit; runs go to an experiment
found or created by name, with the spec's pipeline root.
"""
import datetime
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid

import yaml

API_PREFIX = '/apis/v2beta1'
TIMEOUT_S = 60


class KfpRequestError(ValueError):
  """Kubeflow Pipelines answered a request with an error; the message includes its reason."""


def load_package(path: str) -> tuple[str, str, str]:
  """(pipeline name, YAML text to upload, pipeline root) of a compiled .yaml or .json package.

  A .json PipelineJob is converted: the KFP API accepts a YAML PipelineSpec only.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f'no compiled pipeline at {path!r}: run `colorization kubeflow '
                            'compile` first or pass --package')
  with open(path) as f:
    text = f.read()
  try:
    if path.endswith('.json'):
      job = json.loads(text)
      spec = job['pipelineSpec']
      return (spec['pipelineInfo']['name'], yaml.safe_dump(spec, sort_keys=True),
              job.get('runtimeConfig', {}).get('gcsOutputDirectory') or
              spec.get('defaultPipelineRoot', ''))
    spec = next(doc for doc in yaml.safe_load_all(text)
                if isinstance(doc, dict) and 'pipelineInfo' in doc and 'root' in doc)
    return spec['pipelineInfo']['name'], text, spec.get('defaultPipelineRoot', '')
  except (ValueError, KeyError, TypeError, StopIteration, yaml.YAMLError):
    raise ValueError(f'{path!r} is not a compiled KFP pipeline (a PipelineSpec .yaml or a '
                     'PipelineJob .json)') from None


def _error_message(body: bytes) -> str:
  """The reason inside a KFP error body (JSON from the API, plain text from proxies)."""
  text = body.decode('utf-8', 'replace').strip()
  try:
    data = json.loads(text)
  except ValueError:
    data = None
  if isinstance(data, dict):
    text = str(data.get('error_message') or data.get('message') or data.get('error') or text)
  return ' '.join(text.split())[:500] or '(empty response)'


class KfpClient:
  """The few KFP v2beta1 calls a submit needs; every error is one readable exception."""

  def __init__(self, endpoint: str):
    if not endpoint.startswith(('http://', 'https://')):
      raise ValueError(f'--endpoint {endpoint!r} must be an http:// or https:// URL '
                       '(the KFP UI or API address, e.g. http://localhost:8080)')
    self.endpoint = endpoint.rstrip('/')

  def call(self, action: str, method: str, path: str, query: dict | None = None,
           body: dict | None = None, attachment: tuple[str, bytes] | None = None) -> dict:
    """Sends one request; `body` goes as JSON, `attachment` (file name, bytes) as multipart."""
    url = f'{self.endpoint}{API_PREFIX}{path}'
    if query:
      url += '?' + urllib.parse.urlencode(query)
    headers = {'Accept': 'application/json'}
    data = None
    if body is not None:
      data = json.dumps(body).encode()
      headers['Content-Type'] = 'application/json'
    if attachment is not None:
      data, headers['Content-Type'] = _multipart('uploadfile', *attachment)
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
      with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        answer = response.read()
    except urllib.error.HTTPError as e:
      raise KfpRequestError(f'{action} was rejected by Kubeflow Pipelines (HTTP {e.code}): '
                            f'{_error_message(e.read())}') from None
    except OSError as e:  # URLError, refused or timed-out connections
      raise ConnectionError(f'cannot reach Kubeflow Pipelines at {self.endpoint} '
                            f'({getattr(e, "reason", e)}); check --endpoint') from None
    try:
      return json.loads(answer or b'{}')
    except ValueError:
      raise KfpRequestError(f'{action}: {url} did not answer with JSON; is {self.endpoint} '
                            'the KFP UI or API address?') from None

  def find(self, collection: str, display_name: str) -> dict | None:
    """The first pipeline or experiment with this display name, or None."""
    predicate = {'key': 'display_name', 'operation': 'EQUALS', 'string_value': display_name}
    answer = self.call(f'finding {collection[:-1]} {display_name!r}', 'GET', f'/{collection}',
                       query={'filter': json.dumps({'predicates': [predicate]}), 'page_size': 1})
    return (answer.get(collection) or [None])[0]


def _multipart(field: str, file_name: str, content: bytes) -> tuple[bytes, str]:
  boundary = uuid.uuid4().hex
  head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
          f'filename="{file_name}"\r\nContent-Type: application/x-yaml\r\n\r\n')
  return (head.encode() + content + f'\r\n--{boundary}--\r\n'.encode(),
          f'multipart/form-data; boundary={boundary}')


def upload(client: KfpClient, name: str, spec_yaml: str, version: str) -> tuple[str, str]:
  """(pipeline id, version id): a new pipeline `name`, or a new version of the existing one."""
  package = (f'{name}.yaml', spec_yaml.encode())
  pipeline = client.find('pipelines', name)
  if pipeline is None:
    pipeline_id = client.call('uploading the pipeline', 'POST', '/pipelines/upload',
                              query={'name': name, 'display_name': name},
                              attachment=package)['pipeline_id']
    versions = client.call('reading the uploaded version', 'GET',
                           f'/pipelines/{pipeline_id}/versions', query={'page_size': 1})
    return pipeline_id, versions['pipeline_versions'][0]['pipeline_version_id']
  answer = client.call('uploading the pipeline version', 'POST', '/pipelines/upload_version',
                       query={'pipelineid': pipeline['pipeline_id'], 'name': version,
                              'display_name': version}, attachment=package)
  return pipeline['pipeline_id'], answer['pipeline_version_id']


def submit(endpoint: str, package: str, experiment: str = 'colorization',
           run_name: str | None = None) -> int:
  """Uploads `package`, starts a run in `experiment`, prints the run's UI link; returns 0."""
  client = KfpClient(endpoint)
  name, spec_yaml, pipeline_root = load_package(package)
  stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%d-%H%M%S-%f')[:-3]
  try:
    pipeline_id, version_id = upload(client, name, spec_yaml, f'{name}-{stamp}')
    found = client.find('experiments', experiment)
    experiment_id = (found or client.call('creating the experiment', 'POST', '/experiments',
                                          body={'display_name': experiment}))['experiment_id']
    run = {'display_name': run_name or f'{name}-{stamp}', 'experiment_id': experiment_id,
           'pipeline_version_reference': {'pipeline_id': pipeline_id,
                                          'pipeline_version_id': version_id}}
    if pipeline_root:
      run['runtime_config'] = {'pipeline_root': pipeline_root}
    run_id = client.call('starting the run', 'POST', '/runs', body=run)['run_id']
  except (KeyError, IndexError, TypeError) as e:
    raise KfpRequestError(f'Kubeflow Pipelines answered without {e}: is {client.endpoint} a '
                          'KFP 2.x (v2beta1 API) endpoint?') from None
  print(f'Uploaded pipeline {name!r} (version {version_id}); run {run["display_name"]!r} '
        f'started in experiment {experiment!r}.')
  print(f'Run details: {client.endpoint}/#/runs/details/{run_id}')
  return 0
