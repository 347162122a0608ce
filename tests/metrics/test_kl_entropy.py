"""Kozachenko-Leonenko entropy against closed-form values."""

import numpy as np
import pytest

from mimjax import metrics


def _gaussian_entropy(cov):
  """H = 1/2 log det(2 pi e S)."""
  return 0.5 * np.linalg.slogdet(2 * np.pi * np.e * cov)[1]


def _ar1_cov(dim, rho):
  i = np.arange(dim)
  return rho ** np.abs(i[:, None] - i[None])


@pytest.mark.parametrize(
    "cov",
    [
        np.array([[1.0, 0.9], [0.9, 1.0]]),
        _ar1_cov(10, 0.8),  # condition number 48
    ],
    ids=["d2_rho0.9", "d10_ar0.8"],
)
def test_gaussian(cov):
  rng = np.random.default_rng(0)
  x = rng.multivariate_normal(np.zeros(len(cov)), cov, size=5000)
  assert abs(metrics.kl_entropy(x) - _gaussian_entropy(cov)) < 0.05


@pytest.mark.parametrize("noise", ["laplace", "uniform"])
def test_sheared_non_gaussian(noise):
  # x = A e with independent Laplace(0, 1) or U(0, 1) coordinates e:
  # H(x) = H(e) + log|det A|, H(Laplace) = 1 + log 2, H(U(0, 1)) = 0.
  rng = np.random.default_rng(0)
  a = np.array([[1.0, 0.8], [0.3, 0.5]])
  e = getattr(rng, noise)(size=(5000, 2))
  truth = {"laplace": 2 * (1 + np.log(2)), "uniform": 0.0}[noise]
  truth += np.linalg.slogdet(a)[1]
  assert abs(metrics.kl_entropy(e @ a.T) - truth) < 0.05


def test_affine_equivariance():
  rng = np.random.default_rng(1)
  x = rng.standard_t(3, size=(500, 3))
  a = rng.normal(size=(3, 3))
  shifted = metrics.kl_entropy(x @ a.T + 7.0, k=3)
  assert shifted - metrics.kl_entropy(x, k=3) == pytest.approx(
      np.linalg.slogdet(a)[1], abs=1e-8
  )


def test_one_dimensional_standard_normal():
  x = np.random.default_rng(2).normal(size=5000)  # [N] -> [N, 1]
  assert metrics.kl_entropy(x, k=1) == pytest.approx(
      0.5 * np.log(2 * np.pi * np.e), abs=0.05
  )


@pytest.mark.parametrize(
    "x, match",
    [
        (np.zeros((4, 2, 2)), r"shape \[N\] or \[N, d\]"),
        (np.arange(5.0), "more than k=5 points"),
        (np.random.default_rng(0).normal(size=(8, 8)), "more points than"),
        (np.repeat(np.arange(10.0)[:, None], 2, axis=1), "singular"),
        (np.repeat(np.arange(10.0), 6), "duplicates"),
        (np.array([0.0, 1.0, np.inf, 2.0, 3.0, 4.0, 5.0]), "non-finite"),
    ],
)
def test_rejects_bad_input(x, match):
  with pytest.raises(ValueError, match=match):
    metrics.kl_entropy(x)
