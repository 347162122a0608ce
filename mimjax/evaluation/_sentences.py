"""Test-set evaluation of sentence models: MELBO, ELBO, IS-NLL, BLEU-1 (ch. 7).

Every NLL and PPL here follows the thesis's convention (Sec. 7.3): the <eos>
term is left out of log p(x|z) and the PPL denominator counts words only.
"""

import functools

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from mimjax import data
from mimjax import metrics
from mimjax import models


def padded_map(fn, x, chunk, *, width_multiple=0):
  """`fn` over `x [N, T]` in chunks of `chunk` rows, the last one padded.

  Pad rows are all-<pad> sentences (length 0) and are dropped again. With
  `width_multiple` m > 0 the rows are taken shortest first and each chunk is
  cut to its longest row rounded up to a multiple of m (at most T/m compiled
  shapes; the padding past a row's length changes nothing, see
  `SentenceVAE`), then put back in order; `fn`'s outputs must not depend on
  the width.

  Args:
    fn: `x_chunk [chunk, W] -> dict of [chunk, ...]` (usually jitted).
    x: `[N, T]` token ids.
    chunk: rows per call.
    width_multiple: 0 (full width T) or m.

  Returns:
    dict of `[N, ...]` NumPy arrays, rows in the order of `x`.
  """
  n = len(x)
  lengths = np.sum(x != data.PAD, axis=1)
  order = np.argsort(lengths, kind="stable") if width_multiple else np.arange(n)
  padded = np.zeros((-(-n // chunk) * chunk, x.shape[1]), x.dtype)
  padded[:n] = x[order]
  parts = []
  for i in range(0, len(padded), chunk):
    rows = padded[i : i + chunk]
    if width_multiple:
      longest = max(int(np.max(np.sum(rows != data.PAD, axis=1))), 1)
      rows = rows[:, : min(-(-longest // width_multiple) * width_multiple,
                           x.shape[1])]
    parts.append(fn(rows))
  out = {}
  for k in parts[0]:
    stacked = np.concatenate([np.asarray(p[k]) for p in parts])[:n]
    out[k] = np.empty_like(stacked)
    out[k][order] = stacked
  return out


def _token_log_probs(model, params, z, x):
  """`[B, d]`, `[B, T]` -> `[B, T]` log p(x^k | x^{<k}, z), 0 at pads."""
  return model.apply(
      params, z, x, method=lambda m, z, x: m.decode(z).token_log_probs(x)
  )


@functools.partial(jax.jit, static_argnames=("model", "num_z", "use_mean"))
def posterior_terms(model, params, x, key, *, num_z, use_mean=False):
  """Encoder statistics and log-densities at `num_z` samples z ~ q(z|x).

  Args:
    model: a `SentenceVAE` in eval mode.
    params: its variables.
    x: `[B, T]` token ids.
    key: PRNG key.
    num_z: Nz, samples per sentence.
    use_mean: every "sample" is the posterior mean (a deterministic
      auto-encoder's code; `key` is unused).

  Returns:
    dict with "mean", "std" `[B, d]`, "z" `[B, d]` (the first sample),
    "log_p_words" `[B, Nz]` (log p(x|z) without the <eos> term),
    "log_p_eos" `[B, Nz]` (the <eos> term alone), "log_p_z" and
    "log_q_z" `[B, Nz]` (N(0, I) prior and posterior densities).
  """
  q = model.apply(params, x, method="encode")
  prior = model.apply(params, method="latent_prior")
  if use_mean:
    z = jnp.broadcast_to(q.mean(), (num_z, *q.mean().shape))
  else:
    z = q.sample(seed=key, sample_shape=(num_z,))  # [Nz, B, d]
  tok = jax.vmap(lambda zs: _token_log_probs(model, params, zs, x))(z)
  is_eos = (x == data.EOS)[None]
  return {
      "mean": q.mean(),
      "std": q.stddev(),
      "z": z[0],
      "log_p_words": jnp.sum(jnp.where(is_eos, 0.0, tok), -1).T,
      "log_p_eos": jnp.sum(jnp.where(is_eos, tok, 0.0), -1).T,
      "log_p_z": prior.log_prob(z).T,
      "log_q_z": q.log_prob(z).T,
  }


def _log_weights(model, params, x, key):
  """One importance weight per sentence: log p(x_words|z) p(z) / q(z|x)."""
  t = posterior_terms(model, params, x, key, num_z=1)
  return (t["log_p_words"] + t["log_p_z"] - t["log_q_z"])[:, 0]


def importance_sampled_nll(model, params, x, key, *, num_samples, chunk):
  """`[N]` IS estimate of -log p(x) under the N(0, I) prior (sVAE).

  Uses `mimjax.metrics.importance_sampled_log_likelihood` with q(z|x) as the
  proposal, over all rows of `x [N, T]` in padded chunks.
  """
  chunk_size = min(num_samples, 10)

  @jax.jit
  def estimate(x_chunk):
    log_px, stderr = metrics.importance_sampled_log_likelihood(
        lambda xs, k: _log_weights(model, params, xs, k),
        x_chunk, key, num_samples=num_samples, chunk_size=chunk_size,
    )
    return {"nll": -log_px, "stderr": stderr}

  return padded_map(estimate, x, chunk, width_multiple=16)


def reconstruct(model, params, z, *, max_len, chunk, key=None, mode="greedy"):
  """Decodes `z [N, d]` in chunks -> `[N, max_len]` token ids."""
  key = jax.random.key(0) if key is None else key
  out = []
  for i in range(0, len(z), chunk):
    zc = np.zeros((chunk, z.shape[1]), np.float32)
    zc[: len(z) - i] = z[i : i + chunk]
    out.append(np.asarray(models.generate_sentences(
        model, params, zc, jax.random.fold_in(key, i), max_len=max_len,
        mode=mode,
    ))[: len(z) - i])
  return np.concatenate(out)


def _word_ids(row):
  """Token ids of a row's words (up to its <eos>, specials dropped)."""
  row = list(np.asarray(row))
  if data.EOS in row:
    row = row[: row.index(data.EOS)]
  return [int(t) for t in row if t not in (data.PAD, data.SOS)]


def gaussian_log_density(z, mean, std):
  """`[..., d]` -> `[...]` log N(z; mean, diag std^2)."""
  u = (z - mean) / std
  return -0.5 * np.sum(u**2 + np.log(2 * np.pi) + 2 * np.log(std), -1)


def evaluate_sentence_model(
    model, params, x, key, *, num_z, chunk, is_samples=0, is_examples=0,
    entropy_points=1000, deterministic=False,
):
  """Test metrics of a trained `SentenceVAE` on `x [N, T]` (Sec. 7.3-7.5).

  Args:
    model: the model in eval mode (`train=False`).
    params: its variables.
    x: `[N, T]` test token ids (the whole test set: N enters the MELBO).
    key: PRNG key.
    num_z: Nz samples z ~ q(z|x) per sentence for MELBO/ELBO (eq 6.17).
    chunk: sentences per compiled call.
    is_samples: S for the importance-sampled NLL (0: skip it).
    is_examples: sentences it covers (0: all).
    entropy_points: test codes in the Kozachenko-Leonenko entropy estimate.
    deterministic: the model is a deterministic auto-encoder (loss "ae"):
      z is the posterior mean everywhere, as the authors' code evaluates it
      (reference digest Sec. 4.3), so "bleu1" equals "bleu1_mean", the
      MELBO is the reconstruction NLL + log N, and what needs the density
      q(z|x), whose scale an AE never trains (ELBO, KL, posterior std, the
      Fig. 7.1 log-densities, IS-NLL), is None.

  Returns:
    (metrics dict of floats, arrays dict) where the arrays hold per-sentence
    "melbo_nll", "elbo_nll", "mean", "std", "z", "recon_mean",
    "recon_sample" and the Fig. 7.1 log-densities "log_q_same",
    "log_q_other" (None where `deterministic` makes them undefined).
  """
  n = len(x)
  k_post, k_is = jax.random.split(key)
  logging.info("Evaluating %d sentences: MELBO / ELBO terms (Nz = %d)", n,
               num_z)
  terms = padded_map(
      lambda xc: posterior_terms(model, params, xc, k_post, num_z=num_z,
                                 use_mean=deterministic),
      x, chunk, width_multiple=16,
  )
  words = np.sum((x != data.PAD) & (x != data.EOS), axis=1)
  melbo = metrics.melbo_nll(terms["log_p_words"], num_test=n)
  max_len = x.shape[1]
  logging.info("Greedy reconstructions from the mean and from z ~ q(z|x)")
  recon_mean = reconstruct(
      model, params, terms["mean"], max_len=max_len, chunk=chunk
  )
  recon_sample = recon_mean if deterministic else reconstruct(
      model, params, terms["z"], max_len=max_len, chunk=chunk
  )
  refs = [_word_ids(r) for r in x]
  mean, std, z = terms["mean"], terms["std"], terms["z"]
  m = min(entropy_points, n)
  out = {
      "num_test": n,
      "num_words": int(words.sum()),
      "melbo_nll": float(melbo.mean()),
      "melbo_ppl": metrics.perplexity(melbo, words),
      "recon_nll": float(-terms["log_p_words"].mean()),
      "eos_nll": float(-terms["log_p_eos"].mean()),
      "bleu1": metrics.bleu1(refs, [_word_ids(r) for r in recon_sample]),
      "bleu1_mean": metrics.bleu1(refs, [_word_ids(r) for r in recon_mean]),
      "active_units": metrics.active_units(mean),
      # Needs more codes than dimensions (None otherwise).
      "latent_entropy": (
          metrics.kl_entropy(z[:m], k=3) if m > z.shape[1] + 3 else None
      ),
      "latent_entropy_normal": metrics.latent_entropy_gaussian(z.shape[1]),
  }
  if deterministic:
    out.update(elbo_nll=None, elbo_ppl=None, kl=None, posterior_std=None,
               log_q_same_minus_other=None)
    elbo = log_q_same = log_q_other = None
  else:
    elbo = metrics.elbo_nll(
        terms["log_p_words"], terms["log_p_z"], terms["log_q_z"]
    )
    # Fig 7.1: z_i ~ q(z|x_i) under its own posterior and under x_{i+1}'s.
    other = np.roll(np.arange(n), 1)
    log_q_same = gaussian_log_density(z, mean, std)
    log_q_other = gaussian_log_density(z, mean[other], std[other])
    kl = 0.5 * np.sum(mean**2 + std**2 - 1 - 2 * np.log(std), -1)
    out.update(
        elbo_nll=float(elbo.mean()),
        elbo_ppl=metrics.perplexity(elbo, words),
        kl=float(kl.mean()),
        posterior_std=float(std.mean()),
        log_q_same_minus_other=float(np.mean(log_q_same - log_q_other)),
    )
    if is_samples:
      subset = x[: is_examples or n]
      logging.info("Importance-sampled NLL: S = %d on %d sentences",
                   is_samples, len(subset))
      is_out = importance_sampled_nll(
          model, params, subset, k_is, num_samples=is_samples, chunk=chunk
      )
      out["is_nll"] = float(is_out["nll"].mean())
      out["is_ppl"] = metrics.perplexity(is_out["nll"], words[: len(subset)])
      out["is_examples"] = len(subset)
  arrays = dict(
      melbo_nll=melbo, elbo_nll=elbo, mean=mean, std=std, z=z,
      recon_mean=recon_mean, recon_sample=recon_sample,
      log_q_same=log_q_same, log_q_other=log_q_other, words=words,
  )
  return out, arrays
