"""`make_loss_fn` against closed forms on a 1-D linear-Gaussian model.

Anchors P(x) = N(0, sx^2), P(z) = N(0, 1); encoder q(z|x) = N(a x, sq^2);
decoder p(x|z) = N(b z, sp^2); p(z) = N(0, 1); q(x) = N(0, v) or the decoder
marginal. Every expected log-density is a Gaussian moment, so the expected
VAE, A-MIM and MIM losses and their gradients in (a, sq, b, sp, v) have
closed forms; the Monte-Carlo means of the library's losses must match them
within a few standard errors.
"""

import math
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mimjax import distributions
from mimjax import objectives

_LOG_2PI = math.log(2 * math.pi)
_SX = 1.5
_NUM_SAMPLES = 200_000


class LinearGaussian(nn.Module):
  """The `LatentVariableModel` interface with learned scalar parameters."""

  a0: float
  sq0: float
  b0: float
  sp0: float
  v0: Optional[float] = None  # None: q(x) is the decoder marginal.

  def setup(self):
    const = lambda value: nn.initializers.constant(value)
    self.a = self.param("a", const(self.a0), ())
    self.sq = self.param("sq", const(self.sq0), ())
    self.b = self.param("b", const(self.b0), ())
    self.sp = self.param("sp", const(self.sp0), ())
    if self.v0 is not None:
      self.v = self.param("v", const(self.v0), ())

  def encode(self, x):
    return distributions.diag_gaussian(self.a * x, self.sq * jnp.ones_like(x))

  def decode(self, z):
    return distributions.diag_gaussian(self.b * z, self.sp * jnp.ones_like(z))

  def latent_prior(self):
    return distributions.standard_normal(1)

  def data_prior(self):
    if self.v0 is None:
      return None
    return distributions.diag_gaussian(
        jnp.zeros((1,)), jnp.sqrt(self.v) * jnp.ones((1,))
    )

  def __call__(self, x):
    q = self.encode(x)
    self.decode(q.mean())
    return q.mean()


def _normal_log_prob(x, var):
  return -0.5 * (_LOG_2PI + jnp.log(var) + x**2 / var)


def _expected_terms(p):
  """E[log p(x|z)], E[log p(z)], E[log q(z|x)], E[log q(x)] per half."""
  a, sq, b, sp, v = p["a"], p["sq"], p["b"], p["sp"], p["v"]
  sx2 = _SX**2
  # Encoder half: x ~ N(0, sx^2), z = a x + sq eps.
  enc = (
      -0.5 * (_LOG_2PI + jnp.log(sp**2))
      - ((1 - a * b) ** 2 * sx2 + b**2 * sq**2) / (2 * sp**2),
      -0.5 * _LOG_2PI - (a**2 * sx2 + sq**2) / 2,
      -0.5 * (_LOG_2PI + jnp.log(sq**2)) - 0.5,
      -0.5 * (_LOG_2PI + jnp.log(v)) - sx2 / (2 * v),
  )
  # Decoder half: z ~ N(0, 1), x = b z + sp eta.
  dec = (
      -0.5 * (_LOG_2PI + jnp.log(sp**2)) - 0.5,
      -0.5 * _LOG_2PI - 0.5,
      -0.5 * (_LOG_2PI + jnp.log(sq**2))
      - ((1 - a * b) ** 2 + a**2 * sp**2) / (2 * sq**2),
      -0.5 * (_LOG_2PI + jnp.log(v)) - (b**2 + sp**2) / (2 * v),
  )
  return enc, dec


def _expected_loss(p, loss, beta):
  enc, dec = _expected_terms(p)
  mim_bracket = lambda t: -0.5 * (t[0] + t[1] + beta * (t[2] + t[3]))
  if loss == "vae":
    return -enc[0] + beta * (enc[2] - enc[1])
  if loss == "amim":
    return mim_bracket(enc)
  if loss == "mim":
    return 0.5 * (mim_bracket(enc) + mim_bracket(dec))
  raise ValueError(loss)


_PARAMS = dict(a=0.4, sq=0.6, b=1.2, sp=0.5, v=2.0)


def _per_sample(loss_fn, params, beta):
  """Loss and gradient of every single-example batch (one MIM pair each)."""
  x = _SX * jax.random.normal(jax.random.key(0), (_NUM_SAMPLES, 1, 1))
  keys = jax.random.split(jax.random.key(1), _NUM_SAMPLES)

  def one(x1, key):
    return jax.value_and_grad(lambda p: loss_fn(p, {"x": x1}, key, beta)[0])(
        params
    )

  return jax.jit(jax.vmap(one))(x, keys)


def _assert_mc_matches(samples, expected, what):
  samples = np.asarray(samples, np.float64)
  mean = samples.mean(0)
  se = samples.std(0, ddof=1) / math.sqrt(len(samples))
  if se == 0:  # e.g. d/dv of the VAE loss, which does not involve q(x)
    np.testing.assert_allclose(samples, expected, atol=1e-7, err_msg=what)
    return
  assert abs(mean - expected) <= 4.0 * se + 1e-4, (
      f"{what}: MC {mean:.5f} +- {se:.5f} vs closed form {expected:.5f}"
  )


@pytest.mark.parametrize(
    "loss, beta", [("vae", 1.0), ("vae", 0.5), ("amim", 1.0), ("mim", 1.0),
                   ("mim", 0.5)]
)
def test_expected_loss_and_gradient_match_closed_form(loss, beta):
  model = LinearGaussian(
      _PARAMS["a"], _PARAMS["sq"], _PARAMS["b"], _PARAMS["sp"], _PARAMS["v"]
  )
  params = model.init(jax.random.key(0), jnp.zeros((1, 1)))
  assert set(params["params"]) == set(_PARAMS)
  loss_fn = objectives.make_loss_fn(
      model, loss=loss, latent_anchor=distributions.standard_normal(1)
  )
  values, grads = _per_sample(loss_fn, params, beta)

  closed = {k: jnp.float32(v) for k, v in _PARAMS.items()}
  _assert_mc_matches(
      values, float(_expected_loss(closed, loss, beta)), f"{loss} value"
  )
  expected_grads = jax.grad(_expected_loss)(closed, loss, beta)
  for name in _PARAMS:
    _assert_mc_matches(
        grads["params"][name], float(expected_grads[name]),
        f"{loss} d/d{name}",
    )


def _exact_posterior_model():
  b, sp = 1.2, 0.5
  marginal_var = b**2 + sp**2
  model = LinearGaussian(
      a0=b / marginal_var, sq0=math.sqrt(sp**2 / marginal_var), b0=b, sp0=sp
  )
  params = model.init(jax.random.key(0), jnp.zeros((1, 1)))
  return model, params, marginal_var


def test_vae_with_exact_posterior_is_exact_negative_log_marginal():
  """q(z|x) = p(z|x): the single-sample ELBO is log p(x) for every z."""
  model, params, marginal_var = _exact_posterior_model()
  loss_fn = objectives.make_loss_fn(model, loss="vae")
  x = 3.0 * jax.random.normal(jax.random.key(2), (256, 1, 1))
  keys = jax.random.split(jax.random.key(3), 256)
  per_sample = jax.jit(
      jax.vmap(lambda x1, k: loss_fn(params, {"x": x1}, k, 1.0)[0])
  )(x, keys)
  np.testing.assert_allclose(
      per_sample, -_normal_log_prob(x[:, 0, 0], marginal_var),
      rtol=1e-5, atol=1e-5,
  )


def test_jensen_marginal_with_exact_posterior_is_exact():
  """With q(z|x) = p(z|x) the Jensen estimate of log q(x) has no gap."""
  model, params, marginal_var = _exact_posterior_model()
  x = 3.0 * jax.random.normal(jax.random.key(4), (256, 1))
  enc, _, _ = objectives.encoder_terms(model, params, x, jax.random.key(5))
  np.testing.assert_allclose(
      enc.log_q_x, _normal_log_prob(x[:, 0], marginal_var),
      rtol=1e-5, atol=1e-5,
  )
  # Decoder samples: x ~ p(x|z), log q(x) from a fresh z' ~ q(z|x).
  dec, x_dec, _ = objectives.decoder_terms(
      model, params, distributions.standard_normal(1), 256,
      jax.random.key(6),
  )
  np.testing.assert_allclose(
      dec.log_q_x, _normal_log_prob(x_dec[:, 0], marginal_var),
      rtol=1e-5, atol=1e-5,
  )
  # Away from the exact posterior the estimate is strictly below log q(x).
  off = {"params": dict(params["params"], a=params["params"]["a"] * 0.5)}
  enc_off, _, _ = objectives.encoder_terms(model, off, x, jax.random.key(5))
  gap = _normal_log_prob(x[:, 0], marginal_var) - enc_off.log_q_x
  assert float(jnp.mean(gap)) > 1e-2
