"""2-D convolution: XLA's own on GPU/TPU, a faster weight gradient on CPU.

XLA:CPU lowers the weight gradient of a convolution (a convolution that
contracts over the batch and spatial axes) to a slow generic kernel: for a
3x3, 64 -> 128 channel, 100 x 28 x 28 NHWC convolution it took 2.8-4.0 s here,
against 0.46 s for the same gradient as nine matmuls (benchmarks/conv_grad.py).
On CPU `conv2d` keeps XLA's forward and input-gradient convolutions (the
latter emitted in XLA:CPU's canonical layout, `_input_tangent`) and
replaces the weight gradient:

  y[n, h, w, d]  = sum_{i, j, c} xp[n, s h + i, s w + j, c] W[i, j, c, d]
  dW[i, j, c, d] = sum_{n, h, w} xp[n, s h + i, s w + j, c] dy[n, h, w, d]

with xp the zero-padded input and s the stride: one `[N H' W', C]^T @
[N H' W', D]` matmul per kernel tap (i, j), or, for thin inputs, one matmul
on the `[N H' W', k_h k_w C]` patch matrix.

The choice is made per lowering platform with `jax.lax.platform_dependent`,
so a program lowered for `cuda` or `tpu` (also from a CPU host) carries XLA's
native convolution and its autodiff, which cuDNN and the TPU compiler
implement well. The CPU path is a `custom_jvp` whose tangent is written so
that JAX's own transpose of it is the rule above: plain primitives only, so
forward mode, reverse mode and vmap all work on it.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")
# Below this many input channels the weight gradient uses one im2col matmul.
_MIN_CHANNELS_PER_TAP = 16


def _xla_conv(x, w, stride, padding):
  return jax.lax.conv_general_dilated(
      x, w, (stride, stride), ((padding, padding), (padding, padding)),
      dimension_numbers=_DIMENSIONS,
  )


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
  return jax.lax.platform_dependent(
      x, w,
      cpu=lambda x, w: _cpu_conv2d(x, w, stride, padding),
      default=lambda x, w: _xla_conv(x, w, stride, padding),
  )


def _input_tangent(dx, w, stride, padding):
  """conv(dx, W), written so that its transpose (dx's gradient) is a
  convolution in XLA:CPU's canonical NHWC/HWIO layout.

  The tangent convolution reads W^T in HWOI order. JAX's transpose of it
  swaps the kernel's I and O labels back, giving conv(dy, flip(W)^T) with
  HWIO labels on the materialised flipped, swapped kernel (stride s: the
  cotangent dilated by s). Written with W in HWIO order instead, the
  transpose carries `01oi` kernel labels. XLA canonicalises those only in
  a program's entry computation, so inside a `lax.scan` body (the training
  epoch) every input gradient ran in XLA:CPU's generic convolution, 2.2x
  slower per convHVAE step (BUILD_NOTES, "Session 24"). Forward mode runs
  this tangent convolution itself, correct in any layout.
  """
  return jax.lax.conv_general_dilated(
      dx, w.transpose(0, 1, 3, 2), (stride, stride),
      ((padding, padding), (padding, padding)),
      dimension_numbers=("NHWC", "HWOI", "NHWC"),
  )


def _weight_tangent(x, dw, stride, padding, out_hw):
  """conv(x, dW) as matmuls over the kernel taps' windows of x, so that its
  transpose (W's gradient) is the module docstring's dW rule: one
  `[N H' W', C]^T @ [N H' W', D]` matmul per tap, or one on the patch matrix
  for inputs thinner than `_MIN_CHANNELS_PER_TAP` channels."""
  xp = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  (out_h, out_w), (k_h, k_w, c, d) = out_hw, dw.shape
  windows = [
      xp[
          :,
          i : i + stride * (out_h - 1) + 1 : stride,
          j : j + stride * (out_w - 1) + 1 : stride,
          :,
      ].reshape(-1, c)  # [N H' W', C]
      for i in range(k_h)
      for j in range(k_w)
  ]
  if c < _MIN_CHANNELS_PER_TAP:
    # Thin inputs (e.g. C = 1 images): one matmul on the [N H' W', k k C]
    # patch matrix beats k^2 memory-bound rank-C products.
    dy = jnp.concatenate(windows, axis=1) @ dw.reshape(-1, d)
  else:
    dy = sum(
        window @ tap
        for window, tap in zip(windows, dw.reshape(k_h * k_w, c, d))
    )
  return dy.reshape(x.shape[0], out_h, out_w, d)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _cpu_conv2d(x, w, stride, padding):
  return _xla_conv(x, w, stride, padding)


@functools.partial(_cpu_conv2d.defjvp, symbolic_zeros=True)
def _cpu_conv2d_jvp(stride, padding, primals, tangents):
  """dy = conv(dx, W) + conv(x, dW), each term written so that JAX's own
  transpose of it is the fast CPU gradient. Zero tangents (e.g. dx of the
  data) are skipped."""
  x, w = primals
  dx, dw = tangents
  y = _xla_conv(x, w, stride, padding)
  terms = []
  if not isinstance(dx, SymbolicZero):
    terms.append(_input_tangent(dx, w, stride, padding))
  if not isinstance(dw, SymbolicZero):
    terms.append(_weight_tangent(x, dw, stride, padding, y.shape[1:3]))
  return y, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(y)


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
