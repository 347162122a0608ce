"""The sampling anchor P(z) of MIM's decoder half, learned or fixed.

With P(z) = the learned p(z) and pathwise samples (the authors' image code),
the decoder half's -log p(z) term is E_{z ~ p}[-log p(z)] = H(p): its
gradient shrinks p(z) without bound (the VampPrior scale collapse). With
detached samples its expected gradient is 0 (E_p[grad log p] = 0), and a
fixed anchor gives it no gradient through the samples at all. Checked on a
learned 1-component Gaussian p(z) = N(loc, diag(s^2)), whose entropy is
sum_j log s_j + const.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mimjax import distributions
from mimjax import models
from mimjax import objectives

_N = 40000  # decoder latents per estimate


@pytest.fixture(scope="module")
def model_and_params():
  model = models.mlp_model(
      x_dim=2, latent_dim=2, hidden=8, prior="gmm", prior_components=1
  )
  params = model.init(jax.random.key(0), jnp.zeros((4, 2)))
  prior = params["params"]["prior"]
  prior["raw_scales"] = jnp.array([[0.3, -0.4]])  # s != 1
  prior["locs"] = jnp.array([[0.5, -1.0]])
  return model, params


def _prior_grad(model, params, anchor):
  """d/d(prior params) of mean(-log p(z)) over `_N` decoder latents."""

  def neg_log_p_z(p):
    terms, _, _ = objectives.decoder_terms(
        model, p, anchor, _N, jax.random.key(3)
    )
    return -jnp.mean(terms.log_p_z)

  return jax.jit(jax.grad(neg_log_p_z))(params)["params"]["prior"]


def _entropy_grad(model, params):
  def entropy(p):
    prior = model.apply(p, method="latent_prior")
    return jnp.sum(jnp.log(prior.components_distribution.stddev()))

  return jax.grad(entropy)(params)["params"]["prior"]


def test_learned_anchor_gradient_is_the_prior_entropy_gradient(
    model_and_params,
):
  model, params = model_and_params
  grad = _prior_grad(model, params, objectives.MODEL_PRIOR)
  expected = _entropy_grad(model, params)["raw_scales"]
  assert np.all(np.abs(expected) > 0.3)
  # MC error of d/draw of -log p: ~ sqrt(2 / N) per unit of |expected|.
  np.testing.assert_allclose(grad["raw_scales"], expected, atol=0.03)
  np.testing.assert_allclose(grad["locs"], 0.0, atol=1e-5)  # translation


def test_detached_learned_anchor_has_zero_expected_prior_gradient(
    model_and_params,
):
  model, params = model_and_params
  grad = _prior_grad(model, params, objectives.MODEL_PRIOR_STOP_GRADIENT)
  # E_p[grad log p] = 0; the estimate's error is ~ sqrt(2 / N) = 0.007.
  np.testing.assert_allclose(grad["raw_scales"], 0.0, atol=0.03)
  np.testing.assert_allclose(grad["locs"], 0.0, atol=0.03)


def test_fixed_anchor_gradient_is_the_cross_entropy_gradient(
    model_and_params,
):
  """z ~ N(0, I) fixed: d/ds E[-log p(z)] = d/ds [log s + E(z - loc)^2 /
  (2 s^2)] with E(z - loc)^2 = 1 + loc^2 per dimension."""
  model, params = model_and_params
  grad = _prior_grad(model, params, distributions.standard_normal(2))

  def cross_entropy(p):
    prior = model.apply(p, method="latent_prior").components_distribution
    s, loc = prior.stddev()[0], prior.mean()[0]
    return jnp.sum(jnp.log(s) + (1.0 + loc**2) / (2 * s**2))

  expected = jax.grad(cross_entropy)(params)["params"]["prior"]
  np.testing.assert_allclose(grad["raw_scales"], expected["raw_scales"],
                             atol=0.05)
  np.testing.assert_allclose(grad["locs"], expected["locs"], atol=0.05)


def test_unknown_anchor_name_is_an_error(model_and_params):
  model, _ = model_and_params
  with pytest.raises(ValueError, match="unknown latent_anchor 'prior'"):
    objectives.make_loss_fn(model, loss="mim", latent_anchor="prior")
