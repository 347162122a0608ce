"""Sentence metrics against hand computations and exact toy models."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from mimjax import metrics


def test_melbo_nll_hand_computed():
  log_p = np.array([[-1.0, -2.0, -3.0], [-4.0, -4.0, -4.0]])
  np.testing.assert_allclose(
      metrics.melbo_nll(log_p, num_test=10),
      [2.0 + math.log(10), 4.0 + math.log(10)],
  )


def _discrete_toy(overlap):
  """Exact log p(x_i; T) and log p(x_i|z) of a 3-sentence discrete model.

  Latent states 0..5; q(z|x_i) is uniform on {2i, 2i + 1}; the decoder
  p(x|z) puts mass on sentences 0..2 and one "other" sentence. With
  overlap = 0, p(x_i|z) vanishes off q(z|x_i)'s support and is constant on
  it, so every step of eq. (6.16)-(6.17) is an equality.
  """
  num_states, num_sentences = 6, 3
  owner = np.arange(num_states) // 2  # sentence whose posterior holds z
  p_x_given_z = np.full((num_states, num_sentences + 1), overlap)
  p_x_given_z[np.arange(num_states), owner] = 0.6
  p_x_given_z[:, -1] = 1.0 - p_x_given_z[:, :num_sentences].sum(axis=1)
  q = (owner[None, :] == np.arange(num_sentences)[:, None]) / 2.0  # [3, 6]
  p_z = q.mean(axis=0)  # empirical marginal, eq. (6.15)
  log_p_x = np.log(p_z @ p_x_given_z[:, :num_sentences])  # [3]
  # The two equally likely states of q(z|x_i) as Nz = 2 "samples".
  states = np.stack([2 * np.arange(3), 2 * np.arange(3) + 1], axis=1)
  log_p_x_given_z = np.log(p_x_given_z[states, np.arange(3)[:, None]])
  return log_p_x, log_p_x_given_z


def test_melbo_nll_bounds_exact_nll_of_empirical_model():
  log_p_x, log_p_x_given_z = _discrete_toy(overlap=0.1)
  bound = metrics.melbo_nll(log_p_x_given_z, num_test=3)
  assert np.all(bound > -log_p_x + 0.05)


def test_melbo_nll_tight_for_disjoint_posteriors():
  log_p_x, log_p_x_given_z = _discrete_toy(overlap=0.0)
  np.testing.assert_allclose(
      metrics.melbo_nll(log_p_x_given_z, num_test=3), -log_p_x
  )


@pytest.mark.parametrize(
    "log_p, num_test",
    [
        (np.zeros(3), 5),
        (np.zeros((2, 0)), 5),
        (np.array([[0.0, np.nan]]), 5),
        (np.zeros((2, 3)), 0),
        (np.zeros((2, 3)), 1),  # fewer test sentences than rows
        (np.zeros((2, 3)), 2.0),
    ],
)
def test_melbo_nll_rejects(log_p, num_test):
  with pytest.raises(ValueError):
    metrics.melbo_nll(log_p, num_test=num_test)


def test_elbo_nll_hand_computed():
  log_p_x = np.array([[-1.0, -3.0]])
  log_p_z = np.array([[-2.0, -2.0]])
  log_q = np.array([[0.5, -0.5]])
  # -(mean[-1 - 2 - 0.5, -3 - 2 + 0.5]) = -(-3.5 - 4.5) / 2 = 4.
  np.testing.assert_allclose(metrics.elbo_nll(log_p_x, log_p_z, log_q), [4.0])


def test_elbo_nll_exact_with_true_posterior():
  # z ~ N(0, 1), x|z ~ N(z, 1): p(x) = N(0, 2), p(z|x) = N(x/2, 1/2). With
  # q = p(z|x) every sample's log-weight is log p(x), so the bound is exact.
  rng = np.random.default_rng(0)
  x = np.array([-1.0, 0.3, 2.0])[:, None]
  z = x / 2 + np.sqrt(0.5) * rng.normal(size=(3, 7))
  nll = metrics.elbo_nll(
      stats.norm.logpdf(x, loc=z),
      stats.norm.logpdf(z),
      stats.norm.logpdf(z, loc=x / 2, scale=np.sqrt(0.5)),
  )
  np.testing.assert_allclose(nll, -stats.norm.logpdf(x[:, 0], scale=np.sqrt(2)))


def test_elbo_nll_rejects_mismatched_shapes():
  with pytest.raises(ValueError, match="common"):
    metrics.elbo_nll(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 2)))


def test_perplexity_hand_computed():
  assert metrics.perplexity([10.0, 20.0], [4, 6]) == pytest.approx(math.e**3)


def test_perplexity_of_uniform_model_is_vocabulary_size():
  vocab, lengths = 50, np.array([3, 8, 1])
  nll = lengths * math.log(vocab)
  assert metrics.perplexity(nll, lengths) == pytest.approx(vocab)


@pytest.mark.parametrize(
    "nll, tokens",
    [
        ([1.0, 2.0], [3]),
        ([], []),
        ([1.0], [0]),
        ([1.0], [2.5]),
        ([np.inf], [2]),
    ],
)
def test_perplexity_rejects(nll, tokens):
  with pytest.raises(ValueError):
    metrics.perplexity(nll, tokens)


@pytest.mark.parametrize(
    "reference, hypothesis, expected",
    [
        ("a b c d", "a b c d", 1.0),
        ("a b c d", "e f g h", 0.0),
        ("a b c d", "", 0.0),
        # p1 = 1, BP = exp(1 - r / c) = exp(1 - 4 / 2).
        ("a b c d", "b a", math.exp(-1.0)),
        # p1 = 2 / 3 (clipped), BP = exp(1 - 4 / 3).
        ("a b c d", "a a b", 2 / 3 * math.exp(-1 / 3)),
        # Clipped p1 = 1 / 5, no penalty for a longer hypothesis.
        ("a b c d", "a a a a a", 0.2),
    ],
)
def test_bleu1_single_sentence(reference, hypothesis, expected):
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    score = metrics.bleu1([reference.split()], [hypothesis.split()])
  assert score == pytest.approx(expected)


def test_bleu1_averages_sentences_of_int_tokens():
  references = [[1, 2, 3, 4], [5, 6], np.array([7, 8, 9])]
  hypotheses = [[1, 2, 3, 4], [9], np.array([7, 8])]
  expected = (1.0 + 0.0 + math.exp(1 - 3 / 2)) / 3
  assert metrics.bleu1(references, hypotheses) == pytest.approx(expected)


def test_bleu1_rejects_bad_inputs():
  with pytest.raises(ValueError):
    metrics.bleu1([["a"]], [["a"], ["b"]])
  with pytest.raises(ValueError):
    metrics.bleu1([], [])
  with pytest.raises(TypeError, match=r"hypotheses\[0\]"):
    metrics.bleu1([["a", "b"]], ["a b"])


@pytest.mark.parametrize(
    "dim, table_7_6", [(16, 22.7), (32, 45.4), (128, 181.62), (512, 726.49)]
)
def test_latent_entropy_gaussian_matches_table_7_6(dim, table_7_6):
  assert metrics.latent_entropy_gaussian(dim) == pytest.approx(
      table_7_6, abs=0.01
  )


def test_latent_entropy_gaussian_matches_kl_estimate():
  dim = 4
  z = np.random.default_rng(0).normal(size=(3000, dim))
  assert metrics.kl_entropy(z) == pytest.approx(
      metrics.latent_entropy_gaussian(dim), abs=0.1
  )
  # Closed form of H[N(0, I_d)] = 1/2 log det(2 pi e I_d).
  assert metrics.latent_entropy_gaussian(dim) == pytest.approx(
      0.5 * dim * math.log(2 * math.pi * math.e)
  )


@pytest.mark.parametrize("dim", [0, -1, 2.0, True])
def test_latent_entropy_gaussian_rejects(dim):
  with pytest.raises(ValueError):
    metrics.latent_entropy_gaussian(dim)
