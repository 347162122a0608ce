"""`conv2d` per backend, proved by cross-platform lowering from this CPU.

Lowered for `cuda` and `tpu`, the convHVAE and Glow training gradients carry
XLA's native convolution autodiff (weight gradients that contract over the
batch axis, `01oi` input-gradient kernels); lowered for `cpu` every
convolution is in XLA:CPU's canonical NHWC/HWIO layout, the only one its
fast kernels take inside a scanned epoch (`models._conv`). Every CPU
formulation equals XLA's convolution and autodiff, forward mode included.
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


_CANONICAL = "[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]"


def _convolution_layouts(fn, *args, platform):
  """The StableHLO dimension numbers of every convolution in `fn`'s
  program lowered for `platform`."""
  text = jax.jit(fn).trace(*args).lower(lowering_platforms=(platform,)).as_text()
  return re.findall(
      r"dim_numbers = (\[[^\]]*\]x\[[^\]]*\]->\[[^\]]*\])", text
  )


def _conv_loss(w, x, stride=1):
  return jnp.sum(jnp.square(models.conv2d(x, w, stride, 1)))


@pytest.mark.parametrize("stride", [1, 2])
def test_gradient_layouts_per_platform(stride):
  x = jnp.ones((2, 6, 6, 16))
  w = jnp.ones((3, 3, 16, 16))
  grad = jax.grad(lambda w, x: _conv_loss(w, x, stride), argnums=(0, 1))
  layouts = {
      p: _convolution_layouts(grad, w, x, platform=p) for p in _PLATFORMS
  }
  # forward, weight gradient, input gradient on every platform
  assert all(len(found) == 3 for found in layouts.values()), layouts
  assert layouts["cuda"] == layouts["tpu"], layouts
  assert layouts["cpu"] == [_CANONICAL] * 3, layouts
  # XLA's own autodiff off CPU: the weight gradient contracts over the batch
  assert "[f, 0, 1, b]x[i, 0, 1, o]->[0, 1, b, f]" in layouts["cuda"], layouts
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
  model = models.Glow(event_shape=(8, 8, 1), levels=2, steps=2, hidden=16,
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
  layouts = {
      p: _convolution_layouts(grad, params, *args, platform=p)
      for p in _PLATFORMS
  }
  assert layouts["cuda"] == layouts["tpu"], layouts
  # Off CPU, XLA's native autodiff: at least one weight gradient per kernel
  # that contracts over the batch axis (not in the canonical layout).
  native = [dims for dims in layouts["cuda"] if dims != _CANONICAL]
  assert len(native) >= kernels, layouts["cuda"]
  # On CPU every convolution (forward or gradient) is canonical.
  assert layouts["cpu"], layouts
  assert set(layouts["cpu"]) == {_CANONICAL}, layouts["cpu"]


@pytest.mark.parametrize("stride", [1, 2])
def test_cpu_gradients_inside_scan_use_canonical_convolutions(stride):
  """Inside a `lax.scan` body (the epoch program) every compiled convolution
  of the CPU gradient keeps XLA:CPU's canonical NHWC/HWIO labels: XLA
  canonicalises other labels only in the entry computation, and runs them
  in its generic kernel otherwise (`models._conv._input_tangent`)."""
  ws = (0.1 * jnp.ones((3, 3, 16, 16)), 0.1 * jnp.ones((3, 3, 16, 16)))
  xs = jnp.ones((2, 2, 8, 8, 16))

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
  # two forwards, one input gradient, two weight gradients
  assert len(labels) == 5, labels
  assert set(labels) == {"b01f_01io->b01f"}, labels


def _reference_conv(x, w, stride, padding):
  return jax.lax.conv_general_dilated(
      x, w, (stride, stride), ((padding, padding),) * 2,
      dimension_numbers=("NHWC", "HWIO", "NHWC"),
  )


# (C, D, kernel, stride, padding): every CPU branch of `models._conv`:
# thin inputs (patch matrix), thin outputs (shifted sum), both, strided
# input gradients through space-to-depth (kernels of 3-5 with strides 2-3),
# and the plain stride-1 path; the weight gradient's canonical convolution
# in every branch with D >= 16.
_BRANCHES = [
    (1, 16, 7, 1, 3), (3, 16, 3, 2, 1), (16, 1, 3, 1, 1), (16, 4, 4, 2, 1),
    (1, 1, 3, 1, 0), (16, 16, 3, 2, 1), (16, 16, 4, 2, 2), (16, 16, 5, 3, 2),
    (16, 16, 3, 1, 1), (16, 16, 1, 1, 0),
]


@pytest.mark.parametrize("channels,features,kernel,stride,padding", _BRANCHES)
def test_cpu_branches_match_xla_convolution(
    channels, features, kernel, stride, padding
):
  """Value, both gradients and forward mode equal XLA's own convolution
  and autodiff, on odd and even input sizes."""
  rng = np.random.default_rng(kernel * stride + channels)
  for size in (9, 10):
    x = jnp.asarray(rng.normal(size=(2, size, size + 1, channels)), jnp.float32)
    w = jnp.asarray(  # unit-scale outputs: float32 rounding ~1e-6
        rng.normal(size=(kernel, kernel, channels, features))
        / np.sqrt(kernel * kernel * channels), jnp.float32
    )
    y_ref = _reference_conv(x, w, stride, padding)
    r = jnp.asarray(rng.normal(size=y_ref.shape), jnp.float32)
    tangents = tuple(
        jnp.asarray(rng.normal(size=a.shape), jnp.float32) for a in (x, w)
    )

    @jax.jit  # one program: eager autodiff compiles every primitive alone
    def value_grads_tangent(x, w, r, tangents):
      def outputs(conv):
        y, vjp = jax.vjp(conv, x, w)
        return y, vjp(r), jax.jvp(conv, (x, w), tangents)[1]

      return (
          outputs(lambda x, w: models.conv2d(x, w, stride, padding)),
          outputs(lambda x, w: _reference_conv(x, w, stride, padding)),
      )

    got, want = value_grads_tangent(x, w, r, tangents)
    for got, want in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_cpu_gradients_avoid_xla_cpu_slow_convolutions():
  """The CPU gradient of the convHVAE's edge layers has no convolution
  with a dilated (strided-transpose) input and none with a thin output:
  XLA:CPU runs both in slow kernels (BUILD_NOTES, session 25)."""
  x1 = jnp.ones((2, 8, 8, 1))
  x32 = jnp.ones((2, 8, 8, 32))
  ws = dict(
      first=jnp.ones((7, 7, 1, 32)),  # thin input: a pseudo-input's layer
      strided=jnp.ones((3, 3, 32, 32)),
      last=jnp.ones((3, 3, 32, 1)),  # thin output: the decoder's mean
  )

  def loss(ws, x1, x32):
    h = models.conv2d(x1, ws["first"], 1, 3)
    h = models.conv2d(h + x32, ws["strided"], 2, 1)
    return jnp.sum(models.conv2d(h, ws["last"], 1, 1))

  grad = jax.grad(loss, argnums=(0, 1))
  compiled = jax.jit(grad).lower(ws, x1, x32).compile().as_text()
  convolutions = [
      line for line in compiled.splitlines() if " convolution(" in line
  ]
  # forwards and weight gradients of the first and strided layers, the
  # strided layer's input gradient (stride 1, on space-to-depth phases)
  assert len(convolutions) == 5, convolutions
  assert not any("lhs_dilate" in line for line in convolutions), convolutions
  assert not any(
      re.search(r"f32\[\d+,\d+,\d+,1\]", line.split("=")[1])
      for line in convolutions
  ), convolutions


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

