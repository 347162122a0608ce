"""TzK densities and loss against exact enumeration (eqs 8.3-8.4, 8.10-8.11, G.2).

A discrete stand-in for every variable keeps the densities exact: t takes
6 values, each knowledge k^i = (e^i, c^i) takes 2 x 3 values, C = 2 types.
The algebra of the TzK terms does not depend on whether t and c are
continuous, so sums here replace the integrals of the thesis.
"""

import itertools

import jax
import numpy as np
import pytest

from mimjax import losses

NUM_T, NUM_K, NUM_TYPES = 6, 6, 2


def _random_conditional(rng, rows, cols):
  """A random table of p(col | row), `[rows, cols]`."""
  table = rng.gamma(1.0, size=(rows, cols))
  return table / table.sum(axis=1, keepdims=True)


def _all_states():
  """Every (t, k^1, k^2) as a `[216, 3]` integer array."""
  return np.array(
      list(itertools.product(range(NUM_T), range(NUM_K), range(NUM_K)))
  )


def _model(rng, consistent):
  """q(t), p(k^i | t) and a decoder p(t | k^i), p(k^i) per type."""
  q_t = rng.dirichlet(np.ones(NUM_T))
  k_given_t = [_random_conditional(rng, NUM_T, NUM_K) for _ in range(NUM_TYPES)]
  dec = []
  for table in k_given_t:
    if consistent:  # Bayes: p(k) = sum_t p(k|t) q(t), p(t|k) = p(k|t) q(t) / p(k)
      p_k = table.T @ q_t
      t_given_k = (table * q_t[:, None]).T / p_k[:, None]
    else:
      p_k = rng.dirichlet(np.ones(NUM_K))
      t_given_k = _random_conditional(rng, NUM_K, NUM_T)
    dec.append((p_k, t_given_k))
  return q_t, k_given_t, dec


def _terms(states, model):
  """The `[N, C]` arguments of the TzK losses at enumerated states."""
  q_t, k_given_t, dec = model
  t = states[:, 0]
  log_q_t = np.repeat(np.log(q_t[t])[:, None], NUM_TYPES, axis=1)
  log_k = np.stack(
      [np.log(k_given_t[i][t, states[:, i + 1]]) for i in range(NUM_TYPES)], 1
  )
  log_dec = np.stack(
      [
          np.log(dec[i][0][states[:, i + 1]])
          + np.log(dec[i][1][states[:, i + 1], t])
          for i in range(NUM_TYPES)
      ],
      1,
  )
  return log_q_t, log_k, log_dec


def test_consistent_decoder_factorisation_equals_encoder_and_normalises():
  """Eq 8.4 from per-type Bayes decoders is the encoder joint (eq 8.3)."""
  rng = np.random.default_rng(0)
  states = _all_states()
  log_q, log_p = losses.tzk_log_joints(*_terms(states, _model(rng, True)))
  np.testing.assert_allclose(log_p, log_q, atol=1e-5)
  np.testing.assert_allclose(np.exp(log_p).sum(), 1.0, atol=1e-5)
  np.testing.assert_allclose(np.exp(log_q).sum(), 1.0, atol=1e-5)


def test_encoder_joint_is_the_brute_force_product():
  rng = np.random.default_rng(1)
  model = _model(rng, False)
  q_t, k_given_t, _ = model
  states = _all_states()
  log_q, _ = losses.tzk_log_joints(*_terms(states, model))
  brute = [
      q_t[t] * k_given_t[0][t, a] * k_given_t[1][t, b] for t, a, b in states
  ]
  np.testing.assert_allclose(np.exp(log_q), brute, rtol=1e-5)


def test_loss_is_minus_half_joint_sum_at_a_shared_t():
  """Eq G.2's per-type regrouping equals -(log q + log p) / 2 (eq 8.10)."""
  rng = np.random.default_rng(2)
  terms = _terms(_all_states(), _model(rng, False))
  log_q, log_p = losses.tzk_log_joints(*terms)
  np.testing.assert_allclose(
      losses.tzk_mim(*terms), -0.5 * (log_q + log_p), rtol=1e-5
  )


def test_one_type_is_the_mim_loss():
  """C = 1: the TzK loss is the MIM loss with z := k (eq 3.16)."""
  rng = np.random.default_rng(3)
  log_q_t, log_k, log_dec = (a[:, :1] for a in _terms(
      _all_states(), _model(rng, False)))
  split = rng.normal(size=log_dec.shape)  # any split of log p(t, k)
  mim = losses.mim(
      log_p_x_given_z=(log_dec - split)[:, 0],
      log_p_z=split[:, 0],
      log_q_z_given_x=log_k[:, 0],
      log_q_x=log_q_t[:, 0],
  )
  np.testing.assert_allclose(losses.tzk_mim(log_q_t, log_k, log_dec), mim,
                             rtol=1e-5)


def test_bound_and_its_gap_eq_8_10_and_8_11():
  """E_P[(log q + log p)/2] <= E_P[log M], gap = E_P[log(cosh-like term)]."""
  rng = np.random.default_rng(4)
  model = _model(rng, False)
  states = _all_states()
  log_q, log_p = (np.asarray(a) for a in
                  losses.tzk_log_joints(*_terms(states, model)))
  # A normalised inconsistent decoder joint, so M is a distribution.
  log_p = log_p - np.log(np.exp(log_p).sum())
  data = rng.dirichlet(np.ones(len(states)))  # the anchor P(t, k)
  log_m = np.logaddexp(log_q, log_p) - np.log(2.0)
  bound = np.sum(data * 0.5 * (log_q + log_p))
  assert bound < np.sum(data * log_m) - 1e-3
  ratio = 0.5 * (log_q - log_p)
  gap = np.log((np.exp(ratio) + np.exp(-ratio)) / 2.0)
  np.testing.assert_allclose(0.5 * (log_q + log_p), log_m - gap, atol=1e-5)


def test_per_type_samples_give_the_joint_expectation_eq_g2():
  """Expectations over per-type marginals M_S(t, k^i) equal the joint one.

  Justifies drawing (t^i, k^i) independently per type (App. G.2.1): the
  bound is a sum of functions of (t, k^i), so only those marginals matter.
  """
  rng = np.random.default_rng(5)
  model = _model(rng, False)
  states = _all_states()
  joint = rng.dirichlet(np.ones(len(states))).reshape(NUM_T, NUM_K, NUM_K)
  terms = _terms(states, model)
  full = np.sum(joint.reshape(-1) * losses.tzk_mim(*terms))
  # Per type: enumerate (t, k^i) and weight by the marginal M_S(t, k^i).
  per_type = 0.0
  for i in range(NUM_TYPES):
    marginal = joint.sum(axis=2 - i)  # [t, k^i]
    pairs = np.array(list(itertools.product(range(NUM_T), range(NUM_K))))
    padded = np.zeros((len(pairs), 3), int)
    padded[:, 0], padded[:, i + 1] = pairs[:, 0], pairs[:, 1]
    log_q_t, log_k, log_dec = _terms(padded, model)
    column = [a[:, i : i + 1] for a in (log_q_t, log_k, log_dec)]
    # Type i's own share of the loss: its column with C = 2's coefficients.
    share = -(0.5 * (column[0] + column[1]) + 0.5 * column[2]
              - (NUM_TYPES - 1) / NUM_TYPES * column[0])[:, 0]
    per_type += np.sum(marginal.reshape(-1) * share)
  np.testing.assert_allclose(per_type, full, rtol=1e-5)


def test_rejects_bad_shapes():
  a = np.zeros((4, 2))
  with pytest.raises(ValueError, match="share one"):
    losses.tzk_mim(a, a, np.zeros((4, 3)))
  with pytest.raises(ValueError, match="C >= 1"):
    losses.tzk_mim(np.zeros((4, 0)), np.zeros((4, 0)), np.zeros((4, 0)))


def test_jit_and_grad():
  rng = np.random.default_rng(6)
  terms = [rng.normal(size=(5, 3)).astype(np.float32) for _ in range(3)]
  value = jax.jit(lambda *a: losses.tzk_mim(*a).sum())(*terms)
  grads = jax.grad(lambda *a: losses.tzk_mim(*a).sum(), argnums=(0, 1, 2))(
      *terms
  )
  np.testing.assert_allclose(float(value), float(np.sum(
      losses.tzk_mim(*terms))), rtol=1e-6)
  # d loss / d log q(t) = -(1/2 - (C - 1) / C) per entry with C = 3.
  np.testing.assert_allclose(grads[0], np.full((5, 3), -(0.5 - 2 / 3)),
                             rtol=1e-6)
