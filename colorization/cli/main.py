"""`colorization` console script: parses flags and calls one function per verb.

Heavy imports (TFX, TensorFlow) happen inside the verbs, so `--help` and the gRPC client start fast.
"""
import argparse
import os
import sys
import warnings

from colorization.models import features
from colorization.pipeline import config as config_lib  # light: no TensorFlow (tests/test_cli.py)
from colorization.serving import defaults as serving_defaults
from colorization.serving.client import FORMAT_SIGNATURES  # light: TensorFlow only when called

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
warnings.filterwarnings('ignore', category=FutureWarning)  # google-api-core's Python 3.10 notice


class UserError(Exception):
  """An error the user can fix; printed as one line without a traceback."""


def _pipeline_config(args: argparse.Namespace,
                     base: config_lib.PipelineConfig | None = None) -> config_lib.PipelineConfig:
  """PipelineConfig from `base` (default: PipelineConfig()), COLORIZATION_* and the verb's flags
  (a verb has only the pipeline flags it uses)."""
  overrides = {name: getattr(args, name, None)
               for name in ('data_root', 'home', 'epochs', 'train_steps', 'batch_size')}
  overrides['beam_args'] = tuple(args.beam_arg) if getattr(args, 'beam_arg', None) else None
  overrides['warm_start'] = True if getattr(args, 'warm_start', False) else None
  try:
    return config_lib.from_env(base=base, **overrides)
  except ValueError as e:
    raise UserError(str(e)) from None


def cmd_run(args: argparse.Namespace) -> int:
  from colorization.pipeline import demo_data, local_runner  # no TensorFlow before run_log
  config = _pipeline_config(args)
  if not config.data_root:  # the demo: its small budget unless flags or variables ask otherwise
    demo = config_lib.PipelineConfig().replace(**config_lib.DEMO_BUDGET)
    config = _pipeline_config(args, base=demo)
    config = config.replace(data_root=demo_data.write_demo_dataset(
        os.path.join(config.home, 'demo_data')))
    print(f'No --data-root given: training {config.train_steps} steps in '
          f'{config.training.epochs} epochs on the generated demo dataset in {config.data_root}')
  with local_runner.run_log(config) as log_path:  # TensorFlow's native errors, from its import on
    from colorization.components import image_files
    from colorization.pipeline import report, results
    try:
      image_files.list_images(config.data_root)
    except image_files.DataRootError as e:
      raise UserError(str(e)) from None
    print(f'Running pipeline {config.pipeline_name!r} on {config.data_root}; outputs in '
          f'{config.home}')
    local_runner.run_in_log(config, log_path)
    report.write_report(config)
    summary = results.format_summary(results.summarize(config), config, log_path)
  print(summary)
  return 0


def cmd_report(args: argparse.Namespace) -> int:
  from colorization.pipeline import report
  config = _pipeline_config(args)
  print(f'Report: {report.write_report(config)}')
  return 0


def cmd_serve(args: argparse.Namespace) -> int:
  os.environ.setdefault('GRPC_VERBOSITY', 'NONE')  # a refused port is our one line, not gRPC's log
  from colorization.serving import server
  return server.serve(args.model_base_path, model_name=args.model_name, host=args.host,
                      port=args.port, rest_port=args.rest_port or None,
                      max_load_retries=args.max_num_load_retries,
                      load_retry_interval_seconds=args.load_retry_interval_seconds,
                      rest_timeout_seconds=args.rest_api_timeout_seconds)


def cmd_colorize(args: argparse.Namespace) -> int:
  from colorization.serving import client
  try:
    return client.colorize_paths(args.inputs, args.output_dir, server=args.server,
                                 saved_model=args.saved_model, model_name=args.model_name,
                                 batch_size=args.batch_size, overwrite=args.overwrite,
                                 allow_output_inside_input=args.allow_output_inside_input,
                                 output_format=args.format, class_name=args.class_name)
  except client.ModelUnavailable as e:
    raise UserError(str(e)) from None


def cmd_evaluate(args: argparse.Namespace) -> int:
  from colorization.evaluation import evaluate
  from colorization.serving import client
  try:
    return evaluate.run(data_root=args.data_root, file_list=args.file_list, home=args.home,
                        split=args.split, model=args.model, server=args.server,
                        model_name=args.model_name, output=args.output, overwrite=args.overwrite,
                        batch_size=args.batch_size, limit_per_class=args.limit_per_class,
                        baseline=args.baseline, draws=args.bootstrap_draws, seed=args.seed)
  except client.ModelUnavailable as e:
    raise UserError(str(e)) from None


def cmd_kubeflow_compile(args: argparse.Namespace) -> int:
  from colorization.kubeflow import runner
  config = _pipeline_config(args)
  print(f'Wrote {runner.compile_pipeline(config, image=args.image, output=args.output)}')
  return 0


def cmd_kubeflow_submit(args: argparse.Namespace) -> int:
  from colorization.kubeflow import submit
  return submit.submit(args.endpoint, args.package, experiment=args.experiment,
                       run_name=args.run_name)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
  """Shows each option's default, except where there is none (None, False)."""

  def _get_help_string(self, action: argparse.Action) -> str:
    if action.default is None or action.default is False:
      return action.help or ''
    return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
  """The parser of `colorization` and of every verb (add_subparsers makes its verbs of this class):
  defaults in --help, --debug before or after the verb, errors as one line `<prog>: error: ...`."""

  def __init__(self, **kwargs):
    super().__init__(formatter_class=_HelpFormatter, **kwargs)
    self.add_argument('--debug', action='store_true', default=argparse.SUPPRESS,
                      help='show tracebacks')
    self.set_defaults(prog=self.prog)  # the innermost verb's wins: `colorization kubeflow compile`

  def error(self, message: str):
    self.exit(2, f'{self.prog}: error: {message} (see {self.prog} --help)\n')


def _user_path(path: str) -> str:
  """The path with the user's home folder written as ~."""
  home = os.path.expanduser('~')
  return '~' + path[len(home):] if path.startswith(home + os.sep) else path


def _add_home_flag(parser: argparse.ArgumentParser) -> None:
  default = _user_path(config_lib.PipelineConfig.home)
  parser.add_argument('--home', help='where every output goes: pipeline_root/, metadata.sqlite, '
                      f'serving/, reports/, logs/ (default: {default}; COLORIZATION_HOME)')


def _add_pipeline_flags(parser: argparse.ArgumentParser) -> None:
  """The PipelineConfig flags; each defaults to its COLORIZATION_* variable, then the config's."""
  defaults = config_lib.PipelineConfig()
  parser.add_argument('--data-root', help='folder of class sub-folders of photos, '
                      'DATA_ROOT/<class>/<photo>.jpg (COLORIZATION_DATA_ROOT)')
  _add_home_flag(parser)
  parser.add_argument('--epochs', type=int, help='training epochs (default: '
                      f'{defaults.training.epochs}; COLORIZATION_EPOCHS)')
  parser.add_argument('--train-steps', type=int, help='total training steps (default: '
                      f'{defaults.train_steps}; COLORIZATION_TRAIN_STEPS)')
  parser.add_argument('--batch-size', type=int, help='training batch size (default: '
                      f'{defaults.training.batch_size}; COLORIZATION_BATCH_SIZE)')
  parser.add_argument('--warm-start', action='store_true',
                      help='start training from the last blessed model (COLORIZATION_WARM_START)')
  parser.add_argument('--beam-arg', action='append', metavar='ARG',
                      help='Beam pipeline argument, repeatable, e.g. --beam-arg=--runner=... '
                      f'(default: {" ".join(defaults.beam_args)}; COLORIZATION_BEAM_ARGS)')


def build_parser() -> argparse.ArgumentParser:
  parser = _Parser(prog='colorization', description='Train a photo colorizer with a TFX pipeline, '
                   'serve it through the TF Serving API and colorize images with it.')
  verbs = parser.add_subparsers(dest='verb', required=True)

  demo = config_lib.DEMO_BUDGET
  run = verbs.add_parser(
      'run', help='run the TFX pipeline locally (demo data if no --data-root)',
      description='Run the TFX pipeline locally. Without --data-root (or COLORIZATION_DATA_ROOT) '
                  'it trains on a generated demo dataset with a small budget '
                  f'({demo["train_steps"]} steps, {demo["epochs"]} epochs) unless --train-steps '
                  'or --epochs say otherwise.')
  _add_pipeline_flags(run)
  run.set_defaults(func=cmd_run)

  report = verbs.add_parser('report', help='write the results report of the last run')
  _add_home_flag(report)
  report.set_defaults(func=cmd_report)

  serve = verbs.add_parser('serve',
                           help='serve pushed models over the TF Serving gRPC and REST APIs')
  serve.add_argument('--model-base-path', required=True, metavar='DIR',
                     help='folder of numbered SavedModel versions; the newest is served and '
                          'newly pushed ones are picked up without restart')
  serve.add_argument('--model-name', default=features.MODEL_NAME,
                     help='name clients put in model_spec.name (default: %(default)s)')
  serve.add_argument('--host', default='127.0.0.1',
                     help='interface to listen on; 0.0.0.0 for every one (default: %(default)s)')
  serve.add_argument('--port', type=int, default=8500, help='gRPC port (default: %(default)s)')
  serve.add_argument('--rest-port', type=int, default=8501,
                     help='REST API port; 0 serves gRPC only (default: %(default)s)')
  serve.add_argument('--max-num-load-retries', type=int, default=serving_defaults.MAX_LOAD_RETRIES,
                     help='retries of a version that fails to load; after them it is tried again '
                          'only when its files change (default: %(default)s, as TF Serving)')
  serve.add_argument('--load-retry-interval-seconds', type=float,
                     default=serving_defaults.LOAD_RETRY_INTERVAL_SECONDS,
                     help='wait between load retries (default: %(default)s, as TF Serving)')
  serve.add_argument('--rest-api-timeout-seconds', type=float,
                     default=serving_defaults.REST_TIMEOUT_SECONDS,
                     help='a REST prediction running longer is stopped and answered 504; gRPC '
                          'calls are stopped at their deadline (default: %(default)s, as TF Serving)')
  serve.set_defaults(func=cmd_serve)

  colorize = verbs.add_parser('colorize', help='colorize image files through TF Serving')
  colorize.add_argument('inputs', nargs='+', metavar='INPUT', help='files, folders or globs')
  colorize.add_argument('-o', '--output-dir', required=True, metavar='OUTDIR',
                        help='where the PNGs go, at the inputs\' full resolution')
  target = colorize.add_mutually_exclusive_group(required=True)
  target.add_argument('--server', metavar='HOST:PORT', help='a TF Serving gRPC address')
  target.add_argument('--saved-model', metavar='DIR',
                      help='call a SavedModel version directory in this process instead')
  colorize.add_argument('--model-name', default=features.MODEL_NAME,
                        help='model name on the server (default: %(default)s)')
  colorize.add_argument('--batch-size', type=int, default=8,
                        help='images per Predict request (default: %(default)s)')
  colorize.add_argument('--overwrite', action='store_true',
                        help='replace existing outputs in OUTDIR (inputs are never overwritten)')
  colorize.add_argument('--allow-output-inside-input', action='store_true',
                        help='accept an OUTDIR that is, or is inside, an input folder')
  colorize.add_argument('--format', choices=sorted(FORMAT_SIGNATURES), default='png',
                        help='output format: png (signature colorize_image) or jpg '
                        '(colorize_image_jpeg, quality 95, about a quarter of the size; default: '
                        '%(default)s)')
  colorize.add_argument('--class', dest='class_name', metavar='NAME',
                        help='colour every image as this class (a class-aware model only)')
  colorize.set_defaults(func=cmd_colorize)

  evaluate = verbs.add_parser(
      'evaluate', help='score a model on photos at full resolution through colorize_image, '
                       'per class against gray')
  evaluate.add_argument('--data-root', metavar='DIR',
                        help='folder of class sub-folders of photos (DIR/<class>/<photo>)')
  evaluate.add_argument('--file-list', metavar='FILE',
                        help='only the photos this text file names, one <class>/<photo> a line')
  evaluate.add_argument('--home', metavar='HOME',
                        help="instead of --data-root: the photos of a pipeline run's split")
  evaluate.add_argument('--split', metavar='NAME', help='the split with --home (default: test)')
  model = evaluate.add_mutually_exclusive_group(required=True)
  model.add_argument('--model', metavar='DIR',
                     help='a SavedModel version directory, or a folder of numbered versions '
                          '(the newest), called in this process')
  model.add_argument('--server', metavar='HOST:PORT', help='a TF Serving gRPC address')
  evaluate.add_argument('--model-name', default=features.MODEL_NAME,
                        help='model name on the server (default: %(default)s)')
  evaluate.add_argument('--output', metavar='FILE',
                        help='also write JSON: per class, and every photo\'s scores by its path')
  evaluate.add_argument('--overwrite', action='store_true', help='replace an existing --output')
  evaluate.add_argument('--batch-size', type=int, default=8,
                        help='photos per Predict request (default: %(default)s)')
  evaluate.add_argument('--limit-per-class', type=int, metavar='N',
                        help='only the first N photos of each class (by path)')
  evaluate.add_argument('--baseline', metavar='FILE',
                        help="another model's --output on the same photos: also the per-photo "
                             'differences to it, per class')
  evaluate.add_argument('--bootstrap-draws', type=int, default=1000,
                        help='resamples for the standard errors (default: %(default)s)')
  evaluate.add_argument('--seed', type=int, default=0,
                        help='seed of the resampling (default: %(default)s)')
  evaluate.set_defaults(func=cmd_evaluate)

  kubeflow = verbs.add_parser('kubeflow', help='compile or submit the pipeline to Kubeflow')
  kubeflow_verbs = kubeflow.add_subparsers(dest='kubeflow_verb', required=True)
  compile_ = kubeflow_verbs.add_parser('compile', help='write the KFP v2 pipeline spec')
  _add_pipeline_flags(compile_)
  compile_.add_argument('--image', help='pipeline container image (default: '
                        f'{config_lib.PipelineConfig.image}; COLORIZATION_IMAGE)')
  compile_.add_argument('--output', default='colorization_pipeline.yaml',
                        help='.yaml: PipelineSpec for the KFP UI and API; .json: PipelineJob')
  compile_.set_defaults(func=cmd_kubeflow_compile)
  submit = kubeflow_verbs.add_parser('submit', help='upload the spec and start a run')
  submit.add_argument('--endpoint', required=True,
                      help='KFP UI address (it serves the API too), e.g. http://localhost:8080')
  submit.add_argument('--package', default='colorization_pipeline.yaml',
                      help='the file `kubeflow compile` wrote (.yaml or .json)')
  submit.add_argument('--experiment', default='colorization', help='KFP experiment to run in')
  submit.add_argument('--run-name', help='defaults to <pipeline name>-<UTC time>')
  submit.set_defaults(func=cmd_kubeflow_submit)
  return parser


def main(argv: list[str] | None = None) -> int:
  args = build_parser().parse_args(argv)
  if args.verb != 'run':  # run: local_runner.NATIVE_LOG_LEVEL, into the run's log
    # 3, not 2: importing TensorFlow logs harmless CUDA-plugin registration errors at level E.
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  try:
    return args.func(args)
  except KeyboardInterrupt:
    print('colorization: interrupted; finished pipeline steps are cached and reused next run.',
          file=sys.stderr)
    return 130
  except Exception as e:  # the CLI boundary: one clear line, the traceback only with --debug
    if getattr(args, 'debug', False):
      raise
    known = isinstance(e, (UserError, OSError, ValueError))
    print(f'{args.prog}: error: {e}' + ('' if known else
          ' (run with --debug for the traceback; logs are under the home directory)'),
          file=sys.stderr)
    return 2 if known else 1


if __name__ == '__main__':
  sys.exit(main())
