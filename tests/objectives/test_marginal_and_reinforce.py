"""A-MIM with the decoder marginal (Alg. 3) and REINFORCE (eq 3.26)."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mimjax import distributions
from mimjax import models
from mimjax import objectives


def _assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
  leaves_a, tree_a = jax.tree.flatten(a)
  leaves_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


# ------------------------------------------- A-MIM with the decoder marginal


def test_amim_marginal_is_negative_log_joint_value_and_gradient():
  """Encoder samples, q(x) = decoder marginal with z' = z (Alg. 3 line 3):

  -1/2 [log p(x|z) + log p(z) + beta (log q(z|x) + log p(x|z) + log p(z)
  - log q(z|x))] = -(1 + beta)/2 (log p(x|z) + log p(z)): log q(z|x) cancels.
  """
  model = models.mlp_model(x_dim=3, latent_dim=2, hidden=16)
  x = jax.random.normal(jax.random.key(0), (32, 3)) * 2.0
  params = model.init(jax.random.key(1), x)
  key = jax.random.key(2)
  anchor = distributions.standard_normal(2)
  amim = objectives.make_loss_fn(model, loss="amim")
  mim = objectives.make_loss_fn(model, loss="mim", latent_anchor=anchor)

  def reference(params, beta):
    # make_loss_fn draws the encoder half with the first half of split(key).
    k_enc, _ = jax.random.split(key)
    z = model.apply(params, x, method="encode").sample(seed=k_enc)
    log_p_x_given_z = model.apply(params, z, method="decode").log_prob(x)
    log_p_z = model.apply(params, method="latent_prior").log_prob(z)
    return -(1 + beta) / 2 * jnp.mean(log_p_x_given_z + log_p_z)

  amim_grad = jax.jit(jax.value_and_grad(amim, has_aux=True))
  reference_grad = jax.jit(jax.value_and_grad(reference))
  mim_value = jax.jit(mim)
  for beta in (1.0, 0.5):
    (value, aux), grads = amim_grad(params, {"x": x}, key, beta)
    ref_value, ref_grads = reference_grad(params, beta)
    np.testing.assert_allclose(value, ref_value, rtol=1e-5)
    _assert_trees_close(grads, ref_grads)
    # log q(z|x) is not trivially zero: it really cancelled.
    assert abs(float(aux["enc/log_q_z_given_x"])) > 0.1
    # MIM's encoder half is the same A-MIM term.
    _, mim_aux = mim_value(params, {"x": x}, key, beta)
    np.testing.assert_allclose(mim_aux["enc/loss"], ref_value, rtol=1e-5)
    # The encoder gets gradient only through z (the reparameterised sample).
    enc_grads = grads["params"]["encoder"]
    assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(enc_grads)) > 0


# ------------------------------------------------------------- REINFORCE


class _PointMass:
  """P(z) = delta(z0): fixes the decoder half's latent for exact sums."""

  def __init__(self, z0):
    self.z0 = jnp.asarray(z0, jnp.float32)

  def sample(self, *, seed, sample_shape=()):
    del seed
    return jnp.broadcast_to(self.z0, (*sample_shape, *self.z0.shape))


def _bernoulli_model(data_prior="gmm"):
  return models.mlp_model(
      x_dim=2, latent_dim=2, hidden=8, decoder_head="bernoulli",
      data_prior=data_prior, prior_components=2,
  )


def _binary_batch(key, n):
  return jax.random.bernoulli(key, 0.4, (n, 2)).astype(jnp.float32)


def test_bernoulli_mim_loss_has_finite_gradients():
  model = _bernoulli_model(data_prior="marginal")
  x = _binary_batch(jax.random.key(0), 16)
  params = model.init(jax.random.key(1), x)
  loss_fn = objectives.make_loss_fn(
      model, loss="mim", latent_anchor=distributions.standard_normal(2)
  )
  (value, _), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(
      params, {"x": x}, jax.random.key(2), 1.0
  )
  assert np.isfinite(value)
  for g in jax.tree.leaves(grads):
    assert np.all(np.isfinite(g))
  logits = grads["params"]["decoder"]["logits"]["kernel"]
  assert float(jnp.abs(logits).max()) > 0


def test_decoder_weight_samples_are_checked():
  """A positive integer, a REINFORCE weight to average (not "mean"), and a
  discrete decoder with the decoder marginal (else there is no sampled
  log q(x) in the weight)."""
  make = lambda model, **kw: objectives.make_loss_fn(
      model, loss="mim", latent_anchor=distributions.standard_normal(2), **kw
  )
  marginal = _bernoulli_model(data_prior="marginal")
  with pytest.raises(ValueError, match="positive integer"):
    make(marginal, decoder_weight_samples=0)
  with pytest.raises(ValueError, match="no REINFORCE weight"):
    make(marginal, decoder_estimator="mean", decoder_weight_samples=2)
  parametric = _bernoulli_model(data_prior="gmm")
  x = _binary_batch(jax.random.key(0), 4)
  loss_fn = make(parametric, decoder_weight_samples=2)
  with pytest.raises(ValueError, match="decoder marginal"):
    loss_fn(parametric.init(jax.random.key(1), x), {"x": x},
            jax.random.key(2))


def test_decoder_matched_baseline_is_checked():
  """Only for "rloo", not with weight brackets, and only where a sampled
  log q(x) is in the loss (discrete decoder, decoder marginal)."""
  make = lambda model, **kw: objectives.make_loss_fn(
      model, loss="mim", latent_anchor=distributions.standard_normal(2),
      decoder_matched_baseline=True, **kw
  )
  marginal = _bernoulli_model(data_prior="marginal")
  with pytest.raises(ValueError, match="decoder_estimator='rloo'"):
    make(marginal, decoder_estimator="batch_mean")
  with pytest.raises(ValueError, match="decoder_weight_samples=2"):
    make(marginal, decoder_estimator="rloo", decoder_samples=2,
         decoder_weight_samples=2)
  parametric = _bernoulli_model(data_prior="gmm")
  x = _binary_batch(jax.random.key(0), 4)
  loss_fn = make(parametric, decoder_estimator="rloo", decoder_samples=2)
  with pytest.raises(ValueError, match="decoder_matched_baseline=False"):
    loss_fn(parametric.init(jax.random.key(1), x), {"x": x},
            jax.random.key(2))


def test_decoder_sample_has_no_pathwise_gradient():
  anchor = distributions.standard_normal(2)
  for head, reparameterized in (("bernoulli", False), ("gaussian", True)):
    model = models.mlp_model(
        x_dim=2, latent_dim=2, hidden=8, decoder_head=head
    )
    params = model.init(jax.random.key(0), jnp.zeros((4, 2)))
    weights = jax.random.normal(jax.random.key(1), (64, 2))

    def sampled_x(params):
      terms, x, _ = objectives.decoder_terms(
          model, params, anchor, 64, jax.random.key(2)
      )
      return jnp.sum(weights * x), (terms, x)

    grads, (terms, x) = jax.jit(jax.grad(sampled_x, has_aux=True))(params)
    largest = max(float(jnp.abs(g).max()) for g in jax.tree.leaves(grads))
    if reparameterized:
      assert largest > 1e-3
      np.testing.assert_array_equal(terms.log_prob_x_sample, 0.0)
    else:
      assert largest == 0.0
      assert set(np.unique(np.asarray(x))) <= {0.0, 1.0}
      # The REINFORCE term uses log p(x|z) of the sample.
      np.testing.assert_array_equal(
          terms.log_prob_x_sample, terms.log_p_x_given_z
      )
      assert np.all(np.asarray(terms.log_prob_x_sample) < 0)


def _gauss_hermite_normal(num_nodes, dim):
  """Nodes `[num_nodes**dim, dim]` and weights `[num_nodes**dim]` with
  sum_i w_i g(e_i) = E_{e ~ N(0, I_dim)}[g(e)] for smooth g."""
  nodes, weights = np.polynomial.hermite_e.hermegauss(num_nodes)
  grid = np.stack(np.meshgrid(*[nodes] * dim, indexing="ij"), -1)
  w = np.prod(np.stack(np.meshgrid(*[weights] * dim, indexing="ij"), -1), -1)
  return (jnp.asarray(grid.reshape(-1, dim), jnp.float32),
          jnp.asarray(w.reshape(-1) / w.sum(), jnp.float32))


@functools.cache  # the tests below share draws: compile each case once
def _decoder_half_gradients(estimator, decoder_samples, data_prior="gmm",
                            weight_samples=1):
  """Decoder half with z fixed at z0: E_x~p(x|z0)[f(x)] is a sum over the 4
  binary x, so its exact gradient is known. With the decoder marginal
  (`data_prior="marginal"`), f also holds the Jensen estimate of log q(x) at
  an importance sample z' = mu(x) + sigma(x) e (eq 3.25), and its exact
  expectation over e ~ N(0, I) is a Gauss-Hermite sum (exact for the
  polynomial terms, converged for the rest at 40 x 40 nodes).
  `weight_samples` averages that many brackets into the REINFORCE weight;
  "matched" sets `decoder_matched_baseline` instead.

  Returns (`[50, P]` Monte-Carlo gradients of the library's surrogate, each
  from 2000 latents, the exact gradient `[P]`, the pathwise-only gradient
  `[P]` without the score term).
  """
  model = _bernoulli_model(data_prior=data_prior)
  z0 = jnp.array([0.3, -0.8])
  anchor = _PointMass(z0)
  params = model.init(jax.random.key(0), jnp.zeros((4, 2)))
  mim = objectives.make_loss_fn(
      model, loss="mim", latent_anchor=anchor,
      decoder_estimator=estimator, decoder_samples=decoder_samples,
      decoder_weight_samples=(
          1 if weight_samples == "matched" else weight_samples
      ),
      decoder_matched_baseline=weight_samples == "matched",
  )
  amim = objectives.make_loss_fn(model, loss="amim")

  def decoder_half_grad(x, key):
    # mim = 1/2 (encoder half + decoder half); amim = the encoder half with
    # the same key, so 2 grad(mim) - grad(amim) = grad(decoder half).
    (_, mim_aux), g_mim = jax.value_and_grad(mim, has_aux=True)(
        params, {"x": x}, key, 1.0
    )
    (amim_value, _), g_amim = jax.value_and_grad(amim, has_aux=True)(
        params, {"x": x}, key, 1.0
    )
    g_dec = jax.tree.map(lambda a, b: 2 * a - b, g_mim, g_amim)
    return g_dec, mim_aux["enc/loss"] - amim_value

  num_chunks, chunk = 50, 2000
  xs = jax.vmap(lambda k: _binary_batch(k, chunk))(
      jax.random.split(jax.random.key(1), num_chunks)
  )
  keys = jax.random.split(jax.random.key(2), num_chunks)
  g_dec, enc_mismatch = jax.jit(jax.vmap(decoder_half_grad))(xs, keys)
  np.testing.assert_array_equal(enc_mismatch, 0.0)

  all_x = jnp.array(list(itertools.product([0.0, 1.0], repeat=2)))
  nodes, node_weights = _gauss_hermite_normal(40, 2)

  def expected_log_q_x(params, x):
    """E_e[log q(x)]: the parametric q(x), or the Jensen estimate's mean."""
    if data_prior != "marginal":
      return model.apply(params, method="data_prior").log_prob(x)
    q = model.apply(params, x, method="encode")  # batch [4], event [2]
    z_is = q.loc[:, None] + q.scale_diag[:, None] * nodes  # [4, N, 2]
    p_x = model.apply(params, z_is.reshape(-1, 2), method="decode")
    bracket = (
        p_x.log_prob(jnp.repeat(x, len(nodes), 0)).reshape(4, -1)
        + model.apply(params, method="latent_prior").log_prob(z_is)
        - q.log_prob(jnp.swapaxes(z_is, 0, 1)).T
    )
    return bracket @ node_weights

  def per_x_loss(params, x):
    """The MIM bracket at (x, z0), beta = 1, averaged over z'."""
    z = jnp.broadcast_to(z0, (x.shape[0], 2))
    log_p_x_given_z = model.apply(params, z, method="decode").log_prob(x)
    log_p_z = model.apply(params, method="latent_prior").log_prob(z)
    log_q_z_given_x = model.apply(params, x, method="encode").log_prob(z)
    log_q_x = expected_log_q_x(params, x)
    return -0.5 * (log_p_x_given_z + log_p_z + log_q_z_given_x + log_q_x)

  def exact_expected_loss(params):
    z = jnp.broadcast_to(z0, (4, 2))
    probs = jnp.exp(model.apply(params, z, method="decode").log_prob(all_x))
    return jnp.sum(probs * per_x_loss(params, all_x))

  def pathwise_only(params):
    z = jnp.broadcast_to(z0, (4, 2))
    probs = jax.lax.stop_gradient(
        jnp.exp(model.apply(params, z, method="decode").log_prob(all_x))
    )
    return jnp.sum(probs * per_x_loss(params, all_x))

  exact = jax.jit(jax.grad(exact_expected_loss))(params)
  naive = jax.jit(jax.grad(pathwise_only))(params)
  probs = jnp.exp(
      model.apply(params, jnp.broadcast_to(z0, (4, 2)), method="decode")
      .log_prob(all_x)
  )
  np.testing.assert_allclose(float(jnp.sum(probs)), 1.0, rtol=1e-5)

  flat = lambda tree: np.concatenate(
      [np.ravel(np.asarray(a, np.float64)) for a in jax.tree.leaves(tree)]
  )
  g_dec = jax.device_get(g_dec)  # numpy: slicing below is not dispatched
  samples = np.stack([flat(jax.tree.map(lambda a: a[i], g_dec))
                      for i in range(num_chunks)])
  return samples, flat(exact), flat(naive)


@pytest.mark.parametrize(
    "estimator,decoder_samples,data_prior,weight_samples",
    [
        ("reinforce", 1, "gmm", 1), ("batch_mean", 1, "gmm", 1),
        ("rloo", 2, "gmm", 1), ("reinforce", 2, "gmm", 1),
        ("rloo", 2, "marginal", 1), ("rloo", 4, "marginal", 1),
        ("rloo", 2, "marginal", 8), ("batch_mean", 1, "marginal", 4),
        ("rloo", 2, "marginal", "matched"), ("rloo", 4, "marginal", "matched"),
    ],
)
def test_decoder_gradient_is_unbiased_against_exact_enumeration(
    estimator, decoder_samples, data_prior, weight_samples
):
  """The Monte-Carlo mean of each unbiased estimator's gradient matches the
  enumerated one (and the pathwise-only gradient, without the score term,
  does not); also with the decoder marginal's sampled Jensen estimate of
  log q(x) inside f, with several brackets averaged into the weight, and
  with the RLOO baseline at each sample's own importance noise."""
  samples, exact, naive = _decoder_half_gradients(
      estimator, decoder_samples, data_prior, weight_samples
  )
  num_chunks = len(samples)
  mean = samples.mean(0)
  se = samples.std(0, ddof=1) / np.sqrt(num_chunks)
  z_exact = np.abs(mean - exact) / (se + 1e-6)
  assert z_exact.max() < 5.0, (z_exact.max(), np.argmax(z_exact))
  # Power: the score-function term matters, by many standard errors.
  z_naive = np.abs(mean - naive) / (se + 1e-6)
  assert z_naive.max() > 10.0


@pytest.mark.parametrize(
    "estimator,decoder_samples", [("batch_mean", 1), ("rloo", 2)]
)
def test_decoder_baselines_lower_the_gradient_variance(
    estimator, decoder_samples
):
  """Against REINFORCE with b = 0 and the same number of decoder samples."""
  reinforce, _, _ = _decoder_half_gradients("reinforce", decoder_samples)
  baseline, _, _ = _decoder_half_gradients(estimator, decoder_samples)
  assert baseline.var(0).sum() < 0.5 * reinforce.var(0).sum()


def test_decoder_matched_baseline_shrinks_the_score_weights():
  """RLOO with the decoder marginal, K = 2 and 4: at each sample's own
  importance noise, the baseline cancels the noise its Jensen bracket of
  log q(x) shares with the other samples' (-|e|^2 / 2 exactly), so the
  REINFORCE weights |f - b| ("dec/score_scale") shrink. On this toy the
  pathwise part dominates the gradient's variance, so the score weights are
  what is compared (the dense HVAE's gradient SNR: BUILD_NOTES)."""
  model = _bernoulli_model(data_prior="marginal")
  x = _binary_batch(jax.random.key(0), 2000)
  params = model.init(jax.random.key(1), x)
  keys = jax.random.split(jax.random.key(3), 8)
  for samples in (2, 4):
    scales = {}
    for matched in (False, True):
      loss_fn = objectives.make_loss_fn(
          model, loss="mim", latent_anchor=distributions.standard_normal(2),
          decoder_estimator="rloo", decoder_samples=samples,
          decoder_matched_baseline=matched,
      )
      scales[matched] = jax.jit(jax.vmap(
          lambda k: loss_fn(params, {"x": x}, k)[1]["dec/score_scale"]
      ))(keys)
    assert float(scales[True].mean()) < 0.85 * float(scales[False].mean())


def test_mean_estimator_is_biased():
  """The authors' detached mean probabilities are not binary samples: the
  gradient misses the enumerated one by many standard errors."""
  samples, exact, _ = _decoder_half_gradients("mean", 1)
  se = samples.std(0, ddof=1) / np.sqrt(len(samples))
  assert (np.abs(samples.mean(0) - exact) / (se + 1e-6)).max() > 10.0
