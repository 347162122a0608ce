"""Bits per dimension of a dequantised image density (jax only)."""

import math

import jax.numpy as jnp

from mimjax._checks import check_positive_integer


def bits_per_dim(log_prob, num_dims, *, num_bits=8):
  """Discrete bits/dim bound from the density of dequantised, rescaled data.

  With D = `num_dims` and b = `num_bits`, gray levels x in
  {0, ..., 2^b - 1}^D are dequantised and rescaled as
  y = (x + u) / 2^b - 0.5, u ~ U[0, 1)^D (`mimjax.data.uniform_dequantize`).
  Dividing by 2^b has Jacobian 2^(-b D) and the shift by 0.5 has Jacobian 1,
  so a density p(y) is the density 2^(-b D) p(y(v)) of v = x + u, and

    bits/dim = (-log p(y) + D log 2^b) / (D log 2)
             = -log p(y) / (D log 2) + b.

  Why this bounds the discrete NLL: the discrete model
  P(x) = int_[0,1)^D p_v(x + u) du satisfies, by Jensen's inequality,
  log P(x) >= E_u[log p_v(x + u)] = E_u[log p(y)] - D b log 2, so
  -log2 P(x) / D <= E_u[bits/dim]. Each draw of u gives an unbiased estimate
  of that upper bound (Theis et al. 2016). A uniform density on
  [-0.5, 0.5)^D (log p(y) = 0) gives exactly b bits/dim.

  Args:
    log_prob: `[...]` log p(y) in nats, one per image (summed over its D
      dimensions).
    num_dims: D, dimensions per image, e.g. 32 * 32 * 3.
    num_bits: b, bits per gray level.

  Returns:
    `[...]` bits per dimension, in log_prob's float dtype.

  Raises:
    ValueError: if `num_dims` or `num_bits` is not a positive integer.

  References:
    L. Theis, A. van den Oord, M. Bethge, "A note on the evaluation of
    generative models", ICLR 2016.
  """
  check_positive_integer("num_dims", num_dims)
  check_positive_integer("num_bits", num_bits)
  log_prob = jnp.asarray(log_prob)
  nats_per_image = -log_prob + num_dims * num_bits * math.log(2.0)
  return nats_per_image / (num_dims * math.log(2.0))
