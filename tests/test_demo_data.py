"""pipeline/demo_data.py: the generated photo set is stable, so a second demo run hits the cache."""
import os

from PIL import Image

from colorization.pipeline import demo_data


def _state(root: str) -> dict:
  return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns
          for d, _, files in os.walk(root) for f in files}


def test_every_class_gets_its_images(tmp_path):
  root = demo_data.write_demo_dataset(str(tmp_path), images_per_class=3)
  for label in demo_data.CLASSES:
    names = sorted(os.listdir(os.path.join(root, label)))
    assert names == [f'{label}_{i:03d}.jpg' for i in range(3)]
    assert Image.open(os.path.join(root, label, names[0])).mode == 'RGB'


def test_rewriting_leaves_identical_files_untouched(tmp_path):
  root = demo_data.write_demo_dataset(str(tmp_path), images_per_class=3)
  before = _state(root)
  for path in before:                       # push every mtime into the past
    os.utime(path, ns=(before[path] - 10**9, before[path] - 10**9))
  aged = _state(root)
  demo_data.write_demo_dataset(str(tmp_path), images_per_class=3)
  assert _state(root) == aged


def test_a_changed_file_is_restored(tmp_path):
  root = demo_data.write_demo_dataset(str(tmp_path), images_per_class=2)
  path = os.path.join(root, 'face', 'face_001.jpg')
  original = open(path, 'rb').read()
  with open(path, 'wb') as f:
    f.write(b'truncated')
  demo_data.write_demo_dataset(str(tmp_path), images_per_class=2)
  assert open(path, 'rb').read() == original
