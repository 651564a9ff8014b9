"""The tf-keras Lite0 and Lite2 with the mapped ImageNet weights against a numpy forward pass of the
state dict; the scaled stage tables against the weights files; strict loading."""
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


def reference_logits(state: dict, rgb: np.ndarray, variant: str) -> np.ndarray:
  """EfficientNet-Lite forward pass straight from the torch parameter names."""
  x = _relu6(_bn(_conv(rgb, state['_conv_stem.weight'], 2), state, '_bn0'))
  index = 0
  for repeats, _kernel, stride, expansion, _channels in efficientnet_lite.scaled_stages(variant):
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


VARIANTS = tuple(efficientnet_lite.VARIANTS)


@pytest.fixture(scope='module', params=VARIANTS)
def variant(request) -> str:
  return request.param


@pytest.fixture(scope='module')
def state(variant) -> dict:
  return torch_weights.read_state_dict(efficientnet_lite.default_weights_path(variant))


def test_mapped_encoder_classifies_like_the_numpy_reference(variant, state):
  images = generated_images(4, 96)
  model = efficientnet_lite.build_encoder(variant, with_classifier=True)
  efficientnet_lite.load_imagenet_weights(model, variant=variant)
  ours = model(images, training=False).numpy()
  reference = reference_logits(state, images.astype(np.float64), variant)
  assert np.isfinite(ours).all()
  np.testing.assert_array_equal(ours.argmax(-1), reference.argmax(-1))
  np.testing.assert_allclose(ours, reference, atol=2e-3 * np.abs(reference).max())
  assert len(set(reference.argmax(-1))) > 1  # the images are told apart, not one default class


def test_state_dict_holds_every_layer(variant, state):
  model = efficientnet_lite.build_encoder(variant, with_classifier=True)
  model_params = sum(int(np.prod(w.shape)) for w in model.weights)
  state_params = sum(a.size for k, a in state.items() if not k.endswith('num_batches_tracked'))
  assert model_params == state_params


@pytest.mark.parametrize('variant,stages', [
    ('efficientnet-lite0', efficientnet_lite.STAGES),
    # Read off the Lite2 file: 21 blocks; widths 16 24 48 88 120 208 352; stem 32, head 1280 kept.
    ('efficientnet-lite2', ((1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 48), (4, 3, 2, 6, 88),
                            (4, 5, 1, 6, 120), (5, 5, 2, 6, 208), (1, 3, 1, 6, 352))),
])
def test_scaled_stages_match_google_lite_scaling(variant, stages):
  assert efficientnet_lite.scaled_stages(variant) == stages


def test_every_block_of_the_weights_file_is_built(variant, state):
  blocks = {int(name.split('.')[1]) for name in state if name.startswith('_blocks.')}
  assert len(blocks) == sum(stage[0] for stage in efficientnet_lite.scaled_stages(variant))
  assert state['_conv_head.weight'].shape[:2] == (
      efficientnet_lite.HEAD_CHANNELS, efficientnet_lite.scaled_stages(variant)[-1][-1])


@pytest.mark.parametrize('variant,channels', [
    ('efficientnet-lite0', (16, 24, 40, 112, 1280)),
    ('efficientnet-lite2', (16, 24, 48, 120, 1280)),
])
def test_skip_outputs_at_strides_2_to_32(variant, channels):
  outputs = efficientnet_lite.build_encoder(variant)(np.zeros([2, 64, 96, 3], np.float32))
  assert [tuple(o.shape) for o in outputs] == [
      (2, 64 // s, 96 // s, c) for s, c in zip(efficientnet_lite.SKIP_STRIDES, channels)]


def test_weights_of_another_variant_are_refused_by_name():
  lite0 = efficientnet_lite.default_weights_path('efficientnet-lite0')
  model = efficientnet_lite.build_encoder('efficientnet-lite2')
  with pytest.raises(ValueError, match=r'efficientnet-lite0-\w+\.pth: tensor _blocks\.3\.'):
    efficientnet_lite.load_imagenet_weights(model, lite0, 'efficientnet-lite2')


def test_a_tensor_no_layer_uses_is_named(monkeypatch):
  read = torch_weights.read_state_dict
  monkeypatch.setattr(torch_weights, 'read_state_dict',
                      lambda path: {**read(path), '_blocks.99._bn0.weight': np.zeros(8, np.float32)})
  model = efficientnet_lite.build_encoder('efficientnet-lite0')
  with pytest.raises(ValueError, match=r'1 tensors fit no layer .* _blocks\.99\._bn0\.weight'):
    efficientnet_lite.load_imagenet_weights(model)


def test_unknown_variant_is_named():
  with pytest.raises(ValueError, match='efficientnet-lite9'):
    efficientnet_lite.build_encoder('efficientnet-lite9')
