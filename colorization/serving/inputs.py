"""The `colorize` client's inputs: image files named by files, folders and globs."""
import dataclasses
import glob
import os

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.gif')
IMAGE_MAGIC = (b'\xff\xd8\xff', b'\x89PNG\r\n\x1a\n', b'GIF87a', b'GIF89a', b'BM')
FORMATS = 'JPEG, PNG, GIF or BMP'


@dataclasses.dataclass
class Found:
  """What the inputs name: images (path, name relative to its input), problems (path, reason:
  matches nothing, or a folder's file of another type) and the folders given."""
  images: list[tuple[str, str]]
  problems: list[tuple[str, str]]
  folders: list[str]


def find_images(inputs: list[str], skip_folder: str | None = None) -> Found:
  """Image files in files, folders (recursively, without skip_folder and hidden files) and globs.

  A folder's files of other types are problems (named, not silently left out); a file given by
  name is taken whatever its suffix (its bytes are checked when it is read)."""
  found = Found([], [], [])
  seen = set()
  skip = os.path.realpath(skip_folder) if skip_folder else None

  def add(path: str, relative: str) -> None:
    if os.path.realpath(path) not in seen:
      seen.add(os.path.realpath(path))
      found.images.append((path, relative))

  for pattern in inputs:
    if glob.has_magic(pattern):
      paths = sorted(glob.glob(pattern, recursive=True))
    else:
      paths = [pattern] if os.path.exists(pattern) else []
    if not paths:
      found.problems.append((pattern, 'matches nothing' if glob.has_magic(pattern)
                             else 'no such file or folder'))
    for path in paths:
      if not os.path.isdir(path):
        add(path, os.path.basename(path))
        continue
      found.folders.append(path)
      for folder, subfolders, files in os.walk(path):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith('.')
                               and os.path.realpath(os.path.join(folder, name)) != skip)
        for file in sorted(name for name in files if not name.startswith('.')):
          full = os.path.join(folder, file)
          if file.lower().endswith(IMAGE_SUFFIXES):
            add(full, os.path.relpath(full, path))
          else:
            found.problems.append((full, f'not a {FORMATS} file (by its suffix)'))
  return found
