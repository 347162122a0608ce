"""KSG mutual information against closed-form Gaussian values."""

import numpy as np
import pytest
from scipy import special

from mimjax import metrics


def _gaussian_mi(cov, dim_x):
  """I(x; z) = 1/2 log(det S_x det S_z / det S) for a joint Gaussian."""
  logdet = lambda a: np.linalg.slogdet(a)[1]
  return 0.5 * (
      logdet(cov[:dim_x, :dim_x]) + logdet(cov[dim_x:, dim_x:]) - logdet(cov)
  )


def _linear_pair(rng, rho, dim, n):
  """x ~ N(0, I), z = rho Q x + sqrt(1 - rho^2) noise, Q orthogonal."""
  a = rho * np.linalg.qr(rng.normal(size=(dim, dim)))[0]
  cov_z = a @ a.T + (1 - rho**2) * np.eye(dim)
  cov = np.block([[np.eye(dim), a.T], [a, cov_z]])
  x = rng.normal(size=(n, dim))
  z = x @ a.T + np.sqrt(1 - rho**2) * rng.normal(size=(n, dim))
  return x, z, _gaussian_mi(cov, dim)


def test_bivariate_gaussian():
  rng = np.random.default_rng(0)
  cov = np.array([[1.0, 0.9], [0.9, 1.0]])
  xz = rng.multivariate_normal(np.zeros(2), cov, size=5000)
  truth = _gaussian_mi(cov, 1)  # 0.830
  # 1-D inputs are treated as [N, 1].
  estimate = metrics.ksg_mutual_information(xz[:, 0], xz[:, 1], k=5)
  assert abs(estimate - truth) < 0.05


def test_ten_dimensional_gaussian_weak_dependence():
  x, z, truth = _linear_pair(np.random.default_rng(0), 0.2, 5, 5000)
  assert truth == pytest.approx(-2.5 * np.log(1 - 0.2**2))  # 0.102
  assert abs(metrics.ksg_mutual_information(x, z) - truth) < 0.05


def test_ten_dimensional_gaussian_documented_bias():
  # Documented: about -20% at d_x = d_z = 5, N = 5000 (truth 1.116 here).
  x, z, truth = _linear_pair(np.random.default_rng(0), 0.6, 5, 5000)
  assert 0.65 * truth < metrics.ksg_mutual_information(x, z) < truth


def test_independent_is_near_zero():
  rng = np.random.default_rng(1)
  x, z = rng.normal(size=(5000, 3)), rng.uniform(size=(5000, 2))
  assert abs(metrics.ksg_mutual_information(x, z)) < 0.02


def test_small_sample_by_brute_force():
  # Direct O(N^2) evaluation of the KSG formula.
  rng = np.random.default_rng(2)
  x = rng.normal(size=(40, 2))
  z = x[:, :1] + rng.normal(size=(40, 1))
  k = 3
  dx = np.max(np.abs(x[:, None] - x[None]), axis=-1)
  dz = np.max(np.abs(z[:, None] - z[None]), axis=-1)
  dj = np.maximum(dx, dz)
  np.fill_diagonal(dj, np.inf)
  eps = np.sort(dj, axis=1)[:, k - 1]
  n_x = np.sum(dx < eps[:, None], axis=1) - 1
  n_z = np.sum(dz < eps[:, None], axis=1) - 1
  expected = (
      special.digamma(k)
      + special.digamma(40)
      - np.mean(special.digamma(n_x + 1) + special.digamma(n_z + 1))
  )
  assert metrics.ksg_mutual_information(x, z, k=k) == pytest.approx(expected)


@pytest.mark.parametrize(
    "x, z, match",
    [
        (np.zeros((10, 2)), np.zeros((9, 2)), "same number of rows"),
        (np.zeros((10, 2, 1)), np.zeros((10, 2)), r"shape \[N\] or \[N, d\]"),
        (np.ones((5, 1)), np.ones((5, 1)), "more than k=5 points"),
        (np.full((10, 1), np.nan), np.zeros((10, 1)), "non-finite"),
        (np.ones((10, 1)), np.ones((10, 1)), "duplicates"),
    ],
)
def test_rejects_bad_input(x, z, match):
  with pytest.raises(ValueError, match=match):
    metrics.ksg_mutual_information(x, z)
