"""Walking the data layout DATA_ROOT/<class>/<file>: the class is the folder's name (features.LABEL_KEY).

No TensorFlow here: the caller passes its own file-system functions (os.listdir for `colorization
evaluate`, tf.io.gfile for ExampleGen and object stores) and applies its own rules to the result.
"""
import dataclasses
import os
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class ClassFiles:
  classes: list[str]            # the visible sub-folders of the data root, sorted
  files: list[tuple[str, str]]  # (class, '<class>/<file>') for each visible file in them, sorted


def visible_entries(folder: str, listdir: Callable[[str], list[str]]) -> list[str]:
  """The entry names of a folder, hidden ones ('.name') aside, sorted (object stores may mark
  sub-folders with a trailing '/': it is dropped)."""
  return sorted(name.rstrip('/') for name in listdir(folder) if not name.startswith('.'))


def walk(data_root: str, listdir: Callable[[str], list[str]],
         isdir: Callable[[str], bool]) -> ClassFiles:
  """The classes of `data_root` and the files directly in each (deeper folders are not walked)."""
  classes = [name for name in visible_entries(data_root, listdir)
             if isdir(os.path.join(data_root, name))]
  files = []
  for label in classes:
    folder = os.path.join(data_root, label)
    files += [(label, f'{label}/{name}') for name in visible_entries(folder, listdir)
              if not isdir(os.path.join(folder, name))]
  return ClassFiles(classes, files)
