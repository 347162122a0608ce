"""TzK model: change of variables, factorisation terms, conditionals, sampling.

A tiny TzK on 4x4x1 "images" with C = 2 codes keeps every density checkable:
flow Jacobians by `slogdet(jacrev)`, and p(t | e = 1) by 2-D quadrature over
the code.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mimjax import distributions
from mimjax import models
from mimjax import objectives

# The slow tier: every test here builds or differentiates the whole TzK
# (flows, code flows, discriminators); the module takes minutes on 2 cores.
pytestmark = pytest.mark.slow

SHAPE = (4, 4, 1)
D = 16
KNOWLEDGE_CONFIG = dict(
    code_dim=2, code_flow_steps=2, code_flow_hidden=4, code_channels=4,
    code_levels=1, latent_channels=4, latent_width=4, latent_grid=2,
    discriminator_channels=4,
)


def _model(knowledge=("a", "b")):
  return models.TzK(
      event_shape=SHAPE,
      knowledge=knowledge,
      flow=dict(levels=1, steps=2, hidden=4),
      knowledge_config=KNOWLEDGE_CONFIG,
  )


def _t(n, seed=0):
  return jax.random.uniform(jax.random.key(seed), (n, *SHAPE)) - 0.5


@pytest.fixture(scope="module")
def model_and_params():
  """Parameters perturbed away from the zero-initialised (identity) layers."""
  model = _model()
  params = model.init(jax.random.key(0), _t(32))
  # numpy noise: one jax.random.normal per leaf shape would compile each.
  rng = np.random.default_rng(1)
  params = jax.tree.map(
      lambda a: a + 0.1 * rng.standard_normal(a.shape, np.float32), params
  )
  return model, params


def _log_normal(x, mu, log_sigma):
  return distributions.diag_gaussian(mu, jnp.exp(log_sigma)).log_prob(x)


def _flow_log_det(model, params, t):
  """log|det dz/dt| of one `[4, 4, 1]` image by brute force."""
  flat = lambda v: model.apply(
      params, v.reshape(1, *SHAPE), method=model.to_latent
  ).reshape(-1)
  return jnp.linalg.slogdet(jax.jacrev(flat)(t.reshape(-1)))[1]


def test_encoder_terms_match_brute_force_change_of_variables(model_and_params):
  model, params = model_and_params
  t = _t(3, seed=2)
  e = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
  key = jax.random.key(3)
  log_q_t, log_k, log_dec = model.apply(params, key, t, e,
                                        method=model.encoder_terms)
  z = model.apply(params, t, method=model.to_latent)
  log_det = jnp.stack([_flow_log_det(model, params, row) for row in t])
  np.testing.assert_allclose(
      log_q_t[:, 0], _log_normal(z, 0 * z, 0 * z) + log_det, rtol=1e-4,
      atol=1e-3,
  )

  def by_parts(mdl, i):
    k = mdl.types[models.knowledge_key(mdl.knowledge[i])]
    # The same draw as encoder_terms (key folded with the type index).
    c, log_q_sampled = k.sample_code_posterior(
        jax.random.fold_in(key, i), t, e[:, i]
    )
    mu, log_sigma = k.latent_base(c, e[:, i])
    return (
        k.log_e_given_t(t, e[:, i]) + k.log_code_posterior(c, t, e[:, i]),
        log_q_sampled,
        k.log_code_prior(c) + k.log_e_given_c(c, e[:, i]),
        mu,
        log_sigma,
    )

  for i in range(2):
    log_k_inverse, _, log_prior, mu, log_sigma = model.apply(
        params, i, method=by_parts
    )
    # q(c | e, t) by the sampling path equals the density path.
    np.testing.assert_allclose(log_k[:, i], log_k_inverse, rtol=1e-4,
                               atol=1e-3)
    np.testing.assert_allclose(
        log_dec[:, i], log_prior + _log_normal(z, mu, log_sigma) + log_det,
        rtol=1e-4, atol=1e-3,
    )


def test_decoder_terms_change_of_variables(model_and_params):
  """log q(t^i) and log p(t^i | e, c) of decoder samples, recomputed from t^i."""
  model, params = model_and_params
  e = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  key = jax.random.key(4)
  log_q, log_k, log_dec = model.apply(params, key, e,
                                      method=model.decoder_terms)

  def replay(mdl, i):
    k = mdl.types[models.knowledge_key(mdl.knowledge[i])]
    key_c, key_z, _ = jax.random.split(jax.random.fold_in(key, i), 3)
    c, log_p_c = k.sample_code_prior(key_c, 2)
    mu, log_sigma = k.latent_base(c, e[:, i])
    z = mu + jnp.exp(log_sigma) * jax.random.normal(key_z, mu.shape)
    t = mdl.to_data(z)
    return (t, mu, log_sigma,
            log_p_c + k.log_e_given_c(c, e[:, i]),
            k.log_e_given_t(t, e[:, i]) + k.log_code_posterior(c, t, e[:, i]))

  for i in range(2):
    t, mu, log_sigma, log_prior, log_k_direct = model.apply(
        params, i, method=replay
    )
    _, _, log_q_direct = model.apply(params, t, method=model.flow_log_prob)
    z = model.apply(params, t, method=model.to_latent)
    log_det = jnp.stack([_flow_log_det(model, params, row) for row in t])
    np.testing.assert_allclose(log_q[:, i], log_q_direct, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(log_k[:, i], log_k_direct, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(
        log_dec[:, i], log_prior + _log_normal(z, mu, log_sigma) + log_det,
        rtol=1e-4, atol=1e-3,
    )


def test_conditional_likelihood_matches_quadrature_over_the_code(
    model_and_params,
):
  """IS log p(t | e = 1) and p(e = 1) against 2-D quadrature over c (C = 2)."""
  model, params = model_and_params
  t = _t(2, seed=5)
  grid = jnp.linspace(-9.0, 9.0, 241)
  cell = (grid[1] - grid[0]) ** 2
  codes = jnp.stack(jnp.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)

  def on_grid(mdl):
    k = mdl.types["a"]
    ones = jnp.ones((codes.shape[0],))
    mu, log_sigma = k.latent_base(codes, ones)
    z, log_det, _ = mdl.flow_log_prob(t)
    log_t_given_c = jax.vmap(
        lambda zi, ldi: _log_normal(zi[None], mu, log_sigma) + ldi
    )(z, log_det)  # [2, G]
    return k.log_code_prior(codes), k.log_e_given_c(codes, ones), log_t_given_c

  log_p_c, log_e, log_t_given_c = model.apply(params, method=on_grid)
  log_cell = jnp.log(cell)
  np.testing.assert_allclose(
      jax.nn.logsumexp(log_p_c + log_cell), 0.0, atol=2e-3
  )  # the code flow is a normalised density
  log_p_e = jax.nn.logsumexp(log_p_c + log_e + log_cell)
  exact = jax.nn.logsumexp(log_t_given_c + log_p_c + log_e + log_cell,
                           axis=1) - log_p_e

  mc_p_e = model.apply(params, jax.random.key(6), 0, 200_000,
                       method=model.log_marginal_existence)
  np.testing.assert_allclose(mc_p_e, log_p_e, atol=0.01)
  estimate = model.apply(
      params, jax.random.key(7), t, 0, num_samples=4000,
      log_p_existence=log_p_e, method=model.conditional_log_prob_is,
  )
  np.testing.assert_allclose(estimate, exact, atol=0.05)


def test_gibbs_sampling_is_deterministic_and_finite(model_and_params):
  model, params = model_and_params
  sample = lambda key, steps: model.apply(
      params, key, 5, 1, gibbs_steps=steps, method=model.conditional_sample
  )
  a = jax.jit(sample, static_argnums=1)(jax.random.key(8), 3)
  b = jax.jit(sample, static_argnums=1)(jax.random.key(8), 3)
  assert a.shape == (5, *SHAPE)
  assert np.all(np.isfinite(a))
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, sample(jax.random.key(8), 0))


def test_add_knowledge_keeps_existing_parameters(model_and_params):
  model, params = model_and_params
  extended, new_params = models.add_knowledge(
      model, params, ("b", "c:1"), jax.random.key(9), _t(16)
  )
  assert extended.knowledge == ("a", "b", "c:1")
  assert set(new_params["params"]) == {"t_flow", "types_a", "types_b",
                                       "types_c_1"}
  for name in ("t_flow", "types_a", "types_b"):
    for old, new in zip(jax.tree.leaves(params["params"][name]),
                        jax.tree.leaves(new_params["params"][name])):
      np.testing.assert_array_equal(old, new)
  e = jnp.ones((4, 3))
  terms = extended.apply(new_params, jax.random.key(10), _t(4), e,
                         method=extended.encoder_terms)
  assert all(np.all(np.isfinite(a)) and a.shape == (4, 3) for a in terms)


def test_loss_without_knowledge_is_flow_bits_per_dim():
  model = _model(())
  params = model.init(jax.random.key(0), _t(8))
  x = jnp.floor(256 * jax.random.uniform(jax.random.key(1), (8, *SHAPE)))
  key = jax.random.key(2)
  loss, aux = objectives.make_tzk_loss_fn(model)(params, {"x": x}, key)
  t = jax.random.split(key, 4)[0]
  from mimjax import data, metrics  # pylint: disable=g-import-not-at-top
  log_q = model.apply(
      params, data.uniform_dequantize(t, x), method=model.flow_log_prob
  )[2]
  np.testing.assert_allclose(loss, jnp.mean(metrics.bits_per_dim(log_q, D)),
                             rtol=1e-5)
  assert aux["flow_bpd"] == loss


@pytest.mark.parametrize("sampling", objectives.TZK_SAMPLINGS)
def test_frozen_flow_gets_no_gradient(model_and_params, sampling):
  model, params = model_and_params
  batch = {
      "x": jnp.floor(256 * jax.random.uniform(jax.random.key(1),
                                              (6, *SHAPE))),
      "e": jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]] * 2),
  }
  for train_flow in (False, True):
    loss_fn = objectives.make_tzk_loss_fn(model, sampling=sampling,
                                          train_flow=train_flow)
    grads = jax.grad(lambda p: loss_fn(p, batch, jax.random.key(3))[0])(
        params
    )
    flow_norm = sum(
        float(jnp.sum(g**2)) for g in jax.tree.leaves(grads["params"]["t_flow"])
    )
    type_norm = sum(
        float(jnp.sum(g**2)) for g in jax.tree.leaves(grads["params"]["types_a"])
    )
    assert type_norm > 0
    assert (flow_norm > 0) == train_flow


def test_loss_rejects_mismatched_knowledge(model_and_params):
  model, params = model_and_params
  loss_fn = objectives.make_tzk_loss_fn(model)
  batch = {"x": jnp.zeros((2, *SHAPE)), "e": jnp.zeros((2, 3))}
  with pytest.raises(ValueError, match=r"want \[B, 2\]"):
    loss_fn(params, batch, jax.random.key(0))
  with pytest.raises(ValueError, match="unknown TzK sampling"):
    objectives.make_tzk_loss_fn(model, sampling="decoder")
