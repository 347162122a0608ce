"""32x32 gray-level images for the flow / TzK chapter (thesis ch. 8).

As in the thesis: "All images were resized to 32x32 as needed, MNIST images
were centered and padded to 32x32. When using grayscale images in an RGB
setting, the GS channel was duplicated in R, G, and B channels."

  * MNIST / Fashion-MNIST (28x28 gray) are zero-padded by 2 pixels on each
    side; with `channels=3` the gray channel is repeated into R, G and B.
  * CIFAR10 is 32x32 RGB already; it needs `channels=3`.
  * Several datasets can be mixed; each image keeps the index of the dataset it
    came from, and its knowledge vector e (`knowledge_matrix`) marks which
    knowledge types ("mnist", "mnist:3", ...) it has.

Images stay 8-bit gray levels (float32 0..255); dequantisation
(`uniform_dequantize`) happens in the loss, with the step's key.

Files come from a local folder (`--config.data.dir=`) or from an already
prepared TFDS data dir; nothing is ever downloaded.
"""

import dataclasses
import functools
import os
import pickle
from typing import ClassVar

import numpy as np

from mimjax._errors import InputError
from mimjax._errors import MissingInputError
from mimjax.data import _images
from mimjax.data import _local
from mimjax.data import _sources

FLOW_DATASETS = ("mnist", "fashion_mnist", "cifar10")
_SIZE = 32
_PAD = 2  # (32 - 28) / 2 zero pixels on each side of MNIST-like images.
_DEFAULT_VALIDATION = 10000
_MAX_VALIDATION_FRACTION = 0.2  # of one dataset's training split.
_CIFAR_NPZ = "cifar10.npz"
_CIFAR_BATCHES = "cifar-10-batches-py"
_CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST_FILE = "test_batch"
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def load_flow_dataset(
    name, *, directory="", loader="auto", tfds_data_dir=None, channels=1
):
  """Loads one dataset as 32x32 images with 1 or 3 channels (no download).

  Args:
    name: one of `FLOW_DATASETS`.
    directory: local folder. MNIST / Fashion-MNIST: `<name>.npz` or the four
      IDX files (see `load_image_arrays`). CIFAR10: `cifar10.npz` (x_train
      `[N, 32, 32, 3]` uint8, y_train, x_test, y_test) or the python-version
      batches folder `cifar-10-batches-py/` (data_batch_1..5, test_batch).
    loader: "local", "tfds" (an already prepared `tfds` dataset, read by random
      access), or "auto" (local if `directory` is set, else tfds).
    tfds_data_dir: TFDS data dir; None means TFDS's default.
    channels: 1 (gray) or 3 (RGB; gray images are repeated into R, G, B).

  Returns:
    Dict with x_train `[N, 32, 32, channels]` uint8 (0..255), y_train `[N]`
    int32, x_test `[M, 32, 32, channels]` uint8 and y_test `[M]` int32.

  Raises:
    InputError: unknown dataset or loader, `channels` not 1 or 3, CIFAR10 with
      `channels=1`, an unreadable file, or malformed arrays (shape, dtype,
      range, NaN, an empty split); names the file.
    MissingInputError: the files are missing; says what to put where and
      which flag to pass.
  """
  return read_flow_dataset(
      name, directory=directory, loader=loader, tfds_data_dir=tfds_data_dir,
      channels=channels,
  )[0]


def read_flow_dataset(name, *, directory, loader, tfds_data_dir, channels):
  """`load_flow_dataset`, also returning where: the file, folder or tfds dir."""
  if name not in FLOW_DATASETS:
    raise InputError(
        f"unknown flow dataset {name!r}; valid names: "
        f"{', '.join(FLOW_DATASETS)} (--config.data.datasets=)"
    )
  if channels not in (1, 3):
    raise InputError(
        f"channels={channels!r}; use 1 (gray) or 3 (RGB), e.g. "
        "--config.data.channels=3"
    )
  if name != "cifar10":
    arrays, where = _images.read_image_arrays(
        name, directory=directory, loader=loader, tfds_data_dir=tfds_data_dir
    )
    out = dict(arrays)
    for split in ("train", "test"):
      pad = ((0, 0), (_PAD, _PAD), (_PAD, _PAD), (0, 0))
      x = np.pad(arrays[f"x_{split}"][..., None], pad)  # [N, 32, 32, 1]
      out[f"x_{split}"] = np.repeat(x, channels, axis=-1)
    return out, where
  if channels == 1:
    raise InputError(
        "cifar10 images are RGB but channels=1 asks for gray images; mimjax "
        "does not convert RGB to gray (the thesis only duplicates gray into "
        "RGB): pass --config.data.channels=3"
    )
  loaders = _images._LOADERS  # pylint: disable=protected-access
  if loader not in loaders:
    raise InputError(
        f"unknown loader {loader!r}; set --config.data.loader= to one of "
        f"{loaders}"
    )
  if loader == "auto":
    loader = "local" if directory else "tfds"
  if loader == "tfds":
    arrays, where = _images.load_tfds_arrays(
        name,
        tfds_data_dir,
        local_files=f"{_CIFAR_NPZ} or the {_CIFAR_BATCHES}/ folder",
    )
  else:
    arrays, where = _load_cifar_local(directory)
  return _images.checked_images(where, arrays, shape=(_SIZE, _SIZE, 3)), where


def _load_cifar_local(directory):
  """Reads `cifar10.npz`, else the `cifar-10-batches-py/` folder.

  Returns:
    (arrays, the file or folder read).
  """
  where = directory or "/path/to/folder"
  if directory and os.path.isfile(os.path.join(directory, _CIFAR_NPZ)):
    return _local.read_arrays("cifar10", directory)
  folder = os.path.join(where, _CIFAR_BATCHES)
  if not directory or not os.path.isdir(folder):
    raise MissingInputError(
        f"cifar10 needs {_CIFAR_NPZ} (arrays x_train [N, 32, 32, 3] uint8, "
        f"y_train, x_test, y_test) or the python-version batches folder "
        f"{_CIFAR_BATCHES}/ (data_batch_1..5 and test_batch, unpacked from "
        f"{_CIFAR_URL}): put one of them in the folder {where} (missing: "
        f"{os.path.join(where, _CIFAR_NPZ)} and {folder}/) and pass "
        f"--config.data.dir={where}"
    )
  train = [_read_cifar_batch(folder, f, where) for f in _CIFAR_TRAIN_FILES]
  x_test, y_test = _read_cifar_batch(folder, _CIFAR_TEST_FILE, where)
  arrays = {
      "x_train": np.concatenate([x for x, _ in train]),
      "y_train": np.concatenate([y for _, y in train]),
      "x_test": x_test,
      "y_test": y_test,
  }
  return arrays, folder


def _read_cifar_batch(folder, filename, where):
  """One pickled batch -> (images `[n, 32, 32, 3]`, labels `[n]`)."""
  path = os.path.join(folder, filename)
  if not os.path.isfile(path):
    raise MissingInputError(
        f"{path} is missing: the {_CIFAR_BATCHES}/ folder must hold "
        f"{', '.join(_CIFAR_TRAIN_FILES)} and {_CIFAR_TEST_FILE} (unpack "
        f"{_CIFAR_URL} in {where}) and pass --config.data.dir={where}"
    )
  fix = f"unpack a fresh copy of {_CIFAR_URL} in {where}"
  with _local.reading(path, "pickled CIFAR10 batch"), open(path, "rb") as f:
    batch = pickle.load(f, encoding="bytes")
  if not isinstance(batch, dict):
    raise InputError(
        f"{path} holds a pickled {type(batch).__name__}, not a CIFAR10 batch "
        f"dict; {fix}"
    )
  missing = [k for k in (b"data", b"labels") if k not in batch]
  if missing:
    raise InputError(f"{path} lacks keys {missing}; has {list(batch)}; {fix}")
  data = np.asarray(batch[b"data"])
  labels = np.asarray(batch[b"labels"])
  if data.ndim != 2 or data.shape[1] != 3 * _SIZE * _SIZE:
    raise InputError(
        f"{path}: b'data' has shape {data.shape}, want [n, 3072] (3 channel "
        f"planes of 32x32, row-major); {fix}"
    )
  if labels.shape != (len(data),):
    raise InputError(
        f"{path}: b'labels' has shape {labels.shape}, want [{len(data)}] (one "
        f"per image); {fix}"
    )
  # Each row is the R plane, then G, then B, each 32x32 row-major.
  images = data.reshape(-1, 3, _SIZE, _SIZE).transpose(0, 2, 3, 1)
  return images, labels


def _parse_knowledge(spec, dataset_names):
  """'mnist' -> (dataset id, None); 'mnist:3' -> (dataset id, 3)."""
  valid = (
      "valid knowledge types are '<dataset>' (the image came from that "
      "dataset) or '<dataset>:<class>' (and has that integer label), with "
      f"<dataset> in ({', '.join(dataset_names)}), e.g. 'mnist' or 'mnist:3'"
  )
  if not isinstance(spec, str):
    raise InputError(f"knowledge type {spec!r} is not a string; {valid}")
  name, colon, label = spec.partition(":")
  if name not in dataset_names:
    raise InputError(
        f"knowledge type {spec!r} names unknown dataset {name!r}; {valid}"
    )
  if not colon:
    return dataset_names.index(name), None
  if not label.isdigit():
    raise InputError(
        f"knowledge type {spec!r} has class {label!r}, not a non-negative "
        f"integer; {valid}"
    )
  return dataset_names.index(name), int(label)


def _ids_and_labels(dataset_ids, labels, dataset_names):
  dataset_ids, labels = np.asarray(dataset_ids), np.asarray(labels)
  if dataset_ids.ndim != 1 or dataset_ids.shape != labels.shape:
    raise ValueError(
        f"dataset_ids {dataset_ids.shape} and labels {labels.shape} must both "
        "have shape [N]"
    )
  if dataset_ids.size and not (
      0 <= dataset_ids.min() and dataset_ids.max() < len(dataset_names)
  ):
    raise ValueError(
        f"dataset_ids range over [{dataset_ids.min()}, {dataset_ids.max()}]; "
        f"want indices into dataset_names {tuple(dataset_names)}"
    )
  return dataset_ids, labels


def knowledge_matrix(dataset_ids, labels, dataset_names, knowledge_names):
  """Knowledge vectors e: e[n, i] = 1 iff image n has knowledge type i.

  A knowledge type is "<dataset>" (the image came from that dataset) or
  "<dataset>:<class>" (from that dataset, with that label). Types need not be
  mutually exclusive: with ("mnist", "mnist:3") an MNIST 3 has e = (1, 1).

  Args:
    dataset_ids: `[N]` ints, index of each image's dataset in `dataset_names`.
    labels: `[N]` int class labels within that dataset.
    dataset_names: names of the mixed datasets, e.g. ("mnist", "cifar10").
    knowledge_names: the K knowledge types, e.g. ("mnist", "mnist:3"); may be
      empty.

  Returns:
    `[N, K]` float32 in {0, 1}.

  Raises:
    InputError: a malformed or duplicate knowledge type, or one naming a
      dataset not in `dataset_names` (lists the valid forms).
    ValueError: ids out of range.
  """
  dataset_names = tuple(dataset_names)
  dataset_ids, labels = _ids_and_labels(dataset_ids, labels, dataset_names)
  knowledge_names = tuple(knowledge_names)
  if len(set(knowledge_names)) != len(knowledge_names):
    raise InputError(
        f"duplicate knowledge types in {knowledge_names}; list each once in "
        "--config.data.knowledge"
    )
  e = np.zeros((len(dataset_ids), len(knowledge_names)), np.float32)
  for i, spec in enumerate(knowledge_names):
    dataset, label = _parse_knowledge(spec, dataset_names)
    has = dataset_ids == dataset
    if label is not None:
      has &= labels == label
    e[:, i] = has
  return e


def knowledge_in_data(dataset_ids, labels, dataset_names, *, per_class):
  """The knowledge types that occur in the data, in order of first appearance.

  The thesis adds a knowledge type online when its label first appears; this
  is that order over the data as given.

  Args:
    dataset_ids: `[N]` ints, index of each image's dataset in `dataset_names`.
    labels: `[N]` int class labels within that dataset.
    dataset_names: names of the mixed datasets.
    per_class: name "<dataset>:<class>" types instead of "<dataset>" ones.

  Returns:
    Tuple of knowledge type names (see `knowledge_matrix`).
  """
  dataset_names = tuple(dataset_names)
  dataset_ids, labels = _ids_and_labels(dataset_ids, labels, dataset_names)
  by_class = labels if per_class else np.zeros_like(labels)
  keys = np.stack([dataset_ids, by_class], axis=1)  # [N, 2]
  _, first = np.unique(keys, axis=0, return_index=True)
  names = []
  for n in np.sort(first):
    name = dataset_names[dataset_ids[n]]
    names.append(f"{name}:{labels[n]}" if per_class else name)
  return tuple(names)


@dataclasses.dataclass(frozen=True, eq=False)
class FlowImageSource(_sources.ArraySource):
  """32x32 gray-level images with knowledge vectors, reshuffled on device.

  The training arrays are put on the device once, at construction; `batch`
  gathers a batch inside the compiled epoch program (drop-last).

  Attributes:
    x_train: `[N, 32, 32, C]` float32 gray levels 0..255 (whole numbers).
    y_train: `[N]` int32 class labels within each image's dataset.
    x_val, y_val, x_test, y_test: likewise, `[Nv, ...]` and `[Nt, ...]`.
    batch_size: training batch size B.
    e_train: `[N, K]` float32 in {0, 1}, the knowledge vectors.
    e_val, e_test: likewise.
    dataset_train: `[N]` int32, index of each image's dataset in
      `dataset_names`.
    dataset_val, dataset_test: likewise.
    knowledge_names: the K knowledge type names (K may be 0).
    dataset_names: the mixed datasets' names.
    validation_keys: the keys of `validation` a loss takes: ("x", "e").
    epoch_steps: steps per "epoch" (see `data._sources.epoch_length`).
  """

  e_train: np.ndarray
  e_val: np.ndarray
  e_test: np.ndarray
  dataset_train: np.ndarray
  dataset_val: np.ndarray
  dataset_test: np.ndarray
  knowledge_names: tuple
  dataset_names: tuple

  epoch_steps: int = 0

  validation_keys: ClassVar[tuple[str, ...]] = ("x", "e")

  @property
  def steps_per_epoch(self):
    return _sources.epoch_length(
        len(self.x_train), self.batch_size, self.epoch_steps
    )

  def __post_init__(self):
    super().__post_init__()  # NaN / inf images, batch size <= N.
    if self.batch_size < 1:
      raise ValueError(f"batch_size must be positive, got {self.batch_size}")
    object.__setattr__(self, "knowledge_names", tuple(self.knowledge_names))
    object.__setattr__(self, "dataset_names", tuple(self.dataset_names))
    num_k, num_datasets = len(self.knowledge_names), len(self.dataset_names)
    shape = None
    for split in ("train", "val", "test"):
      x = np.asarray(getattr(self, f"x_{split}"), np.float32)
      shape = shape or x.shape[1:]
      if x.ndim != 4 or x.shape[1:3] != (_SIZE, _SIZE) or x.shape[1:] != shape:
        raise ValueError(
            f"x_{split} has shape {x.shape}; want [N, 32, 32, C] with C the "
            f"same in every split ({shape})"
        )
      if x.size and (x.min() < 0 or x.max() > 255 or np.any(x != np.round(x))):
        raise ValueError(
            f"x_{split} must hold whole gray levels 0..255 (the loss "
            f"dequantises them), got values in [{x.min()}, {x.max()}]"
        )
      y = np.asarray(getattr(self, f"y_{split}"))
      ids = np.asarray(getattr(self, f"dataset_{split}"))
      for a, name in ((y, f"y_{split}"), (ids, f"dataset_{split}")):
        if a.shape != (len(x),) or not np.issubdtype(a.dtype, np.integer):
          raise ValueError(
              f"{name} has {a.dtype} shape {a.shape}; want [{len(x)}] ints"
          )
      if ids.size and not (0 <= ids.min() and ids.max() < num_datasets):
        raise ValueError(
            f"dataset_{split} ranges over [{ids.min()}, {ids.max()}]; want "
            f"indices into dataset_names {self.dataset_names}"
        )
      e = np.asarray(getattr(self, f"e_{split}"), np.float32)
      if e.shape != (len(x), num_k):
        raise ValueError(
            f"e_{split} has shape {e.shape}; want [{len(x)}, {num_k}] (one "
            f"column per knowledge type {self.knowledge_names})"
        )
      if not np.all((e == 0) | (e == 1)):
        raise ValueError(f"e_{split} must hold 0 or 1 (no NaN)")
      object.__setattr__(self, f"x_{split}", x)
      object.__setattr__(self, f"y_{split}", y.astype(np.int32))
      object.__setattr__(self, f"dataset_{split}", ids.astype(np.int32))
      object.__setattr__(self, f"e_{split}", e)

  @functools.cached_property
  def device_data(self):
    """`train_eval` on the device (see `ArraySource.device_data`), so that
    `batch` gives {"x": `[B, 32, 32, C]` float32 gray levels 0..255, "e":
    `[B, K]` float32, "label": `[B]` int32, "dataset": `[B]` int32}."""
    return _sources.to_device(self.train_eval)

  def _split(self, split):
    return {
        "x": getattr(self, f"x_{split}"),
        "e": getattr(self, f"e_{split}"),
        "label": getattr(self, f"y_{split}"),
        "dataset": getattr(self, f"dataset_{split}"),
    }

  @property
  def train_eval(self):
    """The training split as numpy, keys as `batch`."""
    return self._split("train")

  @property
  def validation(self):
    """The validation split as numpy, keys as `batch`."""
    return self._split("val")

  @property
  def test(self):
    """The test split as numpy, keys as `batch`."""
    return self._split("test")


def make_flow_source(
    *,
    datasets,
    batch_size,
    dir="",  # pylint: disable=redefined-builtin
    loader="auto",
    tfds_data_dir=None,
    channels=1,
    knowledge=("auto",),
    per_class=False,
    num_validation=_DEFAULT_VALIDATION,
    max_train=0,
    max_validation=0,
    max_test=0,
    epoch_steps=0,
    train_filter="",
):
  """Builds a `FlowImageSource`; the keywords are the fields of a flow
  config's `data` section (`make_flow_source(**config.data, ...)`).

  Each dataset is loaded (`load_flow_dataset`) and split on its own: the last
  min(`num_validation`, 20% of its training split) training images validate,
  so the default 10000 gives MNIST's 50000 / 10000 and CIFAR10's 40000 /
  10000, and a small local dataset still keeps 80% for training. Then, per
  dataset, `train_filter` keeps the matching training and validation images
  and `max_*` keep the first so many images of a split. The datasets are
  concatenated in the order of `datasets`; an image's dataset id is that
  position.

  Args:
    datasets: tuple of names in `FLOW_DATASETS`, e.g. ("mnist",) or
      ("mnist", "fashion_mnist").
    batch_size: training batch size.
    dir, loader, tfds_data_dir, channels (1 or 3): as `load_flow_dataset`.
    knowledge: tuple of knowledge types (see `knowledge_matrix`; () for
      none), or ("auto",) for `knowledge_in_data` of the training split with
      `per_class`.
    per_class: see `knowledge`.
    num_validation: held-out training images per dataset (None: 10000;
      capped as above).
    max_train, max_validation, max_test: keep the first so many images of
      each dataset's split (0 keeps all), for CPU budgets.
    epoch_steps: steps per "epoch" (0: one pass).
    train_filter: a knowledge type, or "" for none; if set, only training
      and validation images with e = 1 for it are kept (e.g. "mnist:3" for
      a flow trained on MNIST 3s only). The test split is not filtered.

  Returns:
    A `FlowImageSource`.

  Raises:
    InputError: an unknown or repeated dataset (lists `FLOW_DATASETS`), a bad
      file (see `load_flow_dataset`), bad `num_validation` or knowledge types,
      a knowledge type that matches no training image, a filter that keeps
      nothing, or fewer training images than `batch_size`; names the files.
    MissingInputError: the files are missing.
  """
  datasets = tuple(datasets)
  unknown = [name for name in datasets if name not in FLOW_DATASETS]
  if not datasets or unknown or len(set(datasets)) != len(datasets):
    raise InputError(
        f"config.data.datasets={datasets} must name distinct datasets from "
        f"{', '.join(FLOW_DATASETS)}"
        + (f"; unknown: {', '.join(map(repr, unknown))}" if unknown else "")
    )
  if num_validation is None:
    num_validation = _DEFAULT_VALIDATION
  if num_validation < 1:
    raise InputError(
        f"config.data.num_validation={num_validation} must be positive"
    )
  train_filter = train_filter or ""
  limits = {
      "train": max_train or 0,
      "val": max_validation or 0,
      "test": max_test or 0,
  }
  parts = {"train": [], "val": [], "test": []}  # (x, y, dataset id) each.
  wheres = []
  for i, name in enumerate(datasets):
    arrays, where = read_flow_dataset(
        name,
        directory=dir or "",
        loader=loader or "auto",
        tfds_data_dir=tfds_data_dir or None,
        channels=channels,
    )
    wheres.append(where)
    x_all, y_all = arrays["x_train"], arrays["y_train"]
    n_val = min(num_validation, int(_MAX_VALIDATION_FRACTION * len(x_all)))
    if n_val < 1:
      raise InputError(
          f"{where}: {name} has {len(x_all)} training images, too few to hold "
          f"out {_MAX_VALIDATION_FRACTION:.0%} for validation; use a file "
          f"with at least {int(1 / _MAX_VALIDATION_FRACTION)}"
      )
    splits = {
        "train": (x_all[:-n_val], y_all[:-n_val]),
        "val": (x_all[-n_val:], y_all[-n_val:]),
        "test": (arrays["x_test"], arrays["y_test"]),
    }
    for split, (x, y) in splits.items():
      ids = np.full(len(y), i, np.int32)
      if train_filter and split != "test":
        keep = knowledge_matrix(ids, y, datasets, (train_filter,))[:, 0] == 1
        x, y, ids = x[keep], y[keep], ids[keep]
      n = limits[split] or len(y)
      parts[split].append((x[:n], y[:n], ids[:n]))
  where = ", ".join(wheres)
  merged = {}
  for split, triples in parts.items():
    x, y, ids = (np.concatenate(a) for a in zip(*triples))
    if not len(x):
      raise InputError(
          f"{where}: config.data.train_filter={train_filter!r} keeps no "
          f"{split} images of {datasets}; set it to a type that occurs, e.g. "
          f"'{datasets[0]}:0', or to ''"
      )
    merged[split] = (x, y, ids)
  fix = "add training images" + _sources.cap_hint("max_train", limits["train"])
  if train_filter:
    fix += f", or widen config.data.train_filter={train_filter!r}"
  _sources.check_split_sizes(
      {"train": (len(merged["train"][0]), where, fix)}, batch_size=batch_size
  )
  knowledge = tuple(knowledge)
  if "auto" in knowledge:
    if knowledge != ("auto",):
      raise InputError(
          f"config.data.knowledge={knowledge}: 'auto' must be the only entry, "
          "or list the knowledge types"
      )
    _, y, ids = merged["train"]
    knowledge = knowledge_in_data(
        ids, y, datasets, per_class=bool(per_class)
    )
  fields = {}
  for split, (x, y, ids) in merged.items():
    fields[f"x_{split}"], fields[f"y_{split}"] = x, y
    fields[f"dataset_{split}"] = ids
    fields[f"e_{split}"] = knowledge_matrix(ids, y, datasets, knowledge)
  absent = [
      name for name, count in zip(knowledge, fields["e_train"].sum(axis=0))
      if count == 0
  ]
  if absent:
    raise InputError(
        f"{where}: knowledge types {absent} match no training image of "
        f"{datasets} (a class label that does not occur?); a type needs "
        "positive examples: drop them from --config.data.knowledge"
    )
  return FlowImageSource(
      **fields,
      batch_size=batch_size,
      knowledge_names=knowledge,
      dataset_names=datasets,
      epoch_steps=int(epoch_steps or 0),
  )
