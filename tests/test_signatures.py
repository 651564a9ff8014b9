"""The exported signatures: pixel limit read from the header, empty batches, PNG and JPEG outputs;
a class-aware model's predicted class beside the PNG, a forced class."""
import glob
import io
import os
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from colorization.models import ab_bins, features, hparams, network, signatures
from colorization.serving import op_error_text
from tests.conftest import CLASSES, COLORIZATION, SMALL_RUN_FLAGS

FORMATS = ('PNG', 'JPEG', 'GIF', 'BMP')
LIMIT = 100 * 50   # pixels, for the small-limit signatures


@pytest.fixture(scope='module')
def class_aware_export(class_aware_export_dir):
  """conftest's tiny class-aware network (random FiLM weights), its signatures loaded."""
  return tf.saved_model.load(class_aware_export_dir).signatures


def photo(seed: int, size=(40, 56)) -> bytes:
  rng = np.random.default_rng(seed)
  coarse = rng.integers(0, 256, (4, 4, 3), np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(coarse).resize(size, Image.BILINEAR).save(buffer, 'PNG')
  return buffer.getvalue()


def test_colorize_image_returns_the_predicted_class_beside_the_png(class_aware_export):
  outputs = class_aware_export[features.COLORIZE_IMAGE](
      image_bytes=tf.constant([photo(0), photo(1)]))
  assert set(outputs) == {features.COLORIZED_PNG_KEY, features.CLASS_NAME_KEY,
                          features.CLASS_PROBABILITY_KEY}
  assert Image.open(io.BytesIO(outputs[features.COLORIZED_PNG_KEY][0].numpy())).size == (40, 56)
  assert {name.decode() for name in outputs[features.CLASS_NAME_KEY].numpy()} <= set(CLASSES)
  probability = outputs[features.CLASS_PROBABILITY_KEY].numpy()
  assert ((probability >= 1 / len(CLASSES)) & (probability <= 1)).all()


def test_a_forced_class_changes_the_colours_and_empty_means_predicted(class_aware_export):
  images = tf.constant([photo(2)] * len(CLASSES))
  colorize = class_aware_export[features.COLORIZE_IMAGE_WITH_CLASS]
  forced = colorize(image_bytes=images, class_name=tf.constant(CLASSES))
  pngs = forced[features.COLORIZED_PNG_KEY].numpy()
  assert len(set(pngs)) == len(CLASSES)
  # The class outputs stay the head's prediction, whatever was forced.
  assert len(set(forced[features.CLASS_NAME_KEY].numpy())) == 1
  predicted = class_aware_export[features.COLORIZE_IMAGE](image_bytes=images[:1])
  empty = colorize(image_bytes=images[:1], class_name=tf.constant(['']))
  assert empty[features.COLORIZED_PNG_KEY][0] == predicted[features.COLORIZED_PNG_KEY][0]


def test_an_unknown_class_is_refused_naming_the_classes(class_aware_export):
  with pytest.raises(tf.errors.InvalidArgumentError, match='one of: animal, face, landscape'):
    class_aware_export[features.COLORIZE_IMAGE_WITH_CLASS](
        image_bytes=tf.constant([photo(4)]), class_name=tf.constant(['dragon']))


def test_classify_examples_returns_the_class_probabilities(class_aware_export):
  example = tf.train.Example(features=tf.train.Features(feature={
      features.IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[photo(5)]))}))
  outputs = class_aware_export[features.CLASSIFY_EXAMPLES](
      examples=tf.constant([example.SerializeToString()]))
  probs = outputs[features.CLASS_PROBS_KEY].numpy()
  assert probs.shape == (1, len(CLASSES))
  np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
  assert outputs[features.CLASS_NAME_KEY][0].numpy().decode() == CLASSES[probs[0].argmax()]
  np.testing.assert_allclose(outputs[features.CLASS_PROBABILITY_KEY], probs.max(-1), rtol=1e-6)


@pytest.fixture(scope='module')
def model_and_bins():
  bins = ab_bins.AbBins(np.ones(ab_bins.GRID_BINS))
  return network.build_network(bins.size, width=4, encoder=hparams.SCRATCH_ENCODER), bins


@pytest.fixture(scope='module')
def served(model_and_bins) -> dict:
  """The client-facing signatures with the default pixel limit."""
  return signatures.colorize_signatures(*model_and_bins, hparams.TrainingConfig.max_image_pixels)


@pytest.fixture(scope='module')
def small_limit(model_and_bins) -> dict:
  return signatures.colorize_signatures(*model_and_bins, LIMIT)


def encoded(width: int, height: int, image_format: str, mode: str = 'RGB') -> bytes:
  """Random pixels in this format and PIL mode."""
  pixels = np.random.default_rng(width).integers(0, 256, (height, width, 3), np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels).convert(mode).save(buffer, image_format)
  return buffer.getvalue()


def declaring(image_format: str, width: int, height: int) -> bytes:
  """A small real image whose header is patched to declare width x height: a decompression bomb's
  header without its megabytes (the data no longer matches, so decoding would fail or take long)."""
  data = bytearray(encoded(40, 30, image_format, '1' if image_format == 'PNG' else 'RGB'))
  if image_format == 'PNG':
    data[16:24] = width.to_bytes(4, 'big') + height.to_bytes(4, 'big')
  elif image_format == 'GIF':
    data[6:10] = width.to_bytes(2, 'little') + height.to_bytes(2, 'little')
  elif image_format == 'BMP':
    data[18:26] = width.to_bytes(4, 'little') + height.to_bytes(4, 'little')
  else:
    sof = data.index(b'\xff\xc0')   # baseline frame header: length, precision, height, width
    data[sof + 5:sof + 9] = height.to_bytes(2, 'big') + width.to_bytes(2, 'big')
  return bytes(data)


def colorize_error(signature, images: list[bytes]) -> str:
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    signature(tf.constant(images))
  return op_error_text(error.value.message)


@pytest.mark.parametrize('image_format', FORMATS)
def test_a_bomb_header_is_refused_in_milliseconds_naming_size_and_limit(served, image_format):
  bomb = declaring(image_format, 20000, 20000)
  colorize = served[features.COLORIZE_IMAGE]
  colorize(tf.constant([encoded(32, 32, 'PNG')]))  # the first call runs the graph's set-up
  start = time.perf_counter()
  message = colorize_error(colorize, [bomb])
  seconds = time.perf_counter() - start
  assert '20000x20000 = 400000000 pixels' in message
  assert f'limit of {hparams.TrainingConfig.max_image_pixels} pixels' in message
  assert seconds < 2.0, f'{seconds:.2f} s: decoded before refusing?'   # decoding it takes minutes


@pytest.mark.parametrize('image_format', FORMATS)
def test_the_limit_is_inclusive(small_limit, image_format):
  at_limit = encoded(100, 50, image_format)
  out = small_limit[features.COLORIZE_IMAGE_JPEG](tf.constant([at_limit]))
  assert tf.io.decode_jpeg(out[features.COLORIZED_JPEG_KEY][0]).shape == (50, 100, 3)
  message = colorize_error(small_limit[features.COLORIZE_IMAGE],
                           [at_limit, encoded(101, 50, image_format)])
  assert '101x50 = 5050 pixels' in message and f'limit of {LIMIT} pixels' in message


def test_empty_batches_give_empty_results(served):
  for name, key in ((features.COLORIZE_IMAGE, features.COLORIZED_PNG_KEY),
                    (features.COLORIZE_IMAGE_JPEG, features.COLORIZED_JPEG_KEY)):
    assert served[name](tf.zeros([0], tf.string))[key].shape == (0,)
  size = features.IMAGE_SIZE
  empty_l = tf.zeros([0, size, size, 1])
  assert served[features.SERVING_DEFAULT](empty_l)[features.AB_KEY].shape == (0, size, size, 2)


def test_png_and_jpeg_outputs_agree_at_full_resolution(served):
  photos = [encoded(300, 200, 'JPEG'), encoded(123, 77, 'PNG', 'L')]
  pngs = served[features.COLORIZE_IMAGE](tf.constant(photos))[features.COLORIZED_PNG_KEY]
  jpegs = served[features.COLORIZE_IMAGE_JPEG](tf.constant(photos))[features.COLORIZED_JPEG_KEY]
  for png, jpeg, (width, height) in zip(pngs.numpy(), jpegs.numpy(), [(300, 200), (123, 77)]):
    assert png.startswith(b'\x89PNG') and jpeg.startswith(b'\xff\xd8\xff')
    from_png = tf.io.decode_png(png).numpy().astype(float)
    from_jpeg = tf.io.decode_jpeg(jpeg).numpy().astype(float)
    assert from_png.shape == from_jpeg.shape == (height, width, 3)
    assert np.abs(from_png - from_jpeg).mean() < 6   # JPEG at quality 95 on noise


def test_a_class_aware_colorize_image_answers_an_empty_batch(class_aware_export):
  outputs = class_aware_export[features.COLORIZE_IMAGE](image_bytes=tf.zeros([0], tf.string))
  assert {key: value.shape for key, value in outputs.items()} == {
      features.COLORIZED_PNG_KEY: (0,), features.CLASS_NAME_KEY: (0,),
      features.CLASS_PROBABILITY_KEY: (0,)}


@pytest.mark.slow
def test_class_aware_pipeline_exports_the_class_signatures(demo_data_root, tmp_path):
  """COLORIZATION_CLASS_AWARE=1 `colorization run` on the generated photos: the trained model's
  colorize_image names one of the data's classes and a forced class recolours."""
  home = str(tmp_path / 'home')
  result = subprocess.run([COLORIZATION, 'run', '--data-root', demo_data_root, '--home', home,
                           *SMALL_RUN_FLAGS], capture_output=True, text=True, timeout=1500,
                          env=dict(os.environ, COLORIZATION_CLASS_AWARE='1'))
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  exported, = glob.glob(os.path.join(home, 'pipeline_root', 'Trainer', 'model', '*',
                                     'Format-Serving'))
  served = tf.saved_model.load(exported).signatures
  assert {features.COLORIZE_IMAGE_WITH_CLASS, features.CLASSIFY_EXAMPLES} <= set(served)
  classes = sorted(os.listdir(demo_data_root))
  images = tf.constant([photo(6)] * len(classes))
  predicted = served[features.COLORIZE_IMAGE](image_bytes=images)
  assert predicted[features.CLASS_NAME_KEY][0].numpy().decode() in classes
  forced = served[features.COLORIZE_IMAGE_WITH_CLASS](image_bytes=images,
                                                      class_name=tf.constant(classes))
  assert forced[features.COLORIZED_PNG_KEY].shape == (len(classes),)
  assert 'class head accuracy' in result.stdout.lower()
