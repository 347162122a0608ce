"""Sentence-model metrics: MELBO / ELBO NLL, perplexity, BLEU-1 (Ch. 6-7).

The caller evaluates the model; these functions only combine the per-sample
log-probabilities it hands in (numpy or jax arrays, in nats) and return
numpy arrays or Python floats.
"""

import math

from nltk.translate import bleu_score
import numpy as np


def _log_probs(a, name):
  """`a` as a finite float64 `[N, Nz]` array with N, Nz >= 1."""
  a = np.asarray(a, np.float64)
  if a.ndim != 2 or 0 in a.shape:
    raise ValueError(f"{name} must have shape [N, Nz] with N, Nz >= 1, got "
                     f"{a.shape}")
  if not np.all(np.isfinite(a)):
    raise ValueError(f"{name} has {np.sum(~np.isfinite(a))} non-finite "
                     "entries")
  return a


def _check_int(value, name, minimum):
  """Raises ValueError unless `value` is an integer >= `minimum`."""
  if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
      or value < minimum):
    raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def melbo_nll(log_p_x_given_z, *, num_test):
  """Per-sentence MELBO upper bound on the NLL, thesis eq. (6.16)-(6.17).

  With the empirical marginal p(z; T) = 1/N sum_i q(z|x_i) of the N test
  sentences (eq. 6.15), choosing x' = x_i in eq. (6.12) and the Monte Carlo
  estimate of eq. (6.17) with z_ij ~ q(z|x_i) gives, per sentence,

    NLL^_i = -1/Nz sum_j log p(x_i|z_ij) + log N,

  whose mean over the test set is the NLL^ of eq. (6.17). N is the test-set
  size, i.e. -log T(x_i), the same for every sentence (the bound is
  transductive); the rows may be any subset of the test set.

  Args:
    log_p_x_given_z: `[N_rows, Nz]` log p(x_i|z_ij), decoder log-likelihoods
      of sentence i (summed over its tokens) at Nz encoder samples.
    num_test: N, the number of sentences in the test set, >= N_rows.

  Returns:
    `[N_rows]` float64 per-sentence NLL bounds in nats.

  Raises:
    ValueError: on a shape other than `[N_rows, Nz]`, non-finite entries, or
      `num_test` not an integer in [max(1, N_rows), inf).
  """
  log_p = _log_probs(log_p_x_given_z, "log_p_x_given_z")
  _check_int(num_test, "num_test", max(1, log_p.shape[0]))
  return -log_p.mean(axis=1) + math.log(num_test)


def elbo_nll(log_p_x_given_z, log_p_z, log_q_z_given_x):
  """Per-sentence negative ELBO, thesis eq. (6.11), averaged over samples.

    -ELBO_i = -1/Nz sum_j [log p(x_i|z_ij) + log p(z_ij) - log q(z_ij|x_i)],

  with z_ij ~ q(z|x_i).

  Args:
    log_p_x_given_z: `[N, Nz]` decoder log-likelihoods log p(x_i|z_ij).
    log_p_z: `[N, Nz]` prior log-densities log p(z_ij).
    log_q_z_given_x: `[N, Nz]` encoder log-densities log q(z_ij|x_i).

  Returns:
    `[N]` float64 per-sentence NLL bounds in nats.

  Raises:
    ValueError: on shapes other than one common `[N, Nz]`, or non-finite
      entries.
  """
  arrays = [
      _log_probs(a, name) for a, name in (
          (log_p_x_given_z, "log_p_x_given_z"), (log_p_z, "log_p_z"),
          (log_q_z_given_x, "log_q_z_given_x"))
  ]
  shapes = {a.shape for a in arrays}
  if len(shapes) != 1:
    raise ValueError(f"inputs need one common [N, Nz] shape, got {shapes}")
  log_p_x, log_pz, log_qz = arrays
  return -(log_p_x + log_pz - log_qz).mean(axis=1)


def perplexity(nll_per_sentence, num_tokens):
  """Perplexity from per-sentence NLLs, the PPL^ after thesis eq. (6.17).

    PPL = exp(sum_i NLL_i / sum_i T_i),

  i.e. exp(N NLL^ / sum_i T_i) with NLL^ the mean per-sentence NLL.

  Args:
    nll_per_sentence: `[N]` NLL (or its bound) of each sentence in nats.
    num_tokens: `[N]` integer token counts T_i > 0.

  Returns:
    The perplexity, a Python float.

  Raises:
    ValueError: on shapes other than a common non-empty `[N]`, non-finite
      NLLs, or token counts that are not positive integers.
  """
  nll = np.asarray(nll_per_sentence, np.float64)
  tokens = np.asarray(num_tokens)
  if nll.ndim != 1 or nll.size == 0 or tokens.shape != nll.shape:
    raise ValueError(
        "nll_per_sentence and num_tokens need one common non-empty [N] "
        f"shape, got {nll.shape} and {tokens.shape}"
    )
  if not np.all(np.isfinite(nll)):
    raise ValueError(f"nll_per_sentence has {np.sum(~np.isfinite(nll))} "
                     "non-finite entries")
  if not np.issubdtype(tokens.dtype, np.integer) or np.any(tokens <= 0):
    raise ValueError(
        f"num_tokens must be positive integers, got dtype {tokens.dtype} "
        f"and minimum {tokens.min()}"
    )
  return float(np.exp(nll.sum() / tokens.sum()))


def bleu1(references, hypotheses):
  """Mean sentence-level BLEU-1, as in the sentenceMIM reference test code.

  Per sentence, NLTK's `sentence_bleu([reference], hypothesis,
  weights=(1.0,))`: the clipped unigram precision p_1 times the brevity
  penalty BP = min(1, exp(1 - r / c)), with r and c the reference and
  hypothesis lengths; no smoothing, so a hypothesis without a matching
  token (an empty one included, BP = 0) scores 0. With unigram weights NLTK
  warns about nothing.

  Args:
    references: N token sequences (lists of strings or of ints).
    hypotheses: N token sequences, the hypothesis for each reference.

  Returns:
    The mean over the N sentences, a Python float in [0, 1].

  Raises:
    ValueError: if the lists differ in length or are empty.
    TypeError: if a sentence is a string (tokenise it first).
  """
  if len(references) != len(hypotheses) or not references:
    raise ValueError(
        "references and hypotheses need the same non-zero length, got "
        f"{len(references)} and {len(hypotheses)}"
    )
  for name, sentences in (("references", references),
                          ("hypotheses", hypotheses)):
    for i, sentence in enumerate(sentences):
      if isinstance(sentence, str):
        raise TypeError(f"{name}[{i}] is a string, expected a sequence of "
                        "tokens")
  scores = [
      bleu_score.sentence_bleu([list(ref)], list(hyp), weights=(1.0,))
      for ref, hyp in zip(references, hypotheses)
  ]
  return float(np.mean(scores))


def latent_entropy_gaussian(dim):
  """Entropy of the standard normal N(0, I_d) in nats (Table 7.6, N(d)).

    H = d/2 (1 + log 2 pi),

  the reference against which Table 7.6 puts a nearest-neighbour estimate
  (`mimjax.metrics.kl_entropy`) of the entropy of the test codes.

  Args:
    dim: latent dimension d >= 1.

  Returns:
    H, a Python float.

  Raises:
    ValueError: if `dim` is not a positive integer.
  """
  _check_int(dim, "dim", 1)
  return 0.5 * dim * (1.0 + math.log(2.0 * math.pi))
