"""k-NN accuracy on hand-made and synthetic codes."""

import numpy as np
import pytest

from mimjax import metrics


def test_hand_made_vote():
  z_train = np.array([0.0, 1.0, 2.0, 10.0])  # [N] -> [N, 1]
  y_train = np.array([0, 0, 1, 1])
  # Nearest neighbour of 1.9 is 2.0 (label 1); its 3 nearest vote 0, 0, 1.
  acc = metrics.knn_accuracy(z_train, y_train, [[1.9]], [1], ks=(1, 3))
  assert acc == {1: 1.0, 3: 0.0}


def test_separable_clusters():
  rng = np.random.default_rng(0)
  centres = 20.0 * np.eye(3)
  y_train, y_test = rng.integers(0, 3, 300), rng.integers(0, 3, 200)
  z_train = centres[y_train] + rng.normal(size=(300, 3))
  z_test = centres[y_test] + rng.normal(size=(200, 3))
  acc = metrics.knn_accuracy(z_train, y_train, z_test, y_test)
  assert acc == {1: 1.0, 3: 1.0, 5: 1.0, 10: 1.0}


def test_labels_independent_of_codes_give_chance():
  rng = np.random.default_rng(0)
  z_train, z_test = rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2))
  y_train, y_test = rng.integers(0, 4, 2000), rng.integers(0, 4, 2000)
  acc = metrics.knn_accuracy(z_train, y_train, z_test, y_test, ks=(1, 10))
  for value in acc.values():
    assert abs(value - 0.25) < 0.05  # sd of the accuracy ~ 0.01


@pytest.mark.parametrize(
    "args, ks, match",
    [
        ((np.zeros((5, 2)), np.zeros(4), np.zeros((3, 2)), np.zeros(3)), (1,),
         r"y_train must have shape \[5\]"),
        ((np.zeros((5, 2)), np.zeros(5), np.zeros((3, 2)), np.zeros((3, 1))),
         (1,), r"y_test must have shape \[3\]"),
        ((np.zeros((5, 2)), np.zeros(5), np.zeros((3, 3)), np.zeros(3)), (1,),
         "different dimensions"),
        ((np.zeros((5, 2)), np.zeros(5), np.zeros((3, 2)), np.zeros(3)), (6,),
         r"integer in \[1, 5\]"),
        ((np.zeros((5, 2)), np.zeros(5), np.zeros((3, 2)), np.zeros(3)), (0,),
         r"integer in \[1, 5\]"),
        ((np.full((5, 2), np.nan), np.zeros(5), np.zeros((3, 2)), np.zeros(3)),
         (1,), "non-finite"),
    ],
)
def test_rejects_bad_input(args, ks, match):
  with pytest.raises(ValueError, match=match):
    metrics.knn_accuracy(*args, ks=ks)
