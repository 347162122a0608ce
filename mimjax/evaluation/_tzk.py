"""Bits/dim of a trained TzK model: its prior and conditionals (App. G.2.3)."""

import jax
import jax.numpy as jnp
import numpy as np

from mimjax import data
from mimjax import metrics


def _chunked_map(fn, x, batch_size):
  """`fn(chunk, i) -> [b]` over `x` in chunks i = 0, 1, ... (last padded).

  Every chunk has `batch_size` rows, so `fn` compiles once.
  """
  n = len(x)
  out = []
  for i, start in enumerate(range(0, n, batch_size)):
    chunk = np.asarray(x[start : start + batch_size])
    pad = batch_size - len(chunk)
    if pad:
      chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
    out.append(np.asarray(fn(jnp.asarray(chunk), i))[: batch_size - pad])
  return np.concatenate(out) if out else np.zeros((0,), np.float32)


def _summary(bpd):
  return dict(
      bpd=float(np.mean(bpd)),
      bpd_se=float(np.std(bpd) / np.sqrt(max(len(bpd), 1))),
  )


def evaluate_tzk(model, params, test, *, key, batch_size, is_samples,
                 existence_samples, num_bits=8):
  """Test bits/dim of q(t) and, per knowledge type, of its conditional.

  Every image is dequantised once (fixed noise from `key`). For knowledge
  type i, on the test images with e^i = 1:
    * `prior`: the t-flow's q(t) on those images (the baseline);
    * `thesis`: -log p(t | e^i = 1, c), c ~ q(c | e^i = 1, t), the one-sample
      evaluation of App. G.2.3 (c is inferred from the scored image);
    * `is`: the importance-sampled -log p(t | e^i = 1) of
      `TzK.conditional_log_prob_is` (a likelihood of t alone).
  All are bits/dim of the discrete images (`metrics.bits_per_dim`).

  Args:
    model: a `mimjax.models.TzK`.
    params: its variables.
    test: dict with "x" `[N, *event_shape]` gray levels and "e" `[N, C]`.
    key: PRNG key.
    batch_size: images per compiled call.
    is_samples: importance samples per image.
    existence_samples: prior draws estimating p(e^i = 1).
    num_bits: bits per pixel.

  Returns:
    Dict with "test_bpd", "test_bpd_se", "num_test" and "knowledge": {name:
    {"num_test", "prior_bpd", "thesis_bpd", "is_bpd" (and their "_se"),
    "log_p_existence"}}.
  """
  num_dims = int(np.prod(model.event_shape))
  to_bpd = lambda log_p: np.asarray(
      metrics.bits_per_dim(log_p, num_dims, num_bits=num_bits)
  )
  key_dq, key_eval = jax.random.split(key)

  def dequantized(x, i):
    """Chunk i's fixed noise: every metric of a subset sees the same t."""
    return data.uniform_dequantize(
        jax.random.fold_in(key_dq, i), x, num_bits=num_bits
    )

  @jax.jit
  def flow_log_prob(x, i):
    return model.apply(params, dequantized(x, i), method=model.flow_log_prob)[2]

  prior = to_bpd(_chunked_map(flow_log_prob, test["x"], batch_size))
  summary = _summary(prior)
  results = dict(
      test_bpd=summary["bpd"], test_bpd_se=summary["bpd_se"],
      num_test=len(prior), knowledge={},
  )
  for i, name in enumerate(model.knowledge):
    rows = np.asarray(test["e"])[:, i] > 0.5
    x = np.asarray(test["x"])[rows]
    log_p_e = model.apply(
        params, jax.random.fold_in(key, 1000 + i), i, existence_samples,
        method=model.log_marginal_existence,
    )

    @jax.jit
    def thesis(x, chunk, index=i):
      return model.apply(
          params, jax.random.fold_in(key_eval, chunk), dequantized(x, chunk),
          index, method=model.conditional_log_prob,
      )

    @jax.jit
    def importance(x, chunk, index=i, log_p_e=log_p_e):
      return model.apply(
          params, jax.random.fold_in(key_eval, chunk), dequantized(x, chunk),
          index, num_samples=is_samples, log_p_existence=log_p_e,
          method=model.conditional_log_prob_is,
      )

    entry = dict(num_test=int(rows.sum()), log_p_existence=float(log_p_e))
    if rows.any():
      for label, fn in (("prior", flow_log_prob), ("thesis", thesis),
                        ("is", importance)):
        s = _summary(to_bpd(_chunked_map(fn, x, batch_size)))
        entry[f"{label}_bpd"], entry[f"{label}_bpd_se"] = s["bpd"], s["bpd_se"]
    results["knowledge"][name] = entry
  return results
