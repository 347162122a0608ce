"""XLA's convolution and its autodiff vs `mimjax.models.conv2d` on CPU.

The decoder's 3x3, 64 -> 128 channel (gated) convolution at batch 100,
28 x 28, NHWC: forward, input gradient and weight gradient, each timed after
compilation (best of 3), and `conv2d`'s inside a `lax.scan` as the training
epoch runs it. Then the convHVAE's edge layers (thin inputs and outputs,
strided input gradients; BUILD_NOTES, session 25): forward + both
gradients inside a scan. Last, the decoder's whole gated layer
(`_gated_layer`) inside a scan, as `benchmarks.torch_conv_grad` times
PyTorch's.
Usage: python -m benchmarks.conv_grad
"""

import time

import jax
import jax.numpy as jnp

from benchmarks import _conv_layers
from mimjax import models
import experiments  # noqa: F401  (the entrypoints' XLA:CPU convolutions)


def _best(fn, *args, repeats=3):
  jax.block_until_ready(fn(*args))
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    best = min(best, time.perf_counter() - start)
  return best


def _in_scan(fn):
  """`fn(x, w)` over stacked inputs (an array or a tuple of arrays, scanned
  along their leading axis) inside a `lax.scan` (as the epoch program runs
  it), its whole outputs stacked.

  The outputs are returned, not summed: XLA:CPU fuses a weight-gradient
  convolution into a reduction that consumes it alone, and a fused
  convolution runs in the loop emitter, 2-3x slower than the convolution
  runtime (BUILD_NOTES, session 30). A training step feeds the gradient to
  the optimiser, which does not fuse it so.
  """

  def scanned(xs, w):
    def body(carry, x):
      return carry, fn(x, w)
    return jax.lax.scan(body, 0, xs)[1]

  return scanned


def _gated_layer(x, w):
  """The decoder's gated layer h * sigmoid(g), [h, g] = conv2d(x, W) with
  W `[3, 3, 64, 128]` (`models.GatedConv`'s one convolution)."""
  h, g = jnp.split(models.conv2d(x, w, 1, 1), 2, axis=-1)
  return h * jax.nn.sigmoid(g)


def _gated_layer_times(xs, w):
  """ms per batch of the gated layer on the stacked batches `xs` inside a
  scan: forward, then the VJP of a fixed cotangent in W, in x, and in both
  (each with its forward)."""
  dys = jax.random.normal(jax.random.key(1), xs.shape)
  parts = dict(
      forward=lambda x, w, dy: _gated_layer(x, w),
      weight=lambda x, w, dy: jax.vjp(lambda w: _gated_layer(x, w), w)[1](dy),
      input=lambda x, w, dy: jax.vjp(lambda x: _gated_layer(x, w), x)[1](dy),
      both=lambda x, w, dy: jax.vjp(_gated_layer, x, w)[1](dy),
  )
  times = {}
  for name, part in parts.items():
    scanned = _in_scan(lambda x_dy, w, part=part: part(x_dy[0], w, x_dy[1]))
    times[name] = _best(jax.jit(scanned), (xs, dys), w) / len(xs) * 1e3
  return times


def main():
  kx, kw = jax.random.split(jax.random.key(0))
  x = jax.random.normal(kx, (100, 28, 28, 64))
  w = 0.05 * jax.random.normal(kw, (3, 3, 64, 128))
  xla = lambda x, w: jax.lax.conv_general_dilated(
      x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  ours = lambda x, w: models.conv2d(x, w, 1, 1)
  flop = 2 * 100 * 28 * 28 * 9 * 64 * 128
  for name, conv in (("XLA conv", xla), ("mimjax conv2d", ours)):
    loss = lambda x, w, conv=conv: jnp.sum(conv(x, w) ** 2)
    fwd = _best(jax.jit(conv), x, w)
    dw = _best(jax.jit(jax.grad(loss, argnums=1)), x, w)
    both = _best(jax.jit(jax.grad(loss, argnums=(0, 1))), x, w)
    print(f"{name}: forward {fwd:.3f} s ({flop / fwd / 1e9:.0f} GFLOP/s), "
          f"weight grad {dw:.3f} s, forward + both grads {both:.3f} s")
  # Inside a scan body XLA:CPU does not canonicalise convolution layouts:
  # XLA's own forward + both gradients there took 46 s per batch (session
  # 30; not timed here).
  xs = jnp.stack([x, x])
  loss = lambda x, w: jnp.sum(ours(x, w) ** 2)
  both = _in_scan(jax.grad(loss, argnums=(0, 1)))
  per_batch = _best(jax.jit(both), xs, w) / len(xs)
  print(f"mimjax conv2d inside lax.scan: forward + both grads "
        f"{per_batch:.3f} s per batch")
  for name, x_shape, w_shape, stride, padding in _conv_layers.EDGE_LAYERS:
    edge_xs = jax.random.normal(kx, (2, *x_shape))
    edge_w = 0.05 * jax.random.normal(kw, w_shape)
    loss = lambda x, w, s=stride, p=padding: jnp.sum(
        models.conv2d(x, w, s, p) ** 2
    )
    both = _in_scan(jax.grad(loss, argnums=(0, 1)))
    per_batch = _best(jax.jit(both), edge_xs, edge_w) / len(edge_xs)
    print(f"{name}: forward + both grads in a scan {per_batch * 1e3:.1f} ms")
  times = _gated_layer_times(xs, w)
  print("gated decoder layer (3x3, 64 -> 2 x 64) in a scan: " + ", ".join(
      f"{name} {ms:.1f} ms" for name, ms in times.items()
  ) + " (weight / input / both include the forward)")


if __name__ == "__main__":
  main()
