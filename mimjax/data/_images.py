"""Binarised 28x28 image data: MNIST, Fashion-MNIST and Omniglot.

Follows the thesis's reference setup (Tomczak & Welling's VampPrior code):

  * MNIST / Fashion-MNIST: the first 50000 of the 60000 training images train,
    the last 10000 validate; the 10000 test images test.
  * Omniglot: the IWAE 28x28 split (`chardata.mat`, 24345 train and 8070 test
    images); the last 1345 training images validate.
  * Training batches are binarised dynamically (a fresh Bernoulli draw from the
    gray levels at every step); validation and test are binarised once with
    `np.random.RandomState(777)`, so every run evaluates on the same bits.

Files come from a local folder (`--config.data.dir=`) or from an already
prepared TFDS data dir; nothing is ever downloaded.
"""

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from mimjax._errors import InputError
from mimjax._errors import MissingInputError
from mimjax.data import _local
from mimjax.data import _sources

IMAGE_DATASETS = ("mnist", "fashion_mnist", "omniglot")
_LOADERS = ("auto", "local", "tfds")
_SHAPE = (28, 28)
_EVAL_SEED = 777  # validation / test binarisation, as the reference.
_TRAIN_SEED = _EVAL_SEED + 1  # train_eval and the static training set.
_DEFAULT_VALIDATION = {"mnist": 10000, "fashion_mnist": 10000, "omniglot": 1345}
_OMNIGLOT_FILE = "chardata.mat"
_OMNIGLOT_URL = (
    "https://github.com/yburda/iwae/raw/master/datasets/OMNIGLOT/chardata.mat"
)


def load_image_arrays(name, *, directory="", loader="auto", tfds_data_dir=None):
  """Loads the gray images and labels of one dataset (never downloads).

  Args:
    name: one of `IMAGE_DATASETS`.
    directory: local folder with `<name>.npz` or the four IDX files (MNIST,
      Fashion-MNIST), or `chardata.mat` (Omniglot).
    loader: "local", "tfds" (an already prepared `tfds` dataset, read by random
      access), or "auto" (local if `directory` is set, else tfds).
    tfds_data_dir: TFDS data dir; None means TFDS's default.

  Returns:
    Dict with x_train `[N, 28, 28]` uint8 (gray 0..255), y_train `[N]` int32,
    x_test `[M, 28, 28]` uint8 and y_test `[M]` int32.

  Raises:
    InputError: unknown dataset or loader, Omniglot via tfds, an unreadable
      file, or malformed arrays (shape, dtype, range, NaN, an empty split);
      names the file.
    MissingInputError: the files are missing; says what to put where.
  """
  return read_image_arrays(
      name, directory=directory, loader=loader, tfds_data_dir=tfds_data_dir
  )[0]


def read_image_arrays(name, *, directory, loader, tfds_data_dir):
  """`load_image_arrays`, also returning where: the file, folder or tfds dir."""
  if name not in IMAGE_DATASETS:
    raise InputError(
        f"unknown image dataset {name!r}; set --config.data.name= to one of "
        f"{', '.join(IMAGE_DATASETS)}"
    )
  if loader not in _LOADERS:
    raise InputError(
        f"unknown loader {loader!r}; set --config.data.loader= to one of "
        f"{_LOADERS}"
    )
  if loader == "auto":
    loader = "local" if directory else "tfds"
  if loader == "tfds":
    if name == "omniglot":
      raise InputError(
          "omniglot via tfds is not supported: the thesis uses the IWAE 28x28 "
          f"Omniglot split ({_OMNIGLOT_FILE}), which tfds does not ship (its "
          "'omniglot' is the 105x105 background/evaluation split); download "
          f"{_OMNIGLOT_URL}, put it in a folder and pass --config.data.dir= "
          "with --config.data.loader=local"
      )
    arrays, where = load_tfds_arrays(
        name, tfds_data_dir, local_files=f"{name}.npz / the IDX files"
    )
  elif name == "omniglot":
    arrays, where = _load_omniglot(directory)
  else:
    arrays, where = _load_local(name, directory)
  return checked_images(where, arrays), where


def _load_local(name, directory):
  try:
    return _local.read_arrays(name, directory)
  except MissingInputError as e:
    if "--config.data.dir" in str(e):
      raise
    raise MissingInputError(
        f"{e}; then pass --config.data.dir={directory or '/path/to/folder'}"
    ) from e


def _load_omniglot(directory):
  """Reads the IWAE split from `chardata.mat` (images in Fortran order).

  Returns:
    (arrays, the file's path).
  """
  path = os.path.join(directory, _OMNIGLOT_FILE) if directory else ""
  if not path or not os.path.isfile(path):
    where = directory or "/path/to/folder"
    raise MissingInputError(
        f"Omniglot needs the IWAE 28x28 split file {_OMNIGLOT_FILE} "
        f"({_OMNIGLOT_URL}): put {_OMNIGLOT_FILE} in the folder {where} "
        f"(missing: {os.path.join(where, _OMNIGLOT_FILE)}) and pass "
        f"--config.data.dir={where}"
    )
  import scipy.io  # pylint: disable=g-import-not-at-top

  with _local.reading(path, "MATLAB .mat file"):
    mat = scipy.io.loadmat(path)
  fix = f"use the IWAE {_OMNIGLOT_FILE} ({_OMNIGLOT_URL})"
  arrays = {}
  for split, x_key, y_key in (
      ("train", "data", "targetchar"),
      ("test", "testdata", "testtargetchar"),
  ):
    missing = [k for k in (x_key, y_key) if k not in mat]
    if missing:
      raise InputError(f"{path} lacks variables {missing}; {fix}")
    x = np.asarray(mat[x_key])
    if not np.issubdtype(x.dtype, np.number):
      raise InputError(
          f"{path}: {x_key!r} has dtype {x.dtype}, want numbers; {fix}"
      )
    x = x.astype(np.float64)
    if x.ndim != 2 or x.shape[0] != 28 * 28:
      raise InputError(
          f"{path}: {x_key!r} has shape {x.shape}, want [784, N]; {fix}"
      )
    if not np.all(np.isfinite(x)):
      raise InputError(f"{path}: {x_key!r} contains NaN or inf; {fix}")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
      raise InputError(
          f"{path}: {x_key!r} has values in [{x.min()}, {x.max()}], want "
          f"[0, 1]; {fix}"
      )
    # As the reference: column n is image n flattened in Fortran order.
    images = x.T.reshape(-1, 28, 28, order="F")
    arrays[f"x_{split}"] = np.round(255.0 * images).astype(np.uint8)
    arrays[f"y_{split}"] = np.asarray(mat[y_key]).reshape(-1)
  return arrays, path


def load_tfds_arrays(name, data_dir, *, local_files):
  """Reads an already prepared TFDS image dataset by random access (no TF).

  Args:
    name: TFDS name of a dataset with "image" and "label" features and
      "train" / "test" splits (e.g. "mnist", "cifar10").
    data_dir: TFDS data dir; None means TFDS's default.
    local_files: the local alternative, for the error message (e.g.
      "mnist.npz / the IDX files").

  Returns:
    (dict with x_train `[N, H, W]` (one channel) or `[N, H, W, C]`, y_train
    `[N]`, x_test and y_test, unchecked; where they came from, for messages).

  Raises:
    MissingInputError: the dataset is not prepared; says how to prepare it and
      what to put in a local folder instead. Nothing is downloaded.
    InputError: a split is empty.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  shown_dir = data_dir or f"{tfds.core.constants.DATA_DIR} (TFDS default)"
  where = f"tfds dataset {name!r} in data_dir {shown_dir}"
  arrays = {}
  for split in ("train", "test"):
    try:
      source = tfds.data_source(
          name, split=split, data_dir=data_dir, download=False
      )
      records = [source[i] for i in range(len(source))]
    except Exception as e:  # TFDS raises many types for "not prepared".
      raise MissingInputError(
          f"{where}, split {split!r}, is not prepared in a random-access "
          f"format ({_local.one_line(e)}). Put {local_files} in a folder "
          "and pass --config.data.dir=/that/folder (no download needed); or, "
          "on a machine with internet, `pip install tensorflow` (TFDS needs "
          f"it to build), run `tfds build {name} --file_format=array_record "
          "--data_dir=DIR` and pass --config.data.tfds_data_dir=DIR"
      ) from e
    if not records:
      raise InputError(
          f"{where}: split {split!r} is empty; pass --config.data.dir= with "
          f"local files, or rebuild it with `tfds build {name}` (needs "
          "`pip install tensorflow`)"
      )
    x = np.stack([np.asarray(r["image"]) for r in records])
    if x.ndim == 4 and x.shape[-1] == 1:
      x = x[..., 0]
    arrays[f"x_{split}"] = x
    arrays[f"y_{split}"] = np.asarray([r["label"] for r in records])
  return arrays, where


def checked_images(where, arrays, *, shape=_SHAPE):
  """Checks shapes, dtypes and ranges; returns uint8 images, int32 labels.

  Args:
    where: the file (or folder, or tfds dataset) the arrays came from, for
      messages.
    arrays: dict with x_train, y_train, x_test and y_test; a trailing channel
      axis of size 1 is dropped.
    shape: the image shape each split must have after that, e.g. (28, 28) or
      (32, 32, 3).

  Returns:
    Dict with x_train `[N, *shape]` uint8 (0..255), y_train `[N]` int32,
    x_test and y_test.

  Raises:
    InputError: naming `where` and the split, on a wrong shape, non-integer
      or out-of-range gray levels, NaN, an empty split or mismatched labels.
  """
  arrays = {k: np.asarray(v) for k, v in arrays.items()}
  for split in ("train", "test"):
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    if x.ndim == 4 and x.shape[-1] == 1:
      arrays[f"x_{split}"] = x[..., 0]
    # Whole-number floats are accepted: MATLAB saves Omniglot labels as doubles.
    if np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)):
      arrays[f"y_{split}"] = y.astype(np.int64)
  _local.validate_arrays(where, arrays)
  out = {}
  for split in ("train", "test"):
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    if x.shape[1:] != shape:
      raise InputError(
          f"{where}: {split} images have shape {x.shape}, want "
          f"[N, {', '.join(map(str, shape))}]: re-save x_{split} at that size"
      )
    if x.dtype != np.uint8:
      if not np.issubdtype(x.dtype, np.integer):
        raise InputError(
            f"{where}: {split} images have dtype {x.dtype}, want uint8 gray "
            f"levels 0..255: re-save x_{split} as uint8"
        )
      if x.size and (x.min() < 0 or x.max() > 255):
        raise InputError(
            f"{where}: {split} images range over [{x.min()}, {x.max()}], "
            f"want 0..255: re-save x_{split} as uint8 gray levels"
        )
    out[f"x_{split}"] = x.astype(np.uint8)
    out[f"y_{split}"] = y.astype(np.int32)
  return out


def _binarize(gray, seed):
  """One fixed Bernoulli draw per pixel: uint8 gray -> float32 {0, 1}."""
  rng = np.random.RandomState(seed)
  return rng.binomial(1, gray / 255.0).astype(np.float32)


@dataclasses.dataclass(frozen=True, eq=False)
class ImageSource(_sources.ArraySource):
  """Binarised 28x28 images, reshuffled every epoch on device (drop-last).

  The (gray) training images go to the device once, as uint8
  (`device_data`, an argument of the compiled epoch program); `batch`
  gathers and binarises a batch inside that program. With
  `dynamic_binarization=False` the training set is binarised once instead
  (with the `train_eval` draw, seed 778), so the data are always binary.

  Attributes:
    x_train: `[N, 28, 28, 1]` uint8 gray training images.
    y_train: `[N]` int32 labels.
    x_val: `[Nv, 28, 28, 1]` float32 in {0, 1} (binarised once).
    y_val: `[Nv]` int32.
    x_test: `[Nt, 28, 28, 1]` float32 in {0, 1} (binarised once).
    y_test: `[Nt]` int32.
    batch_size: training batch size B.
    dynamic_binarization: fresh Bernoulli draw per step (True) or a fixed one.
    epoch_steps: steps per "epoch" (see `data._sources.epoch_length`).
  """

  dynamic_binarization: bool = True
  epoch_steps: int = 0

  def __post_init__(self):
    x_train = np.asarray(self.x_train)
    if x_train.dtype != np.uint8 or x_train.shape[1:] != self.x_shape:
      raise ValueError(
          f"x_train must be uint8 [N, 28, 28, 1], got {x_train.dtype} "
          f"{x_train.shape}"
      )
    for split in ("val", "test"):
      x = np.asarray(getattr(self, f"x_{split}"))
      if x.shape[1:] != self.x_shape:
        raise ValueError(f"x_{split} has shape {x.shape}, want [N, 28, 28, 1]")
      if not np.all((x == 0) | (x == 1)):
        raise ValueError(f"x_{split} must be binarised to {{0, 1}}")
    for split in ("train", "val", "test"):
      x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
      if len(x) != len(y):
        raise ValueError(f"x_{split} has {len(x)} images, y_{split} {len(y)}")
    if not 0 < self.batch_size <= len(x_train):
      raise ValueError(
          f"{len(x_train)} training examples < batch size {self.batch_size}"
      )
    object.__setattr__(self, "x_train", x_train)

  @property
  def steps_per_epoch(self):
    return _sources.epoch_length(
        len(self.x_train), self.batch_size, self.epoch_steps
    )

  @property
  def x_shape(self):
    return _SHAPE + (1,)

  @functools.cached_property
  def device_data(self):
    """{"x": `[N, 28, 28, 1]` uint8 gray levels (or, without dynamic
    binarisation, the fixed bits as 0 / 255, so `batch` is one program),
    "label": `[N]` int32} on the device (see `ArraySource.device_data`)."""
    if self.dynamic_binarization:
      x = self.x_train
    else:
      x = (255 * self.train_eval["x"]).astype(np.uint8)
    return _sources.to_device(
        {"x": x, "label": np.asarray(self.y_train, np.int32)}
    )

  def start_epoch(self, key, data=None):
    """Returns (permutation `[N]`, binarisation key) for one epoch."""
    data = self.device_data if data is None else data
    k_perm, k_bits = jax.random.split(key)
    return jax.random.permutation(k_perm, data["x"].shape[0]), k_bits

  def batch(self, epoch_state, step, data=None):
    """Batch `step` of the epoch: {"x": `[B, 28, 28, 1]` f32, "label":
    `[B]`}."""
    data = self.device_data if data is None else data
    permutation, key = epoch_state
    idx = jax.lax.dynamic_slice_in_dim(
        permutation, step * self.batch_size, self.batch_size
    )
    gray = data["x"][idx].astype(jnp.float32) / 255.0
    if self.dynamic_binarization:
      x = jax.random.bernoulli(jax.random.fold_in(key, step), gray)
      x = x.astype(jnp.float32)
    else:
      x = gray  # Already {0, 1}.
    return {"x": x, "label": data["label"][idx]}

  @functools.cached_property
  def train_eval(self):
    """Training images binarised once (RandomState(778)), with labels."""
    return {
        "x": _binarize(self.x_train, _TRAIN_SEED),
        "label": np.asarray(self.y_train, np.int32),
    }

  def pseudo_input_examples(self, k):
    """The first `k` gray training images, `[k, 28, 28, 1]` float32 in [0, 1].

    For initialising VampPrior pseudo-inputs from data.
    """
    if not 0 < k <= len(self.x_train):
      raise ValueError(
          f"asked for {k} pseudo-input examples; there are "
          f"{len(self.x_train)} training images"
      )
    return self.x_train[:k].astype(np.float32) / 255.0


def make_image_source(
    *,
    name,
    batch_size,
    dir="",  # pylint: disable=redefined-builtin
    loader="auto",
    tfds_data_dir=None,
    num_validation=None,
    max_train=0,
    max_validation=0,
    max_test=0,
    dynamic_binarization=True,
    epoch_steps=0,
):
  """Builds an `ImageSource`; the keywords are the fields of an image
  config's `data` section (`make_image_source(**config.data, ...)`).

  Args:
    name: dataset, one of `IMAGE_DATASETS`.
    batch_size: training batch size.
    dir: local folder with the dataset's files ("" = tfds or the default
      folder; see `read_image_arrays`).
    loader: "auto", "local" or "tfds".
    tfds_data_dir: tfds data folder (None: tfds's default).
    num_validation: the last training images held out for validation
      (None: 10000, or 1345 for Omniglot).
    max_train, max_validation, max_test: keep the first so many images of a
      split (0 keeps all; the split itself is unchanged).
    dynamic_binarization: resample binary training images every epoch.
    epoch_steps: steps per epoch (0 = one pass; see `ImageSource`).

  Returns:
    An `ImageSource`.

  Raises:
    InputError: a bad dataset name or file (see `load_image_arrays`),
      `num_validation` out of range, or a split too small for the run (see
      `data._sources.check_split_sizes`); names the file.
    MissingInputError: the files are missing.
  """
  arrays, where = read_image_arrays(
      name,
      directory=dir or "",
      loader=loader or "auto",
      tfds_data_dir=tfds_data_dir or None,
  )
  x_all = arrays["x_train"][..., None]
  y_all = arrays["y_train"]
  n_val = num_validation
  if n_val is None:
    n_val = _DEFAULT_VALIDATION[name]
  if not 0 < n_val < len(x_all):
    raise InputError(
        f"{where}: config.data.num_validation={n_val} must be in (0, "
        f"{len(x_all)}), the number of training images"
    )
  x_train, y_train = x_all[:-n_val], y_all[:-n_val]
  x_val, y_val = x_all[-n_val:], y_all[-n_val:]
  x_test, y_test = arrays["x_test"][..., None], arrays["y_test"]
  max_val = max_validation
  if max_train:
    x_train, y_train = x_train[:max_train], y_train[:max_train]
  if max_val:
    x_val, y_val = x_val[:max_val], y_val[:max_val]
  if max_test:
    x_test, y_test = x_test[:max_test], y_test[:max_test]
  _sources.check_split_sizes({
      "train": (len(x_train), where, (
          f"lower config.data.num_validation={n_val}"
          + _sources.cap_hint("max_train", max_train))),
      "validation": (len(x_val), where, (
          f"raise config.data.num_validation={n_val}"
          + _sources.cap_hint("max_validation", max_val))),
      "test": (len(x_test), where, (
          "add test images" + _sources.cap_hint("max_test", max_test))),
  }, batch_size=batch_size)
  return ImageSource(
      x_train=x_train,
      y_train=y_train,
      x_val=_binarize(x_val, _EVAL_SEED),
      y_val=y_val,
      x_test=_binarize(x_test, _EVAL_SEED),
      y_test=y_test,
      batch_size=batch_size,
      dynamic_binarization=bool(dynamic_binarization),
      epoch_steps=int(epoch_steps or 0),
  )
