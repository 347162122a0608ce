"""Glow: a multi-scale normalising flow on images (Kingma & Dhariwal 2018).

The flows of thesis ch. 8 / App. G. In the data -> latent direction each
level squeezes (space-to-depth), runs `steps` flow steps (ActNorm ->
channel permutation -> affine coupling) and, except at the last level,
factors out half of the channels through a learned conditional Gaussian
(`SplitPrior`). The factored halves and the last level's output, flattened
and concatenated, form z `[B, D]`, D = H W C, with base N(0, I_D):

  log p(x) = log N(z; 0, I_D) + log|det dz/dx|,   z = to_latent(x).

The bijectors are those of `mimjax.distributions`; this module owns their
parameters and the data-dependent ActNorm initialisation.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mimjax import distributions
from mimjax.models import _conv

_PERMUTATIONS = ("shuffle", "conv1x1")


class ActNormParams(nn.Module):
  """ActNorm's shift b and log-scale s, initialised from the first batch.

  When the parameters are created (`init`), they are set from the batch x
  that enters the ActNorm so that its latent side (x - b) exp(-s) has zero
  mean and unit variance per channel over (batch, H, W):

    b = mean(x),   s = log(std(x) + eps).

  eps keeps s finite for a constant (e.g. all-zero) batch.

  Attributes:
    eps: floor added to the per-channel std.
  """

  eps: float = 1e-6

  @nn.compact
  def __call__(self, x=None):
    """Returns the `distributions.ActNorm` bijector.

    Args:
      x: `[B, H, W, C]` data-side input; read only when the parameters are
        created, so it may be None once they exist (e.g. in `to_data`).

    Returns:
      ActNorm with `[C]` parameters.
    """
    if x is None:
      if not self.has_variable("params", "shift"):
        raise ValueError(
            "ActNorm is initialised from data: run init through to_latent"
        )
      shift = self.get_variable("params", "shift")
      log_scale = self.get_variable("params", "log_scale")
    else:
      axes = tuple(range(x.ndim - 1))
      shift = self.param("shift", lambda _: jnp.mean(x, axes))
      log_scale = self.param(
          "log_scale", lambda _: jnp.log(jnp.std(x, axes) + self.eps)
      )
    return distributions.ActNorm(shift, log_scale)


class CouplingNet(nn.Module):
  """Glow's conditioner: conv3x3 -> swish -> conv1x1 -> swish -> zero conv3x3.

  The last convolution has zero kernel and bias, so at initialisation every
  coupling has shift 0 and scale sigmoid(2) and every split prior is
  N(0, I).

  Attributes:
    hidden: channels of the two hidden convolutions.
    out_channels: channels of each of the two outputs.
  """

  hidden: int
  out_channels: int

  @nn.compact
  def __call__(self, h):
    """`[B, H, W, C_in]` -> two `[B, H, W, out_channels]` (shift/loc, raw)."""
    h = jax.nn.swish(_conv.Conv(self.hidden, 3, padding=1)(h))
    h = jax.nn.swish(_conv.Conv(self.hidden, 1)(h))
    h = _conv.Conv(
        2 * self.out_channels, 3, padding=1,
        kernel_init=nn.initializers.zeros,
    )(h)
    return h[..., : self.out_channels], h[..., self.out_channels :]


class FlowStep(nn.Module):
  """One Glow step on `[B, H, W, C]`: ActNorm -> permutation -> coupling.

  Attributes:
    channels: C.
    hidden: channels of the coupling network.
    permutation: "shuffle" (a fixed random channel permutation drawn from
      `np.random.RandomState(seed)`, a constant, not a parameter) or
      "conv1x1" (a learned invertible 1x1 convolution, random orthogonal at
      init).
    seed: seed of the "shuffle" permutation.
  """

  channels: int
  hidden: int
  permutation: str = "shuffle"
  seed: int = 0

  def setup(self):
    if self.permutation not in _PERMUTATIONS:
      raise ValueError(
          f"unknown permutation {self.permutation!r}; use {_PERMUTATIONS}"
      )
    self.actnorm = ActNormParams()
    self.coupling_net = CouplingNet(self.hidden, self.channels // 2)
    if self.permutation == "conv1x1":
      self.weight = self.param(
          "weight", nn.initializers.orthogonal(),
          (self.channels, self.channels),
      )

  def bijectors(self, x=None):
    """The step's bijectors in data -> latent order.

    Args:
      x: `[B, H, W, C]` step input on the data side, needed only at init (for
        the data-dependent ActNorm).

    Returns:
      [ActNorm, ChannelPermutation | Invertible1x1Conv, AffineCoupling].
    """
    if self.permutation == "shuffle":
      order = np.random.RandomState(self.seed).permutation(self.channels)
      mix = distributions.ChannelPermutation(order)
    else:
      mix = distributions.Invertible1x1Conv(self.weight)
    return [
        self.actnorm(x), mix, distributions.AffineCoupling(self.coupling_net)
    ]

  def to_latent(self, x):
    """`[B, H, W, C]` -> (`[B, H, W, C]`, `[B]` log|det dz/dx|)."""
    log_det = jnp.zeros(x.shape[:1], x.dtype)
    for bijector in self.bijectors(x):
      x, step_log_det = bijector.inverse_and_log_det(x)
      log_det += step_log_det
    return x, log_det

  def to_data(self, z):
    """`[B, H, W, C]` -> (`[B, H, W, C]`, `[B]` log|det dx/dz|)."""
    log_det = jnp.zeros(z.shape[:1], z.dtype)
    for bijector in reversed(self.bijectors()):
      z, step_log_det = bijector.forward_and_log_det(z)
      log_det += step_log_det
    return z, log_det


def _level_shapes(event_shape, levels, squeeze):
  """`[h, w, c]` entering each level's flow steps (after its squeeze)."""
  h, w, c = event_shape
  shapes = []
  for _ in range(levels):
    if squeeze:
      if h % 2 or w % 2:
        raise ValueError(
            f"cannot squeeze {(h, w)} at every one of {levels} levels"
        )
      h, w, c = h // 2, w // 2, 4 * c
    if c < 2:
      raise ValueError(f"flow steps need >= 2 channels, got {c}")
    shapes.append((h, w, c))
    c = distributions.SplitPrior.kept_channels(c)
  return shapes


class Glow(nn.Module):
  """Multi-scale Glow with a standard-normal base on the flat z `[B, D]`.

  Data -> latent, per level: squeeze (if `squeeze`), `steps` `FlowStep`s,
  then (all levels but the last) a `SplitPrior` whose last C//2 channels are
  emitted into z; the last level emits all its channels. z concatenates the
  flattened emitted parts in level order.

  `Glow(...).init(key, x)` runs `to_latent` on a real batch and so performs
  the data-dependent ActNorm initialisation. The thesis's code prior p(c)
  (C = 10) is `Glow(event_shape=(1, 1, C), levels=1, steps=4, hidden=10 * C,
  squeeze=False)` on codes reshaped to `[B, 1, 1, C]`.

  Attributes:
    event_shape: `(H, W, C)` of one data point.
    levels: number of scales L.
    steps: flow steps K per level.
    hidden: channels of every coupling / split-prior network.
    permutation: "shuffle" or "conv1x1" (see `FlowStep`).
    squeeze: space-to-depth at the start of every level (H, W must be
      divisible by 2^L).
  """

  event_shape: tuple[int, int, int]
  levels: int = 3
  steps: int = 4
  hidden: int = 512
  permutation: str = "shuffle"
  squeeze: bool = True

  def setup(self):
    self.shapes = _level_shapes(self.event_shape, self.levels, self.squeeze)
    self.flow_steps = [
        FlowStep(c, self.hidden, self.permutation, seed=level * self.steps + k)
        for level, (_, _, c) in enumerate(self.shapes)
        for k in range(self.steps)
    ]
    self.prior_nets = [
        CouplingNet(self.hidden, c // 2) for _, _, c in self.shapes[:-1]
    ]

  @property
  def dim(self):
    """D = H W C, the size of z."""
    return math.prod(self.event_shape)

  def _level(self, level):
    return self.flow_steps[level * self.steps : (level + 1) * self.steps]

  def __call__(self, x):
    """Same as `to_latent` (so that `init` runs the data-dependent init)."""
    return self.to_latent(x)

  def to_latent(self, x):
    """Maps data to the flat latent.

    Args:
      x: `[B, H, W, C]` data, `[H, W, C] == event_shape`.

    Returns:
      z `[B, D]` and log|det dz/dx| `[B]`.
    """
    if tuple(x.shape[1:]) != tuple(self.event_shape):
      raise ValueError(
          f"expected [B, *{tuple(self.event_shape)}], got {x.shape}"
      )
    log_det = jnp.zeros(x.shape[:1], x.dtype)
    emitted = []
    for level in range(self.levels):
      if self.squeeze:
        x = distributions.Squeeze().inverse(x)
      for step in self._level(level):
        x, step_log_det = step.to_latent(x)
        log_det += step_log_det
      if level < self.levels - 1:
        split = distributions.SplitPrior(self.prior_nets[level])
        x, split_log_det = split.inverse_and_log_det(x)
        log_det += split_log_det
        keep = split.kept_channels(x.shape[-1])
        emitted.append(x[..., keep:].reshape(x.shape[0], -1))
        x = x[..., :keep]
    emitted.append(x.reshape(x.shape[0], -1))
    return jnp.concatenate(emitted, axis=-1), log_det

  def to_data(self, z):
    """Maps the flat latent to data: the exact inverse of `to_latent`.

    Args:
      z: `[B, D]` latents.

    Returns:
      x `[B, H, W, C]` and log|det dx/dz| `[B]`.
    """
    if z.shape[1:] != (self.dim,):
      raise ValueError(f"expected [B, {self.dim}], got {z.shape}")
    keeps = [
        distributions.SplitPrior.kept_channels(c) for _, _, c in self.shapes
    ]
    sizes = [
        h * w * (c - keep) for (h, w, c), keep in zip(self.shapes[:-1], keeps)
    ]
    parts = jnp.split(z, np.cumsum(sizes), axis=-1)
    x = parts[-1].reshape(z.shape[0], *self.shapes[-1])
    log_det = jnp.zeros(z.shape[:1], z.dtype)
    for level in reversed(range(self.levels)):
      if level < self.levels - 1:
        h, w, c = self.shapes[level]
        factored = parts[level].reshape(z.shape[0], h, w, c - keeps[level])
        x, split_log_det = distributions.SplitPrior(
            self.prior_nets[level]
        ).forward_and_log_det(jnp.concatenate([x, factored], axis=-1))
        log_det += split_log_det
      for step in reversed(self._level(level)):
        x, step_log_det = step.to_data(x)
        log_det += step_log_det
      if self.squeeze:
        x = distributions.Squeeze().forward(x)
    return x, log_det

  def log_prob(self, x):
    """log N(z; 0, I_D) + log|det dz/dx|: `[B, H, W, C]` -> `[B]` (nats)."""
    z, log_det = self.to_latent(x)
    return distributions.standard_normal(self.dim, z.dtype).log_prob(z) + (
        log_det
    )

  def sample(self, key, n, temperature=1.0):
    """`[n, H, W, C]` samples: `to_data` of z ~ N(0, temperature^2 I_D)."""
    z = temperature * jax.random.normal(key, (n, self.dim))
    return self.to_data(z)[0]
