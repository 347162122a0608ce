"""Uniform dequantisation of discrete gray levels (jax only)."""

import jax
import jax.numpy as jnp

from mimjax._checks import check_positive_integer


def uniform_dequantize(key, x, *, num_bits=8):
  """Adds U[0, 1) noise to integer gray levels and rescales to [-0.5, 0.5).

  With gray levels x in {0, ..., 2^b - 1} (b = `num_bits`) and
  u ~ U[0, 1)^D drawn elementwise,

    y = (x + u) / 2^b - 0.5,

  so the cube [x, x + 1) of each discrete image maps onto a cell of volume
  2^(-b D) in [-0.5, 0.5)^D. A continuous density fitted to y bounds the
  discrete likelihood of x (see `mimjax.metrics.bits_per_dim`; Theis et al.
  2016). Float32 rounding could give exactly 0.5 for x = 2^b - 1 and u near
  1; such values are lowered to the largest float below 0.5, keeping the
  range half-open.

  Args:
    key: PRNG key.
    x: `[...]` gray levels 0..2^b - 1, int or float (whole numbers; not
      checked, so that it jits).
    num_bits: b, bits per gray level.

  Returns:
    `[...]` y in [-0.5, 0.5), in x's float dtype (float32 for int x).

  Raises:
    ValueError: if `num_bits` is not a positive integer.

  References:
    L. Theis, A. van den Oord, M. Bethge, "A note on the evaluation of
    generative models", ICLR 2016.
  """
  check_positive_integer("num_bits", num_bits)
  x = jnp.asarray(x)
  dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32
  u = jax.random.uniform(key, x.shape, dtype)  # [...] in [0, 1)
  y = (x.astype(dtype) + u) / 2**num_bits - 0.5
  below_half = jnp.nextafter(jnp.asarray(0.5, dtype), jnp.asarray(0.0, dtype))
  return jnp.minimum(y, below_half)
