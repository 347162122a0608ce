"""Distributions and priors against brute-force references (numpy/scipy)."""

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from mimjax import distributions


def test_scale_floor_is_explicit_and_finite():
  raw = jnp.array([-1e4, 0.0, 1e4])
  scale = distributions.scale_from_raw(raw, min_scale=1e-3)
  np.testing.assert_allclose(scale[:2], [1e-3, 1.001], rtol=1e-6)
  assert np.isfinite(scale[2])
  np.testing.assert_allclose(
      distributions.scale_from_raw(jnp.zeros(1), min_scale=0.1, kind="softplus"),
      [0.1 + np.log(2.0)],
      rtol=1e-6,
  )
  with pytest.raises(ValueError, match="unknown scale kind"):
    distributions.scale_from_raw(raw, min_scale=0.0, kind="relu")
  with pytest.raises(ValueError, match="min_scale"):
    distributions.scale_from_raw(raw, min_scale=-1.0)


def test_diag_gaussian_matches_scipy_and_is_reparameterised():
  loc, scale = jnp.array([0.5, -1.0]), jnp.array([0.3, 2.0])
  x = np.array([[0.1, 0.2], [1.0, -3.0]])
  d = distributions.diag_gaussian(loc, scale)
  expected = stats.multivariate_normal(loc, np.diag(np.square(scale))).logpdf(x)
  np.testing.assert_allclose(d.log_prob(x), expected, rtol=1e-5)
  grad = jax.grad(
      lambda m: distributions.diag_gaussian(m, scale).sample(
          seed=jax.random.key(0)
      ).sum()
  )(loc)
  np.testing.assert_allclose(grad, 1.0)
  assert distributions.is_reparameterized(d)


def test_bernoulli_from_logits_matches_numpy():
  logits = jnp.array([[2.0, -30.0, 0.0]])
  x = jnp.array([[1.0, 0.0, 1.0]])
  p = 1 / (1 + np.exp(-np.asarray(logits, np.float64)))
  expected = np.sum(x * np.log(p) + (1 - x) * np.log1p(-p), -1)
  np.testing.assert_allclose(
      distributions.bernoulli(logits).log_prob(x), expected, rtol=1e-5
  )
  assert not distributions.is_reparameterized(distributions.bernoulli(logits))


def test_gaussian_mixture_matches_brute_force():
  rng = np.random.default_rng(0)
  logits, locs = rng.normal(size=3), rng.normal(size=(3, 2))
  scales = rng.uniform(0.2, 1.0, (3, 2))
  x = rng.normal(size=(5, 2))
  w = np.exp(logits) / np.exp(logits).sum()
  dens = sum(
      w[k] * stats.multivariate_normal(locs[k], np.diag(scales[k] ** 2)).pdf(x)
      for k in range(3)
  )
  d = distributions.gaussian_mixture(
      jnp.asarray(logits), jnp.asarray(locs), jnp.asarray(scales)
  )
  np.testing.assert_allclose(d.log_prob(jnp.asarray(x)), np.log(dens), rtol=1e-5)


class _Encoder(nn.Module):

  @nn.compact
  def __call__(self, x):
    loc = nn.Dense(2)(x)
    scale = distributions.scale_from_raw(nn.Dense(2)(x), min_scale=0.05)
    return distributions.diag_gaussian(loc, scale)


class _VampModel(nn.Module):

  def setup(self):
    self.encoder = _Encoder()
    self.prior = distributions.VampPrior(4, (3,), clip_to_unit=True)

  def __call__(self, z):
    return self.prior(self.encoder).log_prob(z)


def test_vamp_prior_equals_the_brute_force_mixture_of_posteriors():
  """eq 3.24: p(z) = 1/K sum_k q(z | u_k)."""
  model = _VampModel()
  z = jnp.array([[0.1, -0.3], [2.0, 1.0]])
  params = model.init(jax.random.key(0), z)
  u = np.clip(params["params"]["prior"]["pseudo_inputs"], 0.0, 1.0)
  enc = params["params"]["encoder"]
  loc = u @ enc["Dense_0"]["kernel"] + enc["Dense_0"]["bias"]
  scale = 0.05 + np.exp(u @ enc["Dense_1"]["kernel"] + enc["Dense_1"]["bias"])
  dens = np.mean(
      [stats.multivariate_normal(loc[k], np.diag(scale[k] ** 2)).pdf(z)
       for k in range(4)], axis=0,
  )
  np.testing.assert_allclose(model.apply(params, z), np.log(dens), rtol=1e-4)


def _mixture_log_prob_float64(z, logits, locs, scales):
  """Direct `[N, K, d]` evaluation in float64, the reference."""
  z, locs, scales = (np.asarray(a, np.float64) for a in (z, locs, scales))
  log_w = np.asarray(logits, np.float64)
  log_w = log_w - np.log(np.sum(np.exp(log_w - log_w.max()))) - log_w.max()
  diff = (z[:, None, :] - locs[None]) / scales[None]
  log_comp = (
      -0.5 * np.sum(diff**2, -1)
      - np.sum(np.log(scales), -1)
      - 0.5 * z.shape[-1] * np.log(2 * np.pi)
  )
  a = log_comp + log_w
  top = a.max(-1, keepdims=True)
  return (top + np.log(np.sum(np.exp(a - top), -1, keepdims=True)))[:, 0]


def test_matmul_mixture_log_prob_is_accurate_at_the_std_floor():
  """K = 500, d = 40, std at the image models' floor 0.05, |means| ~ 3 and
  points 0.01 from a mean: the expanded quadratic's float32 cancellation
  stays below 0.05 nats of the float64 direct sum."""
  rng = np.random.default_rng(0)
  locs = 3.0 * rng.normal(size=(500, 40))
  scales = np.full((500, 40), 0.0498)
  logits = rng.normal(size=500)
  z = np.concatenate([locs[:20] + 0.01, rng.normal(size=(20, 40))])
  got = distributions.diag_gaussian_mixture_log_prob(
      *(jnp.asarray(a, jnp.float32) for a in (z, logits, locs, scales))
  )
  expected = _mixture_log_prob_float64(z, logits, locs, scales)
  np.testing.assert_allclose(got, expected, atol=0.05, rtol=1e-6)


def test_uniform_mixture_of_diag_gaussians_matches_distrax_with_gradients():
  """The VampPrior's `DiagGaussianMixture` has distrax's log-density and
  gradients (w.r.t. points, means and scales) on `[S, B, d]` points."""
  rng = np.random.default_rng(1)
  locs = jnp.asarray(rng.normal(size=(7, 3)), jnp.float32)
  scales = jnp.asarray(rng.uniform(0.1, 1.5, (7, 3)), jnp.float32)
  z = jnp.asarray(rng.normal(size=(2, 5, 3)), jnp.float32)

  def total(mixture_cls, z, locs, scales):
    components = distributions.diag_gaussian(locs, scales)
    mixture = mixture_cls(
        mixture_distribution=distrax.Categorical(logits=jnp.zeros(7)),
        components_distribution=components,
    )
    return jnp.sum(mixture.log_prob(z)), mixture.log_prob(z)

  mixture = distributions.uniform_mixture(distributions.diag_gaussian(locs, scales))
  assert isinstance(mixture, distributions.DiagGaussianMixture)
  (fast, fast_values), fast_grads = jax.value_and_grad(
      total, argnums=(1, 2, 3), has_aux=True
  )(distributions.DiagGaussianMixture, z, locs, scales)
  (_, slow_values), slow_grads = jax.value_and_grad(
      total, argnums=(1, 2, 3), has_aux=True
  )(distrax.MixtureSameFamily, z, locs, scales)
  assert fast_values.shape == (2, 5)
  np.testing.assert_allclose(fast_values, slow_values, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(fast_values, mixture.log_prob(z), rtol=1e-6)
  for fast_grad, slow_grad in zip(fast_grads, slow_grads):
    np.testing.assert_allclose(fast_grad, slow_grad, rtol=1e-4, atol=1e-5)


def test_vamp_data_initializer_checks_shape_and_adds_noise():
  examples = np.ones((4, 3), np.float32)
  init = distributions.data_initializer(examples, noise_std=0.01)
  value = init(jax.random.key(0), (4, 3))
  assert 0 < np.abs(value - 1).max() < 0.1
  with pytest.raises(ValueError, match="does not match"):
    init(jax.random.key(0), (5, 3))


def test_gmm_prior_module_is_normalised_1d():
  prior = distributions.GaussianMixturePrior(1, 3, init_spread=2.0)
  params = prior.init(jax.random.key(1))
  grid = jnp.linspace(-15, 15, 20001)[:, None]
  dens = jnp.exp(prior.apply(params).log_prob(grid))
  np.testing.assert_allclose(jnp.trapezoid(dens, grid[:, 0]), 1.0, rtol=1e-4)
