"""Importance-sampled log-likelihood with bounded memory (jax only)."""

import math

import jax
import jax.numpy as jnp


def logmeanexp(a, axis=None):
  """log(mean(exp(a))) along `axis`, stably via logsumexp.

    logmeanexp(a) = logsumexp(a) - log n,  n = number of reduced entries.

  Args:
    a: array.
    axis: int, tuple of ints or None (all axes).

  Returns:
    `a` reduced over `axis`.
  """
  a = jnp.asarray(a)
  if axis is None:
    axes = range(a.ndim)
  else:
    axes = (axis,) if isinstance(axis, int) else axis
  count = math.prod(a.shape[i] for i in axes)
  return jax.nn.logsumexp(a, axis=axis) - math.log(count)


def importance_sampled_log_likelihood(
    log_weight_fn, x, key, *, num_samples, chunk_size
):
  """Importance-sampling estimate of log p(x) and its standard error.

  With S = `num_samples` proposals z_s ~ q(z|x) and log-weights
  w_s = log p(x, z_s) - log q(z_s|x) (Burda et al. 2016, eq 13),

    log p^(x) = logsumexp_s w_s - log S,

  a stochastic lower bound in expectation (Jensen) that tends to log p(x) as
  S grows. Its delta-method standard error is the standard error of the mean
  of the normalised weights v_s = exp(w_s - max_s w_s):

    stderr = sqrt(Var_s[v_s] / S) / mean_s[v_s]   (Var with ddof = 0),

  zero when the proposal is the exact posterior (all w_s equal).

  The S weights are drawn in S / C chunks of C = `chunk_size`: chunk c
  calls `jax.vmap(log_weight_fn, in_axes=(None, 0))` on the keys
  `jax.random.split(jax.random.fold_in(key, c), C)`, and `jax.lax.scan`
  runs over the chunks, keeping per example the running max m of the w_s
  and the running mean and centred sum of squares of exp(w_s - m), merged
  chunk by chunk (Chan et al. 1979) and rescaled by exp(m_old - m_new) when
  m grows. The centred sums keep stderr accurate when the weights are
  nearly equal, where sum(v^2) / S - mean(v)^2 would cancel. Memory is
  O(C B), not O(S B). Jit-compatible with `num_samples` and `chunk_size`
  static.

  Args:
    log_weight_fn: `(x, key) -> [B]` one log-weight per example, drawing
      z ~ q(z|x) with `key` inside.
    x: batch of B examples (any pytree), passed to `log_weight_fn` as is.
    key: PRNG key.
    num_samples: S, samples per example.
    chunk_size: C, samples evaluated at once; must divide S.

  Returns:
    (log_px, stderr), each `[B]`, in the dtype of the weights. Where every
    weight is -inf, log_px is -inf and stderr NaN.

  Raises:
    ValueError: unless chunk_size >= 1 and num_samples is a positive
      multiple of chunk_size.

  References:
    Y. Burda, R. Grosse, R. Salakhutdinov, "Importance weighted
    autoencoders", ICLR 2016.
    T. F. Chan, G. H. Golub, R. J. LeVeque, "Updating formulae and a
    pairwise algorithm for computing sample variances", Stanford
    STAN-CS-79-773 (1979).
  """
  if chunk_size < 1 or num_samples < 1 or num_samples % chunk_size:
    raise ValueError(
        f"num_samples={num_samples} must be a positive multiple of "
        f"chunk_size={chunk_size}"
    )
  weights_fn = jax.vmap(log_weight_fn, in_axes=(None, 0))

  def add_chunk(carry, chunk):
    running_max, mean_v, m2_v = carry  # each [B]
    keys = jax.random.split(jax.random.fold_in(key, chunk), chunk_size)
    w = weights_fn(x, keys)  # [C, B]
    new_max = jnp.maximum(running_max, jnp.max(w, axis=0))
    # While every weight so far is -inf, shift by 0: exp(-inf - 0) = 0.
    shift = jnp.where(jnp.isneginf(new_max), 0.0, new_max)
    rescale = jnp.exp(running_max - shift)
    v = jnp.exp(w - shift)  # [C, B], <= 1
    chunk_mean = jnp.mean(v, axis=0)
    # Merge (n_a, mean_a, M2_a) of the earlier chunks with this chunk's.
    n_a = (chunk * chunk_size).astype(w.dtype)
    frac_b = chunk_size / (n_a + chunk_size)
    delta = chunk_mean - mean_v * rescale
    mean_v = mean_v * rescale + delta * frac_b
    m2_v = (
        m2_v * rescale**2
        + jnp.sum((v - chunk_mean) ** 2, axis=0)
        + delta**2 * n_a * frac_b
    )
    return (new_max, mean_v, m2_v), None

  w_shape = jax.eval_shape(
      lambda k: weights_fn(x, jax.random.split(k, chunk_size)), key
  )  # [C, B]
  init = (
      jnp.full(w_shape.shape[1:], -jnp.inf, w_shape.dtype),
      jnp.zeros(w_shape.shape[1:], w_shape.dtype),
      jnp.zeros(w_shape.shape[1:], w_shape.dtype),
  )
  (running_max, mean_v, m2_v), _ = jax.lax.scan(
      add_chunk, init, jnp.arange(num_samples // chunk_size)
  )
  shift = jnp.where(jnp.isneginf(running_max), 0.0, running_max)
  log_px = shift + jnp.log(mean_v)
  stderr = jnp.sqrt(m2_v) / (num_samples * mean_v)
  return log_px, stderr
