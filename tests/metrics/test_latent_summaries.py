"""Latent summaries on hand-made arrays."""

import jax.numpy as jnp
import numpy as np
import pytest

from mimjax import losses
from mimjax import metrics


def test_reconstruction_error():
  x = np.zeros((2, 2, 2))
  x_recon = np.array([[[3.0, 0.0], [0.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]]])
  # Norms over the non-batch axes: 5 and 0.
  assert metrics.reconstruction_error(x, jnp.asarray(x_recon)) == 2.5
  with pytest.raises(ValueError, match="same"):
    metrics.reconstruction_error(x, x_recon[:1])


def test_posterior_std():
  assert metrics.posterior_std(
      jnp.array([[0.1, 0.3], [0.5, 0.7]])
  ) == pytest.approx(0.4)
  with pytest.raises(ValueError, match="2-D"):
    metrics.posterior_std(np.ones(3))


def test_active_units():
  # Per-dim variances over the 4 examples: 0, 0.0025, 1.
  means = np.array([
      [3.0, 0.05, 1.0],
      [3.0, -0.05, -1.0],
      [3.0, 0.05, 1.0],
      [3.0, -0.05, -1.0],
  ])
  assert metrics.active_units(means) == 1
  assert metrics.active_units(means, threshold=1e-3) == 2
  assert metrics.active_units(means, threshold=2.0) == 0


def test_consistency_gap_is_zero_for_equal_densities():
  log_p = np.array([-1234.5678, -3.25, 0.0, 17.0])
  assert metrics.consistency_gap(log_p, log_p) == 0.0
  assert metrics.consistency_gap(jnp.asarray(log_p), jnp.asarray(log_p)) == 0


def test_consistency_gap_matches_the_definition():
  rng = np.random.default_rng(0)
  # Differences from 1e-9 to 300 nats, across the branch at |a - b| = 40.
  log_p = rng.normal(-50.0, 10.0, 400)
  gap = np.concatenate([
      np.logspace(-9, np.log10(300.0), 380), 40.0 + np.linspace(-1, 1, 20)
  ]) * rng.choice([-1.0, 1.0], 400)
  log_q = log_p + gap
  gap = log_q - log_p  # exactly as the function sees it
  per_sample = (
      -0.5 * (log_p + log_q) + np.logaddexp(log_p, log_q) - np.log(2.0)
  )
  for i in range(0, 400, 20):  # slices within and across the two branches
    got = metrics.consistency_gap(log_p[i : i + 20], log_q[i : i + 20])
    assert got >= 0.0
    assert got == pytest.approx(
        np.mean(np.log(np.cosh(gap[i : i + 20] / 2))), rel=1e-9, abs=1e-15
    )
    assert got == pytest.approx(np.mean(per_sample[i : i + 20]), abs=1e-12)
  # The same values as the training-time regulariser (float32 there).
  np.testing.assert_allclose(
      metrics.consistency_gap(log_p, log_q),
      np.mean(losses.consistency_regularizer(log_p, log_q)),
      rtol=1e-4,
  )
  with pytest.raises(ValueError, match="one shape"):
    metrics.consistency_gap(log_p, log_q[:3])
