"""The tf-keras Lite0 with the mapped ImageNet weights against a numpy forward pass of the state dict."""
import numpy as np
import pytest

from colorization.models import efficientnet_lite, torch_weights


def _same_pad(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
  """TF 'same' padding of an NHWC array: extra row/column at the bottom/right."""
  pads = []
  for size in x.shape[1:3]:
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    pads.append((total // 2, total - total // 2))
  return np.pad(x, [(0, 0), *pads, (0, 0)])


def _conv(x: np.ndarray, weight: np.ndarray, stride: int = 1, groups: int = 1) -> np.ndarray:
  """torch-layout weight (O, I/groups, k, k); groups == channels is depthwise."""
  kernel = weight.shape[-1]
  x = _same_pad(x, kernel, stride)
  rows = (x.shape[1] - kernel) // stride + 1
  cols = (x.shape[2] - kernel) // stride + 1
  out = 0.0
  for dy in range(kernel):
    for dx in range(kernel):
      patch = x[:, dy:dy + stride * rows:stride, dx:dx + stride * cols:stride]
      tap = weight[:, :, dy, dx]
      out = out + (patch * tap[:, 0] if groups > 1 else patch @ tap.T)
  return out


def _bn(x: np.ndarray, state: dict, prefix: str) -> np.ndarray:
  scale = state[f'{prefix}.weight'] / np.sqrt(state[f'{prefix}.running_var'] + 1e-3)
  return (x - state[f'{prefix}.running_mean']) * scale + state[f'{prefix}.bias']


def _relu6(x: np.ndarray) -> np.ndarray:
  return np.clip(x, 0.0, 6.0)


def reference_logits(state: dict, rgb: np.ndarray) -> np.ndarray:
  """EfficientNet-Lite0 forward pass straight from the torch parameter names."""
  x = _relu6(_bn(_conv(rgb, state['_conv_stem.weight'], 2), state, '_bn0'))
  index = 0
  for repeats, _kernel, stride, expansion, _channels in efficientnet_lite.STAGES:
    for repeat in range(repeats):
      block, inputs = f'_blocks.{index}', x
      if expansion != 1:
        x = _relu6(_bn(_conv(x, state[f'{block}._expand_conv.weight']), state, f'{block}._bn0'))
      x = _conv(x, state[f'{block}._depthwise_conv.weight'], stride if repeat == 0 else 1,
                groups=x.shape[-1])
      x = _relu6(_bn(x, state, f'{block}._bn1'))
      x = _bn(_conv(x, state[f'{block}._project_conv.weight']), state, f'{block}._bn2')
      if x.shape == inputs.shape:
        x = x + inputs
      index += 1
  x = _relu6(_bn(_conv(x, state['_conv_head.weight']), state, '_bn1'))
  return x.mean(axis=(1, 2)) @ state['_fc.weight'].T + state['_fc.bias']


def generated_images(count: int, size: int) -> np.ndarray:
  """Colour gradients with a bright disc: structured enough to give confident, distinct classes."""
  rng = np.random.default_rng(7)
  y, x = np.mgrid[0:size, 0:size] / size
  images = []
  for _ in range(count):
    base = rng.uniform(0, 255, 3) * (1 - y[..., None]) + rng.uniform(0, 255, 3) * x[..., None]
    cy, cx, radius = rng.uniform(0.3, 0.7, 2).tolist() + [rng.uniform(0.1, 0.3)]
    disc = (y - cy) ** 2 + (x - cx) ** 2 < radius ** 2
    base[disc] = rng.uniform(0, 255, 3)
    images.append(np.clip(base, 0, 255))
  return ((np.stack(images) - 127.0) / 128.0).astype(np.float32)


@pytest.fixture(scope='module')
def state() -> dict:
  return torch_weights.read_state_dict(efficientnet_lite.default_weights_path())


def test_mapped_encoder_classifies_like_the_numpy_reference(state):
  images = generated_images(4, 96)
  model = efficientnet_lite.build_encoder(with_classifier=True)
  efficientnet_lite.load_imagenet_weights(model)
  ours = model(images, training=False).numpy()
  reference = reference_logits(state, images.astype(np.float64))
  np.testing.assert_array_equal(ours.argmax(-1), reference.argmax(-1))
  np.testing.assert_allclose(ours, reference, atol=2e-3 * np.abs(reference).max())
  assert len(set(reference.argmax(-1))) > 1  # the images are told apart, not one default class


def test_state_dict_holds_every_lite0_layer(state):
  model = efficientnet_lite.build_encoder(with_classifier=True)
  model_params = sum(int(np.prod(w.shape)) for w in model.weights)
  state_params = sum(a.size for k, a in state.items() if not k.endswith('num_batches_tracked'))
  assert model_params == state_params
