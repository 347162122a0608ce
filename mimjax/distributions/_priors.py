"""Model priors p(z) and parametric data priors q(x) as Flax modules.

Each prior is called as `prior(encode)` and returns a distribution over one
event; `encode` maps a batch of inputs to q(z|x) and is used by the VampPrior
only (others ignore it), so every prior plugs into a model the same way.
"""

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mimjax.distributions import _conditionals


class StandardNormalPrior(nn.Module):
  """p(z) = N(0, I): the anchor used as model prior (thesis ch. 4, 5)."""

  dim: int

  @nn.compact
  def __call__(self, encode=None):
    del encode
    return _conditionals.standard_normal(self.dim)


class GaussianMixturePrior(nn.Module):
  """Learnable K-component diagonal GMM prior (App. B: p(z) and q(x)).

  Attributes:
    dim: event dimension d.
    num_components: K.
    init_spread: std of the initial component means.
    min_scale: floor on component standard deviations.
  """

  dim: int
  num_components: int
  init_spread: float = 1.0
  min_scale: float = 1e-3

  @nn.compact
  def __call__(self, encode=None):
    del encode
    k, d = self.num_components, self.dim
    logits = self.param("logits", nn.initializers.zeros, (k,))
    locs = self.param(
        "locs", nn.initializers.normal(self.init_spread), (k, d)
    )
    raw_scales = self.param("raw_scales", nn.initializers.zeros, (k, d))
    scales = _conditionals.scale_from_raw(
        raw_scales, min_scale=self.min_scale
    )
    return _conditionals.gaussian_mixture(logits, locs, scales)


def data_initializer(examples, *, noise_std=0.01):
  """Initialiser that sets VampPrior pseudo-inputs to data plus noise.

  Args:
    examples: `[K, *input_shape]` array (e.g. the first K training images).
    noise_std: std of the Gaussian noise added (Tomczak & Welling use 0.01).

  Returns:
    A Flax initialiser `(key, shape, dtype) -> array` that checks the shape.
  """
  examples = np.asarray(examples, np.float32)

  def init(key, shape, dtype=jnp.float32):
    if tuple(shape) != examples.shape:
      raise ValueError(
          f"pseudo-input shape {tuple(shape)} does not match the "
          f"{examples.shape} examples given for data initialisation"
      )
    noise = noise_std * jax.random.normal(key, shape, dtype)
    return jnp.asarray(examples, dtype) + noise

  return init


class VampPrior(nn.Module):
  """p(z) = 1/K sum_k q(z | x = u_k) with learnable pseudo-inputs (eq 3.24).

  Attributes:
    num_pseudo_inputs: K.
    input_shape: shape of one input x (e.g. `(28, 28, 1)` or `(2,)`).
    pseudo_input_init: Flax initialiser for `[K, *input_shape]`; see
      `data_initializer` for initialisation from training data.
    clip_to_unit: clip pseudo-inputs to [0, 1] (hardtanh) before encoding, as
      for images.
  """

  num_pseudo_inputs: int
  input_shape: tuple[int, ...]
  pseudo_input_init: Callable = nn.initializers.normal(0.01)
  clip_to_unit: bool = False

  @nn.compact
  def __call__(self, encode):
    u = self.param(
        "pseudo_inputs",
        self.pseudo_input_init,
        (self.num_pseudo_inputs, *self.input_shape),
    )
    if self.clip_to_unit:
      u = jnp.clip(u, 0.0, 1.0)
    posteriors = encode(u)  # batch [K], event [d]
    return _conditionals.uniform_mixture(posteriors)

