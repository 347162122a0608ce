"""The streamed gradient statistics of `benchmarks.gradient_snr`."""

import numpy as np

from benchmarks import gradient_snr


def _streamed(draws):
  return dict(mean=draws.mean(0), sq_norm=float((draws ** 2).sum(1).mean()))


def test_noise_and_signal_recover_known_moments():
  """Draws g = mu + N(0, s^2 I): tr Cov = P s^2 and ||mu||^2, unbiased."""
  rng = np.random.default_rng(0)
  mu = rng.normal(size=50)
  draws = mu + 3.0 * rng.normal(size=(4000, 50))
  noise, signal = gradient_snr.noise_and_signal(_streamed(draws), 4000)
  assert abs(noise - 50 * 9.0) < 0.05 * 450
  assert abs(signal - mu @ mu) < 0.1 * (mu @ mu)


def test_snr_with_a_known_signal_uses_the_estimators_own_noise():
  """With ||mu||^2 given, SNR = sqrt(||mu||^2 / tr Cov) at any draw count."""
  rng = np.random.default_rng(1)
  mu = np.full(20, 0.01)  # ||mu|| = 0.045, far below one draw's noise
  draws = mu + rng.normal(size=(64, 20))
  given = gradient_snr.snr(_streamed(draws), 64, signal=float(mu @ mu))
  assert abs(given - np.sqrt(mu @ mu / 20.0)) < 0.2 * np.sqrt(mu @ mu / 20.0)
