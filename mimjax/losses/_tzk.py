"""TzK joint densities and its MIM loss (thesis ch. 8, App. G.2.1; jax only).

Notation: t an observation, knowledge types i = 1..C with k^i = (e^i, c^i),
q(t) the t-flow's marginal (thesis p(t) / q_theta(t)). Per knowledge type:

  encoder joint  p_enc(t, k^i) = q(t) p(e^i | t) q(c^i | e^i, t)     (8.3, 8.5)
  decoder joint  p_dec(t, k^i) = p(c^i) p(e^i | c^i) p(t | e^i, c^i)  (8.6, 8.7)

and the full model is the dual factorisation over all types,

  q(t, k) = q(t) prod_i p(k^i | t)                                     (8.3)
  p(t, k) = prod_i p(t | k^i) p(k^i) / q(t)^(C - 1)                    (8.4)

Arguments are `[B, C]` arrays: column i holds type i's terms at the sample
(t^i, k^i) used for that type (all columns share t under encoder sampling).
"""

import jax.numpy as jnp


def _check_types(**arrays):
  shapes = {name: jnp.shape(a) for name, a in arrays.items()}
  if len(set(shapes.values())) != 1:
    raise ValueError(f"TzK terms must share one [B, C] shape, got {shapes}")
  shape = next(iter(shapes.values()))
  if len(shape) != 2 or shape[1] < 1:
    raise ValueError(
        f"TzK terms must be [B, C] with C >= 1 knowledge types, got {shape}; "
        "with no knowledge the model is the t-flow alone (loss -log q(t))"
    )


def tzk_log_joints(log_q_t, log_k_given_t, log_dec_joint):
  """log q(t, k) and log p(t, k) of the whole model at one shared t.

  log q(t, k) = log q(t) + sum_i log p(k^i | t)                     (eq 8.3)
  log p(t, k) = sum_i log p_dec(t, k^i) - (C - 1) log q(t)          (eq 8.4)

  Args:
    log_q_t: `[B, C]` log q(t) (equal columns: one shared t per row).
    log_k_given_t: `[B, C]` log p(e^i | t) + log q(c^i | e^i, t).
    log_dec_joint: `[B, C]` log p(c^i) + log p(e^i | c^i) + log p(t | e^i, c^i).

  Returns:
    (log q(t, k) `[B]`, log p(t, k) `[B]`).
  """
  _check_types(
      log_q_t=log_q_t, log_k_given_t=log_k_given_t, log_dec_joint=log_dec_joint
  )
  num_types = log_q_t.shape[1]
  log_q = log_q_t[:, 0] + jnp.sum(log_k_given_t, axis=1)
  log_p = jnp.sum(log_dec_joint, axis=1) - (num_types - 1) * log_q_t[:, 0]
  return log_q, log_p


def tzk_mim(log_q_t, log_k_given_t, log_dec_joint):
  """Per-example TzK MIM loss, the per-knowledge form of eq G.2.

  The Jensen bound of eq 8.10, 1/2 (log q(t, k) + log p(t, k)), regrouped by
  knowledge type so that each type may use its own sample (t^i, k^i) from the
  augmented sampling distribution M_S of eq G.1:

    loss = -sum_i [ 1/2 log p_enc(t^i, k^i) + 1/2 log p_dec(t^i, k^i)
                    - (C - 1) / C log q(t^i) ]

  With one shared t this equals -1/2 (log q(t, k) + log p(t, k)) exactly
  (see `tzk_log_joints`). The thesis prints the last term as
  log((C - 1) / C q(t)); expanding eqs 8.3-8.4 gives the coefficient form
  used here.

  Args:
    log_q_t: `[B, C]` log q(t^i) under the t-flow.
    log_k_given_t: `[B, C]` log p(e^i | t^i) + log q(c^i | e^i, t^i).
    log_dec_joint: `[B, C]` log p(c^i) + log p(e^i | c^i)
      + log p(t^i | e^i, c^i).

  Returns:
    `[B]` per-example loss (nats).
  """
  _check_types(
      log_q_t=log_q_t, log_k_given_t=log_k_given_t, log_dec_joint=log_dec_joint
  )
  num_types = log_q_t.shape[1]
  log_enc_joint = log_q_t + log_k_given_t
  per_type = (
      0.5 * log_enc_joint
      + 0.5 * log_dec_joint
      - (num_types - 1) / num_types * log_q_t
  )
  return -jnp.sum(per_type, axis=1)
