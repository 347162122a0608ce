"""MIM, A-MIM and VAE objectives (thesis ch. 3, 4 and 5.3.2).

All functions are per example: `[B]` log-densities in, `[B]` losses out.
"""

import math

import jax.numpy as jnp

from mimjax.losses import _estimators

_LOG_2 = math.log(2.0)


def _check_same_shape(**arrays):
  shapes = {name: jnp.shape(a) for name, a in arrays.items()}
  if len(set(shapes.values())) > 1:
    raise ValueError(f"log-density arrays must share one shape, got {shapes}")


def neg_elbo(log_p_x_given_z, log_q_z_given_x, log_p_z, *, beta=1.0):
  """Negative single-sample ELBO with a KL weight (thesis eq 3.5, 3.6).

    L_VAE = -log p(x|z) + beta * (log q(z|x) - log p(z)),   z ~ q(z|x).

  beta = 1 is the VAE loss, beta < 1 the KL warm-up, beta = 0 an auto-encoder.

  Args:
    log_p_x_given_z: `[B]` log p(x|z).
    log_q_z_given_x: `[B]` log q(z|x).
    log_p_z: `[B]` log p(z) (model prior, or the anchor P(z)).
    beta: weight of the single-sample KL term.

  Returns:
    `[B]` per-example loss.
  """
  _check_same_shape(
      log_p_x_given_z=log_p_x_given_z,
      log_q_z_given_x=log_q_z_given_x,
      log_p_z=log_p_z,
  )
  return -log_p_x_given_z + beta * (log_q_z_given_x - log_p_z)


def mim(log_p_x_given_z, log_p_z, log_q_z_given_x, log_q_x, *, beta=1.0):
  """Per-sample MIM loss on samples of the mixture M_S (eq 3.23, Alg. 1).

    L_MIM = -1/2 [log p(x|z) + log p(z) + beta (log q(z|x) + log q(x))],

  with (x, z) drawn from M_S = 1/2 (P(x) q(z|x) + P(z) p(x|z)), i.e. half the
  batch encoder samples and half decoder samples. The mean over such a batch
  is the empirical upper bound of eq 3.13 on the mixture entropy H(M_S);
  beta < 1 is the warm-up form of ch. 4 (beta = 1 is MIM proper).

  Args:
    log_p_x_given_z: `[B]` log p(x|z).
    log_p_z: `[B]` log p(z), the model latent prior.
    log_q_z_given_x: `[B]` log q(z|x).
    log_q_x: `[B]` log q(x), the model data prior (or an estimate of it).
    beta: warm-up weight on the encoding half.

  Returns:
    `[B]` per-example loss.
  """
  _check_same_shape(
      log_p_x_given_z=log_p_x_given_z,
      log_p_z=log_p_z,
      log_q_z_given_x=log_q_z_given_x,
      log_q_x=log_q_x,
  )
  return -0.5 * (
      log_p_x_given_z + log_p_z + beta * (log_q_z_given_x + log_q_x)
  )


def amim(log_p_x_given_z, log_p_z, log_q_z_given_x, log_q_x, *, beta=1.0):
  """Per-sample A-MIM loss on encoder samples only (eq 3.19, Alg. 2).

  The same bracket as `mim`, with (x, z) ~ M_S^q = P(x) q(z|x): the mean is an
  estimate of 1/2 (CE(M_S^q, q(x, z)) + CE(M_S^q, p(x, z))) >= H_q(x, z)
  (eq 3.21). q(x) must be tied to the decoder (e.g. its marginal) or the q(x)
  term decouples from the rest (Sec. 3.5.1).

  Args: as for `mim`.

  Returns:
    `[B]` per-example loss.
  """
  return mim(log_p_x_given_z, log_p_z, log_q_z_given_x, log_q_x, beta=beta)


def marginal_mim(
    log_p_x_given_z,
    log_p_z,
    log_q_z_given_x,
    log_p_x_given_z_is,
    log_p_z_is,
    log_q_z_is_given_x,
    *,
    beta=1.0,
):
  """MIM with q(x) the decoder marginal, via its Jensen bound (Alg. 3).

  log q(x) in `mim` is replaced by the single importance sample
  log p(x|z') + log p(z') - log q(z'|x), z' ~ q(z|x) (eq 3.25):

  * encoder samples (x ~ P(x), z ~ q(z|x)): pass z' = z (the same arrays
    twice); log q(z|x) cancels exactly, in value and gradient, leaving
    -(1 + beta)/2 (log p(x|z) + log p(z)) (Alg. 3 line 3 at beta = 1);
  * decoder samples (z ~ P(z), x ~ p(x|z)): z' is a fresh re-encoding of x
    (Alg. 3 line 5).

  Works for MIM (encoder and decoder halves) and A-MIM (encoder half only).

  Args:
    log_p_x_given_z: `[B]` log p(x|z) at the training sample.
    log_p_z: `[B]` log p(z).
    log_q_z_given_x: `[B]` log q(z|x).
    log_p_x_given_z_is: `[B]` log p(x|z') at the importance sample z'.
    log_p_z_is: `[B]` log p(z').
    log_q_z_is_given_x: `[B]` log q(z'|x).
    beta: warm-up weight on the encoding half.

  Returns:
    `[B]` per-example loss.
  """
  log_q_x = _estimators.jensen_log_marginal(
      log_p_x_given_z_is, log_p_z_is, log_q_z_is_given_x
  )
  return mim(log_p_x_given_z, log_p_z, log_q_z_given_x, log_q_x, beta=beta)


def cross_entropy(log_p_joint, log_q_joint):
  """Per-sample L_CE: -log M_theta(x, z) on samples of M_S (eq 3.11, 3.12).

    L_CE = -log(1/2 p(x, z) + 1/2 q(x, z)),

  computed with logaddexp so that neither joint is exponentiated. Its mean
  over M_S samples bounds H(M_S) from above; `mim` bounds it (eq 3.18).

  Args:
    log_p_joint: `[B]` log p(x|z) + log p(z).
    log_q_joint: `[B]` log q(z|x) + log q(x).

  Returns:
    `[B]` per-example loss.
  """
  _check_same_shape(
      log_p_joint=log_p_joint, log_q_joint=log_q_joint
  )
  return _LOG_2 - jnp.logaddexp(log_p_joint, log_q_joint)


def consistency_regularizer(log_p_joint, log_q_joint):
  """Per-sample MIM consistency term R_MIM (eq 3.15, 3.16), >= 0.

    R_MIM = -log( sqrt(p q) / (1/2 (p + q)) ),   p = p(x, z), q = q(x, z),

  zero exactly where p(x, z) = q(x, z). Per sample, mim (beta = 1) equals
  cross_entropy + consistency_regularizer (eq 3.14).

  Args:
    log_p_joint: `[B]` log p(x|z) + log p(z).
    log_q_joint: `[B]` log q(z|x) + log q(x).

  Returns:
    `[B]` non-negative per-example values.
  """
  _check_same_shape(
      log_p_joint=log_p_joint, log_q_joint=log_q_joint
  )
  return (
      jnp.logaddexp(log_p_joint, log_q_joint)
      - _LOG_2
      - 0.5 * (log_p_joint + log_q_joint)
  )


def vae_plus_entropy(
    log_p_x_given_z, log_q_z_given_x, log_p_z, log_q_x, *, beta=1.0
):
  """VAE loss plus the encoding joint entropy H(M_S^q) (Sec. 5.3.2).

    L = neg_elbo - (log q(z|x) + log q(x)),   (x, z) ~ P(x) q(z|x),

  where -(log q(z|x) + log q(x)) is the single-sample cross-entropy estimate
  of H_{M_S^q}(x, z), with the unknown P(x) replaced by the model q(x). It
  cancels the mutual-information penalty that eq 5.3 finds inside the VAE
  loss. The entropy term is not scaled by beta (as in the authors' code).

  Args:
    log_p_x_given_z: `[B]` log p(x|z).
    log_q_z_given_x: `[B]` log q(z|x).
    log_p_z: `[B]` log p(z).
    log_q_x: `[B]` log q(x) or an estimate of it.
    beta: KL weight of the VAE part.

  Returns:
    `[B]` per-example loss.
  """
  return neg_elbo(
      log_p_x_given_z, log_q_z_given_x, log_p_z, beta=beta
  ) - (log_q_z_given_x + log_q_x)


def mim_minus_entropy(
    log_p_x_given_z, log_p_z, log_q_z_given_x, log_q_x, *, beta=1.0
):
  """MIM loss minus the mixture joint entropy H(M_S) (Sec. 5.3.2).

    L = mim - (-log M_theta(x, z)),   (x, z) ~ M_S,

  with H(M_S) estimated by its cross-entropy bound, the per-sample
  `cross_entropy`. At beta = 1 this is exactly the consistency regulariser
  R_MIM (eq 3.14): what is left rewards consistency only, not information,
  which is why this variant collapses (Fig. 5.3, 5.4).

  Args: as for `mim`.

  Returns:
    `[B]` per-example loss.
  """
  return mim(
      log_p_x_given_z, log_p_z, log_q_z_given_x, log_q_x, beta=beta
  ) - cross_entropy(log_p_x_given_z + log_p_z, log_q_z_given_x + log_q_x)


def sentence_mim(log_p_x_given_z, log_q_z_given_x, log_anchor_z):
  """Per-sample sentenceMIM loss: A-MIM with aggregated-posterior p(z) (Alg. 4).

    L_sMIM = -log p(x|z) - 1/2 (log q(z|x) + log P(z)),   z ~ q(z|x),

  the bound of eq 6.14 without its constant 1/2 H_P(x). It is the A-MIM
  loss (eq 6.10) with two bounds substituted: q(x), the decoder marginal
  under the anchor P(z), by its ELBO at the same z (eq 6.11), in which
  log q(z|x) cancels the encoder's own term; and p(z), the aggregated
  posterior E_P(x)[q(z|x)], by its own term at x' = x (eq 6.13), which puts
  log q(z|x) back with weight 1/2. The 1/2 log q(z|x) term rewards low
  posterior entropy, so the encoder's variance floor is what keeps it finite
  (reference digest Sec. 1.3).

  Args:
    log_p_x_given_z: `[B]` log p(x|z).
    log_q_z_given_x: `[B]` log q(z|x) at the same (reparameterised) z.
    log_anchor_z: `[B]` log P(z), the fixed latent anchor (N(0, I)).

  Returns:
    `[B]` per-example loss.
  """
  _check_same_shape(
      log_p_x_given_z=log_p_x_given_z,
      log_q_z_given_x=log_q_z_given_x,
      log_anchor_z=log_anchor_z,
  )
  return -log_p_x_given_z - 0.5 * (log_q_z_given_x + log_anchor_z)
