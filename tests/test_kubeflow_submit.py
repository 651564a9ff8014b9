"""`colorization kubeflow submit` against a fake Kubeflow Pipelines v2beta1 API on 127.0.0.1.

The fake checks every request the way the KFP API server reads it (multipart `uploadfile` with a
YAML PipelineSpec, JSON bodies with the v2beta1 field names) and answers 400 to anything else.
"""
import email.parser
import email.policy
import http.server
import json
import socket
import threading
import urllib.parse

import pytest
import yaml

from colorization.cli import main as cli_main
from colorization.kubeflow import submit

API = '/apis/v2beta1'
SPEC = {'pipelineInfo': {'name': 'colorization'}, 'schemaVersion': '2.1.0',
        'sdkVersion': 'tfx-1.16.0', 'defaultPipelineRoot': 'gs://bucket/colorization/pipeline_root',
        'components': {}, 'deploymentSpec': {'executors': {}}, 'root': {'dag': {'tasks': {}}}}
PLATFORM = {'platforms': {'kubernetes': {'deploymentSpec': {'executors': {
    'Trainer_executor': {'pvcMount': [{'constant': 'photos', 'mountPath': '/mnt/data'}]}}}}}}


class FakeKfp(http.server.ThreadingHTTPServer):
  """Pipelines, versions, experiments and runs in memory; `fail` maps (method, path) to an error."""

  def __init__(self):
    super().__init__(('127.0.0.1', 0), _Handler)
    self.requests, self.fail = [], {}
    self.pipelines, self.versions, self.experiments, self.runs = {}, {}, {}, {}

  @property
  def endpoint(self) -> str:
    return f'http://127.0.0.1:{self.server_address[1]}'

  def uploads(self) -> list[dict]:
    return [r for r in self.requests if r['path'].startswith(f'{API}/pipelines/upload')]


class _Handler(http.server.BaseHTTPRequestHandler):
  server: FakeKfp

  def log_message(self, *args) -> None:
    pass

  def do_GET(self) -> None:
    self._serve()

  def do_POST(self) -> None:
    self._serve()

  def _serve(self) -> None:
    url = urllib.parse.urlsplit(self.path)
    body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
    request = dict(method=self.command, path=url.path, body=body,
                   query=dict(urllib.parse.parse_qsl(url.query)),
                   content_type=self.headers.get('Content-Type', ''))
    self.server.requests.append(request)
    if (self.command, url.path) in self.server.fail:
      code, answer = self.server.fail[(self.command, url.path)]
      return self._answer(code, answer)
    try:
      self._answer(200, self._route(request))
    except (AssertionError, KeyError, ValueError) as e:  # a request KFP would not accept
      self._answer(400, {'error_message': f'fake KFP: bad request: {e!r}'})

  def _answer(self, code: int, answer) -> None:
    data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
    self.send_response(code)
    self.send_header('Content-Type', 'application/json')
    self.send_header('Content-Length', str(len(data)))
    self.end_headers()
    self.wfile.write(data)

  def _route(self, request: dict) -> dict:
    kfp, method, path, query = self.server, request['method'], request['path'], request['query']
    if method == 'GET' and path in (f'{API}/pipelines', f'{API}/experiments'):
      (predicate,) = json.loads(query['filter'])['predicates']
      assert (predicate['key'], predicate['operation']) == ('display_name', 'EQUALS')
      collection = 'pipelines' if path.endswith('pipelines') else 'experiments'
      found = [item for item in getattr(kfp, collection).values()
               if item['display_name'] == predicate['string_value']]
      return {collection: found[:int(query['page_size'])]} if found else {}
    if method == 'POST' and path == f'{API}/pipelines/upload':
      self._check_upload(request)
      pipeline = {'pipeline_id': f'p{len(kfp.pipelines) + 1}', 'display_name': query['name']}
      kfp.pipelines[pipeline['pipeline_id']] = pipeline
      self._add_version(pipeline['pipeline_id'], query['name'])
      return pipeline
    if method == 'POST' and path == f'{API}/pipelines/upload_version':
      self._check_upload(request)
      return self._add_version(kfp.pipelines[query['pipelineid']]['pipeline_id'], query['name'])
    if method == 'GET' and path.startswith(f'{API}/pipelines/') and path.endswith('/versions'):
      pipeline_id = path.split('/')[-2]
      return {'pipeline_versions': [v for v in kfp.versions.values()
                                    if v['pipeline_id'] == pipeline_id][:int(query['page_size'])]}
    if method == 'POST' and path == f'{API}/experiments':
      body = json.loads(request['body'])
      assert request['content_type'] == 'application/json' and set(body) == {'display_name'}
      experiment = {'experiment_id': f'e{len(kfp.experiments) + 1}', **body}
      kfp.experiments[experiment['experiment_id']] = experiment
      return experiment
    if method == 'POST' and path == f'{API}/runs':
      run = json.loads(request['body'])
      assert request['content_type'] == 'application/json'
      assert run['experiment_id'] in kfp.experiments
      reference = run['pipeline_version_reference']
      assert kfp.versions[reference['pipeline_version_id']]['pipeline_id'] == \
          reference['pipeline_id']
      assert set(run) <= {'display_name', 'experiment_id', 'pipeline_version_reference',
                          'runtime_config'} and run['display_name']
      run['run_id'] = f'r{len(kfp.runs) + 1}'
      kfp.runs[run['run_id']] = run
      return run
    raise ValueError(f'no such endpoint: {method} {path}')

  def _add_version(self, pipeline_id: str, name: str) -> dict:
    assert not any(v['pipeline_id'] == pipeline_id and v['display_name'] == name
                   for v in self.server.versions.values()), f'version {name} exists'
    version = {'pipeline_id': pipeline_id, 'display_name': name,
               'pipeline_version_id': f'v{len(self.server.versions) + 1}'}
    self.server.versions[version['pipeline_version_id']] = version
    return version

  def _check_upload(self, request: dict) -> None:
    """A multipart `uploadfile` with a .yaml name holding a YAML (not JSON) PipelineSpec."""
    assert request['content_type'].startswith('multipart/form-data; boundary=')
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f'Content-Type: {request["content_type"]}\r\n\r\n'.encode() + request['body'])
    (part,) = message.iter_parts()
    assert part.get_param('name', header='content-disposition') == 'uploadfile'
    assert part.get_filename().endswith('.yaml')
    content = part.get_payload(decode=True)
    try:
      json.loads(content)
    except ValueError:
      pass
    else:
      raise AssertionError('JSON text: some KFP versions do not read it as a v2 spec')
    spec = next(yaml.safe_load_all(content))
    assert spec['pipelineInfo']['name'] and 'root' in spec and spec['schemaVersion'] == '2.1.0'
    request['uploaded'] = content.decode()


@pytest.fixture
def kfp():
  server = FakeKfp()
  thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
  thread.start()
  yield server
  server.shutdown()
  server.server_close()


@pytest.fixture
def package(tmp_path) -> str:
  path = tmp_path / 'colorization_pipeline.yaml'
  path.write_text(yaml.safe_dump_all([SPEC, PLATFORM]))
  return str(path)


def test_first_submit_uploads_the_pipeline_creates_the_experiment_and_starts_a_run(
    kfp, package, capsys):
  assert submit.submit(kfp.endpoint, package, experiment='colorization', run_name='first') == 0
  (upload,) = kfp.uploads()
  assert upload['path'] == f'{API}/pipelines/upload'
  assert upload['query']['name'] == 'colorization'
  assert upload['uploaded'] == open(package).read()  # with the platform spec (volume mount)
  assert list(kfp.experiments.values()) == [{'experiment_id': 'e1', 'display_name': 'colorization'}]
  assert kfp.runs['r1'] == {
      'run_id': 'r1', 'display_name': 'first', 'experiment_id': 'e1',
      'pipeline_version_reference': {'pipeline_id': 'p1', 'pipeline_version_id': 'v1'},
      'runtime_config': {'pipeline_root': 'gs://bucket/colorization/pipeline_root'}}
  assert capsys.readouterr().out.splitlines()[-1] == \
      f'Run details: {kfp.endpoint}/#/runs/details/r1'


def test_later_submits_add_a_version_and_reuse_the_experiment(kfp, package):
  submit.submit(kfp.endpoint, package)
  submit.submit(kfp.endpoint, package)
  second = kfp.uploads()[1]
  assert second['path'] == f'{API}/pipelines/upload_version'
  assert second['query']['pipelineid'] == 'p1'
  assert second['query']['name'].startswith('colorization-')
  assert len(kfp.pipelines) == 1 and len(kfp.experiments) == 1
  assert kfp.runs['r2']['pipeline_version_reference'] == {'pipeline_id': 'p1',
                                                          'pipeline_version_id': 'v2'}
  assert kfp.runs['r2']['display_name'].startswith('colorization-')


def test_a_json_pipeline_job_is_uploaded_as_a_yaml_pipeline_spec(kfp, tmp_path):
  job = {'displayName': 'colorization', 'pipelineSpec': SPEC,
         'runtimeConfig': {'gcsOutputDirectory': 'gs://other/pipeline_root'}}
  path = tmp_path / 'colorization_pipeline.json'
  path.write_text(json.dumps(job))
  submit.submit(kfp.endpoint, str(path))
  assert yaml.safe_load(kfp.uploads()[0]['uploaded']) == SPEC
  assert kfp.runs['r1']['runtime_config'] == {'pipeline_root': 'gs://other/pipeline_root'}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def test_an_unreachable_endpoint_is_a_connection_error(package):
  endpoint = f'http://127.0.0.1:{_free_port()}'
  with pytest.raises(ConnectionError, match=f'cannot reach Kubeflow Pipelines at {endpoint}'):
    submit.submit(endpoint, package)


def test_a_rejected_upload_shows_the_server_message(kfp, package):
  kfp.fail[('POST', f'{API}/pipelines/upload')] = (
      400, {'error_message': 'Failed to create a pipeline and a pipeline version',
            'error_details': 'invalid v2 pipeline spec: ...'})
  with pytest.raises(submit.KfpRequestError,
                     match=r'uploading the pipeline was rejected by Kubeflow Pipelines \(HTTP 400\)'
                           r': Failed to create a pipeline and a pipeline version$'):
    submit.submit(kfp.endpoint, package)
  assert not kfp.runs


def test_a_failed_run_creation_shows_the_server_message(kfp, package):
  kfp.fail[('POST', f'{API}/runs')] = (
      500, {'code': 13, 'message': 'Failed to compile job: resolver executors not implemented'})
  with pytest.raises(submit.KfpRequestError,
                     match=r'starting the run .*\(HTTP 500\): Failed to compile job: resolver'):
    submit.submit(kfp.endpoint, package)


def test_a_plain_text_error_and_a_non_json_answer_are_explained(kfp, package):
  kfp.fail[('GET', f'{API}/pipelines')] = (403, b'RBAC: access denied\n')
  with pytest.raises(submit.KfpRequestError, match=r'\(HTTP 403\): RBAC: access denied$'):
    submit.submit(kfp.endpoint, package)
  kfp.fail[('GET', f'{API}/pipelines')] = (200, b'<html>Kubeflow Central Dashboard</html>')
  with pytest.raises(submit.KfpRequestError, match='did not answer with JSON'):
    submit.submit(kfp.endpoint, package)


@pytest.mark.parametrize('content, message', [
    (None, 'no compiled pipeline at'),
    ('kind: Workflow\n', 'is not a compiled KFP pipeline'),
    (': not yaml [', 'is not a compiled KFP pipeline'),
])
def test_a_missing_or_foreign_package_is_refused_before_any_request(kfp, tmp_path, content,
                                                                    message):
  path = tmp_path / 'pipeline.yaml'
  if content is not None:
    path.write_text(content)
  with pytest.raises((FileNotFoundError, ValueError), match=message):
    submit.submit(kfp.endpoint, str(path))
  assert not kfp.requests


def test_the_endpoint_must_be_an_http_url(package):
  with pytest.raises(ValueError, match='must be an http:// or https:// URL'):
    submit.submit('localhost:8080', package)


def test_cli_prints_the_rejection_in_one_line(kfp, package, capsys):
  kfp.fail[('POST', f'{API}/pipelines/upload')] = (400, {'error_message': 'spec rejected'})
  code = cli_main.main(['kubeflow', 'submit', '--endpoint', kfp.endpoint, '--package', package])
  err = capsys.readouterr().err
  assert code == 2
  assert err == ('colorization kubeflow submit: error: uploading the pipeline was rejected by Kubeflow '
                 'Pipelines (HTTP 400): spec rejected\n')
