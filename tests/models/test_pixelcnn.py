"""PixelCNN decoder: causality, BatchNorm, parameter count, sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mimjax.models import _pixelcnn
from mimjax.models._pixelcnn import PixelCNNDecoder

_H, _W = 28, 28


def _inputs(key, batch, d_z=40):
  kx, k1, k2 = jax.random.split(key, 3)
  x = jax.random.bernoulli(kx, 0.3, (batch, _H, _W, 1)).astype(jnp.float32)
  z1 = jax.random.normal(k1, (batch, d_z))
  z2 = jax.random.normal(k2, (batch, d_z))
  return x, z1, z2


@pytest.fixture(scope="module")
def trained_variables():
  """Default decoder whose running stats are one batch's statistics.

  Freshly initialised running stats (mean 0, var 1) do not renormalise the
  small activations of the PyTorch-style conv init, so eval-mode logits
  would be nearly constant. One train step from (0, 1) gives
  new = 0.9 old + 0.1 batch, from which the batch statistics are recovered
  and installed: eval mode then behaves like train mode on that batch.
  """
  decoder = PixelCNNDecoder()
  x, z1, z2 = _inputs(jax.random.key(0), 8)
  variables = decoder.init(jax.random.key(1), x, z1, z2, train=False)
  _, updates = decoder.apply(
      variables, x, z1, z2, train=True, mutable=["batch_stats"])
  stats = {
      name: {"mean": s["mean"] / 0.1, "var": (s["var"] - 0.9) / 0.1}
      for name, s in updates["batch_stats"].items()
  }
  return decoder, {**variables, "batch_stats": stats}


def _numpy_masked_conv(h, kernel, mask_type):
  """SAME-padded 3x3 cross-correlation with the reference mask, in numpy."""
  k = kernel.shape[0]
  c = k // 2
  mask = np.ones((k, k))
  mask[c, c + (mask_type == "B"):] = 0
  mask[c + 1:] = 0
  kernel = np.asarray(kernel, np.float64) * mask[:, :, None, None]
  h = np.asarray(h, np.float64)
  pad = np.pad(h, ((0, 0), (c, c), (c, c), (0, 0)))
  out = np.zeros((*h.shape[:3], kernel.shape[-1]))
  for dy in range(k):
    for dx in range(k):
      window = pad[:, dy:dy + h.shape[1], dx:dx + h.shape[2], :]
      out += window @ kernel[dy, dx]
  return out


def test_causal_mask_matches_reference():
  np.testing.assert_array_equal(
      _pixelcnn.causal_mask(3, "A"), [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
  np.testing.assert_array_equal(
      _pixelcnn.causal_mask(3, "B"), [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
  np.testing.assert_array_equal(
      _pixelcnn.causal_mask(5, "A")[2:], [[1, 1, 0, 0, 0]] + [[0] * 5] * 2)


@pytest.mark.parametrize("channel", [0, 1, 2])
def test_causality(trained_variables, channel):
  """Perturbing pixel i of x (channel 0) or of a z-map (channels 1, 2).

  Logits at raster positions <= i stay the same (type 'A' excludes the
  centre); some later position changes.
  """
  decoder, variables = trained_variables
  x, z1, z2 = _inputs(jax.random.key(3), 1)
  h = jnp.concatenate(
      [x, jnp.reshape(decoder.apply(variables, z1, method=lambda m, z:
                                    m.z1_map(z)), x.shape),
       jnp.reshape(decoder.apply(variables, z2, method=lambda m, z:
                                 m.z2_map(z)), x.shape)], axis=-1)
  positions = [0, 27, 29, 400, 782]
  batch = [h]
  for i in positions:
    r, c = divmod(i, _W)
    old = h[0, r, c, channel]
    new = 1.0 - old if channel == 0 else old + 3.0
    batch.append(h.at[0, r, c, channel].set(new))
  batch = jnp.concatenate(batch)
  logits = decoder.apply(
      variables, batch, train=False, method=PixelCNNDecoder.pixelcnn)
  flat = np.asarray(logits).reshape(len(positions) + 1, _H * _W)
  for n, i in enumerate(positions, start=1):
    np.testing.assert_allclose(flat[n, :i + 1], flat[0, :i + 1], atol=1e-6,
                               rtol=0, err_msg=f"leak from pixel {i}")
    assert np.max(np.abs(flat[n, i + 1:] - flat[0, i + 1:])) > 1e-4, i
  if channel == 0:  # The full __call__ agrees with the stack on h.
    full = decoder.apply(variables, x, z1, z2, train=False)
    np.testing.assert_allclose(full[0], logits[0], atol=1e-5)


def test_batchnorm_running_mean_momentum():
  """Running mean = 0.9 old + 0.1 batch mean of the first masked conv."""
  decoder = PixelCNNDecoder()
  x, z1, z2 = _inputs(jax.random.key(4), 4)
  variables = decoder.init(jax.random.key(5), x, z1, z2, train=False)
  params = variables["params"]

  def first_conv(x, z1, z2):
    def gated(p, z):
      z = np.asarray(z, np.float64)
      # GatedDense is one Dense of width 2F: [h | g].
      hg = z @ np.asarray(p["Dense_0"]["kernel"]) + np.asarray(
          p["Dense_0"]["bias"])
      hh, g = np.split(hg, 2, axis=-1)
      return (hh / (1 + np.exp(-g))).reshape(x.shape)
    h = np.concatenate(
        [np.asarray(x), gated(params["z1_map"], z1),
         gated(params["z2_map"], z2)], axis=-1)
    return _numpy_masked_conv(h, params["masked_conv_0"]["kernel"], "A")

  expected = np.zeros(64)
  for s in range(2):
    x, z1, z2 = _inputs(jax.random.key(20 + s), 4)
    logits, updates = decoder.apply(
        variables, x, z1, z2, train=True, mutable=["batch_stats"])
    assert logits.shape == (4, _H, _W, 1)
    variables = {**variables, **updates}
    expected = 0.9 * expected + 0.1 * first_conv(x, z1, z2).mean((0, 1, 2))
    np.testing.assert_allclose(
        variables["batch_stats"]["bn_0"]["mean"], expected, rtol=1e-4,
        atol=1e-5)
  for layer in range(8):  # Every layer's stats moved.
    stats = variables["batch_stats"][f"bn_{layer}"]
    assert np.all(np.asarray(stats["var"]) != 1.0)


def test_eval_uses_running_stats_per_example(trained_variables):
  decoder, variables = trained_variables
  x, z1, z2 = _inputs(jax.random.key(6), 3)
  both = decoder.apply(variables, x, z1, z2, train=False)
  alone = decoder.apply(variables, x[:1], z1[:1], z2[:1], train=False)
  np.testing.assert_allclose(both[:1], alone, atol=1e-5)
  # Eval leaves the running stats alone; train mode depends on the batch.
  _, updates = decoder.apply(
      variables, x, z1, z2, train=False, mutable=["batch_stats"])
  jax.tree.map(np.testing.assert_array_equal, updates["batch_stats"],
               variables["batch_stats"])
  train_both, _ = decoder.apply(
      variables, x, z1, z2, train=True, mutable=["batch_stats"])
  train_alone, _ = decoder.apply(
      variables, x[:2], z1[:2], z2[:2], train=True, mutable=["batch_stats"])
  assert np.max(np.abs(train_both[:1] - train_alone[:1])) > 1e-4
  assert np.max(np.abs(train_both - both)) > 1e-4


def test_parameter_count(trained_variables):
  _, variables = trained_variables
  gated_dense = 2 * (2 * (40 * 784 + 784))
  masked_convs = 3 * 64 * 9 + 7 * 64 * 64 * 9
  batch_norm = 8 * 2 * 64
  out_conv = 64 + 1
  expected = gated_dense + masked_convs + batch_norm + out_conv
  count = sum(p.size for p in jax.tree.leaves(variables["params"]))
  print(f"PixelCNNDecoder parameters: {count} (expected {expected})")
  assert expected == 389441
  assert count == expected
  stats = sum(p.size for p in jax.tree.leaves(variables["batch_stats"]))
  assert stats == 8 * 2 * 64


def _alternating_apply(x, z1, z2):
  """Logit +20 where the previous raster pixel is 0, else -20.

  The first pixel's "previous" value is 0 when z1[:, 0] > 0, else 1, so the
  samples alternate 1, 0, 1, ... or 0, 1, 0, ... Pixels not yet drawn must be
  0 on the canvas, else the logits would differ from the sequential rule.
  """
  del z2
  batch = x.shape[0]
  flat = x.reshape(batch, -1)
  first = (z1[:, :1] <= 0).astype(flat.dtype)
  prev = jnp.concatenate([first, flat[:, :-1]], axis=1)
  return (20.0 - 40.0 * prev).reshape(x.shape)


def test_sample_follows_ancestral_order():
  shape = (4, 4, 1)
  z1 = jnp.array([[1.0], [-1.0], [2.0]])
  z2 = jnp.zeros((3, 1))
  samples, probs = jax.jit(
      lambda k: _pixelcnn.sample(_alternating_apply, z1, z2, k, shape))(
          jax.random.key(0))
  pattern = np.arange(16) % 2 == 0
  expected = np.stack([pattern, ~pattern, pattern]).astype(np.float32)
  np.testing.assert_array_equal(samples.reshape(3, 16), expected)
  np.testing.assert_allclose(probs.reshape(3, 16), expected, atol=1e-6)


def test_sample_respects_probabilities():
  """Logits 0 everywhere: fair coins, different per pixel and example."""
  shape = (4, 4, 2)
  zero = lambda x, z1, z2: jnp.zeros_like(x)
  z = jnp.zeros((256, 1))
  samples, probs = _pixelcnn.sample(zero, z, z, jax.random.key(1), shape)
  assert samples.shape == (256, 4, 4, 2)
  assert abs(float(samples.mean()) - 0.5) < 0.02
  np.testing.assert_allclose(probs, 0.5)


@pytest.mark.slow  # compiles 784-step ancestral sampling
def test_sample_real_decoder_jit(trained_variables):
  decoder, variables = trained_variables
  z1 = jax.random.normal(jax.random.key(7), (2, 40))
  z2 = jax.random.normal(jax.random.key(8), (2, 40))
  draw = jax.jit(lambda k, z1, z2: _pixelcnn.sample(
      _pixelcnn.eval_apply(decoder, variables), z1, z2, k))
  samples, probs = draw(jax.random.key(9), z1, z2)
  assert samples.shape == probs.shape == (2, _H, _W, 1)
  assert set(np.unique(np.asarray(samples)).tolist()) <= {0.0, 1.0}
  assert np.all((probs > 0) & (probs < 1))
  # The returned probabilities are the model's on the finished canvas.
  logits = decoder.apply(variables, samples, z1, z2, train=False)
  np.testing.assert_allclose(probs, jax.nn.sigmoid(logits), atol=1e-6)
