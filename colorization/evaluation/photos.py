"""The photos to evaluate: DATA_ROOT/<class>/<photo> (all, or those a file list names) or the
photos of one split of a pipeline run. Each is known by its path relative to the data root, the key
that lines up two evaluations photo by photo."""
import dataclasses
import os

from colorization.models import class_folders


class PhotoSourceError(ValueError):
  """No photos can be evaluated from this source (missing folder, no classes, nothing listed)."""


@dataclasses.dataclass(frozen=True)
class Photo:
  path: str                   # <class>/<file>, relative to the data root
  label: str                  # the class: the path's first folder
  location: str               # where the bytes are: a file, or a run's split (names the photo in errors)
  data: bytes | None = None   # the bytes themselves, when they come from a run's examples

  def read(self) -> bytes:
    """The photo's encoded bytes (OSError if its file cannot be read)."""
    if self.data is not None:
      return self.data
    with open(self.location, 'rb') as f:
      return f.read()


def limit_per_class(photos: list[Photo], limit: int | None) -> list[Photo]:
  """The first `limit` photos of each class in path order (all with None)."""
  if limit is None:
    return photos
  if limit < 1:
    raise PhotoSourceError(f'the limit per class must be at least 1, not {limit}')
  taken: dict[str, int] = {}
  kept = []
  for photo in sorted(photos, key=lambda p: p.path):
    if taken.get(photo.label, 0) < limit:
      taken[photo.label] = taken.get(photo.label, 0) + 1
      kept.append(photo)
  return kept


def folder_photos(data_root: str, file_list: str | None = None) -> list[Photo]:
  """Every file of DATA_ROOT/<class>/ (hidden ones aside), or only those the file list names.

  Files that are not images are returned too: reading them names and skips each one.
  """
  if not os.path.isdir(data_root):
    raise PhotoSourceError(f'data root {data_root!r} is not a folder')
  if file_list is not None:
    return [_listed_photo(data_root, relative, file_list) for relative in read_file_list(file_list)]
  found = class_folders.walk(data_root, os.listdir, os.path.isdir)
  if not found.classes:
    raise PhotoSourceError(f'data root {data_root!r} has no class sub-folders '
                           '(expected DATA_ROOT/<class>/<photo>)')
  photos = [Photo(relative, label, os.path.join(data_root, *relative.split('/')))
            for label, relative in found.files]
  if not photos:
    raise PhotoSourceError(f'no photos in the class folders of {data_root!r}')
  return photos


def read_file_list(path: str) -> list[str]:
  """Relative photo paths, one a line (blank lines and lines starting with # ignored)."""
  with open(path) as f:
    names = [line.strip() for line in f]
  names = [name for name in names if name and not name.startswith('#')]
  if not names:
    raise PhotoSourceError(f'file list {path!r} names no photos')
  return names


def _listed_photo(data_root: str, relative: str, file_list: str) -> Photo:
  parts = relative.replace(os.sep, '/').split('/')
  if len(parts) < 2 or os.path.isabs(relative) or '..' in parts:
    raise PhotoSourceError(f'{file_list}: {relative!r} is not a <class>/<photo> path under the '
                           'data root')
  return Photo('/'.join(parts), parts[0], os.path.join(data_root, *parts))


def split_photos(home: str, split: str = 'test', pipeline_name: str | None = None) -> list[Photo]:
  """The photos of one split of the last pipeline run under `home` (of the named pipeline, default
  the configured one), read from its examples (the bytes ExampleGen stored, keyed by their path
  under the run's data root)."""
  from colorization.models import features
  from colorization.pipeline import config as config_lib
  from colorization.pipeline import report, results
  config = config_lib.from_env(home=home, pipeline_name=pipeline_name)
  examples = results.latest_output(results.open_store(config), config, 'FileBasedExampleGen',
                                   'examples')
  if examples is None:
    raise PhotoSourceError(f'no finished ExampleGen under {home}: run `colorization run` first')
  rows = report.read_split_examples(examples.uri, split)
  if not rows:
    raise PhotoSourceError(f'the run under {home} has no photos in a split named {split!r}')
  return [Photo(row[features.FILENAME_KEY].decode(), row[features.LABEL_KEY].decode(),
                f'{split} split: {row[features.FILENAME_KEY].decode()}', row[features.IMAGE_KEY])
          for row in rows]


def split_file_names(home: str, split: str = 'test') -> list[str]:
  """The relative paths of one split of the last run under `home`, for `evaluate --file-list`."""
  return [photo.path for photo in split_photos(home, split)]
