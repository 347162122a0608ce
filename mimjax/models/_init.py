"""Parameter initialisers shared by the models."""

import jax
import jax.numpy as jnp


def torch_uniform(bound):
  """U(-bound, bound), PyTorch's default for nn.Linear / nn.GRU parameters
  (bound = 1/sqrt(fan_in) for Linear, 1/sqrt(hidden) for GRU)."""

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init
