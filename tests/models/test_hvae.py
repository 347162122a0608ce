"""convHVAE: reference sizes, two-level densities, losses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from mimjax import distributions
from mimjax import models
from mimjax import objectives
from mimjax.training import _optim


def _reference_parameter_count(num_pseudo_inputs):
  """Tomczak & Welling's convHVAE_2level, counted from its PyTorch layers."""
  gconv = lambda cin, cout, k: 2 * (k * k * cin * cout + cout)
  gdense = lambda i, o: 2 * (i * o + o)
  linear = lambda i, o: i * o + o
  heads = lambda i: 2 * linear(i, 40)
  q_z2 = (gconv(1, 32, 7) + gconv(32, 32, 3) + gconv(32, 64, 5)
          + gconv(64, 64, 3) + gconv(64, 6, 3) + heads(294))
  q_z1 = (gconv(1, 32, 3) + gconv(32, 32, 3) + gconv(32, 64, 3)
          + gconv(64, 64, 3) + gconv(64, 6, 3) + gdense(40, 294)
          + gdense(588, 300) + heads(300))
  p_z1 = gdense(40, 300) + gdense(300, 300) + heads(300)
  p_x = (gdense(40, 300) * 2 + gdense(600, 784) + gconv(1, 64, 3)
         + 3 * gconv(64, 64, 3) + linear(64, 1))
  return q_z2 + q_z1 + p_z1 + p_x + num_pseudo_inputs * 784


@pytest.mark.parametrize("k", [0, 500])
def test_parameter_count_matches_reference(k):
  model = models.HierarchicalVAE(vamp_pseudo_inputs=k)
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((2, 28, 28, 1)))
  count = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(shapes))
  assert count == _reference_parameter_count(k)


@pytest.fixture(scope="module")
def vp_model():
  examples = (np.arange(5 * 784).reshape(5, 28, 28, 1) % 7) / 7.0
  model = models.HierarchicalVAE(
      vamp_pseudo_inputs=5,
      pseudo_input_init=distributions.data_initializer(examples),
  )
  x = (jax.random.uniform(jax.random.key(1), (3, 28, 28, 1)) < 0.3) * 1.0
  params = model.init(jax.random.key(0), x)
  return model, params, x


def _gauss_logpdf(z, mean, std):
  return np.sum(
      -0.5 * ((z - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi),
      axis=-1,
  )


@pytest.mark.slow  # whole-model HVAE graphs
def test_two_level_prior_is_brute_force_vamp_mixture(vp_model):
  model, params, _ = vp_model
  z = np.asarray(jax.random.normal(jax.random.key(2), (4, 80)), np.float64)

  def pieces(m):
    u = jnp.clip(m.prior_top.variables["params"]["pseudo_inputs"], 0, 1)
    top = m.posterior_top(u)  # K components
    cond = m.prior_bottom(jnp.asarray(z[:, 40:], jnp.float32))
    return (top.mean(), top.stddev(), cond.mean(), cond.stddev(),
            m.latent_prior().log_prob(jnp.asarray(z, jnp.float32)))

  mu_k, sd_k, mu_1, sd_1, log_p = jax.device_get(
      model.apply(params, method=pieces)
  )
  z1, z2 = z[:, :40], z[:, 40:]
  comp = _gauss_logpdf(z2[:, None, :], mu_k[None], sd_k[None])  # [4, K]
  expected = (special.logsumexp(comp, axis=1) - np.log(len(mu_k))
              + _gauss_logpdf(z1, mu_1, sd_1))
  np.testing.assert_allclose(log_p, expected, rtol=1e-4, atol=1e-3)
  # Hardtanh bound: every latent std lies in [e^-3, e].
  assert np.all(sd_k >= np.exp(-3) - 1e-6) and np.all(sd_k <= np.e + 1e-6)


@pytest.mark.slow  # whole-model HVAE graphs
def test_posterior_sample_and_density_are_consistent(vp_model):
  model, params, x = vp_model

  def run(m):
    q = m.encode(x)
    z = q.sample(seed=jax.random.key(3))
    z1, z2 = z[:, :40], z[:, 40:]
    manual = m.posterior_top(x).log_prob(z2) + m.posterior_bottom(
        m.posterior_bottom_features(x), z2
    ).log_prob(z1)
    z_fused, log_q_fused = q.sample_and_log_prob(seed=jax.random.key(3))
    return (z, q.log_prob(z), manual, m.decode(z).log_prob(x), z_fused,
            log_q_fused)

  z, log_q, manual, log_px, z_fused, log_q_fused = model.apply(
      params, method=run
  )
  assert z.shape == (3, 80) and log_q.shape == (3,) and log_px.shape == (3,)
  np.testing.assert_allclose(log_q, manual, rtol=1e-6)
  np.testing.assert_array_equal(z_fused, z)
  np.testing.assert_allclose(log_q_fused, log_q, rtol=1e-6)
  assert np.all(np.asarray(log_px) < 0)


@pytest.mark.slow  # whole convHVAE / PixelHVAE gradients
def test_vae_loss_is_negative_elbo_and_mim_reaches_pseudo_inputs(vp_model):
  model, params, x = vp_model
  batch = {"x": x}
  key = jax.random.key(4)
  vae = objectives.make_loss_fn(model, loss="vae")
  value, aux = vae(params, batch, key)
  enc, _, _ = objectives.encoder_terms(
      model, params, x, jax.random.split(key)[0]
  )
  np.testing.assert_allclose(
      value,
      -np.mean(enc.log_p_x_given_z + enc.log_p_z - enc.log_q_z_given_x),
      rtol=1e-5,
  )
  mim = objectives.make_loss_fn(
      model, loss="mim", latent_anchor=objectives.MODEL_PRIOR
  )
  grads = jax.grad(lambda p: mim(p, batch, key)[0])(params)
  pseudo = grads["params"]["prior_top"]["pseudo_inputs"]
  assert float(jnp.abs(pseudo).max()) > 0
  for g in jax.tree.leaves(grads):
    assert np.all(np.isfinite(g))


@pytest.mark.slow  # whole convHVAE gradients
@pytest.mark.parametrize(
    "estimator,samples,binary",
    [("reinforce", 1, True), ("rloo", 3, True), ("mean", 1, False)],
)
def test_decoder_samples_binary_or_mean(vp_model, estimator, samples, binary):
  model, params, _ = vp_model
  terms, x, z = objectives.decoder_terms(
      model, params, objectives.MODEL_PRIOR, 2, jax.random.key(5),
      decoder_estimator=estimator, decoder_samples=samples,
  )
  values = np.unique(np.asarray(x))
  assert x.dtype == jnp.float32
  assert x.shape == (2 * samples, 28, 28, 1) and z.shape == (2, 80)
  assert terms.log_p_z.shape == (2 * samples,)
  assert (set(values) <= {0.0, 1.0}) == binary
  # Rows k * B + b are sample k of latent b: each row's log q(z|x) is
  # evaluated at its own latent.
  row = samples - 1
  log_q = model.apply(
      params, x[2 * row:2 * row + 1], z[:1],
      method=lambda m, x, z: m.encode(x).log_prob(z),
  )
  np.testing.assert_allclose(
      terms.log_q_z_given_x[2 * row], log_q[0], rtol=1e-5
  )


@pytest.mark.slow  # whole-model HVAE graphs
def test_unknown_decoder_estimator_and_anchor_are_rejected(vp_model):
  model = vp_model[0]
  make = lambda **kw: objectives.make_loss_fn(
      model, loss="mim", latent_anchor="model_prior", **kw
  )
  with pytest.raises(ValueError, match="unknown decoder_estimator"):
    make(decoder_estimator="mode")
  with pytest.raises(ValueError, match="needs decoder_samples >= 2"):
    make(decoder_estimator="rloo")
  with pytest.raises(ValueError, match="deterministic"):
    make(decoder_estimator="mean", decoder_samples=2)
  with pytest.raises(ValueError, match="positive integer"):
    make(decoder_samples=0)
  with pytest.raises(ValueError, match="latent_anchor"):
    objectives.make_loss_fn(model, loss="mim", latent_anchor="prior")


def test_normalize_by_leaf_norm_gives_unit_norm_leaves():
  grads = {"a": jnp.array([3.0, 4.0]), "b": jnp.full((2, 2), 10.0)}
  tx = _optim.normalize_by_leaf_norm()
  out, _ = tx.update(grads, tx.init(grads))
  for leaf in jax.tree.leaves(out):
    np.testing.assert_allclose(jnp.linalg.norm(leaf), 1.0, rtol=1e-6)
  np.testing.assert_allclose(out["a"], [0.6, 0.8], rtol=1e-6)


@pytest.mark.slow  # whole convHVAE / PixelHVAE gradients
def test_pixel_hvae_parameter_count_and_batch_stats_flow():
  model = models.HierarchicalVAE(vamp_pseudo_inputs=0, network="pixelcnn")
  x = (jax.random.uniform(jax.random.key(6), (4, 28, 28, 1)) < 0.3) * 1.0
  variables = model.init(jax.random.key(7), x)
  count = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(
      variables["params"]))
  conv_decoder = _reference_parameter_count(0) - 1214481
  gdense = lambda i, o: 2 * (i * o + o)
  pixel_decoder = (2 * gdense(40, 784) + 3 * 64 * 9 + 7 * 64 * 64 * 9
                   + 8 * 2 * 64 + 65)
  assert count == conv_decoder + pixel_decoder
  # Train mode: the loss hands back updated BatchNorm statistics.
  loss_fn = objectives.make_loss_fn(model, loss="amim")
  _, aux = loss_fn(variables, {"x": x}, jax.random.key(8))
  new_stats = aux["collections"]["batch_stats"]
  old_stats = variables["batch_stats"]
  changed = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()),
                         new_stats, old_stats)
  assert max(jax.tree.leaves(changed)) > 0
  # Eval mode uses the running statistics: no collections, and an example's
  # log-likelihood does not depend on the rest of the batch.
  eval_model = model.clone(train=False)
  eval_loss = objectives.make_loss_fn(eval_model, loss="vae")
  _, eval_aux = eval_loss(variables, {"x": x}, jax.random.key(8))
  assert "collections" not in eval_aux
  z = jax.random.normal(jax.random.key(9), (4, 80))
  log_px = lambda x, z: eval_model.apply(
      variables, z, method=lambda m, z: m.decode(z).log_prob(x))
  np.testing.assert_allclose(
      log_px(x, z)[:1], log_px(x[:1], z[:1]), rtol=1e-5)


@pytest.mark.slow
def test_mim_loss_and_grads_same_on_one_and_four_devices(vp_model):
  from mimjax import training  # pylint: disable=g-import-not-at-top
  model, params, _ = vp_model
  x = np.asarray(
      jax.random.uniform(jax.random.key(10), (8, 28, 28, 1)) < 0.3,
      np.float32,
  )
  loss_fn = objectives.make_loss_fn(
      model, loss="mim", latent_anchor=objectives.MODEL_PRIOR
  )
  grad_fn = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
  results = []
  for n in (1, 4):
    mesh = training.make_mesh(n)
    batch = {"x": training.put_global(x, training.data_sharding(mesh))}
    p = jax.device_put(params, training.replicated(mesh))
    results.append(jax.device_get(grad_fn(p, batch, jax.random.key(11), 0.5)))
  (v1, _), g1 = results[0]
  (v4, _), g4 = results[1]
  np.testing.assert_allclose(v4, v1, rtol=1e-4)
  for a, b in zip(jax.tree.leaves(g4), jax.tree.leaves(g1)):
    np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)
  assert max(float(np.abs(g).max()) for g in jax.tree.leaves(g1)) > 1e-3


def _reference_dense_parameter_count(num_pseudo_inputs):
  """Tomczak & Welling's HVAE_2level (MNIST, z1 = z2 = 40), by layer."""
  gdense = lambda i, o: 2 * (i * o + o)
  linear = lambda i, o: i * o + o
  heads = 2 * linear(300, 40)
  q_z2 = gdense(784, 300) + gdense(300, 300) + heads
  q_z1 = gdense(784, 300) + gdense(40, 300) + gdense(600, 300) + heads
  p_z1 = gdense(40, 300) + gdense(300, 300) + heads
  p_x = 2 * gdense(40, 300) + gdense(600, 300) + linear(300, 784)
  return q_z2 + q_z1 + p_z1 + p_x + num_pseudo_inputs * 784


@pytest.mark.parametrize("k", [0, 500])
def test_dense_hvae_parameter_count_matches_reference(k):
  model = models.HierarchicalVAE(vamp_pseudo_inputs=k, network="mlp")
  shapes = jax.eval_shape(
      model.init, jax.random.key(0), jnp.zeros((2, 28, 28, 1))
  )
  count = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(shapes))
  assert count == _reference_dense_parameter_count(k)


@pytest.mark.slow  # whole-model HVAE graphs
@pytest.mark.parametrize("loss", ["vae", "amim", "mim"])
def test_dense_hvae_losses_have_finite_gradients(loss):
  model = models.HierarchicalVAE(vamp_pseudo_inputs=4, network="mlp")
  x = (jax.random.uniform(jax.random.key(1), (6, 28, 28, 1)) < 0.3) * 1.0
  params = model.init(jax.random.key(0), x)
  loss_fn = objectives.make_loss_fn(
      model, loss=loss, latent_anchor=objectives.MODEL_PRIOR,
      decoder_estimator="rloo", decoder_samples=2,
  )
  (value, aux), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(
      params, {"x": x}, jax.random.key(2)
  )
  assert np.isfinite(value)
  # The decoder marginal makes R_MIM 0 on encoder samples: not logged.
  assert "enc/r_mim" not in aux
  assert ("dec/score_scale" in aux) == (loss == "mim")
  for g in jax.tree.leaves(grads):
    assert np.all(np.isfinite(g))
  decoder = grads["params"]["decoder"]
  assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(decoder)) > 0


def test_unknown_network_is_rejected():
  model = models.HierarchicalVAE(vamp_pseudo_inputs=0, network="dense")
  with pytest.raises(ValueError, match="unknown network 'dense'"):
    model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
