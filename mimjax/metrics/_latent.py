"""Summaries of an encoder/decoder pair on a data set (numpy or jax in)."""

import numpy as np


def _as_array(a, name, ndim=None):
  a = np.asarray(a, np.float64)
  if ndim is not None and a.ndim != ndim:
    raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
  return a


def reconstruction_error(x, x_recon):
  """Mean Euclidean distance between examples and their reconstructions.

    err = 1/N sum_i ||x_i - x~_i||_2,

  the norm running over all non-batch axes (the thesis' "reconstruction
  error", Fig. 5.1; not an RMSE).

  Args:
    x: `[N, ...]` examples.
    x_recon: `[N, ...]` reconstructions, same shape.

  Returns:
    The mean distance, a Python float.

  Raises:
    ValueError: if the shapes differ or there is no batch axis.
  """
  x = _as_array(x, "x")
  x_recon = _as_array(x_recon, "x_recon")
  if x.shape != x_recon.shape or x.ndim < 1:
    raise ValueError(
        f"x and x_recon need the same [N, ...] shape, got {x.shape} and "
        f"{x_recon.shape}"
    )
  diff = (x - x_recon).reshape(x.shape[0], -1)  # [N, D]
  return float(np.mean(np.linalg.norm(diff, axis=1)))


def posterior_std(scale):
  """Mean posterior standard deviation, 1/(N d) sum_{i,j} sigma_j(x_i).

  Args:
    scale: `[N, d]` standard deviations of q(z|x_i).

  Returns:
    The mean, a Python float.

  Raises:
    ValueError: if `scale` is not 2-D.
  """
  return float(np.mean(_as_array(scale, "scale", ndim=2)))


def active_units(posterior_means, *, threshold=1e-2):
  """Number of active latent units (Burda et al. 2016, Sec. 5.2).

  Unit j is active when A_j = Var_x(E_{q(z|x)}[z_j]) > threshold, with the
  variance taken over the N examples (ddof = 0).

  Args:
    posterior_means: `[N, d]` posterior means E_q[z|x_i].
    threshold: activity threshold on the variance.

  Returns:
    The number of active units, a Python int in [0, d].

  Raises:
    ValueError: if `posterior_means` is not 2-D.

  References:
    Y. Burda, R. Grosse, R. Salakhutdinov, "Importance weighted
    autoencoders", ICLR 2016.
  """
  means = _as_array(posterior_means, "posterior_means", ndim=2)
  return int(np.sum(np.var(means, axis=0) > threshold))


def consistency_gap(log_p_joint, log_q_joint):
  """Mean MIM consistency regulariser R_MIM over samples (thesis eq 3.16).

  Per sample, with a = log p(x, z) and b = log q(x, z),

    R = -1/2 (a + b) + logaddexp(a, b) - log 2 = log cosh((a - b) / 2) >= 0,

  zero exactly where p(x, z) = q(x, z). It is computed in float64 on the
  host as log1p(2 sinh^2((a - b) / 4)) for |a - b| / 2 < 20 (cosh - 1 =
  2 sinh^2, no cancellation) and |a - b| / 2 - log 2 + log1p(exp(-|a - b|))
  above, so it is non-negative in floating point too. Per sample it equals
  `mimjax.losses.consistency_regularizer`, which works in the caller's
  dtype.

  Args:
    log_p_joint: `[N]` log p(x|z) + log p(z).
    log_q_joint: `[N]` log q(z|x) + log q(x), at the same samples.

  Returns:
    The mean of R, a Python float.

  Raises:
    ValueError: if the shapes differ.
  """
  log_p = _as_array(log_p_joint, "log_p_joint")
  log_q = _as_array(log_q_joint, "log_q_joint")
  if log_p.shape != log_q.shape:
    raise ValueError(
        f"log_p_joint and log_q_joint must share one shape, got "
        f"{log_p.shape} and {log_q.shape}"
    )
  half_gap = 0.5 * np.abs(log_p - log_q)
  near = np.log1p(2.0 * np.sinh(0.5 * np.minimum(half_gap, 20.0)) ** 2)
  far = half_gap - np.log(2.0) + np.log1p(np.exp(-2.0 * half_gap))
  return float(np.mean(np.where(half_gap < 20.0, near, far)))
