"""bench/served_graph.py: a model without the served image signatures is refused in one line."""
import pytest
import tensorflow as tf

from bench import served_graph


def test_a_model_without_the_jpeg_signature_is_named(tmp_path):
  module = tf.Module()
  module.double = tf.function(lambda x: {'y': 2 * x},
                              input_signature=[tf.TensorSpec([None], tf.float32)])
  tf.saved_model.save(module, str(tmp_path), signatures={'serving_default': module.double})
  with pytest.raises(SystemExit, match='has no colorize_image or colorize_image_jpeg signature'):
    served_graph.compare(str(tmp_path), repeats=1)
