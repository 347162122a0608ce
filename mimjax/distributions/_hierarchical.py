"""Two-level latent distributions z = (z1, z2) with z1 conditioned on z2."""

from typing import Any, Callable

import jax
import jax.numpy as jnp


class TwoLevelLatent:
  """d(z1, z2) = d(z2) d(z1 | z2) on the flat vector z = [z1, z2].

  Represents both the hierarchical posterior q(z2|x) q(z1|x, z2) and the
  hierarchical prior p(z2) p(z1|z2) of the convHVAE / PixelHVAE (Tomczak &
  Welling 2018; thesis Sec. 4.3):

    log d(z) = log d_top(z2) + log d_cond(z1 | z2).

  `conditional` is usually a bound Flax submodule, so a `TwoLevelLatent` is
  used inside the `apply` that built it (see `mimjax.objectives`).

  Attributes:
    top: distribution over z2, event `[d2]`, batch `[B]` (posterior) or `[]`
      (prior).
    conditional: `z2 [..., d2] -> distribution over z1` (event `[d1]`, batch
      `[...]`).
    dim_z1: d1, the size of the first block of the flat z.
  """

  def __init__(self, top, conditional: Callable[[jax.Array], Any], dim_z1):
    self.top = top
    self.conditional = conditional
    self.dim_z1 = dim_z1

  def split(self, z):
    """`[..., d1 + d2]` -> (z1 `[..., d1]`, z2 `[..., d2]`)."""
    return z[..., : self.dim_z1], z[..., self.dim_z1 :]

  def sample(self, *, seed, sample_shape=()):
    """Ancestral, reparameterised sample `[*sample_shape, *batch, d1 + d2]`."""
    k_top, k_cond = jax.random.split(seed)
    z2 = self.top.sample(seed=k_top, sample_shape=sample_shape)
    z1 = self.conditional(z2).sample(seed=k_cond)
    return jnp.concatenate([z1, z2], axis=-1)

  def sample_and_log_prob(self, *, seed, sample_shape=()):
    """(`sample(seed=seed, ...)`, its `log_prob`), the conditional built once.

    The same z as `sample` with the same seed; its log-density without a
    second pass of the conditional's network at z2 (nor of that pass's
    backward under autodiff).
    """
    k_top, k_cond = jax.random.split(seed)
    z2 = self.top.sample(seed=k_top, sample_shape=sample_shape)
    conditional = self.conditional(z2)
    z1 = conditional.sample(seed=k_cond)
    log_prob = self.top.log_prob(z2) + conditional.log_prob(z1)
    return jnp.concatenate([z1, z2], axis=-1), log_prob

  def log_prob(self, z):
    """log d_top(z2) + log d_cond(z1 | z2), `[..., d1 + d2]` -> `[...]`."""
    z1, z2 = self.split(z)
    return self.top.log_prob(z2) + self.conditional(z2).log_prob(z1)

  def _at_top_mean(self, stat):
    z2 = self.top.mean()
    return jnp.concatenate(
        [getattr(self.conditional(z2), stat)(), getattr(self.top, stat)()],
        axis=-1,
    )

  def mean(self):
    """[E[z1 | z2 = E z2], E z2]: the plug-in mean (exact for z2)."""
    return self._at_top_mean("mean")

  def stddev(self):
    """[std(z1 | z2 = E z2), std(z2)]."""
    return self._at_top_mean("stddev")


def sample_with_log_prob(dist, *, seed, sample_shape=()):
  """(z ~ dist, log dist(z)): the same z as `dist.sample(seed=seed, ...)`.

  A `TwoLevelLatent` builds its conditional once for both
  (`TwoLevelLatent.sample_and_log_prob`). Any other distribution samples,
  then evaluates `log_prob`: distrax's own fused `sample_and_log_prob`
  computes a Gaussian's density through its bijector, which differs from
  `log_prob` in the last bits, and a flat distribution has no network pass
  to save.
  """
  if isinstance(dist, TwoLevelLatent):
    return dist.sample_and_log_prob(seed=seed, sample_shape=sample_shape)
  z = dist.sample(seed=seed, sample_shape=sample_shape)
  return z, dist.log_prob(z)
