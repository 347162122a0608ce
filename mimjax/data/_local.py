"""Image-classification arrays from local files (no download, ever).

A dataset directory holds either `<name>.npz` with x_train, y_train, x_test,
y_test, or the four IDX files (optionally gzipped) with their standard names:
train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
t10k-labels-idx1-ubyte.
"""

import gzip
import os

import numpy as np

_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _read_idx(path):
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    data = f.read()
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
    raise ValueError(f"{path} is not an unsigned-byte IDX file")
  ndim = data[3]
  header = 4 + 4 * ndim
  shape = tuple(
      int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
  )
  if len(data) - header != int(np.prod(shape)):
    raise ValueError(f"{path} is truncated: header says {shape}")
  return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


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
    FileNotFoundError: naming the files to put where, if neither layout is
      found.
    ValueError: on wrong keys, shapes, dtypes or non-finite values.
  """
  if not directory or not os.path.isdir(directory):
    raise FileNotFoundError(
        f"data directory {directory!r} for {name!r} does not exist; pass "
        f"--config.data.dir=/path/to/folder holding {name}.npz (keys "
        f"{', '.join(_KEYS)}) or the four MNIST-format IDX files"
    )
  npz = os.path.join(directory, f"{name}.npz")
  if os.path.exists(npz):
    with np.load(npz, allow_pickle=False) as f:
      missing = [k for k in _KEYS if k not in f.files]
      if missing:
        raise ValueError(f"{npz} lacks arrays {missing}; has {f.files}")
      arrays = {k: f[k] for k in _KEYS}
  else:
    paths = {k: _find(directory, stem) for k, stem in _IDX_FILES.items()}
    missing = [_IDX_FILES[k] for k, p in paths.items() if p is None]
    if missing:
      raise FileNotFoundError(
          f"no {name}.npz and missing IDX files {missing} in {directory}; "
          f"put {name}.npz (keys {', '.join(_KEYS)}) or the IDX files there"
      )
    arrays = {k: _read_idx(p) for k, p in paths.items()}
  validate_arrays(name, arrays)
  return arrays


def validate_arrays(name, arrays):
  """Checks images `[N, H, W, ...]` (numeric, finite) and labels `[N]` (ints).

  Args:
    name: dataset name, for messages.
    arrays: dict with x_train, y_train, x_test and y_test.

  Raises:
    ValueError: naming the dataset and split, on mismatched lengths or
      shapes, non-integer labels, or NaN / inf images.
  """
  for split in ("train", "test"):
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
      raise ValueError(
          f"{name} {split}: images {x.shape} and labels {y.shape} do not "
          "match (want [N, H, W] and [N])"
      )
    if not (np.issubdtype(x.dtype, np.number) and np.issubdtype(y.dtype, np.integer)):
      raise ValueError(
          f"{name} {split}: want numeric images and integer labels, got "
          f"{x.dtype} and {y.dtype}"
      )
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
      raise ValueError(f"{name} {split} images contain NaN or inf")
  if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
    raise ValueError(
        f"{name}: train images {arrays['x_train'].shape[1:]} and test images "
        f"{arrays['x_test'].shape[1:]} differ in shape"
    )
