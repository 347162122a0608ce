"""Device-resident data sources for the low-dimensional experiments."""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from mimjax._errors import InputError
from mimjax.data import _local
from mimjax.data import _pca


def gmm_means(dim, num_components=5, offset_scale=1.0):
  """Component means of the thesis's GMM anchor (Sec. 4.2, 5.3.1).

  As in the authors' code: the first two coordinates place one component at
  the origin and the rest on the unit circle at angles 2 pi k / K,
  k = 0..K-2 (so the ring is not symmetric); coordinates 3..d hold the large
  constant offsets linspace(-50, 50, K d) reshaped to [K, d], times
  `offset_scale` (1 = the authors' layout; 0.1 puts the components about 2
  apart per coordinate instead of 20, against a component std of 0.25).

  Args:
    dim: data dimension d >= 2.
    num_components: K.
    offset_scale: factor on the offsets of coordinates 3..d.

  Returns:
    `[K, d]` float32 means.

  Raises:
    InputError: `dim` < 2.
  """
  if dim < 2:
    raise InputError(
        f"GMM anchor needs dim >= 2, got {dim}; set --config.data.dim=2 or more"
    )
  k = num_components
  means = offset_scale * np.linspace(-50.0, 50.0, k * dim).reshape(k, dim)
  angles = 2 * np.pi * np.arange(k - 1) / k
  ring = np.stack([np.cos(angles), np.sin(angles)], axis=1)
  means[:, :2] = np.concatenate([np.zeros((1, 2)), ring], axis=0)
  return means.astype(np.float32)


def _sample_gmm(key, means, std, n):
  k_label, k_noise = jax.random.split(key)
  labels = jax.random.randint(k_label, (n,), 0, means.shape[0])
  noise = std * jax.random.normal(k_noise, (n, means.shape[1]))
  return {"x": means[labels] + noise, "label": labels}


def to_device(tree):
  """A pytree of numpy arrays as device arrays, concrete even when first
  asked for inside a traced function (a source's `device_data` is cached:
  a tracer there would leak)."""
  with jax.ensure_compile_time_eval():
    return jax.tree.map(jnp.asarray, tree)


@dataclasses.dataclass(frozen=True)
class GMMSource:
  """Fresh samples from an isotropic GMM anchor P(x) at every batch.

  Each epoch is `samples_per_epoch` new points (the thesis's 10000); the
  validation and test sets are drawn once from their own fixed keys.
  """

  means: np.ndarray
  std: float
  batch_size: int
  samples_per_epoch: int
  num_eval: int
  seed: int = 0

  @property
  def steps_per_epoch(self):
    return self.samples_per_epoch // self.batch_size

  @property
  def x_shape(self):
    return (self.means.shape[1],)

  @property
  def device_data(self):
    """No training arrays: every batch is a fresh sample."""
    return {}

  def start_epoch(self, key, data=None):
    del data
    return key

  def batch(self, epoch_state, step, data=None):
    del data
    key = jax.random.fold_in(epoch_state, step)
    return _sample_gmm(key, jnp.asarray(self.means), self.std, self.batch_size)

  def _fixed(self, split_id, n):
    key = jax.random.fold_in(jax.random.key(self.seed), split_id)
    return jax.device_get(
        _sample_gmm(key, jnp.asarray(self.means), self.std, n)
    )

  @property
  def train_eval(self):
    """A fixed sample of training data for k-NN fitting."""
    return self._fixed(1, self.num_eval)

  @property
  def validation(self):
    return self._fixed(2, self.num_eval)

  @property
  def test(self):
    return self._fixed(3, self.num_eval)

  def log_density(self, x):
    """log P(x) of the anchor, `[N, d]` -> `[N]` (for contour plots)."""
    x = np.asarray(x, np.float64)[:, None, :]
    sq = np.sum((x - self.means[None]) ** 2, -1) / self.std**2
    d = self.means.shape[1]
    log_comp = -0.5 * sq - d * np.log(self.std * math.sqrt(2 * math.pi))
    m = log_comp.max(1, keepdims=True)
    return (m[:, 0] + np.log(np.exp(log_comp - m).mean(1)))


def epoch_length(num_examples, batch_size, epoch_steps):
  """Steps per epoch: one pass (N // B), or `epoch_steps` if smaller and > 0.

  A shorter "epoch" is a random subset of the training set without
  replacement, so small-budget runs validate, log and checkpoint more often.
  """
  full = num_examples // batch_size
  return min(epoch_steps, full) if epoch_steps else full


def check_split_sizes(splits, *, batch_size):
  """Checks, as a source is built, that a run can train and evaluate on it.

  The train split must fill one batch and the validation and test splits
  must hold an example each, or the run would fail only after training.

  Args:
    splits: {"train" / "validation" / "test": (number of examples, the file
      or folder they come from, what else to change for more, e.g. "add
      sentences to it" + `cap_hint("max_test", 5)`)}.
    batch_size: the training batch size (`config.train.batch_size`).

  Raises:
    InputError: naming the file, the split, its size and what to change.
  """
  if batch_size < 1:
    raise InputError(f"config.train.batch_size={batch_size} must be positive")
  for split, (size, where, fix) in splits.items():
    if split == "train" and size < batch_size:
      raise InputError(
          f"{where}: the train split has {size} examples, fewer than one "
          f"batch (config.train.batch_size={batch_size}); lower "
          f"config.train.batch_size, or {fix}"
      )
    if not size:
      raise InputError(
          f"{where}: the {split} split has 0 examples and the run evaluates "
          f"on it; {fix}"
      )


def cap_hint(field, cap):
  """", or raise config.data.<field>=<cap>" if that cap on a split is set."""
  return f", or raise config.data.{field}={cap} (0 keeps all)" if cap else ""


@dataclasses.dataclass(frozen=True)
class ArraySource:
  """A fixed training array, reshuffled every epoch on device (drop-last)."""

  x_train: np.ndarray
  y_train: np.ndarray
  x_val: np.ndarray
  y_val: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  batch_size: int

  def __post_init__(self):
    for name in ("x_train", "x_val", "x_test"):
      a = getattr(self, name)
      if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if len(self.x_train) < self.batch_size:
      raise ValueError(
          f"{len(self.x_train)} training examples < batch size "
          f"{self.batch_size}"
      )

  @property
  def steps_per_epoch(self):
    return len(self.x_train) // self.batch_size

  @property
  def x_shape(self):
    return tuple(self.x_train.shape[1:])

  @functools.cached_property
  def device_data(self):
    """The arrays the training program reads, as a pytree of device arrays.

    The engine passes them to the compiled epoch as an argument (so the
    program does not grow with the dataset) and hands them back to
    `start_epoch` / `batch` as `data`; without `data` those read this
    property (eager use).
    """
    return to_device({"x": self.x_train, "label": self.y_train})

  def start_epoch(self, key, data=None):
    """A permutation `[N]` of the training examples for one epoch."""
    data = self.device_data if data is None else data
    return jax.random.permutation(key, data["x"].shape[0])

  def batch(self, epoch_state, step, data=None):
    """Batch `step` of the epoch: the arrays of `data` at the permutation's
    `step`-th slice of B indices."""
    data = self.device_data if data is None else data
    idx = jax.lax.dynamic_slice_in_dim(
        epoch_state, step * self.batch_size, self.batch_size
    )
    return {k: v[idx] for k, v in data.items()}

  @property
  def train_eval(self):
    return {"x": self.x_train, "label": self.y_train}

  @property
  def validation(self):
    return {"x": self.x_val, "label": self.y_val}

  @property
  def test(self):
    return {"x": self.x_test, "label": self.y_test}


def make_source(
    *,
    name,
    batch_size,
    dim=2,
    num_components=5,
    std=0.25,
    means=(),
    samples_per_epoch=10000,
    num_eval=10000,
    seed=0,
    offset_scale=1.0,
    dataset="mnist",
    dir="",  # pylint: disable=redefined-builtin
    num_validation=10000,
    components=20,
):
  """Builds a device source; the keywords are the fields of a toy config's
  `data` section (`make_source(**config.data, ...)`).

  Args:
    name: "gmm" (fresh GMM samples every batch) or "pca" (a PCA projection
      of an image dataset).
    batch_size: global training batch size.
    dim, num_components, std, offset_scale: "gmm": the GMM of `gmm_means`
      (component std `std`; `offset_scale` multiplies the authors' +-50
      offsets of coordinates 3..dim).
    means: "gmm": explicit `[K, d]` means instead of `gmm_means` (() = none).
    samples_per_epoch: "gmm": training samples per epoch.
    num_eval: "gmm": size of the fixed validation and test sets.
    seed: "gmm": seed of the fixed validation and test sets.
    dataset, dir: "pca": image dataset name and its local folder.
    num_validation: "pca": the last training images held out.
    components: "pca": projected dimensions.

  Returns:
    A `GMMSource` or `ArraySource`.

  Raises:
    InputError: an unknown name, a split too small for the run (see
      `check_split_sizes`), or bad files (see `data.load_arrays`).
  """
  if name == "gmm":
    if means is not None and len(means):
      means = np.asarray(means, np.float32)
    else:
      means = gmm_means(dim, num_components, offset_scale)
    eval_fix = f"raise config.data.num_eval={num_eval}"
    check_split_sizes({
        "train": (samples_per_epoch, "gmm data", "raise "
                  f"config.data.samples_per_epoch={samples_per_epoch}"),
        "validation": (num_eval, "gmm data", eval_fix),
        "test": (num_eval, "gmm data", eval_fix),
    }, batch_size=batch_size)
    return GMMSource(
        means=means,
        std=std,
        batch_size=batch_size,
        samples_per_epoch=samples_per_epoch,
        num_eval=num_eval,
        seed=seed,
    )
  if name == "pca":
    arrays, where = _local.read_arrays(dataset, dir)
    x_train = arrays["x_train"].reshape(len(arrays["x_train"]), -1) / 255.0
    x_test = arrays["x_test"].reshape(len(arrays["x_test"]), -1) / 255.0
    n_val = num_validation
    if not 0 < n_val < len(x_train):
      raise InputError(
          f"{where}: config.data.num_validation={n_val} must be in (0, "
          f"{len(x_train)}), the number of training images"
      )
    fit, val = x_train[:-n_val], x_train[-n_val:]
    check_split_sizes({
        "train": (len(fit), where, f"lower config.data.num_validation={n_val}")
    }, batch_size=batch_size)
    project = _pca.pca_projection(fit, components)
    return ArraySource(
        x_train=project(fit),
        y_train=arrays["y_train"][:-n_val].astype(np.int32),
        x_val=project(val),
        y_val=arrays["y_train"][-n_val:].astype(np.int32),
        x_test=project(x_test),
        y_test=arrays["y_test"].astype(np.int32),
        batch_size=batch_size,
    )
  raise InputError(
      f"unknown dataset {name!r}; set --config.data.name=gmm or pca"
  )
