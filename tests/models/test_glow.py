"""Glow: exact inverse, change of variables vs slogdet, ActNorm data init."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from mimjax import distributions
from mimjax import models

_EVENT = (4, 4, 2)


# The slow tier: every test builds, inverts or differentiates a whole Glow
# (20 s and more per test on 2 cores).
pytestmark = pytest.mark.slow


def _tiny_glow(permutation="shuffle"):
  return models.Glow(
      event_shape=_EVENT, levels=2, steps=2, hidden=8, permutation=permutation
  )


def _data(key, batch=6):
  """Images with per-channel offsets and scales, far from N(0, 1)."""
  noise = jax.random.normal(key, (batch, *_EVENT))
  return jnp.array([3.0, -1.0]) + jnp.array([2.0, 0.5]) * noise


def _perturbed(params, scale=0.1):
  """Adds noise to every parameter, so no coupling or prior is identity."""
  rng = np.random.RandomState(7)
  return jax.tree.map(
      lambda p: p + scale * rng.normal(size=p.shape).astype(p.dtype), params
  )


@functools.cache
def _trained_looking_glow(permutation):
  """(model, x [6, 4, 4, 2], perturbed params), shared across tests."""
  model = _tiny_glow(permutation)
  x = _data(jax.random.key(0))
  return model, x, _perturbed(model.init(jax.random.key(1), x))


@pytest.mark.parametrize("permutation", ["shuffle", "conv1x1"])
def test_to_data_inverts_to_latent(permutation):
  model, x, params = _trained_looking_glow(permutation)
  to_latent = jax.jit(lambda x: model.apply(params, x))
  to_data = jax.jit(lambda z: model.apply(params, z, method="to_data"))
  z, log_det = to_latent(x)
  assert z.shape == (6, 32) and log_det.shape == (6,)
  x_back, data_log_det = to_data(z)
  np.testing.assert_allclose(x_back, x, atol=1e-5)
  np.testing.assert_allclose(data_log_det, -log_det, rtol=1e-5, atol=1e-4)
  z_new = jax.random.normal(jax.random.key(2), (3, 32))
  np.testing.assert_allclose(to_latent(to_data(z_new)[0])[0], z_new,
                             atol=1e-5)


@pytest.mark.parametrize("permutation", ["shuffle", "conv1x1"])
def test_log_prob_is_change_of_variables_of_the_flat_map(permutation):
  model, x, params = _trained_looking_glow(permutation)
  x = x[:2]
  with jax.enable_x64(True):
    params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
    x = x.astype(jnp.float64)
    log_prob = model.apply(params, x, method="log_prob")
    flat = lambda v: model.apply(params, v.reshape(1, *_EVENT))[0][0]
    x_flat = x.reshape(2, -1)
    # Forward mode through conv2d's CPU path, checked against reverse mode.
    jacobians = jax.jit(jax.vmap(jax.jacfwd(flat)))(x_flat)  # [2, 32, 32]
    np.testing.assert_allclose(
        jacobians, jax.jit(jax.vmap(jax.jacrev(flat)))(x_flat), rtol=1e-9,
        atol=1e-12,
    )
    _, log_abs_det = jnp.linalg.slogdet(jacobians)
    z = jax.vmap(flat)(x_flat)
    expected = stats.norm.logpdf(np.asarray(z)).sum(axis=1) + log_abs_det
    np.testing.assert_allclose(log_prob, expected, rtol=1e-9)


@pytest.mark.parametrize("squeeze", [False, True])
def test_actnorm_is_initialised_to_normalise_the_first_batch(squeeze):
  model = models.Glow(event_shape=_EVENT, levels=1, steps=1, hidden=4,
                      squeeze=squeeze)
  x = _data(jax.random.key(5), batch=8)
  actnorm = model.init(jax.random.key(6), x)["params"]["flow_steps_0"][
      "actnorm"
  ]
  first_input = distributions.Squeeze().inverse(x) if squeeze else x
  normalised = distributions.ActNorm(**actnorm).inverse(first_input)
  np.testing.assert_allclose(normalised.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
  np.testing.assert_allclose(normalised.std(axis=(0, 1, 2)), 1.0, atol=1e-5)


def test_zero_batch_gives_finite_parameters():
  model = _tiny_glow()
  x = jnp.zeros((2, *_EVENT))
  params = model.init(jax.random.key(0), x)
  assert all(np.isfinite(p).all() for p in jax.tree.leaves(params))
  assert np.isfinite(model.apply(params, x, method="log_prob")).all()


def test_code_flow_on_one_by_one_events():
  model = models.Glow(event_shape=(1, 1, 10), levels=1, steps=4, hidden=100,
                      squeeze=False)
  codes = jax.random.normal(jax.random.key(8), (5, 1, 1, 10))
  params = _perturbed(model.init(jax.random.key(9), codes))

  @jax.jit
  def round_trip(codes):
    z, log_det = model.apply(params, codes)
    x, _ = model.apply(params, z, method="to_data")
    return z, log_det, x, model.apply(params, codes, method="log_prob")

  z, log_det, codes_back, log_prob = round_trip(codes)
  assert z.shape == (5, 10) and log_det.shape == (5,)
  np.testing.assert_allclose(codes_back, codes, atol=1e-5)
  assert np.isfinite(log_prob).all()


def test_sample_and_gradients():
  model, x, params = _trained_looking_glow("conv1x1")
  samples = model.apply(params, jax.random.key(12), 3, method="sample")
  assert samples.shape == (3, *_EVENT)
  cold = model.apply(params, jax.random.key(12), 2, 0.0, method="sample")
  zero = model.apply(params, jnp.zeros((2, 32)), method="to_data")[0]
  np.testing.assert_allclose(cold, zero, atol=1e-6)
  grads = jax.jit(jax.grad(
      lambda p: -model.apply(p, x, method="log_prob").mean()
  ))(params)["params"]
  last = grads["flow_steps_0"]["coupling_net"]["Conv_2"]["kernel"]
  assert np.isfinite(last).all() and np.abs(last).max() > 0


def test_invalid_configurations_raise():
  x = jnp.zeros((2, *_EVENT))
  with pytest.raises(ValueError, match="unknown permutation"):
    models.Glow(event_shape=_EVENT, levels=1, permutation="reverse").init(
        jax.random.key(0), x
    )
  with pytest.raises(ValueError, match="cannot squeeze"):
    models.Glow(event_shape=(6, 6, 1), levels=2).init(
        jax.random.key(0), jnp.zeros((2, 6, 6, 1))
    )
  with pytest.raises(ValueError, match=">= 2 channels"):
    models.Glow(event_shape=(4, 4, 1), levels=1, squeeze=False).init(
        jax.random.key(0), jnp.zeros((2, 4, 4, 1))
    )
  with pytest.raises(ValueError, match="expected"):
    _tiny_glow().init(jax.random.key(0), jnp.zeros((2, 4, 4, 3)))
  params = _tiny_glow().init(jax.random.key(0), x)
  with pytest.raises(ValueError, match="initialised from data"):
    _tiny_glow().init(jax.random.key(0), jnp.zeros((2, 32)), method="to_data")
  with pytest.raises(ValueError, match="expected"):
    _tiny_glow().apply(params, jnp.zeros((2, 31)), method="to_data")
