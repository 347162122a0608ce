"""Score-function gradients and their control variates, against enumeration.

A factorised Bernoulli p_theta(x) over 4 pixels has 16 outcomes, so
grad E_p[f_theta(x)] = grad sum_x p_theta(x) f_theta(x) is exact. Each
unbiased estimator's Monte-Carlo mean must match it, and the baselines must
lower its variance against REINFORCE with b = 0 at the same number of
samples.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mimjax import losses

_PIXELS = 4
_WEIGHTS = jnp.array([3.0, -2.0, 1.5, 4.0])


def _log_prob(logits, x):
  """log Bernoulli(x; sigmoid(logits)), summed over pixels: `[..., P]` -> `[...]`."""
  return jnp.sum(x * logits - jax.nn.softplus(logits), axis=-1)


def _loss(logits, x):
  """A per-sample loss with a large offset (like MIM's ~700 nats) and a
  pathwise dependence on the parameters: `[..., P]` -> `[...]`."""
  return 50.0 + (x @ _WEIGHTS) ** 2 + jnp.sum(jnp.tanh(logits) * x, axis=-1)


_LOGITS = jnp.array([0.4, -1.0, 0.2, 1.3])


def _exact_gradient():
  all_x = jnp.array(list(itertools.product([0.0, 1.0], repeat=_PIXELS)))
  expected = lambda th: jnp.sum(
      jnp.exp(_log_prob(th, all_x)) * _loss(th, all_x)
  )
  return np.asarray(jax.grad(expected)(_LOGITS), np.float64)


def _estimate(estimator, key, num_z, num_samples):
  """One gradient estimate from `num_z` x `num_samples` samples `[K, B, P]`."""
  x = jax.random.bernoulli(
      key, jax.nn.sigmoid(_LOGITS), (num_samples, num_z, _PIXELS)
  ).astype(jnp.float32)

  def surrogate(logits):
    f = _loss(logits, x)  # [K, B]
    if estimator == "reinforce":
      baseline = 0.0
    elif estimator == "batch_mean":
      baseline = losses.leave_one_out_baseline(f.reshape(-1)).reshape(f.shape)
    elif estimator == "rloo":
      baseline = losses.leave_one_out_baseline(f, axis=0)
    return jnp.mean(
        losses.score_function_surrogate(
            f, _log_prob(logits, x), baseline=baseline
        )
    )

  return jax.grad(surrogate)(_LOGITS)


def _estimates(estimator, num_z, num_samples, repeats=4000):
  keys = jax.random.split(jax.random.key(0), repeats)
  fn = jax.jit(jax.vmap(lambda k: _estimate(estimator, k, num_z, num_samples)))
  return np.asarray(fn(keys), np.float64)


@pytest.mark.parametrize(
    "estimator,num_z,num_samples",
    [("reinforce", 8, 1), ("batch_mean", 8, 1), ("rloo", 4, 2),
     ("rloo", 2, 4)],
)
def test_expected_gradient_matches_enumeration(estimator, num_z, num_samples):
  estimates = _estimates(estimator, num_z, num_samples)
  exact = _exact_gradient()
  se = estimates.std(0, ddof=1) / np.sqrt(len(estimates))
  z = np.abs(estimates.mean(0) - exact) / se
  assert z.max() < 4.5, (estimates.mean(0), exact, z)


@pytest.mark.parametrize(
    "estimator,num_z,num_samples",
    [("batch_mean", 8, 1), ("rloo", 4, 2), ("rloo", 2, 4)],
)
def test_baselines_lower_the_variance(estimator, num_z, num_samples):
  """Same number of samples (8) per estimate; the offset of 50 makes b = 0
  bad, so the reduction is large."""
  reinforce = _estimates("reinforce", 8, 1).var(0).sum()
  baseline = _estimates(estimator, num_z, num_samples).var(0).sum()
  assert baseline < 0.2 * reinforce, (baseline, reinforce)


def test_pathwise_term_alone_is_biased():
  """Power check: without the score term the mean misses the exact gradient."""
  x = jax.random.bernoulli(
      jax.random.key(1), jax.nn.sigmoid(_LOGITS), (20000, _PIXELS)
  ).astype(jnp.float32)
  pathwise = np.asarray(
      jax.grad(lambda th: jnp.mean(_loss(th, x)))(_LOGITS), np.float64
  )
  assert np.abs(pathwise - _exact_gradient()).max() > 1.0


def test_leave_one_out_baseline_values_and_errors():
  f = jnp.array([[1.0, 10.0], [3.0, 20.0], [8.0, 60.0]])
  b = losses.leave_one_out_baseline(f, axis=0)
  np.testing.assert_allclose(b, [[5.5, 40.0], [4.5, 35.0], [2.0, 15.0]])
  np.testing.assert_allclose(
      losses.leave_one_out_baseline(f, axis=1), [[10, 1], [20, 3], [60, 8]]
  )
  # No gradient flows into the baseline.
  g = jax.grad(lambda f: jnp.sum(losses.leave_one_out_baseline(f)))(f)
  np.testing.assert_array_equal(g, 0.0)
  with pytest.raises(ValueError, match="needs >= 2 samples"):
    losses.leave_one_out_baseline(jnp.ones((1, 3)))


def _assert_means_are_exact(*draws):
  """Each `[N, P]` set of gradient draws averages to the enumerated
  gradient within 4.5 standard errors."""
  exact = _exact_gradient()
  for estimates in draws:
    se = estimates.std(0, ddof=1) / np.sqrt(len(estimates))
    z = np.abs(estimates.mean(0) - exact) / se
    assert z.max() < 4.5, (estimates.mean(0), exact, z)


def _noisy_weight_estimate(key, weight_draws):
  """RLOO (2 x 4 samples) on a loss with zero-mean noise given x, f = loss +
  50 eps (as MIM's single-sample Jensen log q(x)), the score weighted by
  f averaged over `weight_draws` noise draws (the first is f's own)."""
  k_x, k_eps = jax.random.split(key)
  x = jax.random.bernoulli(
      k_x, jax.nn.sigmoid(_LOGITS), (2, 4, _PIXELS)
  ).astype(jnp.float32)
  eps = jax.random.normal(k_eps, (weight_draws, 2, 4))

  def surrogate(logits):
    f = _loss(logits, x) + 50.0 * eps[0]
    weight = _loss(logits, x) + 50.0 * jnp.mean(eps, axis=0)
    baseline = losses.leave_one_out_baseline(weight, axis=0)
    return jnp.mean(losses.score_function_surrogate(
        f, _log_prob(logits, x), baseline=baseline, weight=weight
    ))

  return jax.grad(surrogate)(_LOGITS)


def test_a_less_noisy_score_weight_is_unbiased_and_lowers_the_variance():
  """`weight` with the loss's conditional mean given x keeps the expected
  gradient (enumerated) and, with less noise, lowers the variance."""
  keys = jax.random.split(jax.random.key(3), 4000)
  draw = lambda m: np.asarray(jax.jit(jax.vmap(
      lambda k: _noisy_weight_estimate(k, m)))(keys), np.float64)
  single, averaged = draw(1), draw(16)
  _assert_means_are_exact(single, averaged)
  assert averaged.var(0).sum() < 0.5 * single.var(0).sum(), (
      averaged.var(0).sum(), single.var(0).sum())


def test_matched_noise_baseline_values_and_errors():
  # cross[k, j] = f(x_j, e_k): noise k, sample j.
  cross = jnp.array([[1.0, 2.0, 4.0], [10.0, 20.0, 40.0], [5.0, 7.0, 9.0]])
  np.testing.assert_allclose(
      losses.matched_noise_baseline(cross), [3.0, 25.0, 6.0]
  )
  # Trailing axes ride along.
  stacked = jnp.stack([cross, 2 * cross], axis=-1)
  np.testing.assert_allclose(
      losses.matched_noise_baseline(stacked), [[3, 6], [25, 50], [6, 12]]
  )
  g = jax.grad(lambda c: jnp.sum(losses.matched_noise_baseline(c)))(cross)
  np.testing.assert_array_equal(g, 0.0)
  with pytest.raises(ValueError, match="K >= 2"):
    losses.matched_noise_baseline(jnp.ones((1, 1)))
  with pytest.raises(ValueError, match=r"\[K, K, ...\]"):
    losses.matched_noise_baseline(jnp.ones((2, 3)))


def _matched_noise_estimate(key, matched):
  """K = 4 samples of one p(x), f(x, e) = loss(x) + 50 e with noise e common
  to every x (as log q(z'|x) = -|e|^2 / 2 + const in MIM's Jensen bracket):
  the RLOO baseline at each sample's own e, or the plain one."""
  k_x, k_eps = jax.random.split(key)
  x = jax.random.bernoulli(
      k_x, jax.nn.sigmoid(_LOGITS), (4, _PIXELS)
  ).astype(jnp.float32)
  eps = jax.random.normal(k_eps, (4,))

  def surrogate(logits):
    f = _loss(logits, x) + 50.0 * eps
    if matched:
      cross = _loss(logits, x)[None, :] + 50.0 * eps[:, None]  # [noise, x]
      baseline = losses.matched_noise_baseline(cross)
    else:
      baseline = losses.leave_one_out_baseline(f)
    return jnp.mean(losses.score_function_surrogate(
        f, _log_prob(logits, x), baseline=baseline
    ))

  return jax.grad(surrogate)(_LOGITS)


def test_matched_noise_baseline_is_unbiased_and_cancels_shared_noise():
  """Against the enumerated gradient; the noise every sample shares cancels
  in f - b, so the variance falls far below plain RLOO's."""
  keys = jax.random.split(jax.random.key(4), 4000)
  draw = lambda matched: np.asarray(jax.jit(jax.vmap(
      lambda k: _matched_noise_estimate(k, matched)))(keys), np.float64)
  plain, matched = draw(False), draw(True)
  _assert_means_are_exact(plain, matched)
  assert matched.var(0).sum() < 0.25 * plain.var(0).sum(), (
      matched.var(0).sum(), plain.var(0).sum())


def test_score_weight_defaults_to_the_loss():
  x = jnp.array([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 0.0]])
  grad = lambda **kw: jax.grad(lambda th: jnp.sum(
      losses.score_function_surrogate(
          _loss(th, x), _log_prob(th, x), baseline=3.0, **kw)))(_LOGITS)
  np.testing.assert_array_equal(grad(), grad(weight=_loss(_LOGITS, x)))
