"""`colorization` console script: parses flags and calls one function per verb.

Heavy imports (TFX, TensorFlow) happen inside the verbs, so `--help` and the gRPC client start fast.
"""
import argparse
import os
import sys
import warnings

from colorization.models import features

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
# 3, not 2: importing TensorFlow logs harmless CUDA-plugin registration errors at level E.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
warnings.filterwarnings('ignore', category=FutureWarning)  # google-api-core's Python 3.10 notice


class UserError(Exception):
  """An error the user can fix; printed as one line without a traceback."""


def _pipeline_config(args: argparse.Namespace):
  from colorization.pipeline import config as config_lib
  try:
    return config_lib.from_env(
        data_root=args.data_root, home=args.home, epochs=args.epochs,
        train_steps=args.train_steps, batch_size=args.batch_size,
        beam_args=tuple(args.beam_arg) if args.beam_arg else None,
        warm_start=True if args.warm_start else None)
  except ValueError as e:
    raise UserError(str(e)) from None


def cmd_run(args: argparse.Namespace) -> int:
  from colorization.components import image_files
  from colorization.pipeline import demo_data, local_runner, report, results
  config = _pipeline_config(args)
  if not config.data_root:
    config = config.replace(data_root=demo_data.write_demo_dataset(
        os.path.join(config.home, 'demo_data')))
    print(f'No --data-root given: using the generated demo dataset in {config.data_root}')
  try:
    image_files.list_images(config.data_root)
  except image_files.DataRootError as e:
    raise UserError(str(e)) from None
  print(f'Running pipeline {config.pipeline_name!r} on {config.data_root}; outputs in {config.home}')
  log_path = local_runner.run(config)
  report.write_report(config)
  print(results.format_summary(results.summarize(config), config, log_path))
  return 0


def cmd_report(args: argparse.Namespace) -> int:
  from colorization.pipeline import report
  config = _pipeline_config(args)
  print(f'Report: {report.write_report(config)}')
  return 0


def cmd_serve(args: argparse.Namespace) -> int:
  from colorization.serving import server
  return server.serve(args.model_base_path, model_name=args.model_name, host=args.host,
                      port=args.port, rest_port=args.rest_port or None)


def cmd_colorize(args: argparse.Namespace) -> int:
  from colorization.serving import client
  return client.colorize_paths(args.inputs, args.output_dir, server=args.server,
                               saved_model=args.saved_model, model_name=args.model_name,
                               batch_size=args.batch_size)


def cmd_kubeflow_compile(args: argparse.Namespace) -> int:
  from colorization.kubeflow import runner
  config = _pipeline_config(args)
  print(f'Wrote {runner.compile_pipeline(config, image=args.image, output=args.output)}')
  return 0


def cmd_kubeflow_submit(args: argparse.Namespace) -> int:
  from colorization.kubeflow import submit
  return submit.submit(args.endpoint, args.package, experiment=args.experiment,
                       run_name=args.run_name)


def _add_pipeline_flags(parser: argparse.ArgumentParser) -> None:
  parser.add_argument('--data-root',
                      help='folder of class sub-folders of photos (COLORIZATION_DATA_ROOT)')
  parser.add_argument('--home', help='where every output goes (COLORIZATION_HOME)')
  parser.add_argument('--epochs', type=int, help='training epochs (COLORIZATION_EPOCHS)')
  parser.add_argument('--train-steps', type=int, help='total training steps')
  parser.add_argument('--batch-size', type=int, help='training batch size')
  parser.add_argument('--warm-start', action='store_true',
                      help='start training from the last blessed model')
  parser.add_argument('--beam-arg', action='append', metavar='ARG',
                      help='Beam pipeline argument, repeatable (e.g. --beam-arg=--runner=...)')


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='colorization', description=__doc__.splitlines()[0])
  parser.add_argument('--debug', action='store_true', help='show tracebacks')
  verbs = parser.add_subparsers(dest='verb', required=True)

  run = verbs.add_parser('run', help='run the TFX pipeline locally (demo data if no --data-root)')
  _add_pipeline_flags(run)
  run.set_defaults(func=cmd_run)

  report = verbs.add_parser('report', help='write the results gallery of the last run')
  _add_pipeline_flags(report)
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
  colorize.set_defaults(func=cmd_colorize)

  kubeflow = verbs.add_parser('kubeflow', help='compile or submit the pipeline to Kubeflow')
  kubeflow_verbs = kubeflow.add_subparsers(dest='kubeflow_verb', required=True)
  compile_ = kubeflow_verbs.add_parser('compile', help='write the KFP v2 pipeline spec')
  _add_pipeline_flags(compile_)
  compile_.add_argument('--image', help='pipeline container image (COLORIZATION_IMAGE)')
  compile_.add_argument('--output', default='colorization_pipeline.yaml',
                        help='.yaml: PipelineSpec for the KFP UI and API; .json: PipelineJob')
  compile_.set_defaults(func=cmd_kubeflow_compile)
  submit = kubeflow_verbs.add_parser('submit', help='upload the spec and start a run')
  submit.add_argument('--endpoint', required=True,
                      help='KFP UI address (it serves the API too), e.g. http://localhost:8080')
  submit.add_argument('--package', default='colorization_pipeline.yaml',
                      help='the file `kubeflow compile` wrote (.yaml or .json)')
  submit.add_argument('--experiment', default='colorization')
  submit.add_argument('--run-name', help='defaults to <pipeline name>-<UTC time>')
  submit.set_defaults(func=cmd_kubeflow_submit)
  return parser


def main(argv: list[str] | None = None) -> int:
  args = build_parser().parse_args(argv)
  try:
    return args.func(args)
  except KeyboardInterrupt:
    print('colorization: interrupted; finished pipeline steps are cached and reused next run.',
          file=sys.stderr)
    return 130
  except Exception as e:  # the CLI boundary: one clear line, the traceback only with --debug
    if args.debug:
      raise
    known = isinstance(e, (UserError, OSError, ValueError))
    print(f'colorization {args.verb}: error: {e}' + ('' if known else
          ' (run with --debug for the traceback; logs are under the home directory)'),
          file=sys.stderr)
    return 2 if known else 1


if __name__ == '__main__':
  sys.exit(main())
