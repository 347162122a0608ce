"""2-D convolution whose weight gradient is computed as shifted matmuls.

XLA:CPU lowers the weight gradient of a convolution (a convolution that
contracts over the batch and spatial axes) to a slow generic kernel: for a
3x3, 64 -> 128 channel, 100 x 28 x 28 NHWC convolution it took 2.8-4.0 s here,
against 0.46 s for the same gradient as nine matmuls (benchmarks/conv_grad.py).
`conv2d` keeps XLA's forward and input-gradient convolutions and replaces only
the weight gradient:

  y[n, h, w, d]  = sum_{i, j, c} xp[n, s h + i, s w + j, c] W[i, j, c, d]
  dW[i, j, c, d] = sum_{n, h, w} xp[n, s h + i, s w + j, c] dy[n, h, w, d]

with xp the zero-padded input and s the stride: one `[N H' W', C]^T @
[N H' W', D]` matmul per kernel tap (i, j), or, for thin inputs, one matmul
on the `[N H' W', k_h k_w C]` patch matrix.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")
# Below this many input channels the weight gradient uses one im2col matmul.
_MIN_CHANNELS_PER_TAP = 16


def _xla_conv(x, w, stride, padding):
  return jax.lax.conv_general_dilated(
      x, w, (stride, stride), ((padding, padding), (padding, padding)),
      dimension_numbers=_DIMENSIONS,
  )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv2d(x, w, stride=1, padding=0):
  """NHWC convolution with square stride and symmetric zero padding.

  Args:
    x: `[N, H, W, C]` inputs.
    w: `[k_h, k_w, C, D]` kernel.
    stride: stride on both spatial axes.
    padding: zeros added on every side.

  Returns:
    `[N, H', W', D]`, H' = (H + 2 padding - k_h) // stride + 1.
  """
  return _xla_conv(x, w, stride, padding)


def _conv2d_fwd(x, w, stride, padding):
  return _xla_conv(x, w, stride, padding), (x, w)


def _input_grad(x, w, stride, padding, dy):
  """dx of `_xla_conv(x, w, stride, padding)` for the cotangent dy.

  Stride 1: dx = dy (padded by k - 1 - padding) correlated with the kernel
  flipped in space and with C and D swapped, an ordinary forward
  convolution. The swapped kernel is materialised (optimization_barrier):
  left to itself XLA folds the swap into the convolution's dimension labels
  (`01oi`), which XLA:CPU's fast convolution library does not take inside a
  `lax.scan` body, and its generic kernel is ~5x slower (BUILD_NOTES).
  """
  if stride != 1:
    _, input_vjp = jax.vjp(lambda x: _xla_conv(x, w, stride, padding), x)
    return input_vjp(dy)[0]
  k_h, k_w = w.shape[:2]
  w_swapped = jax.lax.optimization_barrier(
      jnp.flip(w, (0, 1)).transpose(0, 1, 3, 2)
  )
  return jax.lax.conv_general_dilated(
      dy, w_swapped, (1, 1),
      ((k_h - 1 - padding,) * 2, (k_w - 1 - padding,) * 2),
      dimension_numbers=_DIMENSIONS,
  )


def _conv2d_bwd(stride, padding, residuals, dy):
  x, w = residuals
  dx = _input_grad(x, w, stride, padding, dy)
  xp = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  out_h, out_w = dy.shape[1:3]
  dy_flat = dy.reshape(-1, dy.shape[-1])  # [N H' W', D]
  windows = [
      xp[
          :,
          i : i + stride * (out_h - 1) + 1 : stride,
          j : j + stride * (out_w - 1) + 1 : stride,
          :,
      ].reshape(-1, x.shape[-1])  # [N H' W', C]
      for i in range(w.shape[0])
      for j in range(w.shape[1])
  ]
  if x.shape[-1] < _MIN_CHANNELS_PER_TAP:
    # Thin inputs (e.g. C = 1 images): one matmul on the [N H' W', k k C]
    # patch matrix beats k^2 memory-bound rank-C products.
    dw = (jnp.concatenate(windows, axis=1).T @ dy_flat).reshape(w.shape)
  else:
    dw = jnp.stack([window.T @ dy_flat for window in windows]).reshape(w.shape)
  return dx, dw


conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)


class Conv(nn.Module):
  """Square-kernel NHWC convolution layer built on `conv2d`.

  Attributes:
    features: output channels D.
    kernel: kernel size k.
    stride: stride.
    padding: zero padding on each side.
    use_bias: add a learned bias.
    kernel_init: initialiser of the `[k, k, C, D]` kernel.
  """

  features: int
  kernel: int
  stride: int = 1
  padding: int = 0
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x):
    """`[N, H, W, C]` -> `[N, H', W', features]`."""
    w = self.param(
        "kernel",
        self.kernel_init,
        (self.kernel, self.kernel, x.shape[-1], self.features),
    )
    y = conv2d(x, w, self.stride, self.padding)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y
