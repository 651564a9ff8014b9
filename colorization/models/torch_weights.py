"""Reads a legacy (non-zip) PyTorch state dict with numpy alone: no torch, no arbitrary code.

The legacy format (torch.save with _use_new_zipfile_serialization=False) is a sequence of
pickles: magic number, protocol version, system info, the state dict (tensors refer to storages
by persistent id), the list of storage keys; then each storage as an int64 element count and its
raw little-endian elements. The unpickler resolves only the globals such a file needs and refuses
every other one, so a tampered file cannot run code.
"""
import collections
import dataclasses
import pickle

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {'FloatStorage': np.float32, 'DoubleStorage': np.float64,
                   'HalfStorage': np.float16, 'LongStorage': np.int64, 'IntStorage': np.int32,
                   'ShortStorage': np.int16, 'CharStorage': np.int8, 'ByteStorage': np.uint8,
                   'BoolStorage': np.bool_}


class UnsafeWeightsError(pickle.UnpicklingError):
  """The file names a global that a plain state dict never needs."""


@dataclasses.dataclass(frozen=True)
class _StorageType:
  dtype: type


@dataclasses.dataclass(frozen=True)
class _TensorRef:
  key: str
  offset: int
  shape: tuple[int, ...]
  stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, offset, shape, stride, *_unused) -> _TensorRef:
  return _TensorRef(storage, offset, tuple(shape), tuple(stride))


class _Unpickler(pickle.Unpickler):
  """Allows torch._utils._rebuild_tensor_v2, torch.*Storage and OrderedDict; nothing else."""

  def __init__(self, file, dtypes: dict[str, type]):
    super().__init__(file)
    self._dtypes = dtypes

  def find_class(self, module: str, name: str):
    if (module, name) == ('collections', 'OrderedDict'):
      return collections.OrderedDict
    if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
      return _rebuild_tensor_v2
    if module == 'torch' and name in _STORAGE_DTYPES:
      return _StorageType(_STORAGE_DTYPES[name])
    raise UnsafeWeightsError(f'refusing global {module}.{name}: not part of a plain state dict')

  def persistent_load(self, pid):
    kind, storage_type, key, _location, _size = pid[:5]
    if kind != 'storage' or not isinstance(storage_type, _StorageType):
      raise UnsafeWeightsError(f'unexpected persistent id {pid!r}')
    self._dtypes[key] = storage_type.dtype
    return key


def read_state_dict(path: str) -> dict[str, np.ndarray]:
  """Parameter name -> array, for a legacy-format .pth state dict."""
  dtypes: dict[str, type] = {}
  with open(path, 'rb') as f:
    if f.read(2) == b'PK' or f.seek(0) or _Unpickler(f, dtypes).load() != LEGACY_MAGIC:
      raise ValueError(f'{path}: not a legacy PyTorch file (zip-format files are not supported)')
    _Unpickler(f, dtypes).load()  # protocol version
    _Unpickler(f, dtypes).load()  # system info
    state = _Unpickler(f, dtypes).load()
    storages = {}
    for key in _Unpickler(f, dtypes).load():
      count = int(np.frombuffer(f.read(8), '<i8')[0])
      dtype = np.dtype(dtypes[key]).newbyteorder('<')
      data = f.read(count * dtype.itemsize)
      if len(data) != count * dtype.itemsize:
        raise ValueError(f'{path}: truncated storage {key}')
      storages[key] = np.frombuffer(data, dtype)
  if not isinstance(state, dict):
    raise ValueError(f'{path}: not a state dict')
  arrays = {}
  for name, ref in state.items():
    if not isinstance(ref, _TensorRef):
      continue
    storage = storages[ref.key]
    itemsize = storage.itemsize
    arrays[name] = np.lib.stride_tricks.as_strided(
        storage[ref.offset:], ref.shape, [s * itemsize for s in ref.stride]).copy()
  return arrays
