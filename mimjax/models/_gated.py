"""Gated dense and convolutional layers (Dauphin et al. 2017), as in the
convHVAE / PixelHVAE of Tomczak & Welling (reference digest Sec. 2.2).

Both compute out = h * sigmoid(g) with h = W_h x (no activation) and
g = W_g x. The two linear maps run as one layer with 2F outputs (one matmul
or convolution instead of two), which has the same parameters as two.
"""

import flax.linen as nn
import jax

from mimjax.models import _conv

# He-normal N(0, 2 / fan_in) on dense kernels (the reference's he_init).
he_normal = nn.initializers.variance_scaling(2.0, "fan_in", "normal")
# PyTorch's default conv init U(+-1/sqrt(fan_in)).
torch_uniform = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def _gate(hg):
  h, g = jax.numpy.split(hg, 2, axis=-1)
  return h * jax.nn.sigmoid(g)


class GatedDense(nn.Module):
  """`[..., d_in]` -> `[..., features]`, h * sigmoid(g)."""

  features: int

  @nn.compact
  def __call__(self, x):
    return _gate(nn.Dense(2 * self.features, kernel_init=he_normal)(x))


class GatedConv(nn.Module):
  """NHWC gated convolution with explicit symmetric padding.

  Attributes:
    features: output channels.
    kernel: square kernel size k.
    stride: stride (2 halves the spatial size with padding 1, k = 3).
    padding: zero padding on each side.
  """

  features: int
  kernel: int
  stride: int = 1
  padding: int = 0

  @nn.compact
  def __call__(self, x):
    """`[B, H, W, C]` -> `[B, H', W', features]`."""
    hg = _conv.Conv(
        2 * self.features,
        self.kernel,
        self.stride,
        self.padding,
        kernel_init=torch_uniform,
    )(x)
    return _gate(hg)
