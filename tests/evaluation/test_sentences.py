"""`evaluate_sentence_model`: MELBO / ELBO / PPL recomputed by hand.

A tiny GRU model (vocabulary of 3 words) is evaluated on 5 sentences with one
z sample each; every number is then recomputed from the returned codes with
a step-by-step decoder loop (`decode_step`, not the teacher-forced scan the
evaluation uses) and NumPy Gaussian densities.
"""

import jax
import jax.numpy as jnp
import numpy as np

from mimjax import data
from mimjax import evaluation
from mimjax.evaluation import _sentences
from mimjax import models

_SENTENCES = [[4], [5, 6], [6, 6, 4], [4, 5, 6, 5], [5]]


def _rows(width=6):
  x = np.zeros((len(_SENTENCES), width), np.int32)
  for i, s in enumerate(_SENTENCES):
    x[i, : len(s)] = s
    x[i, len(s)] = data.EOS
  return x


def _stepwise_word_log_prob(model, params, z, words):
  """sum_k log p(w_k | w_<k, z) by feeding tokens one at a time."""
  h = model.apply(params, z[None], method=model.initial_state)
  token, total = data.SOS, 0.0
  for w in words:
    h, logits = model.apply(params, h, jnp.asarray([token]), z[None],
                            method=model.decode_step)
    total += float(jax.nn.log_softmax(logits[0])[w])
    token = w
  return total


def _evaluate_tiny_model(**kwargs):
  """(model, params, x, metrics, arrays) of a tiny GRU model on the 5
  sentences, one z per sentence."""
  model = models.SentenceVAE(vocab_size=7, embed_dim=4, hidden_dim=8,
                             latent_dim=2, train=False)
  x = _rows()
  params = model.init(jax.random.key(0), x)
  metrics, arrays = evaluation.evaluate_sentence_model(
      model, params, x, jax.random.key(1), num_z=1, chunk=2,
      entropy_points=5, **kwargs,
  )
  return model, params, x, metrics, arrays


def test_melbo_elbo_and_perplexity_by_hand():
  model, params, x, metrics, arrays = _evaluate_tiny_model()
  n, words = len(x), np.asarray([len(s) for s in _SENTENCES])
  z, mean, std = arrays["z"], arrays["mean"], arrays["std"]
  log_p = np.asarray([
      _stepwise_word_log_prob(model, params, z[i], s)
      for i, s in enumerate(_SENTENCES)
  ])
  melbo = -log_p + np.log(n)  # eq 6.17, <eos> excluded (Sec. 7.3)
  np.testing.assert_allclose(arrays["melbo_nll"], melbo, rtol=1e-5)
  np.testing.assert_allclose(metrics["melbo_nll"], melbo.mean(), rtol=1e-5)
  np.testing.assert_allclose(
      metrics["melbo_ppl"], np.exp(melbo.sum() / words.sum()), rtol=1e-5
  )
  log_q = -0.5 * np.sum(((z - mean) / std) ** 2 + np.log(2 * np.pi * std**2),
                        -1)
  log_prior = -0.5 * np.sum(z**2 + np.log(2 * np.pi), -1)
  elbo = -(log_p + log_prior - log_q)
  np.testing.assert_allclose(arrays["elbo_nll"], elbo, rtol=1e-5)
  np.testing.assert_allclose(
      metrics["elbo_ppl"], np.exp(elbo.sum() / words.sum()), rtol=1e-5
  )
  assert metrics["num_test"] == n and metrics["num_words"] == words.sum()
  # Reconstructions are rows in the data layout; BLEU-1 is in [0, 1].
  assert arrays["recon_mean"].shape == x.shape
  assert 0.0 <= metrics["bleu1"] <= 1.0


def test_padded_chunks_match_one_unpadded_call():
  model = models.SentenceVAE(vocab_size=7, embed_dim=4, hidden_dim=8,
                             latent_dim=2, train=False)
  x = _rows()
  params = model.init(jax.random.key(0), x)
  whole = model.apply(params, x, method="encode").mean()
  encode = lambda xc: {"mean": model.apply(params, xc, method="encode").mean()}
  # 5 rows in chunks of 2: the last chunk carries one all-<pad> row; with a
  # width multiple, rows go shortest first and chunks are cut to widths
  # 2 and 4 (then put back in order).
  for multiple in (0, 2):
    padded = _sentences.padded_map(encode, x, 2, width_multiple=multiple)
    np.testing.assert_allclose(padded["mean"], whole, rtol=1e-5)


def test_deterministic_code_is_evaluated_at_the_posterior_mean():
  """The AE: z = E[z|x] for the MELBO and both reconstructions; the metrics
  that need q(z|x)'s density are None."""
  model, params, x, metrics, arrays = _evaluate_tiny_model(deterministic=True)
  mean = np.asarray(model.apply(params, x, method="encode").mean())
  np.testing.assert_allclose(arrays["z"], mean, rtol=1e-6)
  log_p = np.asarray([
      _stepwise_word_log_prob(model, params, mean[i], s)
      for i, s in enumerate(_SENTENCES)
  ])
  np.testing.assert_allclose(arrays["melbo_nll"], -log_p + np.log(len(x)),
                             rtol=1e-5)
  np.testing.assert_array_equal(arrays["recon_sample"], arrays["recon_mean"])
  assert metrics["bleu1"] == metrics["bleu1_mean"]
  for key in ("elbo_nll", "elbo_ppl", "kl", "posterior_std",
              "log_q_same_minus_other"):
    assert metrics[key] is None, key
  assert arrays["elbo_nll"] is None and arrays["log_q_same"] is None
