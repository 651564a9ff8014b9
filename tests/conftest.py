"""Shared fixtures: a generated photo set and one real pipeline run reused by end-to-end tests."""
import os
import shutil
import subprocess
import sys

import pytest

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# The tests' runs train a few steps, so their models are washed out by construction (CF ratio
# about 0.1); the colourfulness floor is tested on its own in test_pipeline_eval_config.py.
os.environ.setdefault('COLORIZATION_MIN_COLORFULNESS_RATIO', '0')

COLORIZATION = os.path.join(os.path.dirname(sys.executable), 'colorization')
SMALL_RUN_FLAGS = ['--train-steps', '6', '--epochs', '1', '--batch-size', '4']
SERVER_MAX_MESSAGE_BYTES = 1024 * 1024   # the test server's message limit (tests of the limit)
CLASSES = ['animal', 'face', 'landscape']  # of class_aware_export_dir's model
# Files ImageExampleGen must skip (and name in skipped_files.txt) without failing the run.
BAD_FILES = ('face/truncated.jpg', 'animal/not_an_image.jpg')


# Fixtures that run pipelines, servers or compilers: their tests share one worker. The costly ones
# are session-scoped, so a worker that interleaves other modules' tests does not rebuild them.
MODULE_RUNS = ('experiment_home', 'failed_runs', 'runs', 'compiled', 'small_export', 'server',
               'class_aware_export_dir', 'class_aware_network')


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items) -> None:
  """Under `pytest -n` (xdist, --dist loadgroup) every test of the shared pipeline run goes to one
  worker, and so do the tests of each module's own expensive fixture: each runs once, not once
  per worker. Runs before xdist's own hook, which turns these marks into `@group` node ids."""
  for item in items:
    names = getattr(item, 'fixturenames', ())
    if 'pipeline_home' in names:
      item.add_marker(pytest.mark.xdist_group('pipeline_home'))
    elif any(name in names for name in MODULE_RUNS):
      item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.fixture(scope='session')
def demo_data_root(tmp_path_factory) -> str:
  from colorization.pipeline import demo_data
  return demo_data.write_demo_dataset(str(tmp_path_factory.mktemp('photos')), images_per_class=12)


@pytest.fixture(scope='session')
def pipeline_data_root(demo_data_root, tmp_path_factory) -> str:
  """A copy of the generated photos plus BAD_FILES (a truncated JPEG, a text file named .jpg)."""
  root = str(tmp_path_factory.mktemp('photos_with_bad_files'))
  shutil.copytree(demo_data_root, root, dirs_exist_ok=True)
  with open(os.path.join(demo_data_root, 'face', 'face_000.jpg'), 'rb') as f:
    jpeg = f.read()
  with open(os.path.join(root, BAD_FILES[0]), 'wb') as f:
    f.write(jpeg[:len(jpeg) // 2])
  with open(os.path.join(root, BAD_FILES[1]), 'w') as f:
    f.write('this is a text file, not a photo\n')
  return root


@pytest.fixture(scope='session')
def pipeline_home(pipeline_data_root, tmp_path_factory) -> str:
  """Home directory of one complete `colorization run` on the generated photos (the run's data
  root also holds BAD_FILES, which it skips; its stdout is saved as run_stdout.txt)."""
  home = str(tmp_path_factory.mktemp('home'))
  result = subprocess.run([COLORIZATION, 'run', '--data-root', pipeline_data_root, '--home', home,
                           *SMALL_RUN_FLAGS], capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  with open(os.path.join(home, 'run_stdout.txt'), 'w') as f:
    f.write(result.stdout)
  return home


@pytest.fixture(scope='session')
def pushed_model_dir(pipeline_home) -> str:
  """The versioned SavedModel directory the pipeline pushed."""
  base = os.path.join(pipeline_home, 'serving', 'colorizer')
  versions = sorted(os.listdir(base), key=int)
  assert versions, f'nothing pushed under {base}'
  return os.path.join(base, versions[-1])


@pytest.fixture(scope='session')
def small_export(tmp_path_factory) -> str:
  """A SavedModel with the real serving_default and colorize_image graphs around a tiny network."""
  import numpy as np
  import tensorflow as tf
  from colorization.models import ab_bins, features, network, signatures
  bins = ab_bins.AbBins(np.ones(ab_bins.GRID_BINS))
  model = network.build_network(bins.size, width=4)
  size = features.IMAGE_SIZE

  @tf.function(input_signature=[tf.TensorSpec([None, size, size, 1], tf.float32, features.L_KEY)])
  def serving_default(lightness):
    return {features.AB_KEY: signatures.predict_ab(model, bins, lightness)}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, features.IMAGE_BYTES_KEY)])
  def colorize_image(image_bytes):
    return {features.COLORIZED_PNG_KEY: signatures.colorize_images(model, bins, image_bytes)}

  module = tf.Module()
  module.model = model
  path = str(tmp_path_factory.mktemp('small_export'))
  tf.saved_model.save(module, path, signatures={features.SERVING_DEFAULT: serving_default,
                                                features.COLORIZE_IMAGE: colorize_image})
  return path


@pytest.fixture(scope='session')
def server(small_export, tmp_path_factory):
  """One colorization model server on small_export for the serving tests: gRPC and REST on free
  ports of 127.0.0.1."""
  from colorization.models import features
  from colorization.serving import server as server_lib
  base = tmp_path_factory.mktemp('base')
  shutil.copytree(small_export, base / '1')
  server = server_lib.ModelServer(str(base), features.MODEL_NAME, '127.0.0.1', 0, poll_seconds=0.2,
                                  max_message_bytes=SERVER_MAX_MESSAGE_BYTES, rest_port=0)
  server.start()
  yield server
  server.stop()


@pytest.fixture(scope='session')
def class_aware_network():
  """A tiny class-aware network over CLASSES (scratch encoder, width 4) with random FiLM weights,
  so each class colours differently."""
  import numpy as np
  from colorization.models import ab_bins, hparams, network
  model = network.build_network(ab_bins.AbBins(np.ones(ab_bins.GRID_BINS)).size, width=4,
                                encoder=hparams.SCRATCH_ENCODER, num_classes=len(CLASSES))
  rng = np.random.default_rng(3)
  for name in ('film_scale', 'film_shift'):
    layer = model.get_layer(name)
    layer.set_weights([rng.normal(0, 3, w.shape).astype(np.float32) for w in layer.get_weights()])
  return model


@pytest.fixture(scope='session')
def class_aware_export_dir(class_aware_network, tmp_path_factory) -> str:
  """class_aware_network saved with its class-aware signatures, without Transform:
  classify_examples reads the image bytes of raw tf.Examples directly."""
  import numpy as np
  import tensorflow as tf
  from colorization.models import ab_bins, features, preprocessing, signatures

  def examples_lightness(examples):
    image_bytes = tf.io.parse_example(examples, {
        features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)})[features.IMAGE_KEY]
    return preprocessing.image_bytes_to_lab(image_bytes)[..., :1]

  bins = ab_bins.AbBins(np.ones(ab_bins.GRID_BINS))
  module = tf.Module()
  module.model = class_aware_network
  path = str(tmp_path_factory.mktemp('class_aware_export'))
  tf.saved_model.save(module, path, signatures=signatures.class_aware_signatures(
      class_aware_network, bins, CLASSES, examples_lightness))
  return path
