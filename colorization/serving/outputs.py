"""Where `colorize` writes, and what it never does: overwrite an input, overwrite an existing file
without --overwrite, or let two inputs write the same output.

An output folder that is, or is inside, an input folder is refused unless asked for: the PNGs
would sit among the originals (a.jpg's colorization is a.png, perhaps an original) and be read as
inputs by the next run.
"""
import os


def check_output_folder(output_dir: str, input_folders: list[str], allow_inside: bool) -> None:
  """ValueError if output_dir is, or is inside, one of the input folders (unless allow_inside)."""
  output = os.path.realpath(output_dir)
  for folder in input_folders:
    real = os.path.realpath(folder)
    if allow_inside or not (output == real or output.startswith(real.rstrip(os.sep) + os.sep)):
      continue
    where = 'the input folder' if output == real else 'inside the input folder'
    raise ValueError(f'the output folder {output_dir} is {where} {folder}: the PNGs would mix '
                     f'with the originals and be read as inputs next time; choose another '
                     f'--output-dir, or pass --allow-output-inside-input')


def plan_outputs(images: list[tuple[str, str]], output_dir: str, overwrite: bool,
                 suffix: str = '.png') -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
  """(input path, output path ending in suffix) for each (input path, name relative to its input)
  whose output may be written; (input path, reason) for the others: output is an input, exists (without overwrite),
  or is another input's (a.jpg and a.png both give a.png: the first in order keeps it)."""
  inputs = {os.path.realpath(path) for path, _ in images}
  claimed: dict[str, str] = {}
  planned, refused = [], []
  for path, relative in images:
    output = os.path.join(output_dir, os.path.splitext(relative)[0] + suffix)
    key = os.path.normcase(os.path.realpath(output))
    if key in claimed:
      refused.append((path, f'its output {output} is already {claimed[key]}\'s; rename one'))
    elif os.path.realpath(output) in inputs:
      refused.append((path, f'its output {output} is an input; choose another --output-dir'))
    elif os.path.lexists(output) and not overwrite:
      refused.append((path, f'{output} exists; --overwrite replaces it'))
    else:
      claimed[key] = path
      planned.append((path, output))
  return planned, refused


def write_output(path: str, data: bytes, overwrite: bool) -> None:
  """Writes a PNG: atomically over an existing file with overwrite, else only if path is new
  (FileExistsError if it appeared since the plan was made)."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  if not overwrite:
    with open(path, 'xb') as f:
      f.write(data)
    return
  partial = f'{path}.partial-{os.getpid()}'
  with open(partial, 'wb') as f:
    f.write(data)
  os.replace(partial, path)
