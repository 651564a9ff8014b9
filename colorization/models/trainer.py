"""TFX Trainer entry point: run_fn trains the network on Transform output and exports signatures."""
import functools
import io
import os
from typing import Callable

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx_bsl.public import tfxio

from colorization.models import (ab_bins, augmentation, features, network, preprocessing,
                                 signatures, training_progress, warmup)
from colorization.models.hparams import TrainingConfig

WARM_START_FILE = 'warm_start_weights.npz'
SHUFFLE_BUFFER = 256  # examples, shuffled before their Lab PNG is decoded


def read_ab_histogram(tft_output: tft.TFTransformOutput, files: list[str]) -> np.ndarray:
  """The Transform analyzer's full-pass ab histogram (identical in every transformed example)."""
  spec = {features.AB_HISTOGRAM_KEY:
          tft_output.transformed_feature_spec()[features.AB_HISTOGRAM_KEY]}
  record = next(iter(tf.data.TFRecordDataset(tf.io.gfile.glob(files), compression_type='GZIP')))
  return tf.io.parse_single_example(record, spec)[features.AB_HISTOGRAM_KEY].numpy()


def make_bins(config: TrainingConfig, tft_output: tft.TFTransformOutput,
              train_files: list[str]) -> ab_bins.AbBins:
  """The run's bins: the training histogram with the config's rebalancing and decoding."""
  return ab_bins.AbBins(read_ab_histogram(tft_output, train_files), config.temperature,
                        config.rebalance_mix, config.logit_adjustment, config.confidence_power)


def augment(lightness: tf.Tensor, ab: tf.Tensor, crop_size: int) -> tuple[tf.Tensor, tf.Tensor]:
  """Random per-image crop (scale 0.7-1.0, resized to crop_size) and horizontal flip."""
  batch = tf.shape(lightness)[0]
  scale = tf.random.uniform([batch, 1], 0.7, 1.0)
  corner = tf.random.uniform([batch, 2]) * (1.0 - scale)
  boxes = tf.concat([corner, corner + scale], axis=1)
  flip = tf.random.uniform([batch]) < 0.5
  boxes = tf.where(flip[:, None], tf.gather(boxes, [0, 3, 2, 1], axis=1), boxes)
  lab = tf.image.crop_and_resize(tf.concat([lightness, ab], -1), boxes, tf.range(batch),
                                 [crop_size, crop_size])
  return lab[..., :1], lab[..., 1:]


def make_dataset(fn_args, tft_output: tft.TFTransformOutput, files: list[str],
                 config: TrainingConfig, training: bool) -> tf.data.Dataset:
  """(L, ab at prediction resolution) batches; augmentation only for training."""
  dataset = fn_args.data_accessor.tf_dataset_factory(
      files, tfxio.TensorFlowDatasetOptions(batch_size=config.batch_size, shuffle=training,
                                            shuffle_buffer_size=SHUFFLE_BUFFER,
                                            num_epochs=None if training else 1),
      tft_output.transformed_metadata.schema)

  if config.train_classes:
    wanted = tf.constant(list(config.train_classes))
    dataset = dataset.unbatch().filter(
        lambda example: tf.reduce_any(tf.equal(example[features.LABEL_KEY][0], wanted))
    ).batch(config.batch_size, drop_remainder=training)

  def to_pair(batch):
    lightness, ab = preprocessing.decode_lab(batch[features.LAB_PNG_KEY])
    if training:
      lightness, ab = augment(lightness, ab, config.crop_size)
      if config.lightness_augmentation:
        lightness = augmentation.degrade_lightness(lightness, config.lightness_augmentation)
    return lightness, preprocessing.pool_ab(ab)

  if config.class_aware:
    to_pair = class_aware_pairs(to_pair, preprocessing.class_names(tft_output),
                                config.class_teacher_forcing if training else 0.0)
  return dataset.map(to_pair, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def class_aware_pairs(to_pair: Callable[[dict], tuple[tf.Tensor, tf.Tensor]],
                      class_names: list[str],
                      teacher_forcing: float) -> Callable[[dict], tuple[dict, dict]]:
  """Wraps to_pair for the class-aware network: inputs {L, class_condition}, targets {ab, one-hot
  class}. A teacher_forcing share of the images is conditioned on its true class (training the
  override path a caller uses), the rest on the head's own prediction (an all-zero condition, as
  colorize_image serves). A label outside class_names has a zero one-hot: no class loss."""
  table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(tf.constant(class_names),
                                          tf.range(len(class_names), dtype=tf.int64)), -1)

  def pairs(batch):
    lightness, ab = to_pair(batch)
    one_hot = tf.one_hot(table.lookup(tf.reshape(batch[features.LABEL_KEY], [-1])),
                         len(class_names))
    forced = tf.random.uniform([tf.shape(one_hot)[0], 1]) < teacher_forcing
    condition = tf.where(forced, one_hot, tf.zeros_like(one_hot))
    return ({features.L_KEY: lightness, features.CLASS_CONDITION_KEY: condition},
            {features.AB_LOGITS_KEY: ab, features.CLASS_PROBS_KEY: one_hot})

  return pairs


def _compile(model: tf.keras.Model, bins: ab_bins.AbBins, learning_rate: float,
             steps: int, class_loss_weight: float = 0.0) -> None:
  schedule = tf.keras.optimizers.schedules.CosineDecay(learning_rate, max(1, steps), alpha=0.05)
  if network.is_class_aware(model):
    model.compile(optimizer=tf.keras.optimizers.Adam(schedule),
                  loss={features.AB_LOGITS_KEY: lambda ab_true, logits: bins.loss(ab_true, logits),
                        features.CLASS_PROBS_KEY: 'categorical_crossentropy'},
                  loss_weights={features.AB_LOGITS_KEY: 1.0,
                                features.CLASS_PROBS_KEY: class_loss_weight},
                  metrics={features.CLASS_PROBS_KEY: ['categorical_accuracy']})
    return
  model.compile(optimizer=tf.keras.optimizers.Adam(schedule),
                loss=lambda ab_true, logits: bins.loss(ab_true, logits))


def build_model(config: TrainingConfig, bins: ab_bins.AbBins, total_steps: int,
                num_classes: int = 0) -> tf.keras.Model:
  """The network (pretrained encoder frozen) compiled with run_fn's cosine-decayed Adam and the
  rebalanced loss; with config.class_aware, the class head of num_classes and its weighted
  cross-entropy too."""
  if config.class_aware and num_classes < 1:
    raise ValueError('class_aware needs the number of classes (the training labels)')
  model = network.build_network(bins.size, config.width, prior=bins.rebalanced_prior,
                                encoder=config.encoder, encoder_weights=config.encoder_weights,
                                num_classes=num_classes if config.class_aware else 0)
  _compile(model, bins, config.learning_rate, total_steps, config.class_loss_weight)
  return model


def unfreeze_encoder(model: tf.keras.Model, config: TrainingConfig, bins: ab_bins.AbBins,
                     steps: int) -> None:
  """Makes the pretrained encoder trainable (its BatchNorm stays in inference mode) and
  recompiles at the fine-tuning learning rate."""
  model.get_layer(network.encoder_layer_name(config.encoder)).trainable = True
  _compile(model, bins, config.fine_tune_learning_rate, steps, config.class_loss_weight)


def read_weights(path: str) -> list[np.ndarray]:
  """The weight arrays a run saved beside its SavedModel (WARM_START_FILE), in layer order."""
  with tf.io.gfile.GFile(path, 'rb') as f:
    saved = np.load(io.BytesIO(f.read()))
  return [saved[f'arr_{i}'] for i in range(len(saved.files))]


def _warm_start(model: tf.keras.Model, base_model_dir: str | None) -> None:
  """Copies every weight whose shape matches from the last blessed model, if one exists."""
  path = base_model_dir and os.path.join(os.path.dirname(base_model_dir), WARM_START_FILE)
  if not path or not tf.io.gfile.exists(path):
    logging.info('Warm start requested but no blessed model weights found; training from scratch.')
    return
  arrays = read_weights(path)
  restored = 0
  for variable, array in zip(model.weights, arrays):
    if tuple(variable.shape) == array.shape:
      variable.assign(array)
      restored += 1
  logging.info('Warm start: restored %d of %d weight tensors from %s', restored,
               len(model.weights), path)


def run_fn(fn_args) -> None:
  """TFX Trainer entry point (run_fn='colorization.models.trainer.run_fn')."""
  config = TrainingConfig.from_custom_config(fn_args.custom_config or {})
  tf.keras.utils.set_random_seed(config.seed)
  tft_output = tft.TFTransformOutput(fn_args.transform_output)
  bins = make_bins(config, tft_output, fn_args.train_files)
  logging.info('ab bins in gamut: %d', bins.size)

  phases = training_progress.plan_phases(fn_args.train_steps, config)
  num_classes = len(preprocessing.class_names(tft_output)) if config.class_aware else 0
  model = build_model(config, bins, total_steps=phases[0].steps, num_classes=num_classes)
  if config.warm_start:
    _warm_start(model, fn_args.base_model)
  train_data = make_dataset(fn_args, tft_output, fn_args.train_files, config, training=True)
  fit = functools.partial(
      model.fit, train_data, verbose=0,
      validation_data=make_dataset(fn_args, tft_output, fn_args.eval_files, config, False),
      validation_steps=fn_args.eval_steps or None,
      callbacks=training_progress.make_callbacks(fn_args.model_run_dir, phases))
  for phase in phases:  # epochs numbered on across phases: one curve per run
    if phase.name == training_progress.FINE_TUNING:
      unfreeze_encoder(model, config, bins, phase.steps)
    fit(**phase.fit_args())

  model.save(fn_args.serving_model_dir, save_format='tf',
             signatures=signatures.make_signatures(model, bins, tft_output,
                                                  config.max_image_pixels))
  warmup.write_warmup_file(fn_args.serving_model_dir)
  buffer = io.BytesIO()
  np.savez(buffer, *model.get_weights())
  with tf.io.gfile.GFile(os.path.join(os.path.dirname(fn_args.serving_model_dir),
                                      WARM_START_FILE), 'wb') as f:
    f.write(buffer.getvalue())
