"""Argument checks shared by the host-side (numpy) estimators."""

import numpy as np


def as_points(x, name):
  """Returns `x` as a finite float64 `[N, d]` array (`[N]` becomes `[N, 1]`).

  Args:
    x: array-like of shape `[N]` or `[N, d]`.
    name: argument name used in error messages.

  Returns:
    `[N, d]` float64 numpy array.

  Raises:
    ValueError: if `x` is not 1-D or 2-D, or has a non-finite entry.
  """
  x = np.asarray(x, np.float64)
  if x.ndim == 1:
    x = x[:, None]
  if x.ndim != 2:
    raise ValueError(f"{name} must have shape [N] or [N, d], got {x.shape}")
  if not np.all(np.isfinite(x)):
    raise ValueError(f"{name} has non-finite entries")
  return x


def check_neighbours(k, num_points):
  """Checks that `k` is a positive integer smaller than `num_points`."""
  if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
    raise ValueError(f"k must be a positive integer, got {k!r}")
  if num_points <= k:
    raise ValueError(f"need more than k={k} points, got N={num_points}")
