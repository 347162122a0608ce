"""k-nearest-neighbour classification accuracy of latent codes."""

import numpy as np
from sklearn import neighbors

from mimjax.metrics import _checks


def knn_accuracy(z_train, y_train, z_test, y_test, *, ks=(1, 3, 5, 10)):
  """Test accuracy of Euclidean k-NN classifiers fitted on training codes.

  For each k, a majority vote of the k training points nearest (Euclidean)
  to each test code predicts its label; the score is the fraction of test
  labels predicted correctly (thesis Sec. 4.2; sklearn
  `KNeighborsClassifier`, uniform weights).

  Args:
    z_train: `[N, d]` (or `[N]`) training codes.
    y_train: `[N]` training labels.
    z_test: `[M, d]` (or `[M]`) test codes.
    y_test: `[M]` test labels.
    ks: neighbour counts, each in [1, N].

  Returns:
    Dict mapping each k to its accuracy in [0, 1] (Python floats).

  Raises:
    ValueError: on mismatched lengths or code dimensions, labels that are
      not 1-D, non-finite codes, or a k outside [1, N].
  """
  z_train = _checks.as_points(z_train, "z_train")
  z_test = _checks.as_points(z_test, "z_test")
  y_train, y_test = np.asarray(y_train), np.asarray(y_test)
  for name, z, y in (("train", z_train, y_train), ("test", z_test, y_test)):
    if y.shape != z.shape[:1]:
      raise ValueError(
          f"y_{name} must have shape [{z.shape[0]}] to match z_{name}, got "
          f"{y.shape}"
      )
  if z_train.shape[1] != z_test.shape[1]:
    raise ValueError(
        f"z_train and z_test have different dimensions, {z_train.shape[1]} "
        f"and {z_test.shape[1]}"
    )
  for k in ks:
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= len(z_train):
      raise ValueError(
          f"each k must be an integer in [1, {len(z_train)}], got {k!r}"
      )
  return {
      int(k): float(
          neighbors.KNeighborsClassifier(n_neighbors=k)
          .fit(z_train, y_train)
          .score(z_test, y_test)
      )
      for k in ks
  }
