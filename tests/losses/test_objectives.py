"""mimjax.losses against exact enumeration on a discrete joint (thesis ch. 3).

x takes 4 values and z takes 3, so every expectation under the anchored
encoding/decoding distributions and M_S is an exact finite sum, and the
thesis identities (eq 3.10, 3.14-3.22) can be checked to float precision.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mimjax import losses

jax.config.update("jax_enable_x64", False)


def _normalise(a, axis=-1):
  return a / a.sum(axis=axis, keepdims=True)


class DiscreteModel:
  """Random tables: anchors P(x), P(z); q(z|x), p(x|z); priors p(z), q(x)."""

  def __init__(self, seed, priors_are_anchors=False):
    rng = np.random.default_rng(seed)
    self.P_x = _normalise(rng.uniform(0.2, 1, 4))
    self.P_z = _normalise(rng.uniform(0.2, 1, 3))
    self.q_z_given_x = _normalise(rng.uniform(0.05, 1, (4, 3)))  # [x, z]
    self.p_x_given_z = _normalise(rng.uniform(0.05, 1, (3, 4)))  # [z, x]
    if priors_are_anchors:
      self.p_z, self.q_x = self.P_z, self.P_x
    else:
      self.p_z = _normalise(rng.uniform(0.2, 1, 3))
      self.q_x = _normalise(rng.uniform(0.2, 1, 4))

  # Joints as [x, z] tables.
  @property
  def enc_anchored(self):  # q(z|x) P(x)
    return self.q_z_given_x * self.P_x[:, None]

  @property
  def dec_anchored(self):  # p(x|z) P(z)
    return self.p_x_given_z.T * self.P_z[None, :]

  @property
  def mixture(self):  # M_S
    return 0.5 * (self.enc_anchored + self.dec_anchored)

  def log_terms(self):
    """Flat `[12]` log-density arrays over all (x, z) pairs."""
    shape = (4, 3)
    lpxz = np.log(self.p_x_given_z.T)
    lpz = np.broadcast_to(np.log(self.p_z)[None, :], shape)
    lqzx = np.log(self.q_z_given_x)
    lqx = np.broadcast_to(np.log(self.q_x)[:, None], shape)
    return [jnp.asarray(a.reshape(-1), jnp.float32) for a in (lpxz, lpz, lqzx, lqx)]


def _expect(weights, values):
  return float(np.sum(np.asarray(weights).reshape(-1) * np.asarray(values)))


def _entropy(p):
  return float(-np.sum(p * np.log(p)))


def _kl(p, q):
  return float(np.sum(p * (np.log(p) - np.log(q))))


def _ce(p, q):
  return float(-np.sum(p * np.log(q)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jsd_plus_rh_equals_mixture_entropy(seed):
  """eq 3.10, with the mixture entropy from `losses.cross_entropy`.

  With model priors equal to the anchors, M_theta = M_S, so the M_S
  expectation of the per-sample cross entropy is exactly H(M_S).
  """
  m = DiscreteModel(seed, priors_are_anchors=True)
  lpxz, lpz, lqzx, lqx = m.log_terms()
  h_ms = _expect(m.mixture, jax.jit(losses.cross_entropy)(lpxz + lpz, lqzx + lqx))
  jsd = 0.5 * (_kl(m.dec_anchored, m.mixture) + _kl(m.enc_anchored, m.mixture))
  r_h = 0.5 * (_entropy(m.dec_anchored) + _entropy(m.enc_anchored))
  np.testing.assert_allclose(h_ms, _entropy(m.mixture), rtol=1e-5)
  np.testing.assert_allclose(jsd + r_h, h_ms, rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mim_bounds_chain_eq_3_18(seed):
  """E[L_MIM] = E[L_CE] + E[R_MIM] >= E[L_CE] >= H(M_S) (eq 3.14, 3.18)."""
  m = DiscreteModel(seed)
  lpxz, lpz, lqzx, lqx = m.log_terms()
  mim = _expect(m.mixture, jax.jit(losses.mim)(lpxz, lpz, lqzx, lqx))
  ce = _expect(m.mixture, losses.cross_entropy(lpxz + lpz, lqzx + lqx))
  r_mim = _expect(
      m.mixture, losses.consistency_regularizer(lpxz + lpz, lqzx + lqx)
  )
  np.testing.assert_allclose(mim, ce + r_mim, rtol=1e-5)
  assert r_mim > 1e-4
  assert ce > _entropy(m.mixture) + 1e-4
  # eq 3.15: R_MIM from KL divergences, computed independently.
  p_joint = m.p_x_given_z.T * m.p_z[None, :]
  q_joint = m.q_z_given_x * m.q_x[:, None]
  r_mim_kl = 0.5 * (_kl(m.mixture, p_joint) + _kl(m.mixture, q_joint)) - _kl(
      m.mixture, 0.5 * (p_joint + q_joint)
  )
  np.testing.assert_allclose(r_mim, r_mim_kl, rtol=1e-4)


@pytest.mark.parametrize("seed", [0, 1])
def test_mim_decomposition_eq_3_17(seed):
  m = DiscreteModel(seed)
  lpxz, lpz, lqzx, lqx = m.log_terms()
  mim = _expect(m.mixture, losses.mim(lpxz, lpz, lqzx, lqx))
  p_joint = m.p_x_given_z.T * m.p_z[None, :]
  q_joint = m.q_z_given_x * m.q_x[:, None]
  r_h = 0.5 * (_entropy(m.dec_anchored) + _entropy(m.enc_anchored))
  expected = (
      r_h
      + 0.25 * (_kl(m.P_z, m.p_z) + _kl(m.P_x, m.q_x))
      + 0.25 * (_kl(m.enc_anchored, p_joint) + _kl(m.dec_anchored, q_joint))
  )
  np.testing.assert_allclose(mim, expected, rtol=1e-5)


def test_amim_decomposition_eq_3_20():
  """E[A-MIM] = H_q(x,z) + 1/2 KL(P(x)||q(x)) + 1/2 KL(qP || p(x, z)).

  The thesis prints 1/2 H_q(x, z) in eq 3.20; expanding its own eq 3.19 gives
  H_q(x, z) (as the bound eq 3.21 >= H_q also requires). See BUILD_NOTES.md.
  """
  m = DiscreteModel(3)
  lpxz, lpz, lqzx, lqx = m.log_terms()
  amim = _expect(m.enc_anchored, losses.amim(lpxz, lpz, lqzx, lqx))
  p_joint = m.p_x_given_z.T * m.p_z[None, :]
  expected = (
      _entropy(m.enc_anchored)
      + 0.5 * _kl(m.P_x, m.q_x)
      + 0.5 * _kl(m.enc_anchored, p_joint)
  )
  np.testing.assert_allclose(amim, expected, rtol=1e-5)
  # eq 3.21: A-MIM >= CE(M_S^q, M_theta) >= H_q(x, z).
  ce = _expect(m.enc_anchored, losses.cross_entropy(lpxz + lpz, lqzx + lqx))
  assert amim >= ce >= _entropy(m.enc_anchored)


def test_vae_decomposition_eq_3_22():
  """E[neg_elbo] = 2 [1/2 (CE(M^q, qP) + CE(M^q, pP)) - H_q] + H(P(x)).

  eq 3.22 holds up to the factor 1/2 and the constant H(P(x)) of eq 5.2.
  """
  m = DiscreteModel(4, priors_are_anchors=True)
  lpxz, lpz, lqzx, _ = m.log_terms()
  vae = _expect(m.enc_anchored, jax.jit(losses.neg_elbo)(lpxz, lqzx, lpz))
  h_q = _entropy(m.enc_anchored)
  rhs = 0.5 * (_ce(m.enc_anchored, m.enc_anchored) + _ce(
      m.enc_anchored, m.dec_anchored
  )) - h_q
  np.testing.assert_allclose(vae, 2 * rhs + _entropy(m.P_x), rtol=1e-5)
  np.testing.assert_allclose(
      vae, _kl(m.enc_anchored, m.dec_anchored) + _entropy(m.P_x), rtol=1e-5
  )


def test_jensen_marginal_is_a_bound_and_exact_for_true_posterior():
  """E_{q(z'|x)}[jensen] <= log q(x), with equality iff q = p(z|x) (eq 3.25)."""
  m = DiscreteModel(5)
  joint = m.p_x_given_z.T * m.p_z[None, :]  # p(x, z), [x, z]
  log_marginal = np.log(joint.sum(1))
  lpxz, lpz, lqzx, _ = m.log_terms()
  bound = np.asarray(losses.jensen_log_marginal(lpxz, lpz, lqzx)).reshape(4, 3)
  expected_bound = np.sum(m.q_z_given_x * bound, axis=1)
  assert np.all(expected_bound < log_marginal - 1e-4)
  posterior = joint / joint.sum(1, keepdims=True)
  exact = losses.jensen_log_marginal(
      jnp.asarray(np.log(m.p_x_given_z.T)),
      jnp.asarray(np.broadcast_to(np.log(m.p_z), (4, 3))),
      jnp.asarray(np.log(posterior)),
  )
  np.testing.assert_allclose(
      exact, np.broadcast_to(log_marginal[:, None], (4, 3)), rtol=1e-5
  )


def test_marginal_mim_cancels_log_q_on_encoder_samples():
  """Alg. 3 line 3: value and gradient of log q(z|x) cancel exactly."""
  lpxz, lpz = jnp.array([-1.0, -2.5]), jnp.array([-0.3, -1.2])

  def loss(lqzx, beta):
    return jnp.sum(
        losses.marginal_mim(lpxz, lpz, lqzx, lpxz, lpz, lqzx, beta=beta)
    )

  for beta in (0.3, 1.0):
    lqzx = jnp.array([0.7, -4.0])
    np.testing.assert_allclose(
        loss(lqzx, beta), -(1 + beta) / 2 * jnp.sum(lpxz + lpz), rtol=1e-6
    )
    np.testing.assert_allclose(jax.grad(loss)(lqzx, beta), 0.0, atol=1e-7)


def test_mim_minus_entropy_is_consistency_regularizer_at_beta_one():
  rng = np.random.default_rng(0)
  lpxz, lpz, lqzx, lqx = (jnp.asarray(rng.normal(size=5) * 3) for _ in range(4))
  np.testing.assert_allclose(
      losses.mim_minus_entropy(lpxz, lpz, lqzx, lqx),
      losses.consistency_regularizer(lpxz + lpz, lqzx + lqx),
      rtol=1e-5,
      atol=1e-5,
  )


def test_vae_plus_entropy_adds_the_sample_entropy():
  lpxz, lqzx, lpz, lqx = (jnp.array([-1.0, -3.0]) * s for s in (1, 2, 3, 4))
  np.testing.assert_allclose(
      losses.vae_plus_entropy(lpxz, lqzx, lpz, lqx, beta=0.5),
      losses.neg_elbo(lpxz, lqzx, lpz, beta=0.5) - lqzx - lqx,
  )


def test_mixture_losses_are_stable_far_in_the_tails():
  lp, lq = jnp.array([-1000.0, -5.0]), jnp.array([-1010.0, -5.0])
  ce = losses.cross_entropy(lp, lq)
  r = losses.consistency_regularizer(lp, lq)
  assert np.all(np.isfinite(ce)) and np.all(np.isfinite(r))
  np.testing.assert_allclose(ce[1], 5.0, rtol=1e-6)
  np.testing.assert_allclose(r[1], 0.0, atol=1e-6)
  # Far apart: R ~ |log p - log q| / 2 - log 2.
  np.testing.assert_allclose(r[0], 5.0 - np.log(2.0), rtol=1e-4)
  assert np.all(np.isfinite(jax.grad(lambda a: losses.cross_entropy(a, lq).sum())(lp)))


def test_shape_mismatch_raises():
  with pytest.raises(ValueError, match="share one shape"):
    losses.mim(jnp.zeros(3), jnp.zeros(3), jnp.zeros(4), jnp.zeros(3))
  with pytest.raises(ValueError, match="share one shape"):
    losses.neg_elbo(jnp.zeros(3), jnp.zeros((3, 1)), jnp.zeros(3))


def test_score_function_surrogate_gives_the_exact_gradient():
  """E_x[grad surrogate] = grad E_x[f_theta(x)] for x ~ Bernoulli(theta)^3."""
  xs = jnp.asarray(np.array(np.meshgrid(*[[0, 1]] * 3)).reshape(3, -1).T, jnp.float32)

  def log_prob(theta, x):
    return jnp.sum(x * jax.nn.log_sigmoid(theta) + (1 - x) * jax.nn.log_sigmoid(-theta), -1)

  def f(theta, x):  # depends on theta directly and through x
    return jnp.sum((x - jnp.tanh(theta)) ** 2, -1) + x @ jnp.array([1.0, -2.0, 0.5])

  theta = jnp.array([0.3, -1.1, 2.0])
  exact = jax.grad(lambda t: jnp.sum(jnp.exp(log_prob(t, xs)) * f(t, xs)))(theta)
  weights = jnp.exp(log_prob(theta, xs))

  def surrogate_grad(baseline):
    per_x = jax.vmap(
        jax.grad(
            lambda t, x: losses.score_function_surrogate(
                f(t, x), log_prob(t, x), baseline=baseline
            )
        ),
        in_axes=(None, 0),
    )(theta, xs)
    return jnp.sum(weights[:, None] * per_x, 0)

  np.testing.assert_allclose(surrogate_grad(0.0), exact, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(surrogate_grad(1.7), exact, rtol=1e-5, atol=1e-6)
  # Value is unchanged.
  np.testing.assert_allclose(
      losses.score_function_surrogate(f(theta, xs), log_prob(theta, xs)),
      f(theta, xs),
      rtol=1e-6,
  )
  # Without the score term the gradient is wrong (guards the test itself).
  naive = jnp.sum(
      weights[:, None] * jax.vmap(jax.grad(f), in_axes=(None, 0))(theta, xs), 0
  )
  assert np.max(np.abs(naive - exact)) > 1e-2


def test_linear_warmup():
  assert float(losses.linear_warmup(0, warmup_steps=3)) == 0.0
  np.testing.assert_allclose(losses.linear_warmup(1, warmup_steps=3), 1 / 3)
  assert float(losses.linear_warmup(7, warmup_steps=3)) == 1.0
  assert float(losses.linear_warmup(0, warmup_steps=0)) == 1.0
  with pytest.raises(ValueError):
    losses.linear_warmup(1, warmup_steps=-1)
