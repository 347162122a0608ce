"""sentence_mim against exact A-MIM quantities of a 3-sentence, 1-D model.

x takes 3 values with a known P(x); q(z|x) = N(m_x, s_x^2); p(x|z) =
softmax(a z + b)[x]; the anchor is P(z) = N(0, 1). Every density of eq 6.10
is then a 1-D integral, done by quadrature on a fine z grid: the decoder
marginal q(x) = E_P(z)[p(x|z)] (eq 6.8), the aggregated posterior p(z) =
E_P(x)[q(z|x)] (eq 6.9), the exact loss (eq 6.10) and its bound (eq 6.14).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate
from scipy import special
from scipy import stats

from mimjax import losses

_GRID = np.linspace(-12.0, 12.0, 20001)

# (P(x), m_x, s_x, a, b): well separated posteriors, and overlapping ones
# (where the bound of eq 6.13 on log p(z) is loose).
_PROBLEMS = {
    "separated": (
        [0.5, 0.3, 0.2], [-1.5, 0.2, 1.8], [0.4, 0.6, 0.3],
        [-2.0, 0.0, 2.0], [0.0, 0.5, -0.3],
    ),
    "overlapping": (
        [0.2, 0.45, 0.35], [-0.3, 0.1, 0.4], [0.9, 1.2, 0.7],
        [-1.0, 0.3, 0.8], [0.2, -0.1, 0.0],
    ),
}


def _expect(f_xz, q_xz, p_x):
  """E_{P(x) q(z|x)}[f(x, z)] for `[3, Z]` grids, by Simpson's rule."""
  return float(p_x @ integrate.simpson(q_xz * f_xz, x=_GRID, axis=1))


def _exact(problem):
  """Grids of every log-density on `_GRID`, and the exact eq 6.10 loss."""
  p_x, m, s, a, b = (np.asarray(v, np.float64) for v in problem)
  z = _GRID
  log_q_zx = stats.norm.logpdf(z[None], m[:, None], s[:, None])  # [3, Z]
  log_p_xz = special.log_softmax(a[:, None] * z[None] + b[:, None], axis=0)
  log_anchor = stats.norm.logpdf(z)[None]  # [1, Z]
  q_xz = np.exp(log_q_zx)
  # eq 6.8 and 6.9.
  log_q_x = np.log(
      integrate.simpson(np.exp(log_p_xz + log_anchor), x=z, axis=1)
  )[:, None]
  log_p_z = special.logsumexp(log_q_zx + np.log(p_x)[:, None], axis=0)[None]
  grids = dict(
      p_x=p_x, q_xz=q_xz, log_q_zx=log_q_zx, log_p_xz=log_p_xz,
      log_anchor=log_anchor, log_q_x=log_q_x, log_p_z=log_p_z,
      log_px=np.log(p_x)[:, None],
  )
  # eq 6.10 at the population level (x ~ P(x), z ~ q(z|x)).
  amim = -0.5 * _expect(
      log_q_zx + log_q_x + log_p_xz + log_p_z, q_xz, p_x
  )
  return grids, amim


def _expected_sentence_mim(g):
  return _expect(
      -g["log_p_xz"] - 0.5 * (g["log_q_zx"] + g["log_anchor"]),
      g["q_xz"], g["p_x"],
  )


@pytest.mark.parametrize("name", sorted(_PROBLEMS))
def test_eq_6_14_bounds_the_exact_amim_loss(name):
  g, amim = _exact(_PROBLEMS[name])
  # The densities integrate to one on the grid (the quadrature is sound).
  np.testing.assert_allclose(np.exp(g["log_q_x"]).sum(), 1.0, atol=1e-9)
  np.testing.assert_allclose(
      integrate.simpson(np.exp(g["log_p_z"][0]), x=_GRID), 1.0, atol=1e-9
  )
  entropy_px = -np.sum(g["p_x"] * np.log(g["p_x"]))
  bound = _expected_sentence_mim(g) + 0.5 * entropy_px
  gap = bound - amim
  assert gap > 1e-3, f"{name}: bound {bound:.6f}, exact {amim:.6f}"

  # The gap is 1/2 E[log q(x) - ELBO(x)] (eq 6.11, a KL to the posterior)
  # plus 1/2 E[log p(z) - log q(z|x) - log P(x)] (eq 6.13), each >= 0.
  elbo = g["log_p_xz"] + g["log_anchor"] - g["log_q_zx"]
  elbo_gap = 0.5 * _expect(g["log_q_x"] - elbo, g["q_xz"], g["p_x"])
  aggregate_gap = 0.5 * _expect(
      g["log_p_z"] - g["log_q_zx"] - g["log_px"], g["q_xz"], g["p_x"]
  )
  assert elbo_gap > 0 and aggregate_gap > 0
  np.testing.assert_allclose(gap, elbo_gap + aggregate_gap, rtol=1e-9)


@pytest.mark.parametrize("name", sorted(_PROBLEMS))
def test_monte_carlo_mean_matches_quadrature(name):
  problem = _PROBLEMS[name]
  g, _ = _exact(problem)
  p_x, m, s, a, b = (jnp.asarray(v, jnp.float32) for v in problem)
  n = 200_000
  kx, kz = jax.random.split(jax.random.key(0))
  x = jax.random.categorical(kx, jnp.log(p_x), shape=(n,))
  z = m[x] + s[x] * jax.random.normal(kz, (n,))  # reparameterised
  log_p_x_given_z = jax.nn.log_softmax(a * z[:, None] + b, axis=-1)[
      jnp.arange(n), x
  ]
  log_q_z_given_x = jax.scipy.stats.norm.logpdf(z, m[x], s[x])
  log_anchor_z = jax.scipy.stats.norm.logpdf(z)
  values = np.asarray(
      losses.sentence_mim(log_p_x_given_z, log_q_z_given_x, log_anchor_z),
      np.float64,
  )
  stderr = values.std() / np.sqrt(n)
  assert abs(values.mean() - _expected_sentence_mim(g)) < 4 * stderr


def test_shape_mismatch_raises():
  with pytest.raises(ValueError, match="share one shape"):
    losses.sentence_mim(jnp.zeros(4), jnp.zeros(4), jnp.zeros(3))
  with pytest.raises(ValueError, match="share one shape"):
    losses.sentence_mim(jnp.zeros((4, 1)), jnp.zeros(4), jnp.zeros(4))
