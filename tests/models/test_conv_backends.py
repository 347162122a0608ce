"""`conv2d` per backend, proved by cross-platform lowering from this CPU.

Lowered for `cuda` and `tpu`, the convHVAE and Glow training gradients carry
XLA's native convolutions for every weight gradient; lowered for `cpu` they
carry the matmul weight gradient instead (one convolution fewer and one
dot_general more per differentiated convolution, `models._conv`), and
inside a scanned epoch every CPU convolution keeps XLA:CPU's canonical
layout. Forward mode works through the CPU path.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mimjax import distributions
from mimjax import models
from mimjax import objectives

_PLATFORMS = ("cpu", "cuda", "tpu")


def _op_counts(fn, *args, platform):
  text = jax.jit(fn).trace(*args).lower(lowering_platforms=(platform,)).as_text()
  return {
      op: len(re.findall(rf"stablehlo\.{op}\b", text))
      for op in ("convolution", "dot_general")
  }


def _conv_loss(w, x):
  return jnp.sum(jnp.square(models.conv2d(x, w, 1, 1)))


def test_one_convolution_weight_gradient_per_platform():
  x = jnp.ones((2, 6, 6, 3))
  w = jnp.ones((3, 3, 3, 4))
  grad = jax.grad(_conv_loss)
  counts = {p: _op_counts(grad, w, x, platform=p) for p in _PLATFORMS}
  # forward + weight gradient as convolutions; on CPU the latter is a matmul
  assert counts["cuda"] == counts["tpu"] == dict(
      convolution=2, dot_general=0), counts
  assert counts["cpu"] == dict(convolution=1, dot_general=1), counts
  # The lowered module keeps a constant-index platform switch; XLA:CPU
  # folds it away, leaving no conditional in the compiled program.
  compiled = jax.jit(grad).lower(w, x).compile().as_text()
  assert "conditional" not in compiled


def _hvae_gradient():
  """(gradient fn, params, batch, key) of the convHVAE MIM loss."""
  model = models.HierarchicalVAE(vamp_pseudo_inputs=0)
  x = (jax.random.uniform(jax.random.key(0), (4, 28, 28, 1)) < 0.2) * 1.0
  anchor = distributions.standard_normal(sum(model.latent_dims))
  loss_fn = objectives.make_loss_fn(
      model, loss="mim", latent_anchor=anchor, decoder_estimator="rloo",
      decoder_samples=2,
  )
  params = model.init(jax.random.key(1), x)
  grad = jax.grad(lambda p, b, k: loss_fn(p, b, k)[0])
  return grad, params, {"x": x}, jax.random.key(2)


def _glow_gradient():
  model = models.Glow(event_shape=(8, 8, 1), levels=2, steps=2, hidden=8,
                      permutation="conv1x1")
  x = jax.random.normal(jax.random.key(0), (4, 8, 8, 1))
  params = model.init(jax.random.key(1), x)
  grad = jax.grad(
      lambda p, x: -jnp.mean(model.apply(p, x, method="log_prob"))
  )
  return grad, params, x


def _kernels(params):
  return sum(
      1 for path, leaf in jax.tree_util.tree_leaves_with_path(params)
      if leaf.ndim == 4 and "kernel" in jax.tree_util.keystr(path)
  )


@pytest.mark.slow  # lowers whole training steps 3x
@pytest.mark.parametrize("model", ["conv_hvae", "glow"])
def test_training_gradients_lower_natively_off_cpu(model):
  grad, params, *args = (
      _hvae_gradient() if model == "conv_hvae" else _glow_gradient()
  )
  kernels = _kernels(params)
  assert kernels >= 4
  counts = {
      p: _op_counts(grad, params, *args, platform=p) for p in _PLATFORMS
  }
  assert counts["cuda"] == counts["tpu"], counts
  # Every differentiated conv2d call (at least one per kernel) moves one
  # weight gradient from a convolution (GPU/TPU) to matmuls on CPU (one,
  # or one per kernel tap for inputs of >= 16 channels).
  moved = counts["cuda"]["convolution"] - counts["cpu"]["convolution"]
  assert moved >= kernels, counts
  assert counts["cpu"]["dot_general"] - counts["cuda"]["dot_general"] >= moved


@pytest.mark.parametrize("stride", [1, 2])
def test_cpu_gradients_inside_scan_use_canonical_convolutions(stride):
  """Inside a `lax.scan` body (the epoch program) every compiled convolution
  of the CPU gradient keeps XLA:CPU's canonical NHWC/HWIO labels: XLA
  canonicalises other labels only in the entry computation, and runs them
  in its generic kernel otherwise (`models._conv._input_tangent`)."""
  ws = (0.1 * jnp.ones((3, 3, 4, 8)), 0.1 * jnp.ones((3, 3, 8, 8)))
  xs = jnp.ones((2, 2, 8, 8, 4))

  def loss(ws, x):  # w_1's gradient needs the input gradient of conv 2
    h = jnp.tanh(models.conv2d(x, ws[0], 1, 1))
    return jnp.sum(jnp.square(models.conv2d(h, ws[1], stride, 1)))

  def epoch(ws, xs):
    def step(ws, x):
      grads = jax.grad(loss)(ws, x)
      return jax.tree.map(lambda w, g: w - 0.1 * g, ws, grads), None
    return jax.lax.scan(step, ws, xs)[0]

  compiled = jax.jit(epoch).lower(ws, xs).compile().as_text()
  labels = re.findall(r"dim_labels=([^,}\s]+)", compiled)
  assert len(labels) == 3, labels  # two forwards, one input gradient
  assert set(labels) == {"b01f_01io->b01f"}, labels


def test_forward_mode_matches_reverse_mode_on_cpu():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 7, 7, 5)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(3, 3, 5, 4)), jnp.float32)
  dx = jnp.asarray(rng.normal(size=x.shape), jnp.float32)
  dw = jnp.asarray(rng.normal(size=w.shape), jnp.float32)
  for stride, padding in [(1, 1), (2, 0)]:
    conv = lambda x, w: models.conv2d(x, w, stride, padding)
    reference = lambda x, w: jax.lax.conv_general_dilated(
        x, w, (stride, stride), ((padding, padding),) * 2,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    y, dy = jax.jvp(conv, (x, w), (dx, dw))
    y_ref, dy_ref = jax.jvp(reference, (x, w), (dx, dw))
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dy, dy_ref, rtol=1e-4, atol=1e-4)
    # the data tangent alone (dW = 0) and the weight tangent alone
    _, dy_x = jax.jvp(lambda x: conv(x, w), (x,), (dx,))
    _, dy_w = jax.jvp(lambda w: conv(x, w), (w,), (dw,))
    np.testing.assert_allclose(dy_x + dy_w, dy_ref, rtol=1e-4, atol=1e-4)


def test_per_example_gradients_under_vmap():
  """vmap(grad) through the CPU path equals one gradient per example."""
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(3, 1, 6, 6, 2)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(3, 3, 2, 4)), jnp.float32)
  grad = jax.grad(_conv_loss)
  batched = jax.vmap(grad, in_axes=(None, 0))(w, x)
  for i in range(x.shape[0]):
    np.testing.assert_allclose(batched[i], grad(w, x[i]), rtol=1e-5)

