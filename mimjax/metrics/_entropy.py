"""Kozachenko-Leonenko nearest-neighbour differential entropy."""

import numpy as np
from scipy import linalg
from scipy import spatial
from scipy import special

from mimjax.metrics import _checks


def kl_entropy(x, *, k=5):
  """Kozachenko-Leonenko estimate of H(x) in nats, on whitened samples.

  Because H(A x + b) = H(x) + log|det A|, the samples are first whitened,
  u_i = L^{-1} (x_i - mean(x)) with L L^T the sample covariance, and then

    H = psi(N) - psi(k) + log V_d + d/N sum_i log eps_i + sum_j log L_jj,

  where eps_i is the Euclidean distance from u_i to its k-th nearest
  neighbour and V_d = pi^{d/2} / Gamma(d/2 + 1) the volume of the unit
  d-ball (Kozachenko & Leonenko 1987; Kraskov et al. 2004, eq 20). With the
  Euclidean norm the whole estimate is affine-equivariant (whitenings of
  A x and x differ by a rotation).

  Whitening is what makes d = 10 usable at N = 5000: on raw samples of a
  correlated Gaussian the KL estimate is biased upwards by +0.08 to +0.5
  nats (k = 5, condition numbers 8 to 50; +1.9 nats for a sheared Laplace
  vector), while after whitening only the small bias of the isotropic case
  is left. Measured errors of this function, N = 5000, k = 5, 10 seeds:
  d = 2 Gaussian (rho = 0.9) mean -0.006, max |error| 0.027 nats; d = 10
  Gaussian mean -0.008, sd 0.030, max 0.054 nats, the sd being that of the
  sample mean of -log p(x) itself, sqrt(d / (2 N)) = 0.032.

  Args:
    x: `[N, d]` (or `[N]`) samples.
    k: neighbour order.

  Returns:
    The estimate in nats, as a Python float.

  Raises:
    ValueError: on a shape other than `[N]` / `[N, d]`, N <= max(k, d),
      non-finite entries, a singular sample covariance, or k + 1 identical
      samples (eps_i = 0; the estimator needs continuous data).

  References:
    L. F. Kozachenko, N. N. Leonenko, "Sample estimate of the entropy of a
    random vector", Probl. Peredachi Inf. 23(2), 9-16 (1987).
  """
  x = _checks.as_points(x, "x")
  num_points, dim = x.shape
  _checks.check_neighbours(k, num_points)
  if num_points <= dim:
    raise ValueError(f"need more points than dimensions, got {x.shape}")
  centred = x - x.mean(axis=0)
  cov = centred.T @ centred / (num_points - 1)
  try:
    chol = np.linalg.cholesky(cov)
  except np.linalg.LinAlgError:
    chol = np.zeros((dim, dim))
  # L_jj^2 is the variance of x_j left after regressing on x_1..x_{j-1}.
  if not np.all(np.diag(chol) > 1e-6 * np.sqrt(np.diag(cov))):
    raise ValueError(
        "x has a singular sample covariance (a coordinate is an affine "
        "function of the others)"
    )
  white = linalg.solve_triangular(chol, centred.T, lower=True).T  # [N, d]
  # The (k + 1)-th neighbour counting the point itself: [N, 1] distances.
  distances, _ = spatial.cKDTree(white).query(white, k=[k + 1], workers=-1)
  eps = distances[:, 0]  # [N]
  if np.any(eps == 0.0):
    raise ValueError(
        f"{np.sum(eps == 0.0)} samples have k={k} exact duplicates in x"
    )
  log_unit_ball = 0.5 * dim * np.log(np.pi) - special.gammaln(0.5 * dim + 1)
  return float(
      special.digamma(num_points)
      - special.digamma(k)
      + log_unit_ball
      + dim * np.mean(np.log(eps))
      + np.sum(np.log(np.diag(chol)))
  )
