"""Image-classification arrays from local files (no download, ever).

A dataset directory holds either `<name>.npz` with x_train, y_train, x_test,
y_test, or the four IDX files (optionally gzipped) with their standard names:
train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
t10k-labels-idx1-ubyte.

`reading` is the one guard every loader puts around parsing a user's file: a
truncated, corrupt or mis-encoded file becomes one `InputError` line naming it.
"""

import contextlib
import gzip
import os
import zipfile

import numpy as np

from mimjax._errors import InputError
from mimjax._errors import MissingInputError

_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_KEYS = ("x_train", "y_train", "x_test", "y_test")
_REPLACE = "replace it with an intact copy"


@contextlib.contextmanager
def reading(path, what):
  """Turns an error while parsing `path` into one `InputError` line.

  Args:
    path: the file being read, named in the message.
    what: what it should be, e.g. "npz archive" or "utf-8 text file".

  Raises:
    InputError: naming `path`, its size, `what` and the parser's complaint;
      an `InputError` raised inside passes through unchanged.
  """
  try:
    yield
  except InputError:
    raise
  except Exception as e:  # zipfile, gzip, zlib, pickle, scipy.io: many types.
    raise InputError(
        f"{path} ({os.path.getsize(path)} bytes) is not a readable {what} "
        f"({one_line(e)}); {_REPLACE}"
    ) from e


def one_line(error):
  """`error` as "Type: message" on one line, for a message of one's own."""
  return f"{type(error).__name__}: {' '.join(str(error).split())}"


def _read_idx(path):
  opener = gzip.open if path.endswith(".gz") else open
  with reading(path, "IDX file"), opener(path, "rb") as f:
    data = f.read()
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
    raise InputError(
        f"{path} is not an unsigned-byte IDX file (its header is "
        f"{data[:4].hex() or 'empty'}, want 000008 and the rank); {_REPLACE}"
    )
  ndim = data[3]
  header = 4 + 4 * ndim
  shape = tuple(
      int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
  )
  if len(data) - header != int(np.prod(shape)):
    raise InputError(
        f"{path} is truncated or corrupt: header says shape {shape} "
        f"({int(np.prod(shape))} bytes), {max(len(data) - header, 0)} bytes "
        f"follow; {_REPLACE}"
    )
  return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _read_npz(path):
  if not zipfile.is_zipfile(path):  # Else np.load guesses it is a pickle.
    raise InputError(
        f"{path} ({os.path.getsize(path)} bytes) is not an npz (zip) archive:"
        f" truncated, empty or another format; {_REPLACE}, or write it with "
        f"np.savez(path, {', '.join(f'{k}=...' for k in _KEYS)})"
    )
  with reading(path, "npz archive of numeric arrays"):
    with np.load(path, allow_pickle=False) as archive:
      missing = [k for k in _KEYS if k not in archive.files]
      if missing:
        raise InputError(
            f"{path} lacks arrays {missing}; has {archive.files}: re-save it "
            f"with all of {', '.join(_KEYS)}"
        )
      return {k: archive[k] for k in _KEYS}


def _find(directory, stem):
  for candidate in (stem, stem + ".gz"):
    path = os.path.join(directory, candidate)
    if os.path.exists(path):
      return path
  dotted = stem.replace("-idx", ".idx")  # the t10k-images.idx3-ubyte variant
  for candidate in (dotted, dotted + ".gz"):
    path = os.path.join(directory, candidate)
    if os.path.exists(path):
      return path
  return None


def load_arrays(name, directory):
  """Loads {x_train, y_train, x_test, y_test} for dataset `name`.

  Args:
    name: dataset name, e.g. "mnist" (looks for `<name>.npz`).
    directory: folder holding the files.

  Returns:
    Dict of numpy arrays: images `[N, H, W]` uint8, labels `[N]`.

  Raises:
    MissingInputError: naming the files to put where, if neither layout is
      found.
    InputError: naming the file, if it is truncated, corrupt or not in its
      format, or on wrong keys, shapes, dtypes, empty splits or non-finite
      values.
  """
  return read_arrays(name, directory)[0]


def read_arrays(name, directory):
  """`load_arrays`, also returning where: the npz file or the IDX folder."""
  if not directory or not os.path.isdir(directory):
    raise MissingInputError(
        f"data directory {directory!r} for {name!r} does not exist; pass "
        f"--config.data.dir=/path/to/folder holding {name}.npz (keys "
        f"{', '.join(_KEYS)}) or the four MNIST-format IDX files"
    )
  npz = os.path.join(directory, f"{name}.npz")
  if os.path.exists(npz):
    arrays, where = _read_npz(npz), npz
  else:
    paths = {k: _find(directory, stem) for k, stem in _IDX_FILES.items()}
    missing = [_IDX_FILES[k] for k, p in paths.items() if p is None]
    if missing:
      raise MissingInputError(
          f"no {name}.npz and missing IDX files {missing} in {directory}; "
          f"put {name}.npz (keys {', '.join(_KEYS)}) or the IDX files there"
      )
    arrays = {k: _read_idx(p) for k, p in paths.items()}
    where = f"the IDX files in {directory}"
  validate_arrays(where, arrays)
  return arrays, where


def validate_arrays(where, arrays):
  """Checks images `[N, H, W, ...]` (numeric, finite) and labels `[N]` (ints).

  Args:
    where: the file (or folder, or tfds dataset) the arrays came from, for
      messages.
    arrays: dict with x_train, y_train, x_test and y_test.

  Raises:
    InputError: naming `where` and the split, on an empty split, mismatched
      lengths or shapes, non-integer labels, or NaN / inf images.
  """
  for split in ("train", "test"):
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
      raise InputError(
          f"{where}: {split} images {x.shape} and labels {y.shape} do not "
          f"match (want [N, H, W] and [N]): re-save x_{split} and y_{split} "
          "with one label per image"
      )
    if not len(x):
      raise InputError(
          f"{where}: the {split} split is empty (x_{split} has shape "
          f"{x.shape}) and the run needs it: re-save it with {split} images"
      )
    if not (np.issubdtype(x.dtype, np.number)
            and np.issubdtype(y.dtype, np.integer)):
      raise InputError(
          f"{where}: want numeric images and integer labels in the {split} "
          f"split, got {x.dtype} and {y.dtype}: re-save x_{split} as uint8 "
          f"and y_{split} as ints"
      )
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
      raise InputError(
          f"{where}: {split} images contain NaN or inf: re-save x_{split} as "
          "uint8 gray levels 0..255"
      )
  if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
    raise InputError(
        f"{where}: train images {arrays['x_train'].shape[1:]} and test images "
        f"{arrays['x_test'].shape[1:]} differ in shape: re-save both at one "
        "image size"
    )
