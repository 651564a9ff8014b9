"""The numpy reader of legacy torch state dicts: round trip, truncation, and refusal of any other global."""
import collections
import os
import pickle
import subprocess
import sys
import types
import zipfile

import numpy as np
import pytest

from colorization.models import torch_weights


class _Storage:
  """Stands in for a torch storage: pickled as a persistent id, written after the pickles."""

  def __init__(self, key: str, data: np.ndarray):
    self.key, self.data = key, data


class _Tensor:
  """Stands in for a torch tensor: reduces to torch._utils._rebuild_tensor_v2 like the real one."""

  def __init__(self, storage: _Storage, offset: int, shape: tuple, stride: tuple):
    self.args = (storage, offset, shape, stride, False, collections.OrderedDict())

  def __reduce__(self):
    return sys.modules['torch._utils']._rebuild_tensor_v2, self.args


@pytest.fixture
def fake_torch(monkeypatch):
  """Importable torch._utils._rebuild_tensor_v2 and torch.FloatStorage, so pickle can name them."""
  torch = types.ModuleType('torch')
  utils = types.ModuleType('torch._utils')

  def _rebuild_tensor_v2(*args):
    raise AssertionError('never called when writing')

  _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = 'torch._utils', '_rebuild_tensor_v2'
  utils._rebuild_tensor_v2 = _rebuild_tensor_v2
  torch.FloatStorage = type('FloatStorage', (), {'__module__': 'torch'})
  torch._utils = utils
  monkeypatch.setitem(sys.modules, 'torch', torch)
  monkeypatch.setitem(sys.modules, 'torch._utils', utils)
  return torch


class _Pickler(pickle.Pickler):
  def persistent_id(self, obj):
    if isinstance(obj, _Storage):
      return ('storage', sys.modules['torch'].FloatStorage, obj.key, 'cpu', obj.data.size)
    return None


def write_legacy(path, state: dict, storages: list[_Storage]) -> None:
  """The layout of torch.save(..., _use_new_zipfile_serialization=False)."""
  with open(path, 'wb') as f:
    for obj in (torch_weights.LEGACY_MAGIC, 1001, {'protocol_version': 1001, 'little_endian': True}):
      pickle.dump(obj, f, protocol=2)
    _Pickler(f, protocol=2).dump(state)
    pickle.dump([s.key for s in storages], f, protocol=2)
    for storage in storages:
      f.write(np.int64(storage.data.size).tobytes())
      f.write(storage.data.astype('<f4').tobytes())


def test_round_trip_keeps_shapes_offsets_and_strides(tmp_path, fake_torch):
  values = np.arange(24, dtype=np.float32)
  storage = _Storage('0', values)
  state = collections.OrderedDict(
      conv=_Tensor(storage, 0, (2, 3, 2), (6, 2, 1)),
      transposed=_Tensor(storage, 12, (3, 4), (1, 3)),
      bias=_Tensor(_Storage('1', np.array([0.5, -1.5], np.float32)), 0, (2,), (1,)))
  path = tmp_path / 'weights.pth'
  write_legacy(path, state, [storage, _Storage('1', np.array([0.5, -1.5], np.float32))])
  arrays = torch_weights.read_state_dict(str(path))
  np.testing.assert_array_equal(arrays['conv'], values[:12].reshape(2, 3, 2))
  np.testing.assert_array_equal(arrays['transposed'], values[12:].reshape(4, 3).T)
  np.testing.assert_array_equal(arrays['bias'], [0.5, -1.5])
  assert arrays['conv'].dtype == np.float32


class _Evil:
  def __init__(self, target, argument):
    self.target, self.args = target, (argument,)

  def __reduce__(self):
    return self.target, self.args


@pytest.mark.parametrize('target,command', [
    (os.system, 'touch {marker}'),
    (exec, "open(r'{marker}', 'w').close()"),
    (subprocess.call, 'touch {marker}'),
])
def test_a_tampered_file_naming_another_global_is_refused(tmp_path, fake_torch, target, command):
  marker = tmp_path / 'pwned'
  payload = _Evil(target, command.format(marker=marker))
  storage = _Storage('0', np.zeros(4, np.float32))
  state = collections.OrderedDict(weight=_Tensor(storage, 0, (4,), (1,)), extra=payload)
  path = tmp_path / 'tampered.pth'
  write_legacy(path, state, [storage])
  with pytest.raises(torch_weights.UnsafeWeightsError, match='refusing global'):
    torch_weights.read_state_dict(str(path))
  assert not marker.exists()


def test_truncated_storage_names_the_file(tmp_path, fake_torch):
  storage = _Storage('0', np.arange(8, dtype=np.float32))
  path = tmp_path / 'cut.pth'
  write_legacy(path, collections.OrderedDict(w=_Tensor(storage, 0, (8,), (1,))), [storage])
  path.write_bytes(path.read_bytes()[:-5])
  with pytest.raises(ValueError, match='cut.pth: truncated storage 0'):
    torch_weights.read_state_dict(str(path))


def test_a_zip_format_file_is_named_as_unsupported(tmp_path):
  zipped, other = tmp_path / 'new.pth', tmp_path / 'other.pth'
  with zipfile.ZipFile(zipped, 'w') as archive:
    archive.writestr('archive/data.pkl', pickle.dumps({}))
  other.write_bytes(pickle.dumps(12345))
  for path in (zipped, other):
    with pytest.raises(ValueError, match=f'{path.name}: not a legacy PyTorch file'):
      torch_weights.read_state_dict(str(path))
