"""The class-folder walker shared by ExampleGen's file listing and `colorization evaluate`."""
import os

from colorization.models import class_folders


def make_tree(root, paths: list[str]) -> str:
  for path in paths:
    if path.endswith('/'):
      os.makedirs(root / path, exist_ok=True)
    else:
      os.makedirs(os.path.dirname(root / path), exist_ok=True)
      (root / path).write_bytes(b'x')
  return str(root)


def test_classes_and_files_sorted_hidden_names_and_deeper_folders_aside(tmp_path):
  root = make_tree(tmp_path, ['b/2.jpg', 'b/10.jpg', 'a/y.png', 'a/x.jpg', 'a/.DS_Store',
                              '.hidden/z.jpg', 'stray.jpg', 'b/sub/deeper.jpg', 'empty/',
                              'notes/readme.txt'])
  found = class_folders.walk(root, os.listdir, os.path.isdir)
  assert found.classes == ['a', 'b', 'empty', 'notes']
  assert found.files == [('a', 'a/x.jpg'), ('a', 'a/y.png'), ('b', 'b/10.jpg'), ('b', 'b/2.jpg'),
                         ('notes', 'notes/readme.txt')]


def test_no_classes(tmp_path):
  found = class_folders.walk(make_tree(tmp_path, ['loose.jpg', '.git/config']), os.listdir,
                             os.path.isdir)
  assert found.classes == [] and found.files == []


def test_object_store_listing_with_trailing_slashes():
  """gs:// listings name sub-folders 'name/'; the walker asks isdir of the bare path."""
  listing = {'gs://bucket/root': ['face/', 'animal/', '.tmp/', 'index.csv'],
             'gs://bucket/root/face': ['b.jpg', 'a.jpg', 'crops/'],
             'gs://bucket/root/animal': ['cat.png']}
  folders = set(listing) | {'gs://bucket/root/face/crops'}
  asked = []

  def isdir(path: str) -> bool:
    asked.append(path)
    return path in folders

  found = class_folders.walk('gs://bucket/root', listing.__getitem__, isdir)
  assert found.classes == ['animal', 'face']
  assert found.files == [('animal', 'animal/cat.png'), ('face', 'face/a.jpg'), ('face', 'face/b.jpg')]
  assert not any(path.endswith('/') for path in asked)
