"""2-D convolution: XLA's own on GPU/TPU, XLA:CPU's fast kernels on CPU.

XLA:CPU runs a convolution fast only in its canonical layout (NHWC input,
HWIO kernel, NHWC output, no input dilation, more than one output channel);
anything else goes to a generic kernel that is 10-200x slower. XLA
rewrites other layouts into the canonical one only in a program's entry
computation, not inside a `lax.scan` body such as the training epoch, and
JAX's autodiff of an NHWC convolution produces none of them: the input
gradient carries `01oi` kernel labels (a dilated cotangent for strides > 1),
the weight gradient contracts over the batch axis. On CPU `conv2d` writes
each gradient so that JAX's own transpose of it is a canonical convolution
or a matmul (y: `[N, H', W', D]`, xp: the zero-padded input, s: the stride):

  y[n, h, w, d]  = sum_{i, j, c} xp[n, s h + i, s w + j, c] W[i, j, c, d]
  dW[i, j, c, d] = sum_{n, h, w} xp[n, s h + i, s w + j, c] dy[n, h, w, d]

* dW: a canonical convolution with C as its batch, N as its features and
  dy as its kernel (`_batch_contracted_conv`), 1.1-5x faster than per-tap
  matmuls inside a scan (BUILD_NOTES, session 25);
* dx: a canonical stride-1 convolution with the flipped kernel, on the
  input's space-to-depth phases for strides > 1; for inputs of fewer than
  `_THIN_CHANNELS` channels (C = 1 images) a patch-matrix matmul instead;
* layers with fewer than `_THIN_CHANNELS` outputs (the D = 1 decoder mean)
  compute forward and both gradients as a shifted sum of per-tap matmuls.

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
# Layers with fewer input (output) channels take their input gradient from
# the patch matrix (everything from the shifted sum of per-tap products).
_THIN_CHANNELS = 16


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


def _pad_spatial(x, padding):
  """`[N, H, W, C]` with `padding` zeros on every side of H and W."""
  return jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))


def _windows(x, kernel_hw, stride, padding, out_hw):
  """The k_h k_w strided windows of the zero-padded x, tap-major (i, j).

  Window (i, j) is `xp[:, i + s h, j + s w, :]` over the output grid,
  flattened to `[N H' W', C]`; conv(x, W) = sum_{i, j} window_ij @ W[i, j].
  """
  xp = _pad_spatial(x, padding)
  (k_h, k_w), (out_h, out_w) = kernel_hw, out_hw
  return [
      xp[
          :,
          i : i + stride * (out_h - 1) + 1 : stride,
          j : j + stride * (out_w - 1) + 1 : stride,
          :,
      ].reshape(-1, x.shape[-1])
      for i in range(k_h)
      for j in range(k_w)
  ]


def _patch_matmul(x, w, stride, padding, out_hw):
  """conv(x, W) = [N H' W', k_h k_w C] patch matrix @ W as `[k k C, D]`.

  For thin inputs (C = 1 images): its transpose in x is one
  `[N H' W', D] @ [D, k k C]` matmul whose columns are scattered back onto
  x, instead of a convolution with C output channels, which XLA:CPU runs
  memory-bound (124 ms for the VampPrior's 500 pseudo-inputs through a
  7x7, 1 -> 64 layer; BUILD_NOTES, session 25).
  """
  k_h, k_w, _, d = w.shape
  patches = jnp.concatenate(
      _windows(x, (k_h, k_w), stride, padding, out_hw), axis=1
  )
  return (patches @ w.reshape(-1, d)).reshape(x.shape[0], *out_hw, d)


def _shifted_sum(x, w, stride, padding, out_hw):
  """conv(x, W) for thin outputs (D = 1 decoder means): per-tap products
  first, then their shifted sum,

    P[n, h, w, (i, j), d] = sum_c x[n, h, w, c] W[i, j, c, d]
    y[n, h', w', d]      = sum_{i, j} Pp[n, s h' + i, s w' + j, (i, j), d]

  (Pp: P zero-padded like x). One `[N H W, C] @ [C, k k D]` matmul and
  k^2 strided slices of a D-thin array; its transposes in x and in W are
  matmuls too (`[N H W, k k D] @ [k k D, C]` and `[C, N H W] @
  [N H W, k k D]`), where XLA:CPU's convolution with D = 1 runs at a few
  GFLOP/s.
  """
  n, h, w_, c = x.shape
  k_h, k_w, _, d = w.shape
  (out_h, out_w) = out_hw
  taps = (x.reshape(-1, c) @ w.transpose(2, 0, 1, 3).reshape(c, -1)).reshape(
      n, h, w_, k_h * k_w, d
  )
  taps = jnp.pad(
      taps, ((0, 0), (padding, padding), (padding, padding), (0, 0), (0, 0))
  )
  return sum(
      taps[
          :,
          i : i + stride * (out_h - 1) + 1 : stride,
          j : j + stride * (out_w - 1) + 1 : stride,
          i * k_w + j,
      ]
      for i in range(k_h)
      for j in range(k_w)
  )


def _canonical_conv(dx, w, padding=0):
  """Stride-1 conv(dx, W) with `padding` zeros on every side, written so
  that its transpose (dx's gradient) is a convolution in XLA:CPU's
  canonical NHWC/HWIO layout.

  The convolution reads W^T in HWOI order. JAX's transpose of it swaps the
  kernel's I and O labels back, giving conv(dy, flip(W)^T) with HWIO labels
  on the materialised flipped, swapped kernel. Written with W in HWIO order
  instead, the transpose carries `01oi` kernel labels. XLA canonicalises
  those only in a program's entry computation, so inside a `lax.scan` body
  (the training epoch) every input gradient ran in XLA:CPU's generic
  convolution, 2.2x slower per convHVAE step (BUILD_NOTES, "Session 24").
  The padding is the convolution's own, not a `jnp.pad` of dx: the
  transpose of a pad is a slice, so the gradient's convolution would write
  the padded input's (H + 2 p) x (W + 2 p) grid (15 % more on 28 x 28) and
  then copy out its interior (BUILD_NOTES, session 31).
  """
  return jax.lax.conv_general_dilated(
      dx, w.transpose(0, 1, 3, 2), (1, 1), ((padding, padding),) * 2,
      dimension_numbers=("NHWC", "HWOI", "NHWC"),
  )


def _space_to_depth_conv(x, w, stride, padding, out_hw):
  """conv(x, W) with stride s as a stride-1 convolution on x's s x s phases.

    y[n, h, w, d] = sum_{u, v, a, b, c} xq[n, h + u, w + v, (a, b, c)]
                                        Wq[u, v, (a, b, c), d]
    xq[n, h, w, (a, b, c)] = xp[n, s h + a, s w + b, c]
    Wq[u, v, (a, b, c), d] = W[s u + a, s v + b, c, d]  (0 outside W)

  with u, v < ceil(k / s). Its transpose in x is a stride-1 input gradient
  and a depth-to-space reshape. The transpose of the strided convolution
  itself is a convolution of the cotangent dilated by s, which XLA:CPU's
  fast kernels do not take: its generic kernel spent 73 ms per step on the
  VampPrior encoder's two strided layers (BUILD_NOTES, session 25).
  """
  n, h, w_, c = x.shape
  k_h, k_w, _, d = w.shape
  (out_h, out_w), s = out_hw, stride
  q_h, q_w = -(-k_h // s), -(-k_w // s)  # phase-kernel size
  rows, cols = s * (out_h + q_h - 1), s * (out_w + q_w - 1)
  xp = jnp.pad(
      x,
      (
          (0, 0),
          (padding, max(0, rows - h - padding)),
          (padding, max(0, cols - w_ - padding)),
          (0, 0),
      ),
  )[:, :rows, :cols]
  xq = xp.reshape(n, rows // s, s, cols // s, s, c).transpose(0, 1, 3, 2, 4, 5)
  wq = jnp.pad(w, ((0, s * q_h - k_h), (0, s * q_w - k_w), (0, 0), (0, 0)))
  wq = wq.reshape(q_h, s, q_w, s, c, d).transpose(0, 2, 1, 3, 4, 5)
  return _canonical_conv(
      xq.reshape(n, rows // s, cols // s, s * s * c),
      wq.reshape(q_h, q_w, s * s * c, d),
  )


def _input_tangent(dx, w, stride, padding, out_hw):
  """conv(dx, W), written so that its transpose (dx's gradient) runs in one
  of XLA:CPU's fast kernels: a matmul for thin inputs, a canonical
  stride-1 convolution otherwise. Forward mode runs this tangent itself."""
  if w.shape[2] < _THIN_CHANNELS:
    return _patch_matmul(dx, w, stride, padding, out_hw)
  if stride > 1:
    return _space_to_depth_conv(dx, w, stride, padding, out_hw)
  return _canonical_conv(dx, w, padding)


def _batch_contracted_conv(x, dw, stride, padding):
  """conv(x, dW), written so that its transpose (W's gradient) is one
  convolution in XLA:CPU's canonical layout.

  The convolution reads xp as `[C, H, W, N]` (batch C, features N) and dW
  as `[C, k_h, k_w, D]` (input features C), and writes `[H', W', N, D]`.
  JAX's transpose in dW swaps each operand's batch and feature roles, so
  W's gradient is the canonical convolution of xp as `[C, H, W, N]` with
  dy as a `[H', W', N, D]` kernel (dilated by s), output `[C, k_h, k_w,
  D]`: the module docstring's dW rule.
  """
  xp = _pad_spatial(x, padding)
  y = jax.lax.conv_general_dilated(
      xp.transpose(3, 1, 2, 0), dw.transpose(2, 0, 1, 3), (stride, stride),
      "VALID", dimension_numbers=("CHWN", "IHWO", "HWNC"),
  )
  return y.transpose(2, 0, 1, 3)


def _out_hw(x, w, stride, padding):
  return tuple(
      (size + 2 * padding - k) // stride + 1
      for size, k in zip(x.shape[1:3], w.shape[:2])
  )


def _has_thin_output(w):
  """Whether the `[k, k, C, D]` kernel's layer takes the shifted-sum path."""
  return w.shape[3] < _THIN_CHANNELS


def _cpu_forward(x, w, stride, padding):
  """XLA's convolution, or the shifted sum for thin outputs."""
  if _has_thin_output(w):
    return _shifted_sum(x, w, stride, padding, _out_hw(x, w, stride, padding))
  return _xla_conv(x, w, stride, padding)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _cpu_conv2d(x, w, stride, padding):
  return _cpu_forward(x, w, stride, padding)


@functools.partial(_cpu_conv2d.defjvp, symbolic_zeros=True)
def _cpu_conv2d_jvp(stride, padding, primals, tangents):
  """dy = conv(dx, W) + conv(x, dW), each term written so that JAX's own
  transpose of it is the fast CPU gradient; thin outputs use the shifted
  sum of per-tap products throughout. Zero tangents (e.g. dx of the data)
  are skipped."""
  x, w = primals
  dx, dw = tangents
  out_hw = _out_hw(x, w, stride, padding)
  thin_output = _has_thin_output(w)
  y = _cpu_forward(x, w, stride, padding)
  terms = []
  if not isinstance(dx, SymbolicZero):
    terms.append(
        _shifted_sum(dx, w, stride, padding, out_hw) if thin_output
        else _input_tangent(dx, w, stride, padding, out_hw)
    )
  if not isinstance(dw, SymbolicZero):
    terms.append(
        _shifted_sum(x, dw, stride, padding, out_hw) if thin_output
        else _batch_contracted_conv(x, dw, stride, padding)
    )
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
