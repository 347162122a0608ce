"""Importance-sampled log-likelihood on a linear-Gaussian model.

z ~ N(0, I_2), x | z ~ N(W z + b, sigma^2 I_3), so that

  p(x) = N(x; b, W W^T + sigma^2 I),
  p(z|x) = N(z; C W^T (x - b) / sigma^2, C),  C = (I + W^T W / sigma^2)^-1,

and the estimator can be checked against the exact marginal.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special
from scipy import stats

from mimjax import metrics

_W = np.array([[1.0, -0.5], [0.3, 0.8], [-0.7, 0.2]])
_B = np.array([0.5, -1.0, 0.2])
_SIGMA = 0.5
_POST_COV = np.linalg.inv(np.eye(2) + _W.T @ _W / _SIGMA**2)
_POST_CHOL = np.linalg.cholesky(_POST_COV)


def _data(num, seed=0):
  cov = _W @ _W.T + _SIGMA**2 * np.eye(3)
  x = np.random.default_rng(seed).multivariate_normal(_B, cov, size=num)
  log_px = stats.multivariate_normal(_B, cov).logpdf(x)
  return jnp.asarray(x, jnp.float32), log_px


def _log_weight_fn(shift=0.0, scale=1.0):
  """Proposal N(posterior mean + shift, scale^2 C); exact for (0, 1)."""
  chol = jnp.asarray(scale * _POST_CHOL, jnp.float32)
  log_norm = jnp.sum(jnp.log(jnp.diag(chol))) + math.log(2 * math.pi)

  def log_weight(x, key):  # x [B, 3] -> [B]
    mean = (x - _B) @ jnp.asarray(_W / _SIGMA**2 @ _POST_COV, jnp.float32)
    eps = jax.random.normal(key, mean.shape)  # [B, 2]
    z = mean + shift + eps @ chol.T
    log_q = -0.5 * jnp.sum(eps**2, -1) - log_norm
    log_pz = -0.5 * jnp.sum(z**2, -1) - math.log(2 * math.pi)
    resid = (x - z @ jnp.asarray(_W.T, jnp.float32) - _B) / _SIGMA
    log_px_z = -0.5 * jnp.sum(resid**2, -1) - 3 * (
        math.log(_SIGMA) + 0.5 * math.log(2 * math.pi)
    )
    return log_px_z + log_pz - log_q

  return log_weight


def _estimate(log_weight, x, num_samples, chunk_size):
  fn = jax.jit(
      functools.partial(
          metrics.importance_sampled_log_likelihood,
          log_weight,
          num_samples=num_samples,
          chunk_size=chunk_size,
      )
  )
  return [np.asarray(a, np.float64) for a in fn(x, jax.random.key(0))]


def test_exact_posterior_gives_exact_marginal():
  x, truth = _data(64)
  log_px, stderr = _estimate(_log_weight_fn(), x, 20, 5)
  np.testing.assert_allclose(log_px, truth, atol=1e-5)
  assert np.max(stderr) < 1e-5


def test_mismatched_proposal_converges():
  x, truth = _data(128)
  log_weight = _log_weight_fn(shift=0.3, scale=1.5)
  err_1 = _estimate(log_weight, x, 1, 1)[0] - truth
  err_10 = _estimate(log_weight, x, 10, 5)[0] - truth
  log_px, stderr = _estimate(log_weight, x, 5000, 500)
  err_5000 = log_px - truth
  # Jensen: E[log p^] <= log p, with a gap that shrinks with S.
  assert np.mean(err_1) < np.mean(err_10) < 0.0
  assert np.mean(np.abs(err_5000)) < 0.02 * np.mean(np.abs(err_1))
  assert np.mean(np.abs(err_5000)) < 0.02
  # The delta-method standard error matches the actual spread.
  assert 0.7 < np.sqrt(np.mean((err_5000 / stderr) ** 2)) < 1.4


def test_matches_one_shot_computation_on_the_same_keys():
  x, _ = _data(16)
  log_weight = _log_weight_fn(shift=1.0, scale=0.8)
  key = jax.random.key(3)
  all_weights = jax.jit(jax.vmap(log_weight, in_axes=(None, 0)))
  for chunk_size in (1, 6):
    # All S = 24 weights at once from the documented key layout: [S, B].
    keys = jnp.concatenate([
        jax.random.split(jax.random.fold_in(key, c), chunk_size)
        for c in range(24 // chunk_size)
    ])
    w = np.asarray(all_weights(x, keys), np.float64)
    v = np.exp(w - w.max(axis=0))
    log_px, stderr = metrics.importance_sampled_log_likelihood(
        log_weight, x, key, num_samples=24, chunk_size=chunk_size
    )
    np.testing.assert_allclose(
        log_px, special.logsumexp(w, axis=0) - np.log(24), rtol=1e-5
    )
    np.testing.assert_allclose(
        stderr,
        np.std(v, axis=0) / np.sqrt(24) / np.mean(v, axis=0),
        rtol=1e-4,
    )


def test_large_magnitude_weights_do_not_underflow():
  x, _ = _data(8)
  log_weight = _log_weight_fn(shift=0.3)
  key = jax.random.key(0)
  kwargs = dict(num_samples=30, chunk_size=10)
  log_px, stderr = metrics.importance_sampled_log_likelihood(
      log_weight, x, key, **kwargs
  )
  shifted, shifted_stderr = metrics.importance_sampled_log_likelihood(
      lambda x, k: log_weight(x, k) - 1000.0, x, key, **kwargs
  )
  np.testing.assert_allclose(shifted, log_px - 1000.0, atol=1e-3)
  np.testing.assert_allclose(shifted_stderr, stderr, rtol=1e-2)


def test_all_minus_infinity_weights():
  def log_weight(x, key):
    del key
    return jnp.where(x[:, 0] > 0, 0.0, -jnp.inf)

  x = jnp.array([[1.0], [-1.0]])
  log_px, _ = metrics.importance_sampled_log_likelihood(
      log_weight, x, jax.random.key(0), num_samples=4, chunk_size=2
  )
  np.testing.assert_array_equal(log_px, [0.0, -np.inf])


def test_weight_function_is_traced_once_not_per_chunk():
  traces = []

  def log_weight(x, key):
    traces.append(None)
    return _log_weight_fn()(x, key)

  x, _ = _data(4)
  _estimate(log_weight, x, 1000, 10)  # 100 chunks
  assert len(traces) <= 2  # one for the output shape, one for the scan.


@pytest.mark.parametrize("num_samples, chunk_size", [(10, 3), (10, 0), (0, 5)])
def test_rejects_bad_chunking(num_samples, chunk_size):
  with pytest.raises(ValueError, match="positive multiple of chunk_size"):
    metrics.importance_sampled_log_likelihood(
        _log_weight_fn(),
        _data(2)[0],
        jax.random.key(0),
        num_samples=num_samples,
        chunk_size=chunk_size,
    )


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
def test_logmeanexp_large_magnitudes(axis):
  a = np.array([[1e3, 1000.5, 999.0, 998.0], [-1e3, -1001.0, -999.5, 0.0]])
  count = {None: 8, 0: 2, 1: 4, -1: 4, (0, 1): 8}[axis]
  expected = special.logsumexp(a, axis=axis) - np.log(count)
  got = jax.jit(metrics.logmeanexp, static_argnums=1)(jnp.asarray(a), axis)
  np.testing.assert_allclose(got, expected, rtol=1e-6)
